/* SPDX-License-Identifier: Apache-2.0
 *
 * node/sysinfo.c: hardware summary and file digests (see sysinfo.h).
 */
#include "node/sysinfo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "gloam/err.h"

#define MAX_WEIGHT_FILES 1024

void node_hw_read(node_hw *hw) {
  memset(hw, 0, sizeof *hw);
  snprintf(hw->cpu, sizeof hw->cpu, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "model name", 10) != 0) continue;
      const char *c = strchr(line, ':');
      if (!c) continue;
      c++;
      while (*c == ' ' || *c == '\t') c++;
      size_t n = strcspn(c, "\n");
      if (n >= sizeof hw->cpu) n = sizeof hw->cpu - 1;
      for (size_t i = 0; i < n; i++) /* printable ASCII only */
        hw->cpu[i] = (c[i] >= 0x20 && c[i] < 0x7f) ? c[i] : '?';
      hw->cpu[n] = 0;
      break;
    }
    fclose(f);
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  hw->cores = n > 0 ? (int)n : 1;
  long pages = sysconf(_SC_PHYS_PAGES), pg = sysconf(_SC_PAGESIZE);
  if (pages > 0 && pg > 0) hw->ram_gb = (int64_t)((double)pages * (double)pg / (1 << 30));
}

static int hash_fd(EVP_MD_CTX *md, int fd, char *err) {
  enum { CHUNK = 1 << 20 };
  uint8_t *b = mem_alloc(CHUNK);
  if (!b) return err_set(err, GLOAM_ENOMEM, "out of memory");
  int rc = 0;
  for (;;) {
    ssize_t n = read(fd, b, CHUNK);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = err_set(err, GLOAM_EIO, "read: %s", strerror(errno));
      break;
    }
    if (n == 0) break;
    if (EVP_DigestUpdate(md, b, (size_t)n) != 1) {
      rc = err_set(err, GLOAM_ECRYPTO, "digest failed");
      break;
    }
  }
  mem_free(b);
  return rc;
}

static int hash_files(char **paths, size_t n, uint8_t out[32], char *err) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(md);
    return err_set(err, GLOAM_ECRYPTO, "digest init failed");
  }
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      rc = err_set(err, errno == ENOENT ? GLOAM_ENOENT : GLOAM_EIO, "cannot open a weight file");
      break;
    }
    rc = hash_fd(md, fd, err);
    close(fd);
  }
  unsigned len = 0;
  if (rc == 0 && EVP_DigestFinal_ex(md, out, &len) != 1)
    rc = err_set(err, GLOAM_ECRYPTO, "digest failed");
  EVP_MD_CTX_free(md);
  return rc;
}

int node_sha256_file(const char *path, uint8_t out[32], char *err) {
  char *p = (char *)path;
  return hash_files(&p, 1, out, err);
}

static int fmt_digest(const uint8_t d[32], char *out, size_t cap, char *err) {
  if (cap < 72) return err_set(err, GLOAM_ETOOBIG, "digest buffer too small");
  memcpy(out, "sha256:", 7);
  codec_hex_encode(d, 32, out + 7, cap - 7);
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suf) {
  size_t n = strlen(s), m = strlen(suf);
  return n >= m && memcmp(s + n - m, suf, m) == 0;
}

/* The cache key: SHA-256 over the model path and each weight file's name,
 * device, inode, size, mtime and ctime (ctime cannot be set back by a user,
 * so a rewritten file always misses). */
static int cache_key(const char *model_path, char **paths, size_t n, char key[65]) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
           EVP_DigestUpdate(md, model_path, strlen(model_path) + 1) == 1;
  for (size_t i = 0; ok && i < n; i++) {
    struct stat st;
    if (stat(paths[i], &st) != 0) ok = 0;
    char line[1200];
    int len = ok ? snprintf(line, sizeof line, "%s|%llu|%llu|%lld|%lld.%09ld|%lld.%09ld\n",
                            paths[i], (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
                            (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                            (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec)
                 : 0;
    if (ok &&
        (len < 0 || (size_t)len >= sizeof line || EVP_DigestUpdate(md, line, (size_t)len) != 1))
      ok = 0;
  }
  uint8_t d[32];
  unsigned dl = 0;
  if (ok && EVP_DigestFinal_ex(md, d, &dl) != 1) ok = 0;
  EVP_MD_CTX_free(md);
  if (ok) codec_hex_encode(d, 32, key, 65);
  return ok ? 0 : -1;
}

static void cache_path(const char *state_dir, const char *key, char *out, size_t cap) {
  snprintf(out, cap, "%s/weights-%.32s.digest", state_dir, key);
}

/* A cached digest for key, if present and well-formed. */
static int cache_get(const char *state_dir, const char *key, char *out, size_t cap) {
  char path[1200], text[80];
  cache_path(state_dir, key, path, sizeof path);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n != 71 || cap < 72 || memcmp(text, "sha256:", 7) != 0) return -1;
  uint8_t tmp[32];
  if (codec_hex_decode(text + 7, 64, tmp, sizeof tmp, 0) != 32) return -1;
  memcpy(out, text, 71);
  out[71] = 0;
  return 0;
}

static void cache_put(const char *state_dir, const char *key, const char *digest) {
  char path[1200], tmp[1210];
  cache_path(state_dir, key, path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) return;
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  size_t n = strlen(digest);
  int ok = write(fd, digest, n) == (ssize_t)n;
  close(fd);
  if (!ok || rename(tmp, path) != 0) unlink(tmp);
}

/* The weight files of model_path, sorted. OUT: *out (mem_free each and the array). */
static int list_weights(const char *model_path, char ***out, size_t *out_n, char *err) {
  struct stat st;
  if (stat(model_path, &st) != 0) return err_set(err, GLOAM_ENOENT, "model path not found");
  char **paths = mem_calloc(MAX_WEIGHT_FILES, sizeof *paths);
  if (!paths) return err_set(err, GLOAM_ENOMEM, "out of memory");
  size_t n = 0;
  int rc = 0;
  if (!S_ISDIR(st.st_mode)) {
    if (!(paths[n++] = mem_strdup(model_path))) rc = err_set(err, GLOAM_ENOMEM, "out of memory");
  } else {
    DIR *dir = opendir(model_path);
    if (!dir) rc = err_set(err, GLOAM_EIO, "cannot list the model directory");
    struct dirent *e;
    while (rc == 0 && (e = readdir(dir))) {
      if (!ends_with(e->d_name, ".safetensors")) continue;
      if (n == MAX_WEIGHT_FILES) {
        rc = err_set(err, GLOAM_ETOOBIG, "more than %d weight files", MAX_WEIGHT_FILES);
        break;
      }
      size_t len = strlen(model_path) + strlen(e->d_name) + 2;
      if (!(paths[n] = mem_alloc(len))) {
        rc = err_set(err, GLOAM_ENOMEM, "out of memory");
        break;
      }
      snprintf(paths[n++], len, "%s/%s", model_path, e->d_name);
    }
    if (dir) closedir(dir);
    if (rc == 0 && n == 0) rc = err_set(err, GLOAM_ENOENT, "no .safetensors files in the model");
  }
  if (rc == 0) qsort(paths, n, sizeof *paths, cmp_str);
  *out = paths;
  *out_n = n;
  return rc;
}

int node_weights_digest(const char *model_path, const char *state_dir, char *out, size_t cap,
                        char *err) {
  char **paths = NULL, key[65];
  size_t n = 0;
  uint8_t d[32];
  int rc = list_weights(model_path, &paths, &n, err);
  bool keyed = rc == 0 && state_dir && cache_key(model_path, paths, n, key) == 0;
  if (rc == 0 && keyed && cache_get(state_dir, key, out, cap) == 0) goto done;
  if (rc == 0) rc = hash_files(paths, n, d, err);
  if (rc == 0) rc = fmt_digest(d, out, cap, err);
  if (rc == 0 && keyed) cache_put(state_dir, key, out);
done:
  for (size_t i = 0; paths && i < n; i++) mem_free(paths[i]);
  mem_free(paths);
  return rc;
}
