/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/coord/test_coord_image.c: per-image billing (docs/images.md, "HTTP
 * API") with hand-computed amounts: the charge for a receipt's image count,
 * receipts with a wrong price, no images, more images than requested or an
 * audio duration refused, and the store's per-image prices (migration 3),
 * independent of the per-minute and per-token ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord_impl.h"
#include "coord/store.h"
#include "test.h"

static void claims_for(gloam_receipt_claims *cl, uint64_t images, uint64_t price) {
  memset(cl, 0, sizeof *cl);
  cl->images = images;
  cl->price_micro_usd = price;
  cl->completion_tokens = 576;
}

static void test_receipt_cost(void) {
  cjob j;
  memset(&j, 0, sizeof j);
  j.image_price = 20000; /* $0.02 per image */
  j.n_images = 3;
  gloam_receipt_claims cl;
  int64_t cost = -1;
  char err[GLOAM_ERR_LEN];
  claims_for(&cl, 3, 60000);
  ASSERT_OK(coord_image_receipt_cost(&j, &cl, &cost, err));
  ASSERT_EQ_INT(cost, 60000);
  claims_for(&cl, 1, 20000); /* fewer than asked: charged for what came */
  ASSERT_OK(coord_image_receipt_cost(&j, &cl, &cost, err));
  ASSERT_EQ_INT(cost, 20000);
  claims_for(&cl, 3, 59999);
  ASSERT_EQ_INT(coord_image_receipt_cost(&j, &cl, &cost, err), GLOAM_EAUTH);
  claims_for(&cl, 4, 80000);
  ASSERT_EQ_INT(coord_image_receipt_cost(&j, &cl, &cost, err), GLOAM_EAUTH);
  claims_for(&cl, 0, 0);
  ASSERT_EQ_INT(coord_image_receipt_cost(&j, &cl, &cost, err), GLOAM_EAUTH);
  claims_for(&cl, 3, 60000);
  cl.audio_ms = 1000;
  ASSERT_EQ_INT(coord_image_receipt_cost(&j, &cl, &cost, err), GLOAM_EAUTH);
}

static void test_store_image_price(void) {
  char err[GLOAM_ERR_LEN], path[512];
  char *dir = test_tmpdir();
  snprintf(path, sizeof path, "%s/s.db", dir);
  coord_store *s;
  ASSERT_OK(coord_store_open(&s, path, err));
  int64_t v = 0, in = -1, out = -1;
  ASSERT_EQ_INT(coord_store_image_price_get(s, "janus", &v), GLOAM_ENOENT);
  ASSERT_OK(coord_store_image_price_set(s, "janus", 20000));
  ASSERT_OK(coord_store_image_price_get(s, "janus", &v));
  ASSERT_EQ_INT(v, 20000);
  ASSERT_EQ_INT(coord_store_audio_price_get(s, "janus", &v), GLOAM_ENOENT);
  ASSERT_OK(coord_store_price_get(s, "janus", &in, &out));
  ASSERT_EQ_INT(in, 0);
  ASSERT_OK(coord_store_audio_price_set(s, "janus", 5));
  ASSERT_OK(coord_store_image_price_get(s, "janus", &v));
  ASSERT_EQ_INT(v, 20000);
  ASSERT_EQ_INT(coord_store_image_price_set(s, "janus", -1), GLOAM_EINVAL);
  ASSERT_TRUE(coord_store_schema_version(s) >= 3); /* 3: prices.image_price */
  coord_store_close(s);
  free(dir);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_receipt_cost), TEST(test_store_image_price), {0}};
  return test_main(argc, argv, tests);
}
