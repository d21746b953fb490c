/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/harness/test.h: the tiny test harness every module's test binary uses.
 *
 *   static void test_buf_caps(void) {
 *     buf b; buf_init(&b, 4);
 *     ASSERT_EQ_INT(buf_append(&b, "hello", 5), GLOAM_ETOOBIG);
 *     buf_deinit(&b);
 *   }
 *   int main(int argc, char **argv) {
 *     static const test_case tests[] = { TEST(test_buf_caps), {0} };
 *     return test_main(argc, argv, tests);
 *   }
 *
 * A failed ASSERT prints file:line and both values, and ends the current test
 * (longjmp); the others still run. `test_x name...` runs only the named tests.
 * The binary prints "N passed, M failed" and exits non-zero on any failure.
 * A test that cannot run (missing fixture) calls TEST_SKIP(reason): it is
 * reported as skipped, and CTest sees exit code 77 if nothing else ran.
 */
#ifndef GLOAM_TEST_H
#define GLOAM_TEST_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct test_case {
  const char *name;
  void (*fn)(void);
} test_case;

#define TEST(fn) \
  { #fn, fn }

int test_main(int argc, char **argv, const test_case *tests);

_Noreturn void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void test_skip(const char *reason);
void test_fail_mem(const char *file, int line, const char *ea, const char *eb, const void *a,
                   const void *b, size_t n);

/* Path of a fixture under $GLOAM_FIXTURES (tests/fixtures); static buffer
 * per call site is not needed: returns a malloc'd string the test frees. */
char *test_fixture_path(const char *rel);
/* Reads a whole file; NULL on failure. The caller frees with free(). */
void *test_read_file(const char *path, size_t *out_len);
/* A fresh empty temporary directory (malloc'd path), removed at exit. */
char *test_tmpdir(void);

#define ASSERT_TRUE(c)                                                \
  do {                                                                \
    if (!(c)) test_fail(__FILE__, __LINE__, "expected true: %s", #c); \
  } while (0)
#define ASSERT_FALSE(c)                                             \
  do {                                                              \
    if (c) test_fail(__FILE__, __LINE__, "expected false: %s", #c); \
  } while (0)
#define ASSERT_EQ_INT(a, b)                                                                \
  do {                                                                                     \
    long long a_ = (long long)(a), b_ = (long long)(b);                                    \
    if (a_ != b_) test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); \
  } while (0)
#define ASSERT_NE_INT(a, b)                                                         \
  do {                                                                              \
    long long a_ = (long long)(a), b_ = (long long)(b);                             \
    if (a_ == b_) test_fail(__FILE__, __LINE__, "%s != %s: both %lld", #a, #b, a_); \
  } while (0)
#define ASSERT_EQ_UINT(a, b)                                                               \
  do {                                                                                     \
    unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);         \
    if (a_ != b_) test_fail(__FILE__, __LINE__, "%s == %s: %llu != %llu", #a, #b, a_, b_); \
  } while (0)
#define ASSERT_CMP_INT(a, op, b)                                                                   \
  do {                                                                                             \
    long long a_ = (long long)(a), b_ = (long long)(b);                                            \
    if (!(a_ op b_)) test_fail(__FILE__, __LINE__, "%s %s %s: %lld vs %lld", #a, #op, #b, a_, b_); \
  } while (0)
#define ASSERT_OK(expr)                                                      \
  do {                                                                       \
    long long r_ = (long long)(expr);                                        \
    if (r_ < 0) test_fail(__FILE__, __LINE__, "%s failed: %lld", #expr, r_); \
  } while (0)
#define ASSERT_EQ_STR(a, b)                                                      \
  do {                                                                           \
    const char *a_ = (a), *b_ = (b);                                             \
    if (!a_ || !b_ || strcmp(a_, b_) != 0)                                       \
      test_fail(__FILE__, __LINE__, "%s == %s:\n    \"%s\"\n != \"%s\"", #a, #b, \
                a_ ? a_ : "(null)", b_ ? b_ : "(null)");                         \
  } while (0)
#define ASSERT_EQ_MEM(a, b, n)                                                                \
  do {                                                                                        \
    if (memcmp((a), (b), (n)) != 0) test_fail_mem(__FILE__, __LINE__, #a, #b, (a), (b), (n)); \
  } while (0)
#define ASSERT_NEAR(a, b, tol)                                                                \
  do {                                                                                        \
    double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                            \
    if (!(fabs(a_ - b_) <= t_))                                                               \
      test_fail(__FILE__, __LINE__, "%s ~= %s: %.9g vs %.9g (tol %.3g)", #a, #b, a_, b_, t_); \
  } while (0)
#define ASSERT_NOT_NULL(p)                                            \
  do {                                                                \
    if ((p) == NULL) test_fail(__FILE__, __LINE__, "%s is NULL", #p); \
  } while (0)
#define TEST_SKIP(reason) test_skip(reason)

#endif
