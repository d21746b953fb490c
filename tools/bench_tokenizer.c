/* SPDX-License-Identifier: Apache-2.0
 *
 * tools/bench_tokenizer.c: tokenizer throughput in MB/s, single-threaded.
 *
 *   bench_tokenizer [--mb N] [--chunk BYTES] [--tokenizer DIR]...
 *
 * Generates N MiB (default 4) of mixed text, deterministically: English
 * prose (~60%), source code (~25%) and CJK (~15%, Chinese and Japanese),
 * then encodes it with each tokenizer (default: the qwen3, llama3 and gemma3
 * fixtures), whole and in chunks (default 4096 bytes, cut at a character
 * boundary; each chunk a fresh gloam_tokenizer_encode() call, then all
 * through one reused gloam_tok_encoder), and prints MB/s of CPU time (best of 3 runs) and tokens
 * per byte (MB = 10^6 bytes). Results: docs/tokenizer.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gloam/tokenizer.h"

#ifndef GLOAM_FIXTURES_DEFAULT
#define GLOAM_FIXTURES_DEFAULT "tests/fixtures"
#endif

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return (uint32_t)(rs % n);
}

static const char *words[] = {"the",
                              "of",
                              "and",
                              "to",
                              "in",
                              "a",
                              "is",
                              "that",
                              "for",
                              "it",
                              "as",
                              "was",
                              "with",
                              "be",
                              "by",
                              "on",
                              "not",
                              "he",
                              "this",
                              "are",
                              "or",
                              "his",
                              "from",
                              "at",
                              "which",
                              "but",
                              "have",
                              "an",
                              "had",
                              "they",
                              "you",
                              "were",
                              "their",
                              "one",
                              "all",
                              "we",
                              "can",
                              "her",
                              "has",
                              "there",
                              "been",
                              "if",
                              "more",
                              "when",
                              "will",
                              "would",
                              "who",
                              "so",
                              "no",
                              "private",
                              "inference",
                              "network",
                              "machines",
                              "idle",
                              "tokenizer",
                              "model",
                              "weights",
                              "attention",
                              "quickly",
                              "between",
                              "important",
                              "government",
                              "development",
                              "information",
                              "however",
                              "experience",
                              "understanding",
                              "relationship",
                              "1999",
                              "42",
                              "3.14",
                              "don't",
                              "it's",
                              "we're",
                              "they'll",
                              "Paris",
                              "London",
                              "Mr.",
                              "e.g.",
                              "(see",
                              "above)",
                              "well-known"};
static const char *code[] = {
    "def encode(self, text: str) -> list[int]:\n        return self._bpe(text)\n",
    "for (size_t i = 0; i < n; i++) {\n    sum += a[i] * b[i];\n}\n",
    "    if (rc < 0) goto fail;\n",
    "const x = await fetch(`/v1/chat/completions`, { method: \"POST\" });\n",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }\n",
    "SELECT id, name FROM users WHERE created_at > '2024-01-01' ORDER BY id;\n",
    "    x = np.zeros((batch, seq_len, hidden), dtype=np.float32)  # [B, T, H]\n",
    "}\n\n",
    "\t\treturn nil, fmt.Errorf(\"open %s: %w\", path, err)\n"};
static const char *cjk[] = {"我们",     "的",   "是",   "在",  "中国", "人工智能", "模型",
                            "推理",     "网络", "数据", "。",  "，",   "日本語",   "の",
                            "テキスト", "です", "東京", "は",  "を",   "して",     "います",
                            "、",       "私",   "言語", "処理"};

static char *gen(size_t target, size_t *out_len) {
  char *s = malloc(target + 4096);
  size_t n = 0;
  while (n < target) {
    uint32_t kind = rnd(100);
    if (kind < 60) {
      size_t len = 8 + rnd(25);
      for (size_t i = 0; i < len; i++) {
        const char *w = words[rnd(sizeof words / sizeof words[0])];
        n += (size_t)snprintf(s + n, 64, "%s%s", i ? " " : "", w);
      }
      n += (size_t)snprintf(s + n, 8, "%s", rnd(4) ? ". " : ".\n\n");
    } else if (kind < 85) {
      const char *c = code[rnd(sizeof code / sizeof code[0])];
      size_t l = strlen(c);
      memcpy(s + n, c, l);
      n += l;
    } else {
      size_t len = 10 + rnd(30);
      for (size_t i = 0; i < len; i++) {
        const char *c = cjk[rnd(sizeof cjk / sizeof cjk[0])];
        size_t l = strlen(c);
        memcpy(s + n, c, l);
        n += l;
      }
      s[n++] = '\n';
    }
  }
  s[n] = 0;
  *out_len = n;
  return s;
}

/* CPU time of this process: the machine is shared, so wall time is noisy. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Encodes text in chunks of `chunk` bytes (0: whole); returns seconds.
 * enc: a reused encoder, or NULL for a fresh state per call. */
static double run(gloam_tokenizer *tok, gloam_tok_encoder *enc, const char *text, size_t len,
                  size_t chunk, size_t *n_tokens) {
  double t0 = now();
  *n_tokens = 0;
  for (size_t at = 0; at < len;) {
    size_t n = chunk ? chunk : len;
    if (n > len - at) n = len - at;
    while (at + n < len && ((unsigned char)text[at + n] & 0xC0) == 0x80) n++;
    int32_t *ids;
    size_t ni;
    int rc = enc ? gloam_tok_encoder_encode(enc, text + at, n, 0, &ids, &ni)
                 : gloam_tokenizer_encode(tok, text + at, n, 0, &ids, &ni);
    if (rc < 0) {
      fprintf(stderr, "encode failed\n");
      exit(1);
    }
    *n_tokens += ni;
    gloam_tokenizer_buf_free(ids);
    at += n;
  }
  return now() - t0;
}

int main(int argc, char **argv) {
  size_t mb = 4, chunk = 4096;
  const char *dirs[16];
  int n_dirs = 0;
  char defaults[3][4096];
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc)
      mb = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc)
      chunk = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--tokenizer") == 0 && i + 1 < argc && n_dirs < 16)
      dirs[n_dirs++] = argv[++i];
    else {
      fprintf(stderr, "usage: bench_tokenizer [--mb N] [--chunk BYTES] [--tokenizer DIR]...\n");
      return 2;
    }
  }
  if (n_dirs == 0) {
    const char *fx = getenv("GLOAM_FIXTURES");
    const char *names[3] = {"qwen3", "llama3", "gemma3"};
    for (int i = 0; i < 3; i++) {
      snprintf(defaults[i], sizeof defaults[i], "%s/tokenizers/%s",
               fx ? fx : GLOAM_FIXTURES_DEFAULT, names[i]);
      dirs[n_dirs++] = defaults[i];
    }
  }
  size_t len;
  char *text = gen(mb << 20, &len);
  printf("text: %.2f MiB mixed English/code/CJK\n", (double)len / (1 << 20));
  for (int d = 0; d < n_dirs; d++) {
    gloam_tokenizer *tok;
    char err[GLOAM_ERR_LEN];
    double t0 = now();
    if (gloam_tokenizer_load(&tok, dirs[d], err) < 0) {
      fprintf(stderr, "%s: %s\n", dirs[d], err);
      return 1;
    }
    double load = now() - t0;
    size_t nt_whole, nt_chunk, nt_enc;
    double tw = 1e30, tc = 1e30, te = 1e30;
    for (int rep = 0; rep < 3; rep++) { /* best of 3: the machine is shared */
      gloam_tok_encoder *enc;
      if (gloam_tok_encoder_new(tok, &enc) < 0) return 1;
      double a = run(tok, NULL, text, len, 0, &nt_whole);
      double b = run(tok, NULL, text, len, chunk, &nt_chunk);
      double c = run(tok, enc, text, len, chunk, &nt_enc); /* starts with a cold cache */
      gloam_tok_encoder_free(enc);
      if (a < tw) tw = a;
      if (b < tc) tc = b;
      if (c < te) te = c;
    }
    if (nt_enc != nt_chunk) {
      fprintf(stderr, "encoder and per-call encode disagree\n");
      return 1;
    }
    printf(
        "%s: load %.2f s; whole %.1f MB/s (%zu tokens, %.3f tok/byte); %zu-byte chunks "
        "%.1f MB/s, with a reused encoder %.1f MB/s\n",
        dirs[d], load, (double)len / tw / 1e6, nt_whole, (double)nt_whole / (double)len, chunk,
        (double)len / tc / 1e6, (double)len / te / 1e6);
    gloam_tokenizer_free(tok);
  }
  free(text);
  return 0;
}
