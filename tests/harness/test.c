/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/harness/test.c: runner, failure reporting and fixture helpers.
 */
#include "test.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static jmp_buf test_jmp;
static int test_outcome; /* 0 pass, 1 fail, 2 skip */
static char *tmpdirs[64];
static int n_tmpdirs;

void test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "  FAIL %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  test_outcome = 1;
  longjmp(test_jmp, 1);
}

void test_skip(const char *reason) {
  fprintf(stderr, "  SKIP: %s\n", reason);
  test_outcome = 2;
  longjmp(test_jmp, 1);
}

void test_fail_mem(const char *file, int line, const char *ea, const char *eb, const void *a,
                   const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  size_t i = 0;
  while (i < n && x[i] == y[i]) i++;
  fprintf(stderr, "  FAIL %s:%d: %s == %s (%zu bytes): first difference at %zu\n", file, line, ea,
          eb, n, i);
  size_t from = i > 8 ? i - 8 : 0, to = i + 8 < n ? i + 8 : n;
  fprintf(stderr, "    left :");
  for (size_t k = from; k < to; k++) fprintf(stderr, " %02x", x[k]);
  fprintf(stderr, "\n    right:");
  for (size_t k = from; k < to; k++) fprintf(stderr, " %02x", y[k]);
  fputc('\n', stderr);
  test_outcome = 1;
  longjmp(test_jmp, 1);
}

char *test_fixture_path(const char *rel) {
  const char *root = getenv("GLOAM_FIXTURES");
  if (!root || !*root) root = "tests/fixtures";
  size_t n = strlen(root) + strlen(rel) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", root, rel);
  return p;
}

void *test_read_file(const char *path, size_t *out_len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, len = 0;
  char *data = malloc(cap + 1);
  while (data) {
    size_t got = fread(data + len, 1, cap - len, f);
    len += got;
    if (len < cap) break;
    char *nd = realloc(data, cap * 2 + 1);
    if (!nd) {
      free(data);
      data = NULL;
      break;
    }
    data = nd;
    cap *= 2;
  }
  fclose(f);
  if (data) data[len] = '\0';
  if (out_len) *out_len = len;
  return data;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static void cleanup_tmpdirs(void) {
  for (int i = 0; i < n_tmpdirs; i++) {
    nftw(tmpdirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(tmpdirs[i]);
  }
  n_tmpdirs = 0;
}

char *test_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof tmpl, "%s/gloam-test-XXXXXX", base && *base ? base : "/tmp");
  char *d = mkdtemp(tmpl);
  if (!d) test_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
  char *copy = strdup(d);
  if (n_tmpdirs == 0) atexit(cleanup_tmpdirs);
  if (n_tmpdirs < 64) tmpdirs[n_tmpdirs++] = copy;
  return strdup(d);
}

/* Runs one test; setjmp lives here so no caller state can be clobbered. */
static int run_one(void (*fn)(void)) {
  test_outcome = 0;
  if (setjmp(test_jmp) == 0) fn();
  return test_outcome;
}

int test_main(int argc, char **argv, const test_case *tests) {
  int passed = 0, failed = 0, skipped = 0;
  for (const test_case *t = tests; t->name; t++) {
    if (argc > 1) {
      int want = 0;
      for (int i = 1; i < argc; i++) want |= strcmp(argv[i], t->name) == 0;
      if (!want) continue;
    }
    fprintf(stderr, "[ RUN  ] %s\n", t->name);
    int outcome = run_one(t->fn);
    const char *tag = outcome == 0 ? "[  OK  ]" : outcome == 1 ? "[ FAIL ]" : "[ SKIP ]";
    fprintf(stderr, "%s %s\n", tag, t->name);
    if (outcome == 0)
      passed++;
    else if (outcome == 1)
      failed++;
    else
      skipped++;
  }
  fprintf(stderr, "%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed) return 1;
  if (passed == 0 && skipped > 0) return 77;
  return 0;
}
