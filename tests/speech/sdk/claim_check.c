/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/speech/sdk/claim_check.c: a client that lies about the audio
 * duration (run.sh). It seals a transcription upload client-side with
 * libgloam (gloam_client_chat, endpoint audio/transcriptions) claiming
 * CLAIM_MS in the envelope header, and prints what came back as one JSON
 * line: whether the receipt verified, the receipt's audio_ms and price, and
 * what the coordinator says it charged. run.sh checks that the charge is the
 * claim's price, not the receipt's (docs/speech.md, settlement).
 *
 * usage: claim_check BASE_URL API_KEY MODEL WAV CLAIM_MS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gloam/client.h"

static int sink(const char *data, size_t len, void *ud) {
  (void)data;
  *(size_t *)ud += len;
  return 0;
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = n > 0 ? malloc((size_t)n) : NULL;
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = b ? (size_t)n : 0;
  return b;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: claim_check BASE_URL API_KEY MODEL WAV CLAIM_MS\n");
    return 2;
  }
  size_t wav_len = 0;
  char *wav = read_all(argv[4], &wav_len);
  if (!wav) return 2;
  static const char head[] =
      "--gloamclaim\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n";
  static const char mid[] =
      "\r\n--gloamclaim\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n";
  static const char tail[] = "\r\n--gloamclaim--\r\n";
  size_t ml = strlen(argv[3]),
         n = sizeof head - 1 + ml + sizeof mid - 1 + wav_len + sizeof tail - 1;
  char *body = malloc(n), *p = body;
  if (!body) return 2;
  memcpy(p, head, sizeof head - 1), p += sizeof head - 1;
  memcpy(p, argv[3], ml), p += ml;
  memcpy(p, mid, sizeof mid - 1), p += sizeof mid - 1;
  memcpy(p, wav, wav_len), p += wav_len;
  memcpy(p, tail, sizeof tail - 1);
  gloam_client_config cfg = {.base_url = argv[1], .api_key = argv[2]};
  gloam_client *c = NULL;
  char err[GLOAM_ERR_LEN] = "";
  if (gloam_client_new(&c, &cfg, err) < 0) {
    fprintf(stderr, "claim_check: %s\n", err);
    return 2;
  }
  gloam_chat_opts o = GLOAM_CHAT_OPTS_INIT;
  o.endpoint = "audio/transcriptions";
  o.model = argv[3];
  o.audio_ms = (uint32_t)strtoul(argv[5], NULL, 10);
  gloam_chat_result r;
  size_t got = 0;
  int rc = gloam_client_chat(c, body, n, &o, sink, &got, &r, err);
  printf(
      "{\"rc\":%d,\"receipt_ok\":%d,\"audio_ms\":%llu,\"price\":%llu,\"charged\":%lld,"
      "\"bytes\":%zu}\n",
      rc, r.receipt_ok, (unsigned long long)r.claims.audio_ms,
      (unsigned long long)r.claims.price_micro_usd, (long long)r.charged_micro_usd, got);
  if (rc < 0) fprintf(stderr, "claim_check: %s\n", err);
  gloam_chat_result_deinit(&r);
  gloam_client_free(c);
  free(body);
  free(wav);
  return rc < 0 ? 1 : 0;
}
