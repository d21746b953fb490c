/* SPDX-License-Identifier: Apache-2.0
 *
 * src/bin/engine_image_cmd.c: gloam-engine's image subcommand (registered in
 * engine_main.c's table):
 *
 *   gloam-engine imagine --model DIR (--prompt TEXT | --prompt-ids 1,2,3)
 *       --out FILE.png [--seed N] [--cfg 5] [--temperature 1] [--top-k 0]
 *       [--n 1] [--pad-id N] [--threads N] [--quant q8_0|q4_0] [--kv-f16]
 *
 * --prompt is formatted in the Janus chat format and tokenized with the
 * model's tokenizer.json; --prompt-ids is the complete formatted prompt
 * (BOS first, <begin_of_image> last). With --n above 1 the images go to
 * FILE-0.png, FILE-1.png, ... Progress and the timing (seconds per image)
 * go to stderr. Exit: 0 ok, 1 failure, 2 usage.
 *
 * Also the Janus branch of make-random (engine_bench_cmd.c):
 *   gloam-engine make-random --arch janus --shape janus-pro-1b|janus-pro-7b
 *       --dtype bf16|f16 --out DIR
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_cli.h"
#include "engine/make_random_janus.h"
#include "gloam/image.h"

int cmd_imagine(int argc, char **argv);
int make_random_janus_cmd(const char *out, const char *shape, const char *dtype, uint64_t seed);

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now_s(void) {
  return clock_s(CLOCK_MONOTONIC);
}

/* CPU seconds of every thread of the process (wall time overstates the
 * work on a shared machine). */
static double cpu_s(void) {
  return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static int num_opt(int argc, char **argv, const char *name, double lo, double hi, double *out) {
  const char *s = cli_opt(argc, argv, name);
  if (!s) return 0;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) {
    fprintf(stderr, "gloam-engine imagine: %s must be in [%g, %g]\n", name, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

typedef struct progress {
  double t0, cpu0;
  int every;
} progress;

static int on_progress(void *ctx, int done, int total) {
  const progress *p = ctx;
  if (done % p->every == 0 || done == total)
    fprintf(stderr, "  %d / %d steps, %.1f s (cpu %.1f s)\n", done, total, now_s() - p->t0,
            cpu_s() - p->cpu0);
  return 0;
}

static int write_png(const char *out, int i, int n, const uint8_t *rgb, int w, int h) {
  char path[4096], err[GLOAM_ERR_LEN];
  const char *dot = strrchr(out, '.');
  int len = dot ? (int)(dot - out) : (int)strlen(out);
  if (n == 1)
    snprintf(path, sizeof path, "%s", out);
  else
    snprintf(path, sizeof path, "%.*s-%d%s", len, out, i, dot ? dot : ".png");
  uint8_t *png;
  size_t png_len;
  int rc = gloam_png_encode(rgb, w, h, &png, &png_len, err);
  if (rc < 0) return fprintf(stderr, "gloam-engine imagine: png: %s\n", err), 1;
  FILE *f = fopen(path, "wb");
  bool ok = f && fwrite(png, 1, png_len, f) == png_len;
  if (f && fclose(f) != 0) ok = false;
  gloam_png_free(png);
  if (!ok) return fprintf(stderr, "gloam-engine imagine: cannot write %s\n", path), 1;
  fprintf(stderr, "wrote %s (%zu bytes)\n", path, png_len);
  return 0;
}

static int parse_params(int argc, char **argv, gloam_image_params *p,
                        gloam_image_model_params *mp) {
  double seed = 0, cfg = p->cfg_weight, temp = p->temperature, top_k = 0, n = 1, pad = -1,
         threads = 1;
  if (num_opt(argc, argv, "--seed", 0, 9007199254740991.0, &seed) < 0 ||
      num_opt(argc, argv, "--cfg", 0, 100, &cfg) < 0 ||
      num_opt(argc, argv, "--temperature", 0, 100, &temp) < 0 ||
      num_opt(argc, argv, "--top-k", 0, 1 << 20, &top_k) < 0 ||
      num_opt(argc, argv, "--n", 1, GLOAM_IMAGE_MAX_N, &n) < 0 ||
      num_opt(argc, argv, "--pad-id", 0, INT32_MAX, &pad) < 0 ||
      num_opt(argc, argv, "--threads", 1, 256, &threads) < 0)
    return 2;
  p->seed = (uint64_t)seed;
  p->cfg_weight = (float)cfg;
  p->temperature = (float)temp;
  p->top_k = (int)top_k;
  p->n = (int)n;
  p->pad_id = (int32_t)pad;
  mp->n_threads = (int)threads;
  mp->kv_f16 = cli_flag(argc, argv, "--kv-f16");
  const char *q = cli_opt(argc, argv, "--quant");
  if (q && strcmp(q, "q8_0") == 0)
    mp->quantize = GLOAM_QUANT_Q8_0;
  else if (q && strcmp(q, "q4_0") == 0)
    mp->quantize = GLOAM_QUANT_Q4_0;
  else if (q)
    return fprintf(stderr, "gloam-engine imagine: --quant q8_0|q4_0\n"), 2;
  return 0;
}

int cmd_imagine(int argc, char **argv) {
  const char *dir = cli_opt(argc, argv, "--model"), *out = cli_opt(argc, argv, "--out");
  const char *text = cli_opt(argc, argv, "--prompt"), *ids = cli_opt(argc, argv, "--prompt-ids");
  if (!dir || !out || !text == !ids) {
    fprintf(stderr,
            "gloam-engine imagine: --model DIR, --out FILE.png and one of --prompt TEXT "
            "or --prompt-ids 1,2,3 are required\n");
    return 2;
  }
  gloam_image_params p = gloam_image_default_params();
  gloam_image_model_params mp = gloam_image_model_default_params();
  int rc = parse_params(argc, argv, &p, &mp);
  if (rc) return rc;
  int32_t *prompt_ids = NULL;
  if (ids && (p.n_prompt_ids = cli_ids(ids, GLOAM_IMAGE_MAX_PROMPT_TOKENS, &prompt_ids)) < 0)
    return fprintf(stderr, "gloam-engine imagine: bad --prompt-ids\n"), 2;
  p.prompt = text;
  p.prompt_ids = prompt_ids;

  char err[GLOAM_ERR_LEN] = "";
  gloam_image_model *im = NULL;
  gloam_image_result r = {0};
  double t0 = now_s();
  rc = gloam_image_model_load(&im, dir, &mp, err);
  double t1 = now_s();
  progress pr = {.t0 = t1, .cpu0 = cpu_s(), .every = 64};
  p.progress = on_progress;
  p.ctx = &pr;
  if (rc == 0) {
    fprintf(stderr, "loaded %s in %.1f s: %dx%d, %d image tokens\n", dir, t1 - t0,
            gloam_image_model_width(im), gloam_image_model_height(im),
            gloam_image_model_n_tokens(im));
    rc = gloam_image_generate(im, &p, &r, err);
  }
  if (rc == 0) {
    double t = now_s() - t1;
    fprintf(stderr, "generated %d image(s) in %.2f s: %.2f s per image, cpu %.1f s (threads %d)\n",
            r.n, t, t / r.n, cpu_s() - pr.cpu0, mp.n_threads);
    for (int i = 0; i < r.n && rc == 0; i++)
      rc = write_png(out, i, r.n, gloam_image_result_rgb(&r, i), r.width, r.height);
  } else {
    fprintf(stderr, "gloam-engine imagine: %s: %s\n", gloam_strerror(rc), err);
  }
  gloam_image_result_free(&r);
  gloam_image_model_free(im);
  free(prompt_ids);
  return rc ? 1 : 0;
}

int make_random_janus_cmd(const char *out, const char *shape, const char *dtype, uint64_t seed) {
  enum dtype t = strcmp(dtype, "f16") == 0 ? DT_F16 : DT_BF16;
  if (t == DT_BF16 && strcmp(dtype, "bf16") != 0)
    return fprintf(stderr, "gloam-engine: make-random --arch janus: --dtype bf16|f16\n"), 2;
  char err[GLOAM_ERR_LEN];
  int rc = make_random_janus(out, shape, t, seed, err);
  if (rc < 0) fprintf(stderr, "gloam-engine: make-random: %s (%s)\n", err, gloam_strerror(rc));
  return rc == GLOAM_EINVAL ? 2 : rc < 0 ? 1 : 0;
}
