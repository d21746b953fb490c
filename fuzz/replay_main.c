/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/replay_main.c: runs a libFuzzer target over a committed corpus.
 *
 * CTest replays every fuzz target's corpus (fuzz/<name>/corpus) in normal
 * and sanitizer builds, so inputs that once crashed stay fixed (SQLite's
 * fuzzcheck, h2o's fuzz/). Arguments are files or directories.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int n_inputs;

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return 1;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (n < 0) n = 0;
  uint8_t *data = malloc((size_t)n + 1); /* exact size so ASan sees overreads */
  size_t got = data ? fread(data, 1, (size_t)n, f) : 0;
  fclose(f);
  if (!data || got != (size_t)n) {
    free(data);
    fprintf(stderr, "replay: cannot read %s\n", path);
    return 1;
  }
  LLVMFuzzerTestOneInput(data, got);
  free(data);
  n_inputs++;
  return 0;
}

static int run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "replay: no such path %s\n", path);
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) return run_file(path);
  DIR *d = opendir(path);
  if (!d) return 1;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char child[4096];
    snprintf(child, sizeof child, "%s/%s", path, e->d_name);
    rc |= run_path(child);
  }
  closedir(d);
  return rc;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  int rc = 0;
  for (int i = 1; i < argc; i++) rc |= run_path(argv[i]);
  fprintf(stderr, "replayed %d inputs\n", n_inputs);
  if (n_inputs == 0) {
    fprintf(stderr, "replay: empty corpus\n");
    return 1;
  }
  return rc;
}
