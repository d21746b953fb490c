/* SPDX-License-Identifier: Apache-2.0
 *
 * bin/engine_cli.c: gloam-engine's shared argument and file helpers.
 */
#include "engine_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_opt(int argc, char **argv, const char *name) {
  for (int i = 0; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return NULL;
}

int cli_flag(int argc, char **argv, const char *name) {
  for (int i = 0; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

char *cli_read_file(const char *path, size_t max, size_t *out_len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "gloam-engine: cannot open %s: %s\n", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *data = malloc(cap + 1);
  const char *why = data ? NULL : "out of memory";
  while (!why) {
    if (n == cap) {
      if (cap > max) {
        why = "file too large";
        break;
      }
      char *nd = realloc(data, cap * 2 + 1);
      if (!nd) {
        why = "out of memory";
        break;
      }
      data = nd;
      cap *= 2;
    }
    size_t r = fread(data + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  if (!why && ferror(f)) why = "read error";
  if (!why && n > max) why = "file too large";
  fclose(f);
  if (why) {
    fprintf(stderr, "gloam-engine: %s: %s (limit %zu bytes)\n", path, why, max);
    free(data);
    return NULL;
  }
  data[n] = '\0';
  *out_len = n;
  return data;
}

int cli_ids(const char *s, int max, int32_t **out) {
  *out = NULL;
  int32_t *ids = malloc(sizeof(int32_t) * (size_t)(max > 0 ? max : 1));
  int n = 0;
  while (ids && *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || v < 0 || v > INT32_MAX || n == max || (*end && *end != ',') ||
        (*end == ',' && !end[1]))
      break;
    ids[n++] = (int32_t)v;
    s = *end ? end + 1 : end;
  }
  if (!ids || *s || n == 0) {
    free(ids);
    return -1;
  }
  *out = ids;
  return n;
}
