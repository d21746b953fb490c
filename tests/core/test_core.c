/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/core/test_core.c: the core library's behaviour: error table, buffers
 * with caps, arenas and their cleanup order, codecs against RFC 4648 test
 * vectors, log escaping, allocation-failure sweeps.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/secure.h"
#include "core/time.h"
#include "test.h"

static void test_strerror_table(void) {
  ASSERT_EQ_STR(gloam_strerror(GLOAM_OK), "success");
  ASSERT_EQ_STR(gloam_strerror(GLOAM_ENOMEM), "out of memory");
  ASSERT_EQ_STR(gloam_strerror(-9999), "unknown error");
  ASSERT_EQ_STR(gloam_errname(GLOAM_EFORMAT), "GLOAM_EFORMAT");
  /* every code in the table has a distinct message */
  for (int a = GLOAM_EINTERNAL; a <= 0; a++)
    for (int b = a + 1; b <= 0; b++) ASSERT_TRUE(strcmp(gloam_strerror(a), gloam_strerror(b)) != 0);
}

static void test_err_set_truncates(void) {
  char err[GLOAM_ERR_LEN];
  char longtext[600];
  memset(longtext, 'x', sizeof longtext - 1);
  longtext[sizeof longtext - 1] = '\0';
  ASSERT_EQ_INT(err_set(err, GLOAM_EIO, "read %s", longtext), GLOAM_EIO);
  ASSERT_EQ_INT(strlen(err), GLOAM_ERR_LEN - 1);
  ASSERT_TRUE(strncmp(err, "read xxx", 8) == 0);
}

static void test_buf_cap_is_hard(void) {
  buf b;
  buf_init(&b, 8);
  ASSERT_EQ_STR(buf_cstr(&b), "");
  ASSERT_OK(buf_append(&b, "abcd", 4));
  ASSERT_OK(buf_printf(&b, "%d", 123));
  ASSERT_EQ_STR(buf_cstr(&b), "abcd123");
  ASSERT_EQ_INT(buf_append(&b, "xy", 2), GLOAM_ETOOBIG);
  ASSERT_EQ_STR(buf_cstr(&b), "abcd123"); /* unchanged by the failed append */
  ASSERT_OK(buf_putc(&b, 'z'));
  ASSERT_EQ_INT(b.len, 8);
  ASSERT_EQ_INT(buf_printf(&b, "%s", "q"), GLOAM_ETOOBIG);
  buf_reset(&b);
  ASSERT_EQ_INT(b.len, 0);
  ASSERT_EQ_STR(buf_cstr(&b), "");
  buf_deinit(&b);
}

static void test_buf_grows_and_takes(void) {
  buf b;
  buf_init(&b, 1 << 20);
  for (int i = 0; i < 10000; i++) ASSERT_OK(buf_printf(&b, "%04d", i % 10000));
  ASSERT_EQ_INT(b.len, 40000);
  ASSERT_TRUE(memcmp(b.data + 39996, "9999", 4) == 0);
  size_t n = 0;
  uint8_t *p = buf_take(&b, &n);
  ASSERT_EQ_INT(n, 40000);
  ASSERT_EQ_INT(p[n], 0);
  ASSERT_TRUE(b.data == NULL && b.len == 0);
  mem_free(p);
  buf_deinit(&b);
}

static int cleanup_log[8];
static int n_cleanups;
static void record_cleanup(void *ctx) {
  if (n_cleanups < 8) cleanup_log[n_cleanups] = (int)(intptr_t)ctx;
  n_cleanups++;
}
static void count_cleanup(void *ctx) {
  (void)ctx;
  n_cleanups++;
}

static void test_arena_cleanup_order(void) {
  arena a;
  arena_init(&a, 256, 1 << 20);
  n_cleanups = 0;
  ASSERT_OK(arena_on_cleanup(&a, record_cleanup, (void *)1));
  ASSERT_OK(arena_on_cleanup(&a, record_cleanup, (void *)2));
  ASSERT_OK(arena_on_cleanup(&a, record_cleanup, (void *)3));
  arena_deinit(&a);
  ASSERT_EQ_INT(n_cleanups, 3);
  ASSERT_EQ_INT(cleanup_log[0], 3);
  ASSERT_EQ_INT(cleanup_log[2], 1);
  arena_deinit(&a); /* twice is harmless */
  ASSERT_EQ_INT(n_cleanups, 3);
}

static void test_arena_alignment_and_cap(void) {
  arena a;
  arena_init(&a, 1024, 8192);
  for (int i = 1; i < 50; i++) {
    void *p = arena_alloc(&a, (size_t)i);
    ASSERT_NOT_NULL(p);
    ASSERT_EQ_INT((uintptr_t)p % 16, 0);
    memset(p, 0xab, (size_t)i);
  }
  char *s = arena_strndup(&a, "hello world", 5);
  ASSERT_EQ_STR(s, "hello");
  void *big = arena_alloc(&a, 4000); /* its own block */
  ASSERT_NOT_NULL(big);
  memset(big, 1, 4000);
  ASSERT_TRUE(arena_alloc(&a, 9000) == NULL); /* over the cap */
  ASSERT_TRUE(arena_alloc(&a, SIZE_MAX - 3) == NULL);
  uint8_t *z = arena_zalloc(&a, 64);
  ASSERT_NOT_NULL(z);
  for (int i = 0; i < 64; i++) ASSERT_EQ_INT(z[i], 0);
  arena_deinit(&a);
}

/* RFC 4648 §10 test vectors. */
static void test_base64_rfc4648_vectors(void) {
  static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *const b64[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  static const char *const b64url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
  static const char *const hex[] = {"",         "66",         "666f",        "666f6f",
                                    "666f6f62", "666f6f6261", "666f6f626172"};
  for (int i = 0; i < 7; i++) {
    char out[32];
    uint8_t back[32];
    size_t n = strlen(plain[i]);
    ASSERT_EQ_INT(codec_b64_encode((const uint8_t *)plain[i], n, out, sizeof out, CODEC_B64_STD),
                  (long)strlen(b64[i]));
    ASSERT_EQ_STR(out, b64[i]);
    ASSERT_EQ_INT(codec_b64_encode((const uint8_t *)plain[i], n, out, sizeof out, CODEC_B64_URL),
                  (long)strlen(b64url[i]));
    ASSERT_EQ_STR(out, b64url[i]);
    ASSERT_EQ_INT(codec_hex_encode((const uint8_t *)plain[i], n, out, sizeof out),
                  (long)strlen(hex[i]));
    ASSERT_EQ_STR(out, hex[i]);
    ASSERT_EQ_INT(codec_b64_decode(b64[i], strlen(b64[i]), back, sizeof back, CODEC_B64_STD),
                  (long)n);
    ASSERT_EQ_MEM(back, plain[i], n);
    ASSERT_EQ_INT(codec_b64_decode(b64url[i], strlen(b64url[i]), back, sizeof back, CODEC_B64_URL),
                  (long)n);
    ASSERT_EQ_MEM(back, plain[i], n);
    ASSERT_EQ_INT(codec_hex_decode(hex[i], strlen(hex[i]), back, sizeof back, 0), (long)n);
    ASSERT_EQ_MEM(back, plain[i], n);
  }
}

static void test_codecs_reject_bad_input(void) {
  uint8_t out[16];
  ASSERT_EQ_INT(codec_b64_decode("Zg=", 3, out, sizeof out, CODEC_B64_STD), GLOAM_EFORMAT);
  ASSERT_EQ_INT(codec_b64_decode("Zh==", 4, out, sizeof out, CODEC_B64_STD), GLOAM_EFORMAT);
  ASSERT_EQ_INT(codec_b64_decode("Z===", 4, out, sizeof out, CODEC_B64_STD), GLOAM_EFORMAT);
  ASSERT_EQ_INT(codec_b64_decode("Zm9v", 4, out, 2, CODEC_B64_STD), GLOAM_ETOOBIG);
  ASSERT_EQ_INT(codec_b64_decode("Zm-_", 4, out, sizeof out, CODEC_B64_STD), GLOAM_EFORMAT);
  ASSERT_EQ_INT(codec_b64_decode("Zm+/", 4, out, sizeof out, CODEC_B64_URL), GLOAM_EFORMAT);
  ASSERT_EQ_INT(codec_b64_decode("Zg==", 4, out, sizeof out, CODEC_B64_URL), GLOAM_EFORMAT);
  ASSERT_EQ_INT(codec_hex_decode("abc", 3, out, sizeof out, 0), GLOAM_EFORMAT);
  ASSERT_EQ_INT(codec_hex_decode("zz", 2, out, sizeof out, 0), GLOAM_EFORMAT);
  ASSERT_EQ_INT(codec_hex_decode("a b\nC d", 7, out, sizeof out, 1), 2);
  ASSERT_EQ_INT(out[0], 0xab);
  ASSERT_EQ_INT(out[1], 0xcd);
  ASSERT_EQ_INT(codec_hex_decode("a b", 3, out, sizeof out, 0), GLOAM_EFORMAT);
  char small[4];
  ASSERT_EQ_INT(codec_hex_encode((const uint8_t *)"ab", 2, small, sizeof small), GLOAM_ETOOBIG);
}

static void test_secure_helpers(void) {
  uint8_t k[32];
  memset(k, 0x5a, sizeof k);
  secure_zero(k, sizeof k);
  for (size_t i = 0; i < sizeof k; i++) ASSERT_EQ_INT(k[i], 0);
  ASSERT_TRUE(secure_memeq("abc", "abc", 3));
  ASSERT_FALSE(secure_memeq("abc", "abd", 3));
}

static void test_time_monotonic_and_format(void) {
  uint64_t a = time_mono_ns(), b = time_mono_ns();
  ASSERT_CMP_INT(b, >=, a);
  ASSERT_CMP_INT(time_wall_s(), >, 1700000000);
  char s[32];
  ASSERT_EQ_INT(time_format_rfc3339(0, s, sizeof s), 20);
  ASSERT_EQ_STR(s, "1970-01-01T00:00:00Z");
  ASSERT_OK(time_format_rfc3339(1795690494, s, sizeof s));
  ASSERT_EQ_STR(s, "2026-11-26T10:54:54Z");
  ASSERT_EQ_INT(time_format_rfc3339(0, s, 8), GLOAM_ERANGE);
}

/* Captures log output through a pipe. */
static char *capture_log(void (*emit)(void)) {
  int fds[2];
  if (pipe(fds) != 0) return NULL;
  log_set_fd(fds[1]);
  emit();
  log_set_fd(2);
  close(fds[1]);
  static char text[8192];
  ssize_t n = read(fds[0], text, sizeof text - 1);
  close(fds[0]);
  text[n > 0 ? n : 0] = '\0';
  return text;
}

static void emit_kv(void) {
  log_configure(LOG_INFO, LOG_FORMAT_KV);
  log_line l;
  if (log_begin(&l, LOG_INFO, "job.done")) {
    log_str(&l, "model", "qwen3 tiny");
    log_int(&l, "tokens", -42);
    log_str(&l, "evil", "x\nlevel=error");
    log_end(&l);
  }
  if (log_begin(&l, LOG_DEBUG, "hidden")) log_end(&l); /* below min level */
}

static void emit_json(void) {
  log_configure(LOG_DEBUG, LOG_FORMAT_JSON);
  log_line l;
  if (log_begin(&l, LOG_DEBUG, "a")) {
    log_str(&l, "q", "say \"hi\"\\");
    log_bool(&l, "ok", true);
    log_end(&l);
  }
  log_configure(LOG_INFO, LOG_FORMAT_KV);
}

static void emit_huge(void) {
  log_configure(LOG_INFO, LOG_FORMAT_JSON);
  log_line l;
  char v[300];
  memset(v, 'v', sizeof v - 1);
  v[sizeof v - 1] = '\0';
  if (log_begin(&l, LOG_INFO, "big")) {
    for (int i = 0; i < 20; i++) log_str(&l, "field", v);
    log_end(&l);
  }
  log_configure(LOG_INFO, LOG_FORMAT_KV);
}

static void test_log_kv_escapes_values(void) {
  char *t = capture_log(emit_kv);
  ASSERT_NOT_NULL(t);
  ASSERT_TRUE(strstr(t, " level=info event=job.done model=\"qwen3 tiny\" tokens=-42 ") != NULL);
  ASSERT_TRUE(strstr(t, "evil=\"x\\u000alevel=error\"") != NULL);
  ASSERT_TRUE(strstr(t, "hidden") == NULL);
  ASSERT_EQ_INT(strchr(t, '\n') - t + 1, (long)strlen(t)); /* exactly one line */
}

static void test_log_json_lines(void) {
  char *t = capture_log(emit_json);
  ASSERT_TRUE(strncmp(t, "{\"ts\":\"", 7) == 0);
  ASSERT_TRUE(
      strstr(t,
             "\"level\":\"debug\",\"event\":\"a\",\"q\":\"say \\\"hi\\\"\\\\\",\"ok\":true}\n") !=
      NULL);
}

static void test_log_line_cap_drops_whole_fields(void) {
  char *t = capture_log(emit_huge);
  size_t n = strlen(t);
  ASSERT_CMP_INT(n, <=, LOG_LINE_MAX);
  ASSERT_TRUE(strstr(t, ",\"truncated\":true}\n") != NULL);
  ASSERT_TRUE(strstr(t, "vvv...\"") != NULL); /* values capped at LOG_VALUE_MAX */
}

/* Fails each allocation in turn: every failure is a clean error, no leak
 * (ASan's leak checker runs at exit in the sanitizer build). */
static void test_alloc_failure_sweep(void) {
  for (long fail_at = 0;; fail_at++) {
    mem_fail_after(fail_at);
    arena a;
    arena_init(&a, 128, 1 << 16);
    buf b;
    buf_init(&b, 1 << 16);
    int rc = 0;
    for (int i = 0; i < 40 && rc == 0; i++) {
      if (!arena_alloc(&a, 100)) rc = GLOAM_ENOMEM;
      if (rc == 0) rc = arena_on_cleanup(&a, count_cleanup, NULL);
      if (rc == 0) rc = buf_printf(&b, "%0100d", i);
    }
    long attempts = mem_fail_after(-1);
    n_cleanups = 0;
    arena_deinit(&a);
    buf_deinit(&b);
    if (rc == 0) {
      ASSERT_CMP_INT(fail_at, >=, attempts); /* all allocations covered */
      break;
    }
    ASSERT_EQ_INT(rc, GLOAM_ENOMEM);
  }
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_strerror_table),
      TEST(test_err_set_truncates),
      TEST(test_buf_cap_is_hard),
      TEST(test_buf_grows_and_takes),
      TEST(test_arena_cleanup_order),
      TEST(test_arena_alignment_and_cap),
      TEST(test_base64_rfc4648_vectors),
      TEST(test_codecs_reject_bad_input),
      TEST(test_secure_helpers),
      TEST(test_time_monotonic_and_format),
      TEST(test_log_kv_escapes_values),
      TEST(test_log_json_lines),
      TEST(test_log_line_cap_drops_whole_fields),
      TEST(test_alloc_failure_sweep),
      {0},
  };
  return test_main(argc, argv, tests);
}
