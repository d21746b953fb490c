/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/engine/test_janus.c: Janus-Pro image generation (gloam/image.h)
 * against tests/fixtures/models/janus, made by Hugging Face transformers
 * 5.17: the teacher-forced generation-head logits (image_logits.f32) and
 * the VQ decoder's pixels (pixels.f32) within max |x - ref| <= 1e-3 *
 * max(1, max |ref|); full generation determinism per seed; PNG output
 * decoded back with libpng; rejected configurations and parameters.
 */
#include <jansson.h>
#include <png.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/janus.h"
#include "fixture.h"
#include "gloam/image.h"
#include "test.h"

#define MAX_REF 64

typedef struct ref {
  char *dir;
  int32_t prompt[MAX_REF], img[MAX_REF], dec[MAX_REF];
  int n_prompt, n_img, n_dec;
  int logits_rows, logits_cols, px_h, px_w;
} ref;

static int read_ids(const json_t *r, const char *key, int32_t *out) {
  const json_t *a = json_object_get(r, key);
  size_t n = json_array_size(a);
  if (n == 0 || n > MAX_REF) test_fail(__FILE__, __LINE__, "reference.json: bad %s", key);
  for (size_t i = 0; i < n; i++) out[i] = (int32_t)json_integer_value(json_array_get(a, i));
  return (int)n;
}

static void ref_load(ref *f) {
  memset(f, 0, sizeof *f);
  f->dir = test_fixture_path("models/janus");
  char path[1024];
  snprintf(path, sizeof path, "%s/reference.json", f->dir);
  json_t *r = json_load_file(path, 0, NULL);
  if (!r) {
    free(f->dir);
    TEST_SKIP("fixture models/janus missing");
  }
  f->n_prompt = read_ids(r, "prompt_ids", f->prompt);
  f->n_img = read_ids(r, "image_tokens", f->img);
  f->n_dec = read_ids(r, "decode_tokens", f->dec);
  const json_t *ls = json_object_get(r, "image_logits_shape"),
               *ps = json_object_get(r, "pixels_shape");
  f->logits_rows = (int)json_integer_value(json_array_get(ls, 0));
  f->logits_cols = (int)json_integer_value(json_array_get(ls, 1));
  f->px_h = (int)json_integer_value(json_array_get(ps, 0));
  f->px_w = (int)json_integer_value(json_array_get(ps, 1));
  json_decref(r);
}

static gloam_image_model *load(const char *dir, int threads) {
  gloam_image_model *im = NULL;
  char err[GLOAM_ERR_LEN];
  gloam_image_model_params p = gloam_image_model_default_params();
  p.n_threads = threads;
  int rc = gloam_image_model_load(&im, dir, &p, err);
  if (rc < 0) test_fail(__FILE__, __LINE__, "load %s: %s", dir, err);
  return im;
}

static void test_image_logits(void) {
  ref f;
  ref_load(&f);
  gloam_image_model *im = load(f.dir, 2);
  int V = f.logits_cols;
  ASSERT_EQ_INT(V, im->cfg.n_codes);
  ASSERT_EQ_INT(f.logits_rows, f.n_img);
  float *want = fixture_read_f32(f.dir, "image_logits.f32", (size_t)f.n_img * (size_t)V);
  float *got = malloc(sizeof(float) * (size_t)f.n_img * (size_t)V);
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(janus_teacher_forced(im, f.prompt, f.n_prompt, f.img, f.n_img, got, err));
  for (int i = 0; i < f.n_img; i++) {
    const float *a = got + (size_t)i * (size_t)V, *b = want + (size_t)i * (size_t)V;
    double tol = fixture_tolerance(b, (size_t)V);
    double d = fixture_max_diff(a, b, (size_t)V);
    if (d > tol) test_fail(__FILE__, __LINE__, "image token %d: max diff %g > %g", i, d, tol);
  }
  free(got);
  free(want);
  gloam_image_model_free(im);
  free(f.dir);
}

static void test_vq_pixels(void) {
  ref f;
  ref_load(&f);
  gloam_image_model *im = load(f.dir, 1);
  ASSERT_EQ_INT(gloam_image_model_n_tokens(im), f.n_dec);
  ASSERT_EQ_INT(gloam_image_model_width(im), f.px_w);
  ASSERT_EQ_INT(gloam_image_model_height(im), f.px_h);
  size_t n = (size_t)f.px_h * (size_t)f.px_w * 3;
  float *want = fixture_read_f32(f.dir, "pixels.f32", n);
  float *scratch = malloc(sizeof(float) * vq_scratch_len(&im->vq)),
        *got = malloc(sizeof(float) * n);
  vq_decode(&im->vq, NULL, f.dec, got, scratch);
  double tol = fixture_tolerance(want, n), d = fixture_max_diff(got, want, n);
  if (d > tol) test_fail(__FILE__, __LINE__, "pixels: max diff %g > %g", d, tol);
  /* the public 8-bit path: (x + 1) / 2 * 255, clipped, truncated */
  uint8_t *rgb = malloc(n);
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(gloam_image_decode_tokens(im, f.dec, f.n_dec, rgb, err));
  for (size_t i = 0; i < n; i++) {
    double v = fmin(255.0, fmax(0.0, ((double)want[i] + 1.0) / 2.0 * 255.0));
    if (fabs(v - floor(v + 0.5)) > 0.01 && fabs(v - floor(v)) > 0.01) /* not near a boundary */
      ASSERT_EQ_INT(rgb[i], (int)v);
  }
  ASSERT_EQ_INT(gloam_image_decode_tokens(im, f.dec, f.n_dec - 1, rgb, err), GLOAM_EINVAL);
  free(rgb);
  free(got);
  free(scratch);
  free(want);
  gloam_image_model_free(im);
  free(f.dir);
}

static int generate(gloam_image_model *im, const ref *f, uint64_t seed, int n,
                    gloam_image_result *r) {
  gloam_image_params p = gloam_image_default_params();
  p.prompt_ids = f->prompt;
  p.n_prompt_ids = f->n_prompt;
  p.seed = seed;
  p.n = n;
  p.top_k = 32;
  p.pad_id = 0; /* the fixture's generation_config has no pad token */
  char err[GLOAM_ERR_LEN];
  int rc = gloam_image_generate(im, &p, r, err);
  if (rc < 0) fprintf(stderr, "generate: %s\n", err);
  return rc;
}

static void test_generate_deterministic(void) {
  ref f;
  ref_load(&f);
  gloam_image_model *im = load(f.dir, 2);
  gloam_image_result a, b, c;
  ASSERT_OK(generate(im, &f, 7, 2, &a));
  ASSERT_OK(generate(im, &f, 7, 2, &b));
  ASSERT_OK(generate(im, &f, 8, 2, &c));
  ASSERT_EQ_INT(a.n, 2);
  ASSERT_EQ_INT(a.width, f.px_w);
  ASSERT_EQ_INT(a.n_tokens, f.n_dec);
  size_t nt = (size_t)a.n * (size_t)a.n_tokens,
         px = (size_t)a.n * (size_t)a.width * (size_t)a.height * 3;
  ASSERT_EQ_MEM(a.tokens, b.tokens, nt * sizeof(int32_t));
  ASSERT_EQ_MEM(a.rgb, b.rgb, px);
  ASSERT_TRUE(memcmp(a.tokens, c.tokens, nt * sizeof(int32_t)) != 0);
  /* the two images of a call use seeds s and s + 1 */
  ASSERT_TRUE(memcmp(a.tokens, a.tokens + a.n_tokens, (size_t)a.n_tokens * sizeof(int32_t)) != 0);
  for (size_t i = 0; i < nt; i++) ASSERT_TRUE(a.tokens[i] >= 0 && a.tokens[i] < im->cfg.n_codes);
  /* the image is the decoder's output for the tokens */
  uint8_t *rgb = malloc(px);
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(gloam_image_decode_tokens(im, a.tokens + a.n_tokens, a.n_tokens, rgb, err));
  ASSERT_EQ_MEM(rgb, gloam_image_result_rgb(&a, 1), px / 2);
  ASSERT_TRUE(gloam_image_result_rgb(&a, 2) == NULL);
  free(rgb);
  gloam_image_result_free(&a);
  gloam_image_result_free(&b);
  gloam_image_result_free(&c);
  gloam_image_model_free(im);
  free(f.dir);
}

static int cancel_at_3(void *ctx, int done, int total) {
  (void)total;
  *(int *)ctx = done;
  return done >= 3;
}

static void test_cancel_and_bad_params(void) {
  ref f;
  ref_load(&f);
  gloam_image_model *im = load(f.dir, 1);
  gloam_image_result r;
  char err[GLOAM_ERR_LEN];
  gloam_image_params p = gloam_image_default_params();
  p.prompt_ids = f.prompt;
  p.n_prompt_ids = f.n_prompt;
  p.pad_id = 0;
  int seen = 0;
  p.progress = cancel_at_3;
  p.ctx = &seen;
  ASSERT_EQ_INT(gloam_image_generate(im, &p, &r, err), GLOAM_ECANCELED);
  ASSERT_EQ_INT(seen, 3);
  ASSERT_TRUE(r.rgb == NULL && r.n == 0);
  p.progress = NULL;
  volatile int flag = 1;
  p.cancel = &flag;
  ASSERT_EQ_INT(gloam_image_generate(im, &p, &r, err), GLOAM_ECANCELED);
  p.cancel = NULL;
  p.n = GLOAM_IMAGE_MAX_N + 1;
  ASSERT_EQ_INT(gloam_image_generate(im, &p, &r, err), GLOAM_EINVAL);
  p.n = 1;
  p.pad_id = -1; /* guidance without a pad token */
  ASSERT_EQ_INT(gloam_image_generate(im, &p, &r, err), GLOAM_EINVAL);
  p.cfg_weight = 1.0f; /* no guidance: no pad needed */
  ASSERT_OK(gloam_image_generate(im, &p, &r, err));
  gloam_image_result_free(&r);
  p.n_prompt_ids = 0;
  ASSERT_EQ_INT(gloam_image_generate(im, &p, &r, err), GLOAM_EINVAL);
  int32_t bad[2] = {1, 100000};
  p.prompt_ids = bad;
  p.n_prompt_ids = 2;
  ASSERT_EQ_INT(gloam_image_generate(im, &p, &r, err), GLOAM_EINVAL);
  p.prompt = "";
  ASSERT_EQ_INT(gloam_image_generate(im, &p, &r, err), GLOAM_EINVAL);
  p.prompt = "a fox";
  ASSERT_FALSE(gloam_image_model_has_tokenizer(im));
  ASSERT_EQ_INT(gloam_image_generate(im, &p, &r, err), GLOAM_EUNSUPPORTED);
  p.prompt = NULL;
  p.temperature = -1.0f;
  ASSERT_EQ_INT(gloam_image_generate(im, &p, &r, err), GLOAM_EINVAL);
  ASSERT_EQ_INT(gloam_image_generate(NULL, &p, &r, err), GLOAM_EINVAL);
  gloam_image_model_free(im);
  free(f.dir);
}

static void test_png_roundtrip(void) {
  enum { W = 37, H = 23 };
  uint8_t rgb[W * H * 3];
  for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 7 + i / 5);
  uint8_t *png = NULL;
  size_t len = 0;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(gloam_png_encode(rgb, W, H, &png, &len, err));
  ASSERT_TRUE(len > 8 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0);
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  ASSERT_TRUE(png_image_begin_read_from_memory(&img, png, len));
  ASSERT_EQ_INT((int)img.width, W);
  ASSERT_EQ_INT((int)img.height, H);
  img.format = PNG_FORMAT_RGB;
  uint8_t back[W * H * 3];
  ASSERT_TRUE(png_image_finish_read(&img, NULL, back, 0, NULL));
  ASSERT_EQ_MEM(back, rgb, sizeof rgb);
  gloam_png_free(png);
  ASSERT_EQ_INT(gloam_png_encode(rgb, 0, H, &png, &len, err), GLOAM_EINVAL);
  ASSERT_EQ_INT(gloam_png_encode(NULL, W, H, &png, &len, err), GLOAM_EINVAL);
}

/* dir with the fixture's weights and config.json modified by edit(). */
static char *variant(const ref *f, void (*edit)(json_t *)) {
  char *dir = test_tmpdir(), src[1024], dst[1024];
  snprintf(src, sizeof src, "%s/model.safetensors", f->dir);
  snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
  char *abs = realpath(src, NULL); /* the link must not depend on the cwd */
  ASSERT_NOT_NULL(abs);
  ASSERT_TRUE(symlink(abs, dst) == 0);
  free(abs);
  snprintf(src, sizeof src, "%s/config.json", f->dir);
  json_t *c = json_load_file(src, 0, NULL);
  ASSERT_NOT_NULL(c);
  edit(c);
  snprintf(dst, sizeof dst, "%s/config.json", dir);
  ASSERT_TRUE(json_dump_file(c, dst, 0) == 0);
  json_decref(c);
  return dir;
}

static void edit_llama(json_t *c) {
  json_object_set_new(c, "model_type", json_string("llama"));
}
static void edit_no_vq(json_t *c) {
  json_object_del(c, "vq_config");
}
static void edit_grid(json_t *c) {
  json_object_set_new(json_object_get(c, "vq_config"), "num_patches", json_integer(1000));
}
static void edit_mult(json_t *c) {
  json_t *m = json_array();
  json_array_append_new(m, json_integer(1));
  json_array_append_new(m, json_integer(2));
  json_array_append_new(m, json_integer(4));
  json_object_set_new(json_object_get(c, "vq_config"), "channel_multiplier", m);
}
static void edit_codes(json_t *c) {
  json_object_set_new(json_object_get(c, "vq_config"), "num_embeddings", json_integer(65));
}
static void edit_act(json_t *c) {
  json_object_set_new(json_object_get(c, "vq_config"), "hidden_act", json_string("relu"));
}

static void test_bad_configs(void) {
  ref f;
  ref_load(&f);
  static const struct {
    void (*edit)(json_t *);
    int rc;
  } cases[] = {
      {edit_llama, GLOAM_EUNSUPPORTED}, {edit_no_vq, GLOAM_EFORMAT}, {edit_grid, GLOAM_EFORMAT},
      {edit_mult, GLOAM_EFORMAT},       {edit_codes, GLOAM_EFORMAT}, {edit_act, GLOAM_EUNSUPPORTED},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *dir = variant(&f, cases[i].edit), err[GLOAM_ERR_LEN];
    gloam_image_model *im = NULL;
    int rc = gloam_image_model_load(&im, dir, NULL, err);
    if (rc != cases[i].rc)
      test_fail(__FILE__, __LINE__, "case %zu: %d (%s), expected %d", i, rc, err, cases[i].rc);
    ASSERT_TRUE(im == NULL);
    free(dir);
  }
  /* the language model alone loads as a text model */
  gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
  ASSERT_EQ_STR(gloam_model_arch(m), "llama");
  ASSERT_EQ_INT(gloam_model_n_vocab(m), 512);
  gloam_model_free(m);
  free(f.dir);
}

static void edit_none(json_t *c) {
  (void)c;
}

/* A text prompt goes through the tokenizer (here Llama 3's, whose ids do
 * not fit the tiny model and which has no <begin_of_image>). */
static void test_text_prompt(void) {
  ref f;
  ref_load(&f);
  char *dir = variant(&f, edit_none);
  char *rel = test_fixture_path("tokenizers/llama3/tokenizer.json.gz"), *tok = realpath(rel, NULL);
  free(rel);
  ASSERT_NOT_NULL(tok);
  char dst[1024], err[GLOAM_ERR_LEN];
  snprintf(dst, sizeof dst, "%s/tokenizer.json.gz", dir);
  ASSERT_TRUE(symlink(tok, dst) == 0);
  gloam_image_model *im = NULL;
  ASSERT_OK(gloam_image_model_load(&im, dir, NULL, err));
  ASSERT_TRUE(gloam_image_model_has_tokenizer(im));
  gloam_image_params p = gloam_image_default_params();
  p.prompt = "a red fox in the snow";
  p.pad_id = 0;
  gloam_image_result r;
  ASSERT_EQ_INT(gloam_image_generate(im, &p, &r, err), GLOAM_EUNSUPPORTED);
  p.boi_id = 5;
  ASSERT_EQ_INT(gloam_image_generate(im, &p, &r, err), GLOAM_EINVAL);
  ASSERT_TRUE(strstr(err, "outside the vocabulary") != NULL);
  gloam_image_model_free(im);
  free(tok);
  free(dir);
  free(f.dir);
}

static void test_quantized(void) {
  ref f;
  ref_load(&f);
  gloam_image_model *im = NULL;
  char err[GLOAM_ERR_LEN];
  gloam_image_model_params mp = gloam_image_model_default_params();
  mp.quantize = GLOAM_QUANT_Q8_0;
  mp.kv_f16 = true;
  ASSERT_OK(gloam_image_model_load(&im, f.dir, &mp, err));
  gloam_image_result r;
  ASSERT_OK(generate(im, &f, 3, 1, &r));
  ASSERT_EQ_INT(r.n, 1);
  gloam_image_result_free(&r);
  gloam_image_model_free(im);
  free(f.dir);
}

/* gloam-engine imagine writes the PNG of what the library generates. */
static void test_cli(void) {
#ifndef GLOAM_ENGINE_BIN
  TEST_SKIP("gloam-engine binary not known");
#else
  ref f;
  ref_load(&f);
  char *dir = test_tmpdir(), out[1024], ids[256] = "";
  snprintf(out, sizeof out, "%s/img.png", dir);
  size_t len = 0;
  for (int i = 0; i < f.n_prompt; i++)
    len += (size_t)snprintf(ids + len, sizeof ids - len, "%s%d", i ? "," : "", (int)f.prompt[i]);
  char *argv[] = {GLOAM_ENGINE_BIN, "imagine", "--model", f.dir, "--prompt-ids", ids,
                  "--pad-id",       "0",       "--seed",  "5",   "--top-k",      "32",
                  "--out",          out,       NULL};
  pid_t pid;
  int st = -1;
  ASSERT_EQ_INT(posix_spawn(&pid, argv[0], NULL, NULL, argv, NULL), 0);
  ASSERT_EQ_INT(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  size_t png_len = 0;
  uint8_t *png = test_read_file(out, &png_len);
  ASSERT_NOT_NULL(png);
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  ASSERT_TRUE(png_image_begin_read_from_memory(&img, png, png_len));
  img.format = PNG_FORMAT_RGB;
  size_t n = (size_t)f.px_w * (size_t)f.px_h * 3;
  ASSERT_EQ_INT((int)img.width, f.px_w);
  uint8_t *back = malloc(n);
  ASSERT_TRUE(png_image_finish_read(&img, NULL, back, 0, NULL));
  gloam_image_model *im = load(f.dir, 1);
  gloam_image_result r;
  ASSERT_OK(generate(im, &f, 5, 1, &r));
  ASSERT_EQ_MEM(back, r.rgb, n);
  gloam_image_result_free(&r);
  gloam_image_model_free(im);
  free(back);
  free(png);
  free(dir);
  free(f.dir);
#endif
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_image_logits),
      TEST(test_vq_pixels),
      TEST(test_generate_deterministic),
      TEST(test_cancel_and_bad_params),
      TEST(test_png_roundtrip),
      TEST(test_bad_configs),
      TEST(test_text_prompt),
      TEST(test_quantized),
      TEST(test_cli),
      {0},
  };
  return test_main(argc, argv, tests);
}
