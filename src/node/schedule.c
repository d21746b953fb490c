/* SPDX-License-Identifier: Apache-2.0
 *
 * node/schedule.c: serving windows and the idle policy (see schedule.h).
 */
#include "node/schedule.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "gloam/err.h"

static const char *const DAY_NAMES[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int day_index(const char *s, size_t n) {
  for (int i = 0; i < 7; i++)
    if (n == 3 && !strncmp(s, DAY_NAMES[i], 3)) return i;
  return -1;
}

/* "mon-fri,sun" -> mask. */
static int parse_days(const char *s, size_t n, uint8_t *mask) {
  *mask = 0;
  if (n == 5 && !strncmp(s, "daily", 5)) {
    *mask = 0x7f;
    return 0;
  }
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && s[j] != ',') j++;
    const char *dash = memchr(s + i, '-', j - i);
    int a = day_index(s + i, dash ? (size_t)(dash - (s + i)) : j - i);
    int b = dash ? day_index(dash + 1, (size_t)(s + j - dash - 1)) : a;
    if (a < 0 || b < 0) return -1;
    for (int d = a;; d = (d + 1) % 7) { /* "sat-mon" wraps */
      *mask |= (uint8_t)(1u << d);
      if (d == b) break;
    }
    i = j + 1;
  }
  return *mask ? 0 : -1;
}

/* "HH:MM" or "HH:MM:SS" -> seconds; 24:00 only when allow_24. */
static int parse_clock(const char *s, size_t n, int allow_24) {
  if (n != 5 && n != 8) return -1;
  int f[3] = {0, 0, 0};
  for (size_t k = 0; k < n; k++) {
    if (k % 3 == 2) {
      if (s[k] != ':') return -1;
    } else if (s[k] < '0' || s[k] > '9') {
      return -1;
    } else {
      f[k / 3] = f[k / 3] * 10 + (s[k] - '0');
    }
  }
  if (f[1] > 59 || f[2] > 59) return -1;
  int v = f[0] * 3600 + f[1] * 60 + f[2];
  if (v > 86400 || (v == 86400 && !allow_24)) return -1;
  return v;
}

static int parse_window(const char *s, size_t n, node_window *w, char *err) {
  while (n && (*s == ' ' || *s == '\t')) s++, n--;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
  const char *sp = memchr(s, ' ', n);
  w->days = 0x7f;
  if (sp) {
    if (parse_days(s, (size_t)(sp - s), &w->days) < 0)
      return err_set(err, GLOAM_EINVAL, "schedule: bad days '%.*s'", (int)(sp - s), s);
    n -= (size_t)(sp - s) + 1;
    s = sp + 1;
    while (n && *s == ' ') s++, n--;
  }
  const char *dash = memchr(s, '-', n);
  if (!dash) return err_set(err, GLOAM_EINVAL, "schedule: expected HH:MM-HH:MM");
  w->start_s = parse_clock(s, (size_t)(dash - s), 0);
  w->end_s = parse_clock(dash + 1, (size_t)(s + n - dash - 1), 1);
  if (w->start_s < 0 || w->end_s < 0)
    return err_set(err, GLOAM_EINVAL, "schedule: bad time in '%.*s'", (int)n, s);
  if (w->start_s == w->end_s)
    return err_set(err, GLOAM_EINVAL, "schedule: empty window (use 00:00-24:00 for all day)");
  return 0;
}

int node_schedule_parse(const char *text, node_schedule *out, char *err) {
  memset(out, 0, sizeof *out);
  const char *p = text;
  while (*p) {
    const char *e = strchr(p, ';');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    size_t k = 0;
    while (k < n && (p[k] == ' ' || p[k] == '\t')) k++;
    if (k < n) {
      if (out->n == NODE_SCHED_MAX)
        return err_set(err, GLOAM_EINVAL, "schedule: more than %d windows", NODE_SCHED_MAX);
      int rc = parse_window(p, n, &out->w[out->n], err);
      if (rc < 0) {
        memset(out, 0, sizeof *out);
        return rc;
      }
      out->n++;
    }
    p += n + (e ? 1 : 0);
  }
  return 0;
}

bool node_schedule_active(const node_schedule *s, int wday, int sec) {
  if (s->n == 0) return true;
  int yday = (wday + 6) % 7;
  for (int i = 0; i < s->n; i++) {
    const node_window *w = &s->w[i];
    if (w->end_s > w->start_s) {
      if ((w->days >> wday & 1) && sec >= w->start_s && sec < w->end_s) return true;
    } else {
      if ((w->days >> wday & 1) && sec >= w->start_s) return true; /* evening part */
      if ((w->days >> yday & 1) && sec < w->end_s) return true;    /* the morning after */
    }
  }
  return false;
}

bool node_schedule_active_at(const node_schedule *s, time_t t) {
  struct tm tm;
  if (!localtime_r(&t, &tm)) return true;
  return node_schedule_active(
      s, (tm.tm_wday + 6) % 7,
      tm.tm_hour * 3600 + tm.tm_min * 60 + (tm.tm_sec > 59 ? 59 : tm.tm_sec));
}

/* The first line of path into buf (NUL-terminated); 0 or -1. */
static int read_line(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int ok = fgets(buf, (int)cap, f) != NULL;
  fclose(f);
  return ok ? 0 : -1;
}

int node_cpu_read(node_cpu_sample *out) {
  char line[1024];
  unsigned long long v[10] = {0};
  if (read_line("/proc/stat", line, sizeof line) < 0 ||
      sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
             &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) < 4)
    return GLOAM_EIO;
  /* guest time (8, 9) is already inside user (0, 1) */
  uint64_t total = 0;
  for (int i = 0; i < 8; i++) total += v[i];
  out->total = total;
  out->busy = total - v[3] - v[4];
  if (read_line("/proc/self/stat", line, sizeof line) < 0) return GLOAM_EIO;
  /* fields after the ")" that ends comm: state is field 3; utime 14, stime 15 */
  const char *p = strrchr(line, ')');
  unsigned long long ut, st;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return GLOAM_EIO;
  out->self = ut + st;
  return 0;
}

void node_idle_init(node_idle *s, int max_cpu_pct, int resume_s) {
  memset(s, 0, sizeof *s);
  s->max_cpu_pct = max_cpu_pct;
  s->resume_s = resume_s;
  s->over_since_ms = s->under_since_ms = -1;
}

bool node_idle_feed(node_idle *s, int64_t now_ms, const node_cpu_sample *c) {
  if (s->max_cpu_pct <= 0) return false;
  if (!s->have_prev || c->total <= s->prev.total) {
    s->have_prev = true;
    s->prev = *c;
    return s->owner_active;
  }
  uint64_t dt = c->total - s->prev.total;
  uint64_t db = c->busy >= s->prev.busy ? c->busy - s->prev.busy : 0;
  uint64_t ds = c->self >= s->prev.self ? c->self - s->prev.self : 0;
  uint64_t others = db > ds ? db - ds : 0;
  s->prev = *c;
  bool over = others * 100 > (uint64_t)s->max_cpu_pct * dt;
  if (over) {
    s->under_since_ms = -1;
    if (s->over_since_ms < 0) s->over_since_ms = now_ms;
    if (now_ms - s->over_since_ms >= (int64_t)NODE_IDLE_BUSY_S * 1000) s->owner_active = true;
  } else {
    s->over_since_ms = -1;
    if (s->under_since_ms < 0) s->under_since_ms = now_ms;
    if (now_ms - s->under_since_ms >= (int64_t)s->resume_s * 1000) s->owner_active = false;
  }
  return s->owner_active;
}
