/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/node/test_node_ops.c: the node's operations helpers: the systemd
 * unit of `gloam-node install-service` (its structure and hardening keys,
 * and systemd's own `systemd-analyze verify` when the machine has it);
 * serving windows and the idle policy with an injected clock and CPU
 * samples.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../harness/test.h"
#include "core/buf.h"
#include "gloam/err.h"
#include "node/bandwidth.h"
#include "node/config.h"
#include "node/gpu.h"
#include "node/schedule.h"
#include "node/service.h"

extern char **environ;

/* Checks the unit is sections + Key=Value lines and returns the value of
 * key in section (a static copy; "" when absent). */
static const char *unit_get(const char *text, const char *section, const char *key) {
  static char val[1024];
  char cur[64] = "";
  val[0] = 0;
  const char *p = text;
  while (*p) {
    const char *e = strchr(p, '\n');
    ASSERT_NOT_NULL(e);
    size_t n = (size_t)(e - p);
    if (n == 0 || p[0] == '#') {
    } else if (p[0] == '[') {
      ASSERT_TRUE(p[n - 1] == ']' && n - 2 < sizeof cur);
      memcpy(cur, p + 1, n - 2);
      cur[n - 2] = 0;
    } else {
      const char *eq = memchr(p, '=', n);
      ASSERT_NOT_NULL(eq);
      ASSERT_TRUE(cur[0] != 0);
      if (!strcmp(cur, section) && (size_t)(eq - p) == strlen(key) &&
          !memcmp(p, key, strlen(key))) {
        size_t vl = n - (size_t)(eq - p) - 1;
        ASSERT_TRUE(vl < sizeof val);
        memcpy(val, eq + 1, vl);
        val[vl] = 0;
      }
    }
    p = e + 1;
  }
  return val;
}

static void render(int user, const char *bin, buf *b) {
  char err[GLOAM_ERR_LEN];
  node_service_opts o = {.user = user, .binary = bin};
  buf_init(b, 1 << 16);
  ASSERT_OK(node_service_unit(&o, b, err));
}

static void test_service_unit(void) {
  buf b;
  render(0, "/usr/bin/gloam-node", &b);
  const char *t = (const char *)b.data;
  ASSERT_EQ_STR(unit_get(t, "Service", "ExecStart"),
                "/usr/bin/gloam-node serve --config /etc/gloam/node.conf");
  static const char *const want[][2] = {{"NoNewPrivileges", "yes"},
                                        {"ProtectSystem", "strict"},
                                        {"ProtectHome", "yes"},
                                        {"PrivateTmp", "yes"},
                                        {"MemoryDenyWriteExecute", "yes"},
                                        {"LockPersonality", "yes"},
                                        {"DynamicUser", "yes"},
                                        {"StateDirectory", "gloam-node"},
                                        {"CapabilityBoundingSet", ""},
                                        {"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
                                        {"KillSignal", "SIGTERM"},
                                        {"LimitCORE", "0"}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    ASSERT_EQ_STR(unit_get(t, "Service", want[i][0]), want[i][1]);
  ASSERT_EQ_STR(unit_get(t, "Install", "WantedBy"), "multi-user.target");
  buf_deinit(&b);
  render(1, "/home/u/bin/gloam-node", &b);
  t = (const char *)b.data;
  ASSERT_EQ_STR(unit_get(t, "Service", "ExecStart"),
                "/home/u/bin/gloam-node serve --config %h/.config/gloam/node.conf");
  ASSERT_EQ_STR(unit_get(t, "Service", "MemoryDenyWriteExecute"), "yes");
  ASSERT_EQ_STR(unit_get(t, "Service", "ProtectSystem"), ""); /* needs namespaces */
  ASSERT_EQ_STR(unit_get(t, "Service", "DynamicUser"), "");
  ASSERT_EQ_STR(unit_get(t, "Install", "WantedBy"), "default.target");
  buf_deinit(&b);
  char err[GLOAM_ERR_LEN];
  buf_init(&b, 1 << 16);
  node_service_opts bad[] = {{0, "gloam-node", NULL},
                             {0, "/opt/my node/gloam-node", NULL},
                             {0, "/usr/bin/gloam-node", "/etc/gloam/%n.conf"}};
  for (size_t i = 0; i < 3; i++) ASSERT_EQ_INT(node_service_unit(&bad[i], &b, err), GLOAM_EINVAL);
  buf_deinit(&b);
}

/* systemd's verifier: exit 0 and no complaint (unknown keys are only
 * warnings on stderr, so any output fails). */
static void test_service_systemd_verify(void) {
  const char *bin = getenv("GLOAM_NODE_BIN");
  if (!bin || access("/usr/bin/systemd-analyze", X_OK) != 0)
    TEST_SKIP("systemd-analyze or GLOAM_NODE_BIN missing");
  char *abs = realpath(bin, NULL);
  ASSERT_NOT_NULL(abs);
  for (int user = 0; user < 2; user++) {
    char *dir = test_tmpdir(), unit[4200], out[4200];
    snprintf(out, sizeof out, "%s/verify.out", dir);
    char *argv[] = {abs,        "install-service", "--no-enable",          "--unit-dir", dir,
                    "--config", "/etc/hostname",   user ? "--user" : NULL, NULL};
    pid_t pid;
    int st;
    ASSERT_EQ_INT(posix_spawn(&pid, abs, NULL, NULL, argv, environ), 0);
    ASSERT_EQ_INT(waitpid(pid, &st, 0), pid);
    ASSERT_EQ_INT(WEXITSTATUS(st), 0);
    snprintf(unit, sizeof unit, "%s/gloam-node.service", dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *va[] = {"systemd-analyze", "verify", unit, NULL};
    ASSERT_EQ_INT(posix_spawn(&pid, "/usr/bin/systemd-analyze", &fa, NULL, va, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    ASSERT_EQ_INT(waitpid(pid, &st, 0), pid);
    size_t n = 0;
    char *text = test_read_file(out, &n);
    if (n) fprintf(stderr, "systemd-analyze: %.*s\n", (int)n, text);
    ASSERT_EQ_INT(WEXITSTATUS(st), 0);
    ASSERT_EQ_UINT(n, 0);
    free(text);
    free(dir);
  }
  free(abs);
}

enum { MON, TUE, WED, THU, FRI, SAT, SUN };
#define HMS(h, m, s) ((h)*3600 + (m)*60 + (s))

static void test_schedule_windows(void) {
  node_schedule s;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(node_schedule_parse("", &s, err));
  ASSERT_TRUE(node_schedule_active(&s, WED, HMS(12, 0, 0))); /* empty: always */
  /* overnight every day */
  ASSERT_OK(node_schedule_parse("22:00-07:00", &s, err));
  ASSERT_TRUE(node_schedule_active(&s, MON, HMS(22, 0, 0)));
  ASSERT_TRUE(node_schedule_active(&s, TUE, HMS(6, 59, 59)));
  ASSERT_FALSE(node_schedule_active(&s, TUE, HMS(7, 0, 0)));
  ASSERT_FALSE(node_schedule_active(&s, TUE, HMS(21, 59, 59)));
  /* weekdays overnight, weekends all day; the Friday night runs into Saturday */
  ASSERT_OK(node_schedule_parse("mon-fri 22:00-07:00; sat,sun 00:00-24:00", &s, err));
  ASSERT_EQ_INT(s.n, 2);
  ASSERT_FALSE(node_schedule_active(&s, MON, HMS(3, 0, 0))); /* Sunday has no night window */
  ASSERT_TRUE(node_schedule_active(&s, SUN, HMS(23, 59, 59)));
  ASSERT_TRUE(node_schedule_active(&s, SAT, HMS(12, 0, 0)));
  ASSERT_TRUE(node_schedule_active(&s, TUE, HMS(3, 0, 0))); /* Monday night */
  ASSERT_FALSE(node_schedule_active(&s, WED, HMS(12, 0, 0)));
  /* Sunday night wraps to Monday morning */
  ASSERT_OK(node_schedule_parse("sun 23:00:30-01:00", &s, err));
  ASSERT_TRUE(node_schedule_active(&s, MON, HMS(0, 30, 0)));
  ASSERT_FALSE(node_schedule_active(&s, SUN, HMS(23, 0, 29)));
  ASSERT_TRUE(node_schedule_active(&s, SUN, HMS(23, 0, 30)));
  ASSERT_FALSE(node_schedule_active(&s, TUE, HMS(0, 30, 0)));
  ASSERT_OK(node_schedule_parse("sat-mon 09:00-17:00", &s, err)); /* a wrapping day range */
  ASSERT_EQ_INT(s.w[0].days, (1 << SAT) | (1 << SUN) | (1 << MON));
  static const char *const bad[] = {"25:00-07:00",        "22:00",           "22:00-22:00",
                                    "funday 01:00-02:00", "10:60-11:00",     "24:00-01:00",
                                    "1:00-2:00",          "mon- 01:00-02:00"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ASSERT_EQ_INT(node_schedule_parse(bad[i], &s, err), GLOAM_EINVAL);
  /* the config key validates too */
  node_config c;
  node_config_defaults(&c);
  ASSERT_EQ_INT(node_config_set(&c, "schedule", "mon 9-5", err), GLOAM_EINVAL);
  ASSERT_OK(node_config_set(&c, "schedule", "mon-fri 18:00-08:00", err));
  ASSERT_EQ_INT(c.idle_resume_s, 300);
  ASSERT_EQ_INT(node_config_set(&c, "idle_max_cpu", "101", err), GLOAM_EINVAL);
}

static void test_schedule_local_time(void) {
  /* the same instant in two zones: 2026-11-26 12:00:00 UTC is a Thursday */
  node_schedule s;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(node_schedule_parse("thu 11:00-13:00", &s, err));
  time_t t = 1795694400;
  setenv("TZ", "UTC0", 1);
  tzset();
  ASSERT_TRUE(node_schedule_active_at(&s, t));
  setenv("TZ", "JST-9", 1); /* 21:00 in Tokyo */
  tzset();
  ASSERT_FALSE(node_schedule_active_at(&s, t));
  unsetenv("TZ");
  tzset();
}

static void feed(node_idle *s, int64_t ms, uint64_t total, uint64_t busy, uint64_t self,
                 bool want) {
  node_cpu_sample c = {total, busy, self};
  ASSERT_EQ_INT(node_idle_feed(s, ms, &c), want);
}

static void test_idle_policy(void) {
  node_idle s;
  node_idle_init(&s, 30, 60); /* others above 30% for 10 s: owner active; calm 60 s: away */
  uint64_t total = 0, busy = 0, self = 0;
  int64_t t = 0;
  feed(&s, t, total, busy, self, false);
  /* the node itself uses 90% of the machine: never counts */
  for (int i = 0; i < 20; i++) {
    t += 1000, total += 100, busy += 90, self += 90;
    feed(&s, t, total, busy, self, false);
  }
  /* others use 50%: active after 10 s above the threshold */
  for (int i = 1; i <= 11; i++) {
    t += 1000, total += 100, busy += 50;
    feed(&s, t, total, busy, self, i > 10);
  }
  /* a short calm spell does not resume; 60 s of calm does */
  for (int i = 1; i <= 30; i++)
    t += 1000, total += 100, busy += 5, feed(&s, t, total, busy, self, true);
  t += 1000, total += 100, busy += 80;
  feed(&s, t, total, busy, self, true);
  for (int i = 1; i <= 61; i++) {
    t += 1000, total += 100, busy += 10;
    feed(&s, t, total, busy, self, i <= 60);
  }
  /* off: never active */
  node_idle_init(&s, 0, 60);
  feed(&s, 0, 0, 0, 0, false);
  feed(&s, 100000, 100, 100, 0, false);
  /* the real counters read and move forward */
  node_cpu_sample a, b;
  ASSERT_OK(node_cpu_read(&a));
  for (volatile long i = 0; i < 20000000; i++) {
  }
  ASSERT_OK(node_cpu_read(&b));
  ASSERT_TRUE(b.total >= a.total && b.busy <= b.total && b.self >= a.self);
}

/* Captured verbatim on a machine with one NVIDIA H200 (driver 580.159.04):
 * /proc/driver/nvidia/gpus/0000:00:06.0/information and the output of
 * `nvidia-smi --query-gpu=name,memory.total,driver_version,pci.bus_id
 * --format=csv,noheader,nounits`. */
static void test_gpu_parse(void) {
  static const char info[] =
      "Model: \t\t NVIDIA H200\n"
      "IRQ:   \t\t 41\n"
      "GPU UUID: \t GPU-e19b8b0a-53cf-0f25-0a9e-1042f2cb74bb\n"
      "Video BIOS: \t 96.00.a5.00.1a\n"
      "Bus Type: \t PCIe\n"
      "DMA Size: \t 52 bits\n"
      "DMA Mask: \t 0xfffffffffffff\n"
      "Bus Location: \t 0000:00:06.0\n"
      "Device Minor: \t 0\n"
      "GPU Firmware: \t 580.159.04\n"
      "GPU Excluded:\t No\n";
  node_gpu g;
  ASSERT_OK(node_gpu_parse_proc(info, &g));
  ASSERT_EQ_STR(g.name, "NVIDIA H200");
  ASSERT_EQ_STR(g.bus, "0000:00:06.0");
  ASSERT_EQ_INT(g.memory_mib, -1);
  ASSERT_OK(node_gpu_parse_smi("NVIDIA H200, 143771, 580.159.04, 00000000:00:06.0\n", &g));
  ASSERT_EQ_STR(g.name, "NVIDIA H200");
  ASSERT_EQ_INT(g.memory_mib, 143771);
  ASSERT_EQ_STR(g.driver, "580.159.04");
  ASSERT_EQ_STR(g.bus, "00000000:00:06.0");
  json_t *j = node_gpu_json(&g, 1);
  ASSERT_EQ_INT(json_integer_value(json_object_get(json_array_get(j, 0), "memory_mib")), 143771);
  json_decref(j);
  ASSERT_TRUE(json_is_null(node_gpu_json(&g, 0)));
  ASSERT_EQ_INT(node_gpu_parse_smi("garbage", &g), -1);
  ASSERT_EQ_INT(node_gpu_parse_proc("IRQ: 5\n", &g), -1);
}

static void test_membw(void) {
  char err[GLOAM_ERR_LEN];
  double v = 0;
  ASSERT_OK(node_membw_measure(32u << 20, 2, &v, err));
  ASSERT_TRUE(v > 0.1 && v < 10000);
  /* measured once, then read from the cache: a planted value proves it */
  char *dir = test_tmpdir();
  ASSERT_OK(node_membw_get(dir, "Test CPU", 2, &v, err));
  char cmd[4200];
  snprintf(cmd, sizeof cmd,
           "f=$(ls %s/membw-*) && grep -q '^cpu=Test CPU$' $f && echo membw_gbps=12345.00 > $f",
           dir);
  ASSERT_EQ_INT(system(cmd), 0);
  ASSERT_OK(node_membw_get(dir, "Test CPU", 2, &v, err));
  ASSERT_NEAR(v, 12345.0, 1e-9);
  ASSERT_OK(node_membw_get(dir, "Other CPU", 2, &v, err)); /* another key: measured */
  ASSERT_TRUE(v < 10000);
  free(dir);
}

/* `gloam-node status` with no serve: exit 3, "not running". */
static void test_status_not_running(void) {
  const char *bin = getenv("GLOAM_NODE_BIN");
  if (!bin) TEST_SKIP("GLOAM_NODE_BIN not set");
  char *dir = test_tmpdir(), out[4200];
  snprintf(out, sizeof out, "%s/out", dir);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  char *argv[] = {(char *)bin, "status", "--state-dir", dir, "--json", NULL};
  pid_t pid;
  int st;
  ASSERT_EQ_INT(posix_spawn(&pid, bin, &fa, NULL, argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  ASSERT_EQ_INT(waitpid(pid, &st, 0), pid);
  ASSERT_EQ_INT(WEXITSTATUS(st), 3);
  size_t n;
  char *text = test_read_file(out, &n);
  ASSERT_TRUE(text && strstr(text, "\"not running\""));
  free(text);
  free(dir);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_service_unit),
                                    TEST(test_service_systemd_verify),
                                    TEST(test_schedule_windows),
                                    TEST(test_schedule_local_time),
                                    TEST(test_idle_policy),
                                    TEST(test_gpu_parse),
                                    TEST(test_membw),
                                    TEST(test_status_not_running),
                                    {0}};
  return test_main(argc, argv, tests);
}
