/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/whisper_mel.h: Whisper's log-mel front end, computed as Hugging
 * Face's WhisperFeatureExtractor does (torch path): pad/trim to
 * n_samples (30 s), centred STFT with reflect padding, periodic Hann window,
 * power spectrum, Slaney-normalised Slaney-scale mel filters, log10 clamped
 * at 1e-10 and at max - 8, then (x + 4) / 4; the last STFT frame is dropped.
 *
 *   whisper_mel_params p;
 *   whisper_mel_params_default(&p);             // or whisper_mel_params_load
 *   whisper_mel *m; whisper_mel_new(&m, &p, err);
 *   float *feat = mem_alloc(sizeof(float) * p.n_mels * p.n_frames);
 *   whisper_mel_compute(m, pool, pcm, n, feat); // [n_mels, n_frames]
 *   whisper_mel_free(m);
 *
 * DESIGN: the DFT is a matrix product (frames x [cos; sin] basis) through
 * kern_matmul, so it runs on the engine's SIMD kernels and threads; the
 * basis and filters are built once in double and stored as float32.
 *
 * Ownership: a whisper_mel owns its tables. Thread safety: immutable after
 * whisper_mel_new; compute may run concurrently on different outputs.
 */
#ifndef GLOAM_ENGINE_WHISPER_MEL_H
#define GLOAM_ENGINE_WHISPER_MEL_H

#include <stddef.h>

#include "kernels/kernels.h"

typedef struct whisper_mel_params {
  int n_mels;      /* feature_size (80; 128 for large-v3) */
  int n_fft;       /* 400 */
  int hop;         /* hop_length, 160 */
  int sample_rate; /* 16000 */
  int n_samples;   /* chunk_length * sample_rate = 480000 */
  int n_frames;    /* n_samples / hop = 3000 */
} whisper_mel_params;

void whisper_mel_params_default(whisper_mel_params *p);
/* Reads preprocessor_config.json in dir (absent file: defaults).
 * Returns 0, GLOAM_EFORMAT, GLOAM_EUNSUPPORTED (values outside sane ranges). */
int whisper_mel_params_load(whisper_mel_params *p, const char *dir, char *err);

typedef struct whisper_mel whisper_mel;

int whisper_mel_new(whisper_mel **out, const whisper_mel_params *p, char *err);
void whisper_mel_free(whisper_mel *m);
const whisper_mel_params *whisper_mel_get_params(const whisper_mel *m);

/* Features of pcm[0..n) (16 kHz mono; zero-padded or trimmed to n_samples).
 * OUT: feat [n_mels, n_frames]. Returns 0 or GLOAM_ENOMEM. */
int whisper_mel_compute(const whisper_mel *m, kern_pool *pool, const float *pcm, size_t n,
                        float *feat);

#endif
