/* SPDX-License-Identifier: Apache-2.0
 *
 * node/models_cache.c: paths, refs, listing and the "servable" check of the
 * model cache (layout in models_cache.h).
 */
#include "node/models_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "gloam/err.h"
#include "node/hf_api.h"

#define PATH_CAP 4096

static int fits(int n, size_t cap) {
  return n >= 0 && (size_t)n < cap ? 0 : GLOAM_ETOOBIG;
}
#define fmt_path(out, cap, ...) fits(snprintf((out), (cap), __VA_ARGS__), (cap))

int models_default_dir(char *out, size_t cap, char *err) {
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  int rc = xdg && *xdg     ? fmt_path(out, cap, "%s/gloam/models", xdg)
           : home && *home ? fmt_path(out, cap, "%s/.cache/gloam/models", home)
                           : GLOAM_EINVAL;
  if (rc < 0) return err_set(err, GLOAM_EINVAL, "models_dir: set it (no HOME)");
  return 0;
}

int models_repo_dir(const char *models_dir, const char *repo, char *out, size_t cap) {
  if (!hf_repo_ok(repo)) return GLOAM_EINVAL;
  const char *slash = strchr(repo, '/');
  char name[HF_REPO_MAX + 8];
  if (slash)
    snprintf(name, sizeof name, "%.*s--%s", (int)(slash - repo), repo, slash + 1);
  else
    snprintf(name, sizeof name, "%s", repo);
  return fmt_path(out, cap, "%s/%s", models_dir, name);
}

int models_snapshot_dir(const char *models_dir, const char *repo, const char *commit, char *out,
                        size_t cap) {
  char rd[PATH_CAP];
  int rc = models_repo_dir(models_dir, repo, rd, sizeof rd);
  return rc < 0 ? rc : fmt_path(out, cap, "%s/snapshots/%s", rd, commit);
}

static int is_commit(const char *s) {
  if (strlen(s) != 40) return 0;
  for (int i = 0; i < 40; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

static int ref_path(const char *models_dir, const char *repo, const char *rev, char *out,
                    size_t cap) {
  char rd[PATH_CAP], name[3 * HF_REV_MAX + 1] = "";
  int rc = models_repo_dir(models_dir, repo, rd, sizeof rd);
  if (rc < 0 || !hf_revision_ok(rev)) return rc < 0 ? rc : GLOAM_EINVAL;
  if (hf_url_escape(rev, 0, name, sizeof name) < 0) return GLOAM_ETOOBIG;
  return fmt_path(out, cap, "%s/refs/%s", rd, name);
}

int models_ref_read(const char *models_dir, const char *repo, const char *rev, char commit[41],
                    char *err) {
  if (is_commit(rev)) {
    memcpy(commit, rev, 41);
    return 0;
  }
  char p[PATH_CAP];
  if (ref_path(models_dir, repo, rev, p, sizeof p) < 0)
    return err_set(err, GLOAM_EINVAL, "bad repository or revision");
  FILE *f = fopen(p, "r");
  if (!f) return err_set(err, GLOAM_ENOENT, "%s@%s has not been pulled", repo, rev);
  char line[64] = "";
  int ok = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  line[strcspn(line, "\n")] = 0;
  if (!ok || !is_commit(line)) return err_set(err, GLOAM_EFORMAT, "bad ref file %s", p);
  memcpy(commit, line, 41);
  return 0;
}

int models_mkdirs(const char *path, unsigned mode, char *err) {
  char p[PATH_CAP];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof p) return err_set(err, GLOAM_EINVAL, "bad directory path");
  memcpy(p, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != 0) continue;
    char saved = p[i];
    p[i] = 0;
    if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
      return err_set(err, GLOAM_EIO, "mkdir %s: %s", p, strerror(errno));
    p[i] = saved;
  }
  return 0;
}

int models_ref_write(const char *models_dir, const char *repo, const char *rev, const char *commit,
                     char *err) {
  if (is_commit(rev)) return 0;
  char p[PATH_CAP], tmp[PATH_CAP + 16], dir[PATH_CAP];
  if (ref_path(models_dir, repo, rev, p, sizeof p) < 0 ||
      fmt_path(tmp, sizeof tmp, "%s.tmp", p) < 0)
    return err_set(err, GLOAM_EINVAL, "bad repository or revision");
  memcpy(dir, p, strlen(p) + 1);
  *strrchr(dir, '/') = 0;
  int rc = models_mkdirs(dir, 0755, err);
  if (rc < 0) return rc;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return err_set(err, GLOAM_EIO, "open %s: %s", tmp, strerror(errno));
  char line[48];
  int n = snprintf(line, sizeof line, "%.40s\n", commit);
  int ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, p) < 0) {
    unlink(tmp);
    return err_set(err, GLOAM_EIO, "writing %s failed", p);
  }
  return 0;
}

int models_resolve(const char *models_dir, const char *ref, char *out, size_t cap, char *err) {
  char repo[HF_REPO_MAX + 1], rev[HF_REV_MAX + 1], commit[41];
  int rc = hf_split_ref(ref, repo, sizeof repo, rev, sizeof rev, err);
  if (rc < 0) return rc;
  if ((rc = models_ref_read(models_dir, repo, rev, commit, err)) < 0) return rc;
  if (models_snapshot_dir(models_dir, repo, commit, out, cap) < 0)
    return err_set(err, GLOAM_ETOOBIG, "path too long");
  struct stat st;
  if (stat(out, &st) < 0 || !S_ISDIR(st.st_mode))
    return err_set(err, GLOAM_ENOENT, "%s: snapshot directory missing", ref);
  return 0;
}

static int unfinished_name(const char *name) {
  size_t n = strlen(name);
  return (n > 8 && !strcmp(name + n - 8, ".partial")) ||
         (n > 7 && !strcmp(name + n - 7, ".failed"));
}

/* Walks dir (depth levels); counts files and bytes; finds the first
 * unfinished entry into bad (relative name). */
typedef struct scan {
  long files;
  long long bytes;
  long n_partial, n_failed;
  char bad[PATH_CAP];
} scan;

static void scan_dir(const char *dir, const char *rel, int depth, scan *s) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[PATH_CAP], r[PATH_CAP];
    if (fmt_path(p, sizeof p, "%s/%s", dir, e->d_name) < 0 ||
        fmt_path(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", e->d_name) < 0)
      continue;
    struct stat st;
    if (lstat(p, &st) < 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (depth > 0) scan_dir(p, r, depth - 1, s);
      continue;
    }
    if (unfinished_name(e->d_name)) {
      size_t n = strlen(e->d_name);
      if (n > 8 && !strcmp(e->d_name + n - 8, ".partial"))
        s->n_partial++;
      else
        s->n_failed++;
      if (!s->bad[0]) memcpy(s->bad, r, strlen(r) + 1);
      continue;
    }
    s->files++;
    s->bytes += st.st_size;
  }
  closedir(d);
}

int models_dir_servable(const char *model_path, char *err) {
  struct stat st;
  if (stat(model_path, &st) < 0) return err_set(err, GLOAM_ENOENT, "%s: not found", model_path);
  scan s = {0};
  if (S_ISDIR(st.st_mode)) {
    scan_dir(model_path, "", 8, &s);
  } else {
    char p[PATH_CAP];
    static const char *const suffixes[] = {".partial", ".failed"};
    for (int i = 0; i < 2 && !s.bad[0]; i++)
      if (fmt_path(p, sizeof p, "%s%s", model_path, suffixes[i]) == 0 && access(p, F_OK) == 0)
        memcpy(s.bad, p, strlen(p) + 1);
  }
  if (s.bad[0])
    return err_set(err, GLOAM_ESTATE,
                   "%s: unfinished or failed download (%s); run gloam-node models pull again",
                   model_path, s.bad);
  return 0;
}

/* Revisions (ref names) of repo_dir that point at commit, comma-separated. */
static void refs_for(const char *repo_dir, const char *commit, char *out, size_t cap) {
  char p[PATH_CAP];
  out[0] = 0;
  if (fmt_path(p, sizeof p, "%s/refs", repo_dir) < 0) return;
  DIR *d = opendir(p);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char rp[PATH_CAP], line[64] = "";
    if (fmt_path(rp, sizeof rp, "%s/%s", p, e->d_name) < 0) continue;
    FILE *f = fopen(rp, "r");
    if (!f) continue;
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok || strncmp(line, commit, 40) != 0) continue;
    size_t used = strlen(out);
    snprintf(out + used, cap - used, "%s%s", used ? "," : "", e->d_name);
  }
  closedir(d);
}

static void list_repo(const char *models_dir, const char *entry, FILE *out) {
  char repo_dir[PATH_CAP], snaps[PATH_CAP], repo[HF_REPO_MAX + 1];
  if (fmt_path(repo_dir, sizeof repo_dir, "%s/%s", models_dir, entry) < 0 ||
      fmt_path(snaps, sizeof snaps, "%s/snapshots", repo_dir) < 0)
    return;
  const char *sep = strstr(entry, "--");
  if (sep)
    snprintf(repo, sizeof repo, "%.*s/%s", (int)(sep - entry), entry, sep + 2);
  else
    snprintf(repo, sizeof repo, "%s", entry);
  DIR *d = opendir(snaps);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!is_commit(e->d_name)) continue;
    char sd[PATH_CAP], refs[512];
    if (fmt_path(sd, sizeof sd, "%s/%s", snaps, e->d_name) < 0) continue;
    scan s = {0};
    scan_dir(sd, "", 8, &s);
    refs_for(repo_dir, e->d_name, refs, sizeof refs);
    fprintf(out, "%-40s %-12s %.12s %4ld files %12lld bytes  %-7s %s\n", repo, refs[0] ? refs : "-",
            e->d_name, s.files, s.bytes,
            s.n_failed    ? "failed"
            : s.n_partial ? "partial"
                          : "ok",
            sd);
  }
  closedir(d);
}

int models_list(const char *models_dir, FILE *out, char *err) {
  DIR *d = opendir(models_dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    return err_set(err, GLOAM_EIO, "%s: %s", models_dir, strerror(errno));
  }
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') list_repo(models_dir, e->d_name, out);
  closedir(d);
  return 0;
}
