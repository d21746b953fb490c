/* SPDX-License-Identifier: Apache-2.0
 *
 * core/log.h: structured logging to stderr, key=value or JSON lines.
 *
 *   log_line l;
 *   if (log_begin(&l, LOG_INFO, "node.registered")) {
 *     log_str(&l, "node_id", id);
 *     log_int(&l, "slots", n_slots);
 *     log_end(&l);
 *   }
 *
 * Output (GLOAM_LOG_FORMAT=kv, the default):
 *   ts=2026-11-26T10:54:54.123Z level=info event=node.registered node_id=ab12 slots=4
 * or (GLOAM_LOG_FORMAT=json):
 *   {"ts":"2026-11-26T10:54:54.123Z","level":"info","event":"node.registered",...}
 *
 * POLICY: never log request or response bodies, prompts, completions, keys
 * or tokens. Log ids, sizes, counts and durations. Values are truncated to
 * LOG_VALUE_MAX bytes and escaped, and a line is capped at LOG_LINE_MAX, so a
 * hostile value cannot forge extra fields or lines. Each line is written with
 * one write(2), so lines from different threads do not interleave.
 */
#ifndef GLOAM_CORE_LOG_H
#define GLOAM_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 };
enum log_format { LOG_FORMAT_KV = 0, LOG_FORMAT_JSON = 1 };

#define LOG_LINE_MAX 2048
#define LOG_VALUE_MAX 256

typedef struct log_line {
  char text[LOG_LINE_MAX];
  size_t len;
  bool truncated; /* the current field did not fit */
  bool dropped;   /* some field was dropped */
  enum log_format format;
} log_line;

/* Sets the minimum level and format (process-wide). log_configure_from_env()
 * reads GLOAM_LOG (debug|info|warn|error|off) and GLOAM_LOG_FORMAT (kv|json). */
void log_configure(enum log_level min_level, enum log_format format);
void log_configure_from_env(void);
/* Redirects output to fd (default 2); for tests. */
void log_set_fd(int fd);
bool log_enabled(enum log_level level);

/* Starts a line; returns false (and the line must not be used) when the
 * level is disabled. */
bool log_begin(log_line *l, enum log_level level, const char *event);
void log_str(log_line *l, const char *key, const char *value);
void log_int(log_line *l, const char *key, int64_t value);
void log_uint(log_line *l, const char *key, uint64_t value);
void log_double(log_line *l, const char *key, double value);
void log_bool(log_line *l, const char *key, bool value);
/* Finishes and writes the line. */
void log_end(log_line *l);

/* One-liners for events with at most one string field. */
void log_event(enum log_level level, const char *event, const char *key, const char *value);

#endif
