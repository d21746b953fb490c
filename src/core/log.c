/* SPDX-License-Identifier: Apache-2.0
 *
 * core/log.c: structured log lines (see log.h for the format and policy).
 */
#include "core/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int min_level = LOG_INFO;
static atomic_int out_format = LOG_FORMAT_KV;
static atomic_int out_fd = 2;

static const char *const LEVEL_NAMES[] = {"debug", "info", "warn", "error", "off"};

void log_configure(enum log_level level, enum log_format format) {
  atomic_store(&min_level, (int)level);
  atomic_store(&out_format, (int)format);
}

void log_configure_from_env(void) {
  const char *lv = getenv("GLOAM_LOG");
  const char *fm = getenv("GLOAM_LOG_FORMAT");
  if (lv) {
    for (int i = 0; i <= LOG_OFF; i++)
      if (strcasecmp(lv, LEVEL_NAMES[i]) == 0) atomic_store(&min_level, i);
  }
  if (fm) atomic_store(&out_format, strcasecmp(fm, "json") == 0 ? LOG_FORMAT_JSON : LOG_FORMAT_KV);
}

void log_set_fd(int fd) {
  atomic_store(&out_fd, fd);
}

bool log_enabled(enum log_level level) {
  return (int)level >= atomic_load(&min_level);
}

static void put_raw(log_line *l, const char *s, size_t n) {
  size_t room = LOG_LINE_MAX - 40 - l->len; /* room for the truncation marker */
  if (n > room) {
    n = room;
    l->truncated = true;
  }
  memcpy(l->text + l->len, s, n);
  l->len += n;
}

static void put_cstr(log_line *l, const char *s) {
  put_raw(l, s, strlen(s));
}

/* Writes value escaped for the current format: JSON string escapes, or for
 * kv a double-quoted value when it contains spaces, quotes, '=' or controls. */
static void put_value(log_line *l, const char *v, bool is_string) {
  size_t n = strnlen(v, LOG_VALUE_MAX + 1);
  bool cut = n > LOG_VALUE_MAX;
  if (cut) n = LOG_VALUE_MAX;
  bool quote = is_string && l->format == LOG_FORMAT_JSON;
  if (!quote && is_string) {
    quote = n == 0;
    for (size_t i = 0; i < n && !quote; i++) {
      unsigned char c = (unsigned char)v[i];
      quote = c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f;
    }
  }
  if (quote) put_raw(l, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      put_raw(l, esc, 2);
    } else if (c < 0x20 || c == 0x7f) {
      int k = snprintf(esc, sizeof esc, "\\u%04x", c);
      put_raw(l, esc, (size_t)k);
    } else {
      put_raw(l, (const char *)&c, 1);
    }
  }
  if (cut) put_cstr(l, "...");
  if (quote) put_raw(l, "\"", 1);
}

static void put_key(log_line *l, const char *key) {
  if (l->format == LOG_FORMAT_JSON) {
    put_raw(l, ",\"", 2);
    put_cstr(l, key);
    put_raw(l, "\":", 2);
  } else {
    put_raw(l, " ", 1);
    put_cstr(l, key);
    put_raw(l, "=", 1);
  }
}

bool log_begin(log_line *l, enum log_level level, const char *event) {
  if (!log_enabled(level) || level >= LOG_OFF) return false;
  l->len = 0;
  l->truncated = false;
  l->dropped = false;
  l->format = (enum log_format)atomic_load(&out_format);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char stamp[96];
  snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
  if (l->format == LOG_FORMAT_JSON) {
    put_cstr(l, "{\"ts\":\"");
    put_cstr(l, stamp);
    put_cstr(l, "\"");
  } else {
    put_cstr(l, "ts=");
    put_cstr(l, stamp);
  }
  put_key(l, "level");
  put_value(l, LEVEL_NAMES[level], true);
  put_key(l, "event");
  put_value(l, event, true);
  return true;
}

/* A field that does not fit is dropped whole, so lines stay parseable. */
static void field_done(log_line *l, size_t saved_len) {
  if (l->truncated) {
    l->len = saved_len;
    l->truncated = false;
    l->dropped = true;
  }
}

void log_str(log_line *l, const char *key, const char *value) {
  size_t saved = l->len;
  put_key(l, key);
  put_value(l, value ? value : "", true);
  field_done(l, saved);
}

void log_int(log_line *l, const char *key, int64_t value) {
  char s[32];
  snprintf(s, sizeof s, "%lld", (long long)value);
  size_t saved = l->len;
  put_key(l, key);
  put_value(l, s, false);
  field_done(l, saved);
}

void log_uint(log_line *l, const char *key, uint64_t value) {
  char s[32];
  snprintf(s, sizeof s, "%llu", (unsigned long long)value);
  size_t saved = l->len;
  put_key(l, key);
  put_value(l, s, false);
  field_done(l, saved);
}

void log_double(log_line *l, const char *key, double value) {
  char s[48];
  snprintf(s, sizeof s, "%.6g", value);
  size_t saved = l->len;
  put_key(l, key);
  put_value(l, s, false);
  field_done(l, saved);
}

void log_bool(log_line *l, const char *key, bool value) {
  size_t saved = l->len;
  put_key(l, key);
  put_value(l, value ? "true" : "false", false);
  field_done(l, saved);
}

void log_end(log_line *l) {
  if (l->dropped) { /* put_raw kept room for this marker */
    l->dropped = false;
    put_key(l, "truncated");
    put_value(l, "true", false);
  }
  if (l->format == LOG_FORMAT_JSON) l->text[l->len++] = '}';
  l->text[l->len++] = '\n';
  const char *p = l->text;
  size_t n = l->len;
  int fd = atomic_load(&out_fd);
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) break;
    p += w;
    n -= (size_t)w;
  }
}

void log_event(enum log_level level, const char *event, const char *key, const char *value) {
  log_line l;
  if (!log_begin(&l, level, event)) return;
  if (key) log_str(&l, key, value);
  log_end(&l);
}
