/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/speech/bench_speech.c: real-time factor of Whisper transcription on
 * this machine for random-weight models of Whisper tiny's and base's shapes.
 *
 *   cmake --build build/rel --target bench_speech
 *   build/rel/tests/speech/bench_speech [--threads N] [--shape tiny|base]
 *
 * Writes config.json, preprocessor_config.json and a BF16 model.safetensors
 * with random weights to a temporary directory, loads them through the
 * normal loader and times (a) log-mel + encoder for one 30 s window,
 * (b) the decoder per token, (c) gloam_speech_transcribe_pcm of 30 s of
 * audio decoding max_tokens tokens (random weights never emit the end
 * token, so every window runs to the limit: 224 is the worst case, ~100
 * is typical of real speech). RTF = compute seconds / audio seconds.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "engine/whisper.h"
#include "gloam/speech.h"
#include "kernels/dtype.h"

typedef struct shape {
  const char *name;
  int d, layers, heads, ffn;
} shape;

typedef struct tdesc {
  char name[160];
  int64_t dims[3];
  int n_dims;
  int kind; /* 0 random, 1 ones, 2 zeros */
} tdesc;

static tdesc *g_t;
static int g_n;

static void add(const char *name, int kind, int nd, int64_t a, int64_t b, int64_t c) {
  tdesc *t = &g_t[g_n++];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->n_dims = nd;
  t->dims[0] = a;
  t->dims[1] = b;
  t->dims[2] = c;
  t->kind = kind;
}

static void add_lin(const char *pfx, int64_t out, int64_t in, int bias) {
  char n[160];
  snprintf(n, sizeof n, "%s.weight", pfx);
  add(n, 0, 2, out, in, 0);
  if (bias) {
    snprintf(n, sizeof n, "%s.bias", pfx);
    add(n, 2, 1, out, 0, 0);
  }
}

static void add_ln(const char *pfx) {
  char n[160];
  snprintf(n, sizeof n, "%s.weight", pfx);
  add(n, 1, 1, 0, 0, 0);
  snprintf(n, sizeof n, "%s.bias", pfx);
  add(n, 2, 1, 0, 0, 0);
}

static void build_list(const shape *s) {
  g_t = calloc(4096, sizeof(tdesc));
  int64_t d = s->d;
  add("model.encoder.conv1.weight", 0, 3, d, 80, 3);
  add("model.encoder.conv1.bias", 2, 1, d, 0, 0);
  add("model.encoder.conv2.weight", 0, 3, d, d, 3);
  add("model.encoder.conv2.bias", 2, 1, d, 0, 0);
  add("model.encoder.embed_positions.weight", 0, 2, 1500, d, 0);
  add("model.decoder.embed_positions.weight", 0, 2, 448, d, 0);
  add("model.decoder.embed_tokens.weight", 0, 2, 51865, d, 0);
  add_ln("model.encoder.layer_norm");
  add_ln("model.decoder.layer_norm");
  char p[128];
  for (int side = 0; side < 2; side++)
    for (int l = 0; l < s->layers; l++) {
      const char *sd = side ? "decoder" : "encoder";
      const char *att[2] = {"self_attn", "encoder_attn"};
      for (int a = 0; a < 1 + side; a++) {
        snprintf(p, sizeof p, "model.%s.layers.%d.%s_layer_norm", sd, l, att[a]);
        add_ln(p);
        const char *pr[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int k = 0; k < 4; k++) {
          snprintf(p, sizeof p, "model.%s.layers.%d.%s.%s", sd, l, att[a], pr[k]);
          add_lin(p, d, d, k != 1);
        }
      }
      snprintf(p, sizeof p, "model.%s.layers.%d.final_layer_norm", sd, l);
      add_ln(p);
      snprintf(p, sizeof p, "model.%s.layers.%d.fc1", sd, l);
      add_lin(p, s->ffn, d, 1);
      snprintf(p, sizeof p, "model.%s.layers.%d.fc2", sd, l);
      add_lin(p, d, s->ffn, 1);
    }
  for (int i = 0; i < g_n; i++)
    if (g_t[i].dims[0] == 0) g_t[i].dims[0] = d;
}

static int64_t numel(const tdesc *t) {
  int64_t n = 1;
  for (int i = 0; i < t->n_dims; i++) n *= t->dims[i];
  return n;
}

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static int write_model(const char *dir, const shape *s) {
  char path[512];
  snprintf(path, sizeof path, "%s/config.json", dir);
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f,
          "{\"model_type\":\"whisper\",\"d_model\":%d,\"encoder_layers\":%d,\"decoder_layers\":%d,"
          "\"encoder_attention_heads\":%d,\"decoder_attention_heads\":%d,\"encoder_ffn_dim\":%d,"
          "\"decoder_ffn_dim\":%d,\"vocab_size\":51865,\"num_mel_bins\":80,"
          "\"max_source_positions\":1500,\"max_target_positions\":448,"
          "\"decoder_start_token_id\":50258,\"eos_token_id\":50257,"
          "\"activation_function\":\"gelu\",\"begin_suppress_tokens\":[220,50256]}\n",
          s->d, s->layers, s->layers, s->heads, s->heads, s->ffn, s->ffn);
  fclose(f);
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  f = fopen(path, "wb");
  if (!f) return -1;
  size_t hcap = 1 << 20, hl = 0;
  char *h = malloc(hcap);
  uint64_t off = 0;
  hl += (size_t)snprintf(h + hl, hcap - hl, "{");
  for (int i = 0; i < g_n; i++) {
    uint64_t nb = (uint64_t)numel(&g_t[i]) * 2;
    hl += (size_t)snprintf(h + hl, hcap - hl, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[",
                           i ? "," : "", g_t[i].name);
    for (int k = 0; k < g_t[i].n_dims; k++)
      hl += (size_t)snprintf(h + hl, hcap - hl, "%s%lld", k ? "," : "", (long long)g_t[i].dims[k]);
    hl += (size_t)snprintf(h + hl, hcap - hl, "],\"data_offsets\":[%llu,%llu]}",
                           (unsigned long long)off, (unsigned long long)(off + nb));
    off += nb;
  }
  hl += (size_t)snprintf(h + hl, hcap - hl, "}");
  while (hl % 8) h[hl++] = ' ';
  uint64_t hl64 = hl;
  fwrite(&hl64, 8, 1, f);
  fwrite(h, 1, hl, f);
  free(h);
  for (int i = 0; i < g_n; i++) {
    int64_t n = numel(&g_t[i]);
    float sc = g_t[i].n_dims >= 2 ? 1.0f / sqrtf((float)g_t[i].dims[g_t[i].n_dims - 1]) : 0;
    uint16_t *buf = malloc((size_t)n * 2);
    for (int64_t k = 0; k < n; k++)
      buf[k] = f32_to_bf16(g_t[i].kind == 1 ? 1.0f : g_t[i].kind == 2 ? 0.0f : frand() * sc * 1.7f);
    fwrite(buf, 2, (size_t)n, f);
    free(buf);
  }
  fclose(f);
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  int threads = 2;
  const char *only = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--threads") == 0) threads = (int)strtol(argv[i + 1], NULL, 10);
    if (strcmp(argv[i], "--shape") == 0) only = argv[i + 1];
  }
  static const shape shapes[] = {{"tiny", 384, 4, 6, 1536}, {"base", 512, 6, 8, 2048}};
  float *pcm = calloc(480000, sizeof(float));
  for (int i = 0; i < 480000; i++) pcm[i] = 0.1f * sinf((float)i * 0.05f) * frand();
  printf("threads %d, kernels %s\n", threads, kern_backend_name());
  for (size_t si = 0; si < 2; si++) {
    const shape *s = &shapes[si];
    if (only && strcmp(only, s->name) != 0) continue;
    char dir[] = "/tmp/gloam-whisper-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    g_n = 0;
    build_list(s);
    if (write_model(dir, s) < 0) return 1;
    char err[GLOAM_ERR_LEN];
    gloam_speech_model *m;
    if (gloam_speech_load(&m, dir, threads, err) < 0) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    /* internal handles for the per-stage timings */
    whisper_model *wm;
    whisper_state *st;
    float *feat = malloc(80 * 3000 * sizeof(float)), *logits = malloc(51865 * sizeof(float));
    if (whisper_model_load(&wm, dir, threads, err) < 0 || whisper_state_new(&st, wm, err) < 0)
      return 1;
    double t0 = now();
    whisper_mel_compute(wm->mel, wm->pool, pcm, 480000, feat);
    double t1 = now();
    whisper_encode(st, feat);
    double t2 = now();
    int32_t prompt[4] = {50258, 50259, 50359, 50363}, tok = 440;
    whisper_decode(st, prompt, 4, logits, false);
    double t3 = now();
    for (int i = 0; i < 100; i++) whisper_decode(st, &tok, 1, logits, false);
    double t4 = now();
    printf("%s (d %d, %d+%d layers): mel %.3f s, encoder %.3f s, decoder %.2f ms/token\n", s->name,
           s->d, s->layers, s->layers, t1 - t0, t2 - t1, (t4 - t3) * 1000 / 100);
    int max_tokens[2] = {100, 224};
    for (int k = 0; k < 2; k++) {
      gloam_speech_opts o;
      gloam_speech_opts_init(&o);
      o.language = "en";
      o.max_tokens = max_tokens[k];
      gloam_speech_result r;
      double a = now();
      if (gloam_speech_transcribe_pcm(m, pcm, 480000, &o, &r, err) < 0) return 1;
      double b = now();
      printf("  30 s of audio, %zu tokens: %.2f s, RTF %.3f\n", r.n_ids, b - a, (b - a) / 30.0);
      gloam_speech_result_free(&r);
    }
    whisper_state_free(st);
    whisper_model_free(wm);
    gloam_speech_free(m);
    free(feat);
    free(logits);
    free(g_t);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    rmdir(dir);
  }
  free(pcm);
  return 0;
}
