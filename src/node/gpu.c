/* SPDX-License-Identifier: Apache-2.0
 *
 * node/gpu.c: GPU detection (see gpu.h).
 */
#include "node/gpu.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROC_GPUS "/proc/driver/nvidia/gpus"
#define SMI_QUERY                                                                   \
  " --query-gpu=name,memory.total,driver_version,pci.bus_id --format=csv,noheader," \
  "nounits 2>/dev/null"

/* Copies [s, s+n) trimmed of spaces and tabs, printable ASCII only. */
static void copy_field(char *dst, size_t cap, const char *s, size_t n) {
  while (n && (*s == ' ' || *s == '\t')) s++, n--;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
  if (n >= cap) n = cap - 1;
  for (size_t i = 0; i < n; i++) dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
  dst[n] = 0;
}

static void gpu_clear(node_gpu *g) {
  memset(g, 0, sizeof *g);
  snprintf(g->vendor, sizeof g->vendor, "nvidia");
  g->memory_mib = -1;
}

int node_gpu_parse_proc(const char *text, node_gpu *g) {
  gpu_clear(g);
  for (const char *p = text; *p;) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    const char *colon = memchr(p, ':', n);
    if (colon) {
      size_t kl = (size_t)(colon - p), vl = n - kl - 1;
      if (kl == 5 && !strncmp(p, "Model", 5)) copy_field(g->name, sizeof g->name, colon + 1, vl);
      if (kl == 12 && !strncmp(p, "Bus Location", 12))
        copy_field(g->bus, sizeof g->bus, colon + 1, vl);
    }
    p += n + (e ? 1 : 0);
  }
  return g->name[0] ? 0 : -1;
}

int node_gpu_parse_smi(const char *line, node_gpu *g) {
  gpu_clear(g);
  const char *f[4];
  size_t len[4];
  const char *p = line;
  for (int i = 0; i < 4; i++) {
    const char *c = i < 3 ? strchr(p, ',') : p + strlen(p);
    if (!c) return -1;
    f[i] = p;
    len[i] = (size_t)(c - p);
    p = c + (i < 3);
  }
  copy_field(g->name, sizeof g->name, f[0], len[0]);
  char mem[32];
  copy_field(mem, sizeof mem, f[1], len[1]);
  char *end;
  long m = strtol(mem, &end, 10);
  g->memory_mib = end != mem && !*end && m >= 0 ? m : -1;
  copy_field(g->driver, sizeof g->driver, f[2], len[2]);
  copy_field(g->bus, sizeof g->bus, f[3], len[3]);
  return g->name[0] ? 0 : -1;
}

/* nvidia-smi on $PATH or where NVIDIA's packages and container runtimes put it. */
static int find_smi(char *out, size_t cap) {
  static const char *const dirs[] = {"/usr/bin", "/usr/local/bin", "/usr/local/nvidia/bin", "/bin"};
  const char *path = getenv("PATH");
  for (const char *p = path; p && *p;) {
    size_t n = strcspn(p, ":");
    if (n && n < cap - 16 && p[0] == '/') {
      snprintf(out, cap, "%.*s/nvidia-smi", (int)n, p);
      if (access(out, X_OK) == 0) return 0;
    }
    p += n + (p[n] == ':');
  }
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    snprintf(out, cap, "%s/nvidia-smi", dirs[i]);
    if (access(out, X_OK) == 0) return 0;
  }
  return -1;
}

static int detect_smi(node_gpu *out, int max) {
  char smi[512];
  if (find_smi(smi, sizeof smi) < 0) return 0;
  for (const char *c = smi; *c; c++) /* it goes through sh: plain paths only */
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
          *c == '/' || *c == '.' || *c == '_' || *c == '-'))
      return 0;
  char cmd[768];
  snprintf(cmd, sizeof cmd, "%s%s", smi, SMI_QUERY);
  FILE *f = popen(cmd, "r");
  if (!f) return 0;
  char line[512];
  int n = 0;
  while (n < max && fgets(line, sizeof line, f))
    if (node_gpu_parse_smi(line, &out[n]) == 0) n++;
  pclose(f);
  return n;
}

static int detect_proc(node_gpu *out, int max) {
  DIR *d = opendir(PROC_GPUS);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while (n < max && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[512], text[4096];
    snprintf(path, sizeof path, "%s/%s/information", PROC_GPUS, e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    if (node_gpu_parse_proc(text, &out[n]) == 0) n++;
  }
  closedir(d);
  return n;
}

int node_gpu_detect(node_gpu *out, int max) {
  if (max > NODE_GPU_MAX) max = NODE_GPU_MAX;
  int n = detect_smi(out, max);
  return n > 0 ? n : detect_proc(out, max);
}

json_t *node_gpu_json(const node_gpu *g, int n) {
  if (n <= 0) return json_null();
  json_t *a = json_array();
  for (int i = 0; a && i < n; i++) {
    json_t *o = json_pack("{s:s,s:s}", "vendor", g[i].vendor, "name", g[i].name);
    if (!o) continue;
    if (g[i].bus[0]) json_object_set_new(o, "bus", json_string(g[i].bus));
    if (g[i].memory_mib >= 0) json_object_set_new(o, "memory_mib", json_integer(g[i].memory_mib));
    if (g[i].driver[0]) json_object_set_new(o, "driver", json_string(g[i].driver));
    json_array_append_new(a, o);
  }
  return a;
}
