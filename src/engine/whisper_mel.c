/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/whisper_mel.c: WhisperFeatureExtractor's log-mel spectrogram (see
 * whisper_mel.h). The mel filter bank follows transformers'
 * audio_utils.mel_filter_bank(norm="slaney", mel_scale="slaney").
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/whisper_mel.h"

static const double kPi = 3.14159265358979323846;

struct whisper_mel {
  whisper_mel_params p;
  int n_bins;     /* n_fft / 2 + 1 */
  float *basis;   /* [2 * n_bins, n_fft]: window * cos rows, then window * sin rows */
  float *filters; /* [n_mels, n_bins] */
};

void whisper_mel_params_default(whisper_mel_params *p) {
  p->n_mels = 80;
  p->n_fft = 400;
  p->hop = 160;
  p->sample_rate = 16000;
  p->n_samples = 480000;
  p->n_frames = 3000;
}

static int get_int(json_t *root, const char *key, int lo, int hi, int *out, char *err) {
  json_t *v = json_object_get(root, key);
  if (!v) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return err_set(err, GLOAM_EUNSUPPORTED, "preprocessor_config.json: %s out of range", key);
  *out = (int)json_integer_value(v);
  return 0;
}

int whisper_mel_params_load(whisper_mel_params *p, const char *dir, char *err) {
  whisper_mel_params_default(p);
  char path[4096];
  int n = snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
  if (n < 0 || (size_t)n >= sizeof path) return err_set(err, GLOAM_EINVAL, "path too long");
  FILE *f = fopen(path, "rb");
  if (!f) return 0; /* defaults */
  json_error_t je;
  json_t *root = json_loadf(f, 0, &je);
  fclose(f);
  if (!root || !json_is_object(root)) {
    json_decref(root);
    return err_set(err, GLOAM_EFORMAT, "preprocessor_config.json: not a JSON object");
  }
  int chunk = 30, rc;
  if ((rc = get_int(root, "feature_size", 1, 512, &p->n_mels, err)) < 0 ||
      (rc = get_int(root, "n_fft", 16, 8192, &p->n_fft, err)) < 0 ||
      (rc = get_int(root, "hop_length", 1, 8192, &p->hop, err)) < 0 ||
      (rc = get_int(root, "sampling_rate", 16000, 16000, &p->sample_rate, err)) < 0 ||
      (rc = get_int(root, "chunk_length", 1, 60, &chunk, err)) < 0)
    goto out;
  p->n_samples = chunk * p->sample_rate;
  if ((rc = get_int(root, "n_samples", 1, 60 * 16000, &p->n_samples, err)) < 0) goto out;
  p->n_frames = p->n_samples / p->hop;
  if ((rc = get_int(root, "nb_max_frames", 1, 60 * 16000, &p->n_frames, err)) < 0) goto out;
  if (p->n_frames != p->n_samples / p->hop || p->n_fft / 2 >= p->n_samples) {
    rc = err_set(err, GLOAM_EUNSUPPORTED, "preprocessor_config.json: inconsistent sizes");
    goto out;
  }
  rc = 0;
out:
  json_decref(root);
  return rc;
}

static double hz_to_mel(double f) {
  const double min_log_hz = 1000.0, min_log_mel = 15.0, logstep = 27.0 / log(6.4);
  return f >= min_log_hz ? min_log_mel + log(f / min_log_hz) * logstep : 3.0 * f / 200.0;
}

static double mel_to_hz(double m) {
  const double min_log_hz = 1000.0, min_log_mel = 15.0, logstep = log(6.4) / 27.0;
  return m >= min_log_mel ? min_log_hz * exp(logstep * (m - min_log_mel)) : 200.0 * m / 3.0;
}

static int build_filters(whisper_mel *m) {
  int n_mels = m->p.n_mels, n_bins = m->n_bins;
  double *ff = mem_calloc((size_t)n_mels + 2, sizeof(double));
  if (!ff) return GLOAM_ENOMEM;
  double lo = hz_to_mel(0.0), hi = hz_to_mel(m->p.sample_rate / 2.0);
  for (int i = 0; i < n_mels + 2; i++) ff[i] = mel_to_hz(lo + (hi - lo) * i / (n_mels + 1));
  for (int b = 0; b < n_bins; b++) {
    double f = (m->p.sample_rate / 2) * (double)b / (n_bins - 1);
    for (int j = 0; j < n_mels; j++) {
      double down = (f - ff[j]) / (ff[j + 1] - ff[j]);
      double up = (ff[j + 2] - f) / (ff[j + 2] - ff[j + 1]);
      double w = fmax(0.0, fmin(down, up)) * 2.0 / (ff[j + 2] - ff[j]);
      m->filters[(size_t)j * (size_t)n_bins + (size_t)b] = (float)w;
    }
  }
  mem_free(ff);
  return 0;
}

int whisper_mel_new(whisper_mel **out, const whisper_mel_params *p, char *err) {
  *out = NULL;
  whisper_mel *m = mem_calloc(1, sizeof *m);
  if (!m) return err_set(err, GLOAM_ENOMEM, "out of memory");
  m->p = *p;
  m->n_bins = p->n_fft / 2 + 1;
  size_t nf = (size_t)p->n_fft, nb = (size_t)m->n_bins;
  m->basis = mem_alloc(2 * nb * nf * sizeof(float));
  m->filters = mem_alloc((size_t)p->n_mels * nb * sizeof(float));
  if (!m->basis || !m->filters) goto oom;
  for (size_t k = 0; k < nb; k++)
    for (size_t j = 0; j < nf; j++) {
      double w = 0.5 - 0.5 * cos(2.0 * kPi * (double)j / (double)nf); /* periodic Hann */
      double ang = 2.0 * kPi * (double)((k * j) % nf) / (double)nf;
      m->basis[k * nf + j] = (float)(w * cos(ang));
      m->basis[(nb + k) * nf + j] = (float)(w * sin(ang));
    }
  if (build_filters(m) < 0) goto oom;
  *out = m;
  return 0;
oom:
  whisper_mel_free(m);
  return err_set(err, GLOAM_ENOMEM, "out of memory");
}

void whisper_mel_free(whisper_mel *m) {
  if (!m) return;
  mem_free(m->basis);
  mem_free(m->filters);
  mem_free(m);
}

const whisper_mel_params *whisper_mel_get_params(const whisper_mel *m) {
  return &m->p;
}

int whisper_mel_compute(const whisper_mel *m, kern_pool *pool, const float *pcm, size_t n,
                        float *feat) {
  const whisper_mel_params *p = &m->p;
  size_t ns = (size_t)p->n_samples, nf = (size_t)p->n_fft, half = nf / 2;
  size_t nb = (size_t)m->n_bins, T = (size_t)p->n_frames, M = (size_t)p->n_mels;
  size_t plen = ns + 2 * half;
  float *padded = mem_calloc(plen, sizeof(float));
  float *frames = mem_alloc(T * nf * sizeof(float));
  float *spec = mem_alloc(T * 2 * nb * sizeof(float)); /* [T, 2 nb], then power [T, nb] */
  float *mel = mem_alloc(T * M * sizeof(float));
  int rc = GLOAM_ENOMEM;
  if (!padded || !frames || !spec || !mel) goto out;
  if (n > ns) n = ns;
  memcpy(padded + half, pcm, n * sizeof(float));
  for (size_t i = 0; i < half; i++) { /* reflect, as torch.stft(center=True) */
    padded[half - 1 - i] = padded[half + 1 + i];
    padded[half + ns + i] = padded[half + ns - 2 - i];
  }
  for (size_t t = 0; t < T; t++) memcpy(frames + t * nf, padded + t * (size_t)p->hop, nf * 4);
  kern_matmul(pool, DT_F32, m->basis, frames, spec, (int64_t)T, (int64_t)(2 * nb), (int64_t)nf);
  for (size_t t = 0; t < T; t++) {
    const float *re = spec + t * 2 * nb, *im = re + nb;
    float *pw = spec + t * nb; /* writes trail the reads of row t */
    for (size_t k = 0; k < nb; k++) {
      float r = re[k], i = im[k];
      pw[k] = r * r + i * i;
    }
  }
  kern_matmul(pool, DT_F32, m->filters, spec, mel, (int64_t)T, (int64_t)M, (int64_t)nb);
  float mx = -INFINITY;
  for (size_t t = 0; t < T; t++)
    for (size_t j = 0; j < M; j++) {
      float v = log10f(fmaxf(mel[t * M + j], 1e-10f));
      feat[j * T + t] = v;
      mx = fmaxf(mx, v);
    }
  for (size_t i = 0; i < T * M; i++) feat[i] = (fmaxf(feat[i], mx - 8.0f) + 4.0f) / 4.0f;
  rc = 0;
out:
  mem_free(padded);
  mem_free(frames);
  mem_free(spec);
  mem_free(mel);
  return rc;
}
