/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/audio/fuzz_audio.c: the audio front end (FFmpeg demuxers and
 * decoders behind gloam's allow-lists, the in-memory AVIOContext, the
 * resampler) on arbitrary bytes. Checks memory safety, that every failure
 * is one of the documented codes, and that a success returns finite
 * samples within the duration limit.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "engine/audio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  audio_limits lim = {1u << 20, 60.0};
  float *pcm = NULL;
  size_t n = 0;
  char err[256];
  int rc = audio_decode(data, size, &lim, &pcm, &n, err);
  if (rc == 0) {
    if (!pcm || n == 0 || n > (size_t)(60.0 * AUDIO_SAMPLE_RATE)) abort();
    for (size_t i = 0; i < n; i++)
      if (!isfinite(pcm[i])) abort();
  } else if (rc != -7 && rc != -8 && rc != -4 &&
             rc != -1) { /* EFORMAT EUNSUPPORTED ETOOBIG ENOMEM */
    abort();
  } else if (pcm) {
    abort();
  }
  mem_free(pcm);
  return 0;
}
