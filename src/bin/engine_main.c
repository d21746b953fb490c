/* SPDX-License-Identifier: Apache-2.0
 *
 * gloam-engine: the engine's command-line tool, used by tests, benchmarks
 * and reviewers. Its interface is a contract (docs/engine.md):
 *
 *   gloam-engine logits   --model PATH --ids 1,2,3 --out FILE
 *                         [--config FILE] [--quant q8_0|q4_0] [--threads N]
 *   gloam-engine generate --model PATH --ids 1,2,3 --max-tokens N
 *                         [--temperature T --top-p P --top-k K --min-p M --seed S
 *                          --repeat-penalty R --presence-penalty P
 *                          --frequency-penalty F --ignore-eos] (+ logits' options)
 *   gloam-engine info     --model PATH [--config FILE]
 *   gloam-engine convert  --model DIR --out FILE.gguf [--type f16|q8_0|q4_0|...]
 *                         [--config FILE]
 *
 * `logits` writes float32 little-endian [n_ids, vocab] from one prefill;
 * `generate` prints the generated ids comma-separated on one line (greedy
 * unless --temperature > 0) using the KV cache, stopping after an eos id;
 * `info` prints the model's metadata as JSON.
 *
 * Subcommands are rows of the table in main(); each is one small function
 * taking (argc, argv) after the subcommand name. Exit: 0 ok, 1 failure,
 * 2 usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_cli.h"
#include "engine/convert.h"
#include "gloam/engine.h"

#define MAX_IDS 65536

static int parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int opt_int(int argc, char **argv, const char *name, long lo, long hi, long *out) {
  const char *v = cli_opt(argc, argv, name);
  if (!v) return 0;
  if (parse_long(v, lo, hi, out) < 0) {
    fprintf(stderr, "gloam-engine: bad %s '%s'\n", name, v);
    return -1;
  }
  return 0;
}

static int opt_float(int argc, char **argv, const char *name, float *out) {
  const char *v = cli_opt(argc, argv, name);
  if (!v) return 0;
  char *end;
  errno = 0;
  float f = strtof(v, &end);
  if (errno || end == v || *end) {
    fprintf(stderr, "gloam-engine: bad %s '%s'\n", name, v);
    return -1;
  }
  *out = f;
  return 0;
}

/* "1,2,3" into ids (malloc'd). Returns the count, or -1. */
static int parse_ids(const char *s, int32_t **out) {
  int n = 1;
  for (const char *p = s; *p; p++) n += *p == ',';
  if (n > MAX_IDS) return -1;
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
  if (!ids) return -1;
  char buf[32];
  int k = 0;
  const char *p = s;
  for (;;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    long v;
    if (len == 0 || len >= sizeof buf) goto bad;
    memcpy(buf, p, len);
    buf[len] = 0;
    if (parse_long(buf, 0, INT32_MAX, &v) < 0) goto bad;
    ids[k++] = (int32_t)v;
    if (!e) break;
    p = e + 1;
  }
  *out = ids;
  return k;
bad:
  free(ids);
  return -1;
}

static int load(int argc, char **argv, gloam_model **m) {
  const char *path = cli_opt(argc, argv, "--model");
  if (!path) {
    fprintf(stderr, "gloam-engine: --model PATH is required\n");
    return 2;
  }
  gloam_model_params mp = gloam_model_default_params();
  mp.config_name = cli_opt(argc, argv, "--config");
  const char *q = cli_opt(argc, argv, "--quant");
  if (q && strcmp(q, "q8_0") == 0)
    mp.quantize = GLOAM_QUANT_Q8_0;
  else if (q && strcmp(q, "q4_0") == 0)
    mp.quantize = GLOAM_QUANT_Q4_0;
  else if (q && strcmp(q, "none") != 0) {
    fprintf(stderr, "gloam-engine: --quant must be q8_0 or q4_0\n");
    return 2;
  }
  long threads = 1;
  if (opt_int(argc, argv, "--threads", 1, 1024, &threads) < 0) return 2;
  mp.n_threads = (int)threads;
  char err[GLOAM_ERR_LEN];
  int rc = gloam_model_load(m, path, &mp, err);
  if (rc < 0) {
    fprintf(stderr, "gloam-engine: %s: %s (%s)\n", path, err, gloam_strerror(rc));
    return 1;
  }
  return 0;
}

/* Loads the model and the --ids; returns 0 or an exit code. */
static int load_with_ids(int argc, char **argv, gloam_model **m, int32_t **ids, int *n_ids) {
  const char *s = cli_opt(argc, argv, "--ids");
  if (!s) {
    fprintf(stderr, "gloam-engine: --ids 1,2,3 is required\n");
    return 2;
  }
  if ((*n_ids = parse_ids(s, ids)) < 0) {
    fprintf(stderr, "gloam-engine: bad --ids\n");
    return 2;
  }
  int rc = load(argc, argv, m);
  if (rc) free(*ids);
  return rc;
}

static int write_f32_le(FILE *f, const float *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                          (unsigned char)(u >> 24)};
    if (fwrite(b, 1, 4, f) != 4) return -1;
  }
  return 0;
}

static int cmd_logits(int argc, char **argv) {
  const char *out = cli_opt(argc, argv, "--out");
  if (!out) {
    fprintf(stderr, "gloam-engine: --out FILE is required\n");
    return 2;
  }
  gloam_model *m = NULL;
  gloam_session *s = NULL;
  int32_t *ids = NULL;
  int n = 0, status = load_with_ids(argc, argv, &m, &ids, &n);
  if (status) return status;
  status = 1;
  gloam_session_params sp = gloam_session_default_params();
  sp.n_ctx = n;
  sp.n_batch = n;
  sp.logits_all = true;
  int rc = gloam_session_new(&s, m, &sp);
  if (rc < 0) {
    fprintf(stderr, "gloam-engine: session: %s\n", gloam_strerror(rc));
    goto done;
  }
  if ((rc = gloam_session_eval(s, ids, n)) < 0) {
    fprintf(stderr, "gloam-engine: eval: %s\n", gloam_session_errmsg(s));
    goto done;
  }
  int rows;
  const float *lg = gloam_session_logits_all(s, &rows);
  FILE *f = fopen(out, "wb");
  if (!f) {
    fprintf(stderr, "gloam-engine: cannot write %s: %s\n", out, strerror(errno));
    goto done;
  }
  int wr = write_f32_le(f, lg, (size_t)rows * (size_t)gloam_model_n_vocab(m));
  if (fclose(f) != 0 || wr < 0) {
    fprintf(stderr, "gloam-engine: write %s failed\n", out);
    goto done;
  }
  status = 0;
done:
  gloam_session_free(s);
  gloam_model_free(m);
  free(ids);
  return status;
}

static int sampler_params(int argc, char **argv, gloam_sampler_params *p) {
  *p = gloam_sampler_default_params();
  p->temperature = 0; /* greedy unless asked */
  long k = 0, seed = -1;
  if (opt_float(argc, argv, "--temperature", &p->temperature) < 0 ||
      opt_float(argc, argv, "--top-p", &p->top_p) < 0 ||
      opt_float(argc, argv, "--min-p", &p->min_p) < 0 ||
      opt_float(argc, argv, "--repeat-penalty", &p->repetition_penalty) < 0 ||
      opt_float(argc, argv, "--presence-penalty", &p->presence_penalty) < 0 ||
      opt_float(argc, argv, "--frequency-penalty", &p->frequency_penalty) < 0 ||
      opt_int(argc, argv, "--top-k", 0, 1 << 24, &k) < 0 ||
      opt_int(argc, argv, "--seed", 0, INT32_MAX, &seed) < 0)
    return -1;
  p->top_k = (int)k;
  p->seed = seed >= 0 ? (uint64_t)seed : GLOAM_SEED_RANDOM;
  return 0;
}

static int cmd_generate(int argc, char **argv) {
  long max_tokens = -1;
  if (opt_int(argc, argv, "--max-tokens", 0, 1 << 20, &max_tokens) < 0) return 2;
  if (max_tokens < 0) {
    fprintf(stderr, "gloam-engine: --max-tokens N is required\n");
    return 2;
  }
  gloam_sampler_params pp;
  if (sampler_params(argc, argv, &pp) < 0) return 2;
  gloam_model *m = NULL;
  gloam_session *s = NULL;
  gloam_sampler *smp = NULL;
  int32_t *ids = NULL;
  int n = 0, status = load_with_ids(argc, argv, &m, &ids, &n);
  if (status) return status;
  status = 1;
  bool ignore_eos = cli_flag(argc, argv, "--ignore-eos");
  gloam_session_params sp = gloam_session_default_params();
  sp.n_ctx = n + (int)max_tokens;
  int rc = gloam_session_new(&s, m, &sp);
  if (rc >= 0) rc = gloam_sampler_new(&smp, m, &pp);
  if (rc < 0) {
    fprintf(stderr, "gloam-engine: %s\n", gloam_strerror(rc));
    goto done;
  }
  for (int i = 0; i < n; i++) gloam_sampler_accept(smp, ids[i]);
  rc = gloam_session_eval(s, ids, n);
  for (long i = 0; rc == 0 && i < max_tokens; i++) {
    int32_t tok;
    if ((rc = gloam_sampler_sample(smp, gloam_session_logits(s), &tok, NULL)) < 0) break;
    printf("%s%d", i ? "," : "", (int)tok);
    if ((!ignore_eos && gloam_model_is_eog(m, tok)) || i + 1 == max_tokens) break;
    rc = gloam_session_eval(s, &tok, 1);
  }
  printf("\n");
  if (rc < 0) {
    fprintf(stderr, "gloam-engine: generate: %s %s\n", gloam_strerror(rc), gloam_session_errmsg(s));
    goto done;
  }
  status = 0;
done:
  gloam_sampler_free(smp);
  gloam_session_free(s);
  gloam_model_free(m);
  free(ids);
  return status;
}

static int cmd_info(int argc, char **argv) {
  gloam_model *m = NULL;
  int status = load(argc, argv, &m);
  if (status) return status;
  printf(
      "{\"arch\":\"%s\",\"format\":\"%s\",\"n_vocab\":%d,\"n_ctx_train\":%d,"
      "\"n_layers\":%d,\"hidden\":%d,\"n_heads\":%d,\"n_kv_heads\":%d,\"head_dim\":%d,"
      "\"n_ff\":%d,\"n_experts\":%d,\"n_experts_used\":%d,\"bos\":%d,\"eos\":%d,"
      "\"n_tensors\":%d,\"n_params\":%lld,\"size_bytes\":%zu}\n",
      gloam_model_arch(m), gloam_model_format(m), gloam_model_n_vocab(m),
      gloam_model_n_ctx_train(m), gloam_model_n_layers(m), gloam_model_n_embd(m),
      gloam_model_n_heads(m), gloam_model_n_kv_heads(m), gloam_model_head_dim(m),
      gloam_model_n_ff(m), gloam_model_n_experts(m), gloam_model_n_experts_used(m),
      (int)gloam_model_bos(m), (int)gloam_model_eos(m), gloam_model_n_tensors(m),
      (long long)gloam_model_n_params(m), gloam_model_size_bytes(m));
  gloam_model_free(m);
  return 0;
}

/* Hugging Face directory -> GGUF (engine/convert.h). */
static int cmd_convert(int argc, char **argv) {
  const char *dir = cli_opt(argc, argv, "--model"), *out = cli_opt(argc, argv, "--out");
  const char *type = cli_opt(argc, argv, "--type");
  if (!dir || !out) {
    fprintf(stderr, "gloam-engine: convert needs --model DIR --out FILE.gguf [--type T]\n");
    return 2;
  }
  convert_opts o = {.type = DT_F16, .config_name = cli_opt(argc, argv, "--config")};
  if (type) {
    int t = convert_type_from_name(type);
    if (t < 0) {
      fprintf(stderr, "gloam-engine: unknown --type %s\n", type);
      return 2;
    }
    o.type = (enum dtype)t;
  }
  char err[GLOAM_ERR_LEN];
  int rc = gguf_convert(dir, out, &o, err);
  if (rc < 0) {
    fprintf(stderr, "gloam-engine: convert: %s (%s)\n", err, gloam_strerror(rc));
    return 1;
  }
  return 0;
}

typedef struct subcommand {
  const char *name;
  int (*run)(int argc, char **argv); /* argv after the subcommand name */
  const char *help;
} subcommand;

int cmd_tokenize(int argc, char **argv);     /* engine_tokenize_cmd.c */
int cmd_detokenize(int argc, char **argv);   /* engine_tokenize_cmd.c */
int cmd_render_chat(int argc, char **argv);  /* engine_chat_cmd.c */
int cmd_parse_output(int argc, char **argv); /* engine_chat_cmd.c */
int cmd_make_random(int argc, char **argv);  /* engine_bench_cmd.c */
int cmd_make_demo(int argc, char **argv);    /* engine_bench_cmd.c */
int cmd_bench(int argc, char **argv);        /* engine_bench_cmd.c */
int cmd_transcribe(int argc, char **argv);   /* engine_speech_cmd.c */
int cmd_imagine(int argc, char **argv);      /* engine_image_cmd.c */

static const subcommand commands[] = {
    {"logits", cmd_logits, "--model PATH --ids 1,2,3 --out FILE: float32 logits [n, vocab]"},
    {"generate", cmd_generate, "--model PATH --ids 1,2,3 --max-tokens N: generated ids"},
    {"info", cmd_info, "--model PATH: metadata as JSON"},
    {"convert", cmd_convert,
     "--model DIR --out FILE.gguf [--type f32|f16|bf16|q8_0|q4_0|q4_k|q6_k] [--config FILE]"},
    {"tokenize", cmd_tokenize, "--tokenizer DIR (--text S | --text-file F) [--add-special]: ids"},
    {"detokenize", cmd_detokenize, "--tokenizer DIR --ids 1,2,3 [--skip-special]: text"},
    {"render-chat", cmd_render_chat, "--tokenizer DIR --request FILE.json: the rendered prompt"},
    {"parse-output", cmd_parse_output,
     "(--text S | --text-file F) [--format F | --tokenizer DIR] [--stream]: message JSON"},
    {"make-random", cmd_make_random,
     "--arch qwen3|llama --shape qwen3-0.6b|llama-3.2-1b --dtype f16|q8_0|q4_0 --out FILE"
     " (--arch janus --shape janus-pro-1b|janus-pro-7b --dtype bf16|f16 --out DIR)"},
    {"make-demo", cmd_make_demo,
     "--out DIR --tokenizer DIR [--seed S]: the demo model (tiny Qwen3, real vocabulary)"},
    {"bench", cmd_bench,
     "--model FILE [--prompt-tokens N --gen-tokens N --threads N --batch B --repeat R]"},
    {"transcribe", cmd_transcribe,
     "--model DIR --audio FILE [--language en] [--task transcribe|translate] [--timestamps]: text"},
    {"imagine", cmd_imagine,
     "--model DIR (--prompt TEXT | --prompt-ids 1,2,3) --out FILE.png [--seed N --cfg 5]: image"},
    /* other modules add their subcommands here, one row each */
};

static int usage(void) {
  fprintf(stderr, "usage: gloam-engine COMMAND [options]\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(stderr, "  %-12s %s\n", commands[i].name, commands[i].help);
  fprintf(stderr, "common options: --config FILE --quant q8_0|q4_0 --threads N\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 2, argv + 2);
  return usage();
}
