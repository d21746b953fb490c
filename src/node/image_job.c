/* SPDX-License-Identifier: Apache-2.0
 *
 * node/image_job.c: image generation jobs on the node's engine thread
 * (image_job.h). The sealed plaintext is the OpenAI JSON request; the
 * sealed answer is OpenAI's response body with every image as b64_json
 * (the proxy turns them into local URLs when the client asked for url).
 */
#include "node/image_job.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "gloam/image.h"
#include "http/image_req.h"
#include "node/unit_out.h"

bool image_model_detect(const char *dir) {
  char path[NODE_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/config.json", dir);
  json_t *cfg = json_load_file(path, 0, NULL);
  bool yes = json_is_object(json_object_get(cfg, "vq_config"));
  json_decref(cfg);
  return yes;
}

int image_engine_load(node_engine *e, char *err) {
  gloam_image_model_params mp = gloam_image_model_default_params();
  mp.quantize = (enum gloam_quant)e->cfg->quantize;
  mp.n_threads = e->cfg->threads;
  return gloam_image_model_load(&e->image, e->cfg->model, &mp, err);
}

void image_engine_free(node_engine *e) {
  gloam_image_model_free(e->image);
  e->image = NULL;
}

typedef struct ijob {
  node_engine *e;
  node_job *j;
  const char *why; /* static: why the job was stopped */
} ijob;

static int on_progress(void *ctx, int done, int total) {
  (void)done;
  (void)total;
  ijob *ij = ctx;
  return unit_should_stop(ij->e, ij->j, &ij->why);
}

/* Opens and validates the request; code/msg on failure. */
static int open_request(node_engine *e, node_slot *s, node_job *j, image_req *r, const char **code,
                        char *msg) {
  uint8_t *body = NULL;
  size_t len = 0;
  int rc = unit_open(e, s, j, &body, &len, code, msg);
  if (rc < 0) return rc;
  audio_req_error ae;
  *code = "invalid_request";
  if (strcmp(s->hdr.endpoint, IMAGE_ENDPOINT) != 0)
    rc = err_set(msg, GLOAM_EUNSUPPORTED, "this node serves only image generation");
  else if ((rc = image_req_parse(body, len, r, &ae)) < 0)
    err_set(msg, rc, "%s", ae.message);
  else if (strcmp(r->model, s->hdr.model) != 0 || (uint32_t)r->n != s->hdr.n_images)
    rc = err_set(msg, GLOAM_EINVAL, "the body's model or n differs from the envelope's");
  else if (r->width && (r->width != gloam_image_model_width(e->image) ||
                        r->height != gloam_image_model_height(e->image)))
    rc = err_set(msg, GLOAM_EINVAL, "Unsupported size. This model generates %dx%d images.",
                 gloam_image_model_width(e->image), gloam_image_model_height(e->image));
  gloam_seal_free(body, len);
  return rc;
}

/* PNGs of r into the answer body (out) and their hashes into c. */
static int encode(const gloam_image_result *r, buf *out, gloam_receipt_claims *c, char *msg) {
  uint8_t *png[IMAGE_MAX_N] = {0};
  size_t len[IMAGE_MAX_N] = {0};
  int rc = 0;
  for (int i = 0; i < r->n && rc == 0; i++) {
    rc = gloam_png_encode(gloam_image_result_rgb(r, i), r->width, r->height, &png[i], &len[i], msg);
    if (rc == 0) SHA256(png[i], len[i], c->images_sha256[i]);
  }
  char *body = NULL;
  size_t blen = 0;
  if (rc == 0)
    rc = image_resp_body((const uint8_t *const *)png, len, r->n, time_wall_ms() / 1000, &body,
                         &blen);
  if (rc == 0) rc = buf_append(out, body, blen);
  mem_free(body);
  for (int i = 0; i < r->n; i++) gloam_png_free(png[i]);
  c->images = (uint64_t)r->n;
  return rc;
}

static int generate(node_engine *e, node_slot *s, ijob *ij, const image_req *r,
                    gloam_image_result *res, const char **code, char *msg) {
  gloam_image_params p = gloam_image_default_params();
  p.prompt = r->prompt;
  p.n = r->n;
  for (int i = 0; i < 8; i++) p.seed = p.seed << 8 | s->hdr.request_id[i]; /* the job's seed */
  p.progress = on_progress;
  p.ctx = ij;
  int rc = gloam_image_generate(e->image, &p, res, msg);
  if (rc < 0)
    *code = rc == GLOAM_EINVAL || rc == GLOAM_ETOOBIG || rc == GLOAM_EUNSUPPORTED
                ? "invalid_request"
                : "internal_error";
  return rc;
}

void image_job_run(node_engine *e, node_slot *s, node_job *j) {
  ijob ij = {.e = e, .j = j};
  char msg[GLOAM_ERR_LEN] = "";
  const char *code = "internal_error";
  image_req r;
  memset(&r, 0, sizeof r);
  gloam_image_result res;
  memset(&res, 0, sizeof res);
  gloam_receipt_claims c;
  memset(&c, 0, sizeof c);
  buf out;
  buf_init(&out, 64u << 20);
  s->job = j;
  s->started_ms = time_wall_ms();
  atomic_store(&j->slot, s->index);
  int rc = open_request(e, s, j, &r, &code, msg);
  if (rc == 0 && (rc = unit_start(e, s, j)) < 0) err_set(msg, rc, "cannot start the stream");
  if (rc == 0) rc = generate(e, s, &ij, &r, &res, &code, msg);
  if (rc == 0) {
    code = "internal_error";
    if ((rc = encode(&res, &out, &c, msg)) == 0 && (rc = unit_seal_all(e, s, j, &out, 1)) == 0) {
      uint8_t hashes[GLOAM_RECEIPT_MAX_IMAGES][32];
      memcpy(hashes, c.images_sha256, sizeof hashes);
      uint64_t n = c.images;
      rc = unit_claims_init(e, s, &c);
      memcpy(c.images_sha256, hashes, sizeof hashes);
      c.images = n;
      c.completion_tokens = n * (uint64_t)res.n_tokens;
      int64_t price = image_cost(n, j->image_price);
      c.price_micro_usd = price < 0 ? 0 : (uint64_t)price;
      if (rc == 0)
        rc = unit_done(e, j, &c,
                       json_pack("{s:i,s:I,s:I}", "prompt_tokens", 0, "completion_tokens",
                                 (json_int_t)c.completion_tokens, "images", (json_int_t)n));
    }
    if (rc < 0 && !msg[0]) err_set(msg, rc, "finishing the response failed");
  }
  log_line l;
  if (log_begin(&l, rc == 0 ? LOG_INFO : LOG_WARN, "node.image_job_done")) {
    log_str(&l, "job", j->id_hex);
    log_int(&l, "rc", rc);
    log_int(&l, "images", res.n);
    log_int(&l, "ms", time_wall_ms() - s->started_ms);
    log_end(&l);
  }
  if (rc == 0) eng_record(e, 0, 0, res.n * res.n_tokens);
  gloam_image_result_free(&res);
  image_req_free(&r);
  buf_deinit(&out);
  unit_end(e, s, j, rc, code, msg, rc == GLOAM_ECANCELED ? ij.why : NULL);
}
