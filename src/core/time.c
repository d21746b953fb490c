/* SPDX-License-Identifier: Apache-2.0
 *
 * core/time.c: clock_gettime wrappers and RFC 3339 formatting.
 */
#include "core/time.h"

#include <stdio.h>
#include <time.h>

#include "gloam/err.h"

static uint64_t ts_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t time_mono_ns(void) {
  return ts_ns(CLOCK_MONOTONIC);
}
uint64_t time_mono_ms(void) {
  return time_mono_ns() / 1000000u;
}
int64_t time_wall_ms(void) {
  return (int64_t)(ts_ns(CLOCK_REALTIME) / 1000000u);
}
int64_t time_wall_s(void) {
  return (int64_t)(ts_ns(CLOCK_REALTIME) / 1000000000u);
}

int time_format_rfc3339(int64_t unix_s, char *out, size_t out_cap) {
  time_t t = (time_t)unix_s;
  struct tm tm;
  if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) return GLOAM_ERANGE;
  int n = snprintf(out, out_cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (n < 0 || (size_t)n >= out_cap) return GLOAM_ERANGE;
  return n;
}
