/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/coord/test_coord_speech.c: per-audio-minute billing (docs/speech.md)
 * with hand-computed amounts: the reservation for a claimed duration, the
 * charge for a receipt within the slack, the cap at the claim for a receipt
 * beyond it, receipts with a wrong price or no duration refused, and the
 * store's per-minute prices (schema migration 2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_impl.h"
#include "coord/store.h"
#include "http/audio_req.h"
#include "test.h"

static void test_audio_cost(void) {
  /* ceil(ms * price / 60000): 5033 ms at 6000 micro-USD/min = 503.3 -> 504 */
  ASSERT_EQ_INT(audio_cost(5033, 6000), 504);
  ASSERT_EQ_INT(audio_cost(60000, 6000), 6000);
  ASSERT_EQ_INT(audio_cost(1, 1), 1);
  ASSERT_EQ_INT(audio_cost(0, 6000), 0);
  ASSERT_EQ_INT(audio_cost(14400000, 100000000000000), -1); /* 4 h at $100M/min: over 2^53 */
  ASSERT_EQ_INT(audio_cost(1000, -1), -1);
  /* slack: max(1 s, 2 %) */
  ASSERT_EQ_UINT(audio_claim_slack_ms(5000), 1000);
  ASSERT_EQ_UINT(audio_claim_slack_ms(100000), 2000);
}

static void claims_for(gloam_receipt_claims *cl, uint64_t audio_ms, uint64_t price) {
  memset(cl, 0, sizeof *cl);
  cl->audio_ms = audio_ms;
  cl->price_micro_usd = price;
  cl->completion_tokens = 7;
}

static void test_receipt_cost(void) {
  cjob j;
  memset(&j, 0, sizeof j);
  snprintf(j.id_hex, sizeof j.id_hex, "00112233445566778899aabbccddeeff");
  j.audio_price = 6000;
  j.audio_ms = 5000; /* the claim */
  gloam_receipt_claims cl;
  int64_t cost = -1;
  char err[GLOAM_ERR_LEN];
  /* within the slack (5000 + 1000 ms): the receipt's own price */
  claims_for(&cl, 5033, 504);
  ASSERT_OK(coord_speech_receipt_cost(&j, &cl, &cost, err));
  ASSERT_EQ_INT(cost, 504);
  claims_for(&cl, 6000, 600);
  ASSERT_OK(coord_speech_receipt_cost(&j, &cl, &cost, err));
  ASSERT_EQ_INT(cost, 600);
  /* beyond it: charged at the claim, 5000 ms = 500 */
  claims_for(&cl, 6001, 601);
  ASSERT_OK(coord_speech_receipt_cost(&j, &cl, &cost, err));
  ASSERT_EQ_INT(cost, 500);
  claims_for(&cl, 3600000, 360000);
  ASSERT_OK(coord_speech_receipt_cost(&j, &cl, &cost, err));
  ASSERT_EQ_INT(cost, 500);
  /* a price that is not the list's, no duration, prompt tokens */
  claims_for(&cl, 5033, 503);
  ASSERT_EQ_INT(coord_speech_receipt_cost(&j, &cl, &cost, err), GLOAM_EAUTH);
  claims_for(&cl, 0, 0);
  ASSERT_EQ_INT(coord_speech_receipt_cost(&j, &cl, &cost, err), GLOAM_EAUTH);
  claims_for(&cl, 5033, 504);
  cl.prompt_tokens = 1;
  ASSERT_EQ_INT(coord_speech_receipt_cost(&j, &cl, &cost, err), GLOAM_EAUTH);
}

static void test_store_audio_price(void) {
  char err[GLOAM_ERR_LEN], path[512];
  char *dir = test_tmpdir();
  snprintf(path, sizeof path, "%s/s.db", dir);
  coord_store *s;
  ASSERT_OK(coord_store_open(&s, path, err));
  int64_t v = 0, in = -1, out = -1;
  ASSERT_EQ_INT(coord_store_audio_price_get(s, "whisper", &v), GLOAM_ENOENT);
  ASSERT_OK(coord_store_audio_price_set(s, "whisper", 6000));
  ASSERT_OK(coord_store_audio_price_get(s, "whisper", &v));
  ASSERT_EQ_INT(v, 6000);
  /* a per-minute price leaves token prices at 0, and setting those keeps it */
  ASSERT_OK(coord_store_price_get(s, "whisper", &in, &out));
  ASSERT_EQ_INT(in, 0);
  ASSERT_EQ_INT(out, 0);
  ASSERT_OK(coord_store_price_set(s, "whisper", 1, 2));
  ASSERT_OK(coord_store_audio_price_get(s, "whisper", &v));
  ASSERT_EQ_INT(v, 6000);
  /* a chat model has no audio price */
  ASSERT_OK(coord_store_price_set(s, "qwen3", 100, 200));
  ASSERT_EQ_INT(coord_store_audio_price_get(s, "qwen3", &v), GLOAM_ENOENT);
  ASSERT_EQ_INT(coord_store_audio_price_set(s, "whisper", -1), GLOAM_EINVAL);
  coord_store_close(s);
  free(dir);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_audio_cost), TEST(test_receipt_cost), TEST(test_store_audio_price), {0}};
  return test_main(argc, argv, tests);
}
