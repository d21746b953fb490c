/* SPDX-License-Identifier: Apache-2.0
 *
 * node/schedule.h: when the node serves: time windows by weekday and an
 * idle policy that steps aside while the owner uses the machine
 * (docs/node.md, "Schedule and idle").
 *
 *   node_schedule s;
 *   node_schedule_parse("mon-fri 22:00-07:00; sat,sun 00:00-24:00", &s, err);
 *   bool on = node_schedule_active(&s, wday_mon0, seconds_of_day);
 *
 *   node_idle idle; node_idle_init(&idle, 30, 300);    // 30% of the CPUs, 5 min
 *   node_cpu_sample c; node_cpu_read(&c);                // /proc/stat, /proc/self/stat
 *   bool owner_busy = node_idle_feed(&idle, now_ms, &c);
 *
 * Schedule text: windows separated by ';'; each is "[DAYS ]HH:MM[:SS]-HH:MM[:SS]"
 * with DAYS a comma list of days or day ranges (mon..sun, "mon-fri",
 * "sat,sun", "daily"); no DAYS means every day. A window whose end is not
 * after its start runs overnight into the next day and belongs to the day
 * it starts ("fri 22:00-07:00" covers Friday 22:00 to Saturday 07:00);
 * "24:00" is allowed as an end. An empty schedule means always.
 *
 * Idle policy: "other processes" = all CPU time of the machine (/proc/stat)
 * minus this process's (/proc/self/stat), as a share of all CPUs. When it
 * stays above max_cpu_pct for NODE_IDLE_BUSY_S seconds the owner counts as
 * active; it counts as away again once the share has stayed below the
 * threshold for resume_s seconds. The node's own inference never counts.
 *
 * Everything takes the time as an argument (an injectable clock): pure
 * functions except node_cpu_read and node_schedule_active_now.
 * Thread safety: the caller owns each struct; no shared state.
 */
#ifndef GLOAM_NODE_SCHEDULE_H
#define GLOAM_NODE_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define NODE_SCHED_MAX 16
#define NODE_IDLE_BUSY_S 10

typedef struct node_window {
  uint8_t days;    /* bit 0 = Monday ... bit 6 = Sunday: the days the window starts */
  int32_t start_s; /* seconds after midnight */
  int32_t end_s;   /* > start_s: same day; <= start_s: the next day */
} node_window;

typedef struct node_schedule {
  int n; /* 0: always */
  node_window w[NODE_SCHED_MAX];
} node_schedule;

/* GLOAM_EINVAL with detail for anything malformed. */
int node_schedule_parse(const char *text, node_schedule *out, char *err);
/* wday: 0 = Monday ... 6 = Sunday; sec: 0..86399 local time. */
bool node_schedule_active(const node_schedule *s, int wday, int sec);
/* The same at unix time t in the local time zone. */
bool node_schedule_active_at(const node_schedule *s, time_t t);

typedef struct node_cpu_sample {
  uint64_t total; /* all CPUs' jiffies, every state */
  uint64_t busy;  /* total minus idle and iowait */
  uint64_t self;  /* this process's utime + stime */
} node_cpu_sample;

/* Reads /proc/stat and /proc/self/stat. GLOAM_EIO when unavailable. */
int node_cpu_read(node_cpu_sample *out);

typedef struct node_idle {
  int max_cpu_pct; /* 0: the policy is off */
  int resume_s;
  bool have_prev, owner_active;
  node_cpu_sample prev;
  int64_t over_since_ms, under_since_ms; /* -1: not in that state */
} node_idle;

void node_idle_init(node_idle *s, int max_cpu_pct, int resume_s);
/* Feeds one sample taken at now_ms; returns whether the owner is active
 * (always false when the policy is off). */
bool node_idle_feed(node_idle *s, int64_t now_ms, const node_cpu_sample *c);

#endif
