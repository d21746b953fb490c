/* SPDX-License-Identifier: Apache-2.0
 *
 * node/models_pull.c: the model downloader (see models_pull.h): listing,
 * resumable transfers with libcurl, checks, atomic placement.
 */
#include "node/models_pull.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/time.h"
#include "gloam/err.h"
#include "node/hf_api.h"
#include "node/models_cache.h"

#define URL_CAP 4096
#define PATH_CAP 4096

typedef struct pull {
  const models_pull_opts *o;
  char endpoint[URL_CAP];
  char repo[HF_REPO_MAX + 1];
  char rev[HF_REV_MAX + 1];
  char snap[PATH_CAP];
  char commit[41];
  struct curl_slist *headers;
  char curl_err[CURL_ERROR_SIZE];
} pull;

/* One transfer's state (listing into a buf, or content into a file). */
typedef struct xfer {
  pull *p;
  long status;        /* of the current response */
  long long range_lo; /* Content-Range start, -1 when absent */
  long long total;    /* Content-Range total or Content-Length (200), -1 unknown */
  int started;        /* the final response's body began */
  int fail;           /* GLOAM_* that aborted the transfer */
  char fail_msg[160];
  buf *mem;            /* listing: body into memory */
  int fd;              /* content: the .partial file */
  long long off, size; /* bytes in the file, expected total */
  const char *name;
  uint64_t t0_ms, last_draw_ms;
  long long off0;
} xfer;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The value of a header line whose name (with ": ") is prefix, copied into
 * tmp as a C string; NULL when the line is another header. */
static const char *header_value(const char *line, size_t len, const char *prefix, char *tmp,
                                size_t cap) {
  size_t pl = strlen(prefix);
  if (len <= pl || strncasecmp(line, prefix, pl) != 0) return NULL;
  size_t k = len - pl < cap - 1 ? len - pl : cap - 1;
  memcpy(tmp, line + pl, k);
  tmp[k] = 0;
  return tmp;
}

static size_t on_header(char *line, size_t sz, size_t n, void *ud) {
  xfer *x = ud;
  size_t len = sz * n;
  char tmp[48];
  const char *v;
  if (header_value(line, len, "HTTP/", tmp, sizeof tmp)) {
    const char *sp = strchr(tmp, ' ');
    x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
    x->range_lo = -1;
    x->total = -1;
  } else if ((v = header_value(line, len, "content-length: ", tmp, sizeof tmp))) {
    if (x->status == 200) x->total = strtoll(v, NULL, 10);
  } else if ((v = header_value(line, len, "content-range: bytes ", tmp, sizeof tmp))) {
    char *end;
    long long lo = strtoll(v, &end, 10);
    x->range_lo = end != v && *end == '-' && lo >= 0 ? lo : -2;
    const char *slash = strchr(v, '/');
    if (slash && slash[1] != '*') x->total = strtoll(slash + 1, NULL, 10);
  }
  return len;
}

static size_t abort_xfer(xfer *x, int code, const char *msg) {
  x->fail = code;
  snprintf(x->fail_msg, sizeof x->fail_msg, "%s", msg);
  return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
}

static size_t on_mem(char *data, size_t sz, size_t n, void *ud) {
  xfer *x = ud;
  if (x->status != 200) return sz * n; /* error bodies are dropped */
  if (buf_append(x->mem, data, sz * n) < 0)
    return abort_xfer(x, GLOAM_ETOOBIG, "listing too large");
  return sz * n;
}

static size_t on_file(char *data, size_t sz, size_t n, void *ud) {
  xfer *x = ud;
  size_t len = sz * n;
  if (!x->started) {
    if (x->status == 206) {
      if (x->range_lo != x->off) return abort_xfer(x, GLOAM_EPROTO, "bad Content-Range");
    } else if (x->status == 200) {
      if (x->off > 0 && ftruncate(x->fd, 0) < 0) return abort_xfer(x, GLOAM_EIO, "truncate failed");
      x->off = 0; /* the server ignored Range: start over */
    } else {
      return len; /* an error status: body dropped, handled after */
    }
    x->started = 1;
    if (x->total >= 0 && x->total != x->size) {
      snprintf(x->fail_msg, sizeof x->fail_msg, "size mismatch: server has %lld bytes, listed %lld",
               x->total, x->size);
      x->fail = GLOAM_EFORMAT;
      return 0;
    }
  }
  if ((long long)len > x->size - x->off)
    return abort_xfer(x, GLOAM_EFORMAT, "server sent more bytes than the listed size");
  for (size_t done = 0; done < len;) {
    ssize_t w = pwrite(x->fd, data + done, len - done, (off_t)(x->off + (long long)done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return abort_xfer(x, GLOAM_EIO, "write failed");
    done += (size_t)w;
  }
  x->off += (long long)len;
  return len;
}

static void draw_bar(xfer *x, int final) {
  uint64_t now = time_mono_ms();
  if (!final && now - x->last_draw_ms < 100) return;
  x->last_draw_ms = now;
  double mib = 1024.0 * 1024.0, secs = (double)(now - x->t0_ms) / 1000.0;
  double rate = secs > 0 ? (double)(x->off - x->off0) / mib / secs : 0;
  int pct = x->size > 0 ? (int)(100 * x->off / x->size) : 100;
  char bar[31];
  for (int i = 0; i < 30; i++) bar[i] = i < pct * 30 / 100 ? '#' : '.';
  bar[30] = 0;
  fprintf(stderr, "\r%-28.28s %3d%% [%s] %8.1f/%.1f MiB %6.1f MiB/s%s", x->name, pct, bar,
          (double)x->off / mib, (double)x->size / mib, rate, final ? "\n" : "");
  fflush(stderr);
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  xfer *x = ud;
  if (x->p->o->progress) draw_bar(x, 0);
  return 0;
}

static CURL *handle_new(pull *p, const char *url, xfer *x) {
  CURL *c = curl_easy_init();
  if (!c) return NULL;
  const models_pull_opts *o = p->o;
  int tls_only = !strncmp(p->endpoint, "https://", 8);
  p->curl_err[0] = 0;
  int bad = 0;
  bad |= curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, tls_only ? "https" : "http,https") != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, tls_only ? "https" : "http,https") !=
         CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, "gloam-node") != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK;
  long stall = o->stall_s > 0 ? o->stall_s : 60;
  bad |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
  if (o->ca_file) bad |= curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file) != CURLE_OK;
  if (p->headers) bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, p->headers) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, p->curl_err) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_HEADERDATA, x) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, x->mem ? on_mem : on_file) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_WRITEDATA, x) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_XFERINFODATA, x) != CURLE_OK;
  bad |= curl_easy_setopt(c, CURLOPT_NOPROGRESS, x->mem ? 1L : 0L) != CURLE_OK;
  if (bad) {
    curl_easy_cleanup(c);
    return NULL;
  }
  return c;
}

/* Maps a finished transfer to 0 or GLOAM_*: the abort reason, the network
 * error, or the HTTP status. */
static int xfer_result(pull *p, xfer *x, CURLcode cc, const char *what, char *err) {
  if (x->fail) return err_set(err, x->fail, "%s: %s", what, x->fail_msg);
  if (cc != CURLE_OK)
    return err_set(err, GLOAM_EIO, "%s: %s", what,
                   p->curl_err[0] ? p->curl_err : curl_easy_strerror(cc));
  if (x->status == 404) return err_set(err, GLOAM_ENOENT, "%s: not found (HTTP 404)", what);
  if (x->status == 401 || x->status == 403)
    return err_set(err, GLOAM_EAUTH, "%s: HTTP %ld (gated or private? set HF_TOKEN)", what,
                   x->status);
  if (x->status == 416 && x->mem == NULL) /* our partial is at least as long as theirs */
    return x->off == x->size
               ? 0
               : err_set(err, GLOAM_EFORMAT, "%s: server has fewer bytes than listed", what);
  if (x->status != 200 && x->status != 206)
    return err_set(err, GLOAM_EIO, "%s: HTTP %ld", what, x->status);
  return 0;
}

static int fetch_listing(pull *p, hf_repo_info *info, char *err) {
  char url[URL_CAP];
  char rev[3 * HF_REV_MAX + 1] = "";
  hf_url_escape(p->rev, 0, rev, sizeof rev); /* fits: 3 bytes per byte at most */
  int n = snprintf(url, sizeof url, "%s/api/models/%s/revision/%s?blobs=true", p->endpoint, p->repo,
                   rev);
  if (n < 0 || (size_t)n >= sizeof url) return err_set(err, GLOAM_EINVAL, "URL too long");
  buf body;
  buf_init(&body, HF_INFO_MAX);
  xfer x = {.p = p, .mem = &body, .fd = -1, .range_lo = -1, .total = -1};
  CURL *c = handle_new(p, url, &x);
  if (!c) {
    buf_deinit(&body);
    return err_set(err, GLOAM_ENOMEM, "curl handle");
  }
  CURLcode cc = curl_easy_perform(c);
  curl_easy_cleanup(c);
  char what[HF_REPO_MAX + HF_REV_MAX + 16];
  snprintf(what, sizeof what, "%s@%s", p->repo, p->rev);
  int rc = xfer_result(p, &x, cc, what, err);
  if (rc == 0) rc = hf_repo_info_parse((const char *)body.data, body.len, info, err);
  buf_deinit(&body);
  return rc;
}

static int permanent(int rc) {
  return rc == GLOAM_ENOENT || rc == GLOAM_EAUTH || rc == GLOAM_EFORMAT || rc == GLOAM_ENOMEM ||
         rc == GLOAM_EINVAL || rc == GLOAM_ETOOBIG;
}

/* Transfers until the .partial file holds f->size bytes. */
static int download(pull *p, const hf_file *f, int fd, long long off, char *err) {
  char url[URL_CAP];
  int n = snprintf(url, sizeof url, "%s/%s/resolve/%s/", p->endpoint, p->repo, p->commit);
  if (n < 0 || (size_t)n >= sizeof url || hf_url_escape(f->path, 1, url, sizeof url) < 0)
    return err_set(err, GLOAM_EINVAL, "URL too long");
  int rc = 0;
  for (int attempt = 0; off < f->size; attempt++) {
    xfer x = {.p = p,
              .fd = fd,
              .off = off,
              .off0 = off,
              .size = f->size,
              .range_lo = -1,
              .total = -1,
              .name = f->path,
              .t0_ms = time_mono_ms()};
    CURL *c = handle_new(p, url, &x);
    if (!c) return err_set(err, GLOAM_ENOMEM, "curl handle");
    char range[48];
    snprintf(range, sizeof range, "%lld-", off);
    if (off > 0) curl_easy_setopt(c, CURLOPT_RANGE, range);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (p->o->progress && x.started) draw_bar(&x, 1);
    off = x.off;
    rc = xfer_result(p, &x, cc, f->path, err);
    if (rc == 0 && off < f->size)
      rc = err_set(err, GLOAM_EIO, "%s: connection ended at %lld of %lld bytes", f->path, off,
                   (long long)f->size);
    if (rc == 0 || permanent(rc) || attempt >= p->o->retries) break;
    if (p->o->log) fprintf(p->o->log, "%s: %s; resuming at byte %lld\n", f->path, err, off);
    long ms = 200L << (attempt < 4 ? attempt : 4);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  return rc;
}

/* Hashes the file and compares with the listing: "" when it matches, else
 * the reason in why. */
static int check_file(int fd, const hf_file *f, char *why, size_t cap, char *err) {
  struct stat st;
  if (fstat(fd, &st) < 0) return err_set(err, GLOAM_EIO, "stat failed");
  why[0] = 0;
  if ((long long)st.st_size != f->size) {
    snprintf(why, cap, "size %lld, listed %lld", (long long)st.st_size, (long long)f->size);
    return 0;
  }
  EVP_MD_CTX *h = EVP_MD_CTX_new();
  if (!h || !EVP_DigestInit_ex(h, f->has_sha256 ? EVP_sha256() : EVP_sha1(), NULL)) {
    EVP_MD_CTX_free(h);
    return err_set(err, GLOAM_ECRYPTO, "digest init");
  }
  if (!f->has_sha256) { /* git blob id: sha1("blob <size>\0" content) */
    char hdr[32];
    int hn = snprintf(hdr, sizeof hdr, "blob %lld", (long long)f->size);
    EVP_DigestUpdate(h, hdr, (size_t)hn + 1);
  }
  unsigned char chunk[1 << 16];
  int rc = 0;
  for (off_t pos = 0; pos < st.st_size;) {
    ssize_t r = pread(fd, chunk, sizeof chunk, pos);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      rc = err_set(err, GLOAM_EIO, "read failed");
      break;
    }
    EVP_DigestUpdate(h, chunk, (size_t)r);
    pos += r;
  }
  unsigned char md[32];
  unsigned mdlen = 0;
  if (!rc && !EVP_DigestFinal_ex(h, md, &mdlen)) rc = err_set(err, GLOAM_ECRYPTO, "digest");
  EVP_MD_CTX_free(h);
  if (rc < 0) return rc;
  const uint8_t *want = f->has_sha256 ? f->sha256 : f->git_sha1;
  if (memcmp(md, want, mdlen) != 0) {
    char got[65], exp[65];
    codec_hex_encode(md, mdlen, got, sizeof got);
    codec_hex_encode(want, mdlen, exp, sizeof exp);
    snprintf(why, cap, "%s %s, listed %s", f->has_sha256 ? "sha256" : "git blob id", got, exp);
  }
  return 0;
}

static void write_marker(const char *path, const char *why) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char line[512];
  int n = snprintf(line, sizeof line, "%s\n", why);
  if (write(fd, line, (size_t)n) < 0) { /* best effort: the .partial is gone anyway */
  }
  close(fd);
}

static int fsync_parent(const char *path) {
  char dir[PATH_CAP];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* One file: skip when in place, else download, check, place. */
static int pull_file(pull *p, const hf_file *f, char *err) {
  char final[PATH_CAP], part[PATH_CAP + 16], failed[PATH_CAP + 16], dir[PATH_CAP];
  if (snprintf(final, sizeof final, "%s/%s", p->snap, f->path) >= (int)sizeof final)
    return err_set(err, GLOAM_ETOOBIG, "path too long");
  snprintf(part, sizeof part, "%s.partial", final);
  snprintf(failed, sizeof failed, "%s.failed", final);
  struct stat st;
  if (stat(final, &st) == 0 && S_ISREG(st.st_mode) && (long long)st.st_size == f->size) {
    unlink(failed);
    if (p->o->log) fprintf(p->o->log, "%s: already present\n", f->path);
    return 0;
  }
  memcpy(dir, final, strlen(final) + 1);
  *strrchr(dir, '/') = 0;
  int rc = models_mkdirs(dir, 0755, err);
  if (rc < 0) return rc;
  int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return err_set(err, GLOAM_EIO, "open %s: %s", part, strerror(errno));
  long long off = fstat(fd, &st) == 0 ? (long long)st.st_size : 0;
  if (off > f->size) {
    if (ftruncate(fd, 0) < 0)
      off = -1;
    else
      off = 0;
  }
  if (off < 0) {
    rc = err_set(err, GLOAM_EIO, "truncate %s failed", part);
    goto fail;
  }
  if (off > 0 && p->o->log) fprintf(p->o->log, "%s: resuming at byte %lld\n", f->path, off);
  if ((rc = download(p, f, fd, off, err)) < 0) goto fail;
  if (fsync(fd) < 0) {
    rc = err_set(err, GLOAM_EIO, "fsync %s failed", part);
    goto fail;
  }
  char why[200];
  if ((rc = check_file(fd, f, why, sizeof why, err)) < 0) goto fail;
  close(fd);
  fd = -1;
  if (why[0]) {
    unlink(part);
    write_marker(failed, why);
    return err_set(err, GLOAM_EFORMAT, "%s: %s (download discarded)", f->path, why);
  }
  if (rename(part, final) < 0 || fsync_parent(final) < 0)
    return err_set(err, GLOAM_EIO, "placing %s failed: %s", final, strerror(errno));
  unlink(failed);
  if (p->o->log) fprintf(p->o->log, "%s: %lld bytes, checksum ok\n", f->path, (long long)f->size);
  return 0;
fail:
  if (fd >= 0) close(fd);
  /* a size overrun means the data is wrong, not merely short: drop it */
  if (rc == GLOAM_EFORMAT) {
    unlink(part);
    write_marker(failed, err);
  }
  return rc;
}

static int lock_repo(pull *p, int *out_fd, char *err) {
  char rd[PATH_CAP], lp[PATH_CAP + 8];
  if (models_repo_dir(p->o->models_dir, p->repo, rd, sizeof rd) < 0)
    return err_set(err, GLOAM_EINVAL, "bad repository path");
  int rc = models_mkdirs(rd, 0755, err);
  if (rc < 0) return rc;
  snprintf(lp, sizeof lp, "%s/.lock", rd);
  int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return err_set(err, GLOAM_EIO, "open %s: %s", lp, strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    if (p->o->log) fprintf(p->o->log, "waiting for another pull of %s\n", p->repo);
    while (flock(fd, LOCK_EX) < 0)
      if (errno != EINTR) {
        close(fd);
        return err_set(err, GLOAM_EIO, "flock %s: %s", lp, strerror(errno));
      }
  }
  *out_fd = fd;
  return 0;
}

static int check_selection(const models_pull_opts *o, const hf_repo_info *info, char *err) {
  for (size_t i = 0; i < o->n_files; i++)
    if (!hf_repo_info_find(info, o->files[i]))
      return err_set(err, GLOAM_ENOENT, "%.200s: not in the repository", o->files[i]);
  for (size_t i = 0; i < info->n_files; i++) {
    const hf_file *f = &info->files[i];
    if (f->size < 0 || (!f->has_sha256 && !f->has_git_sha1))
      return err_set(err, GLOAM_EFORMAT,
                     "%s: the listing has no size or checksum (endpoint must support ?blobs=true)",
                     f->path);
  }
  return 0;
}

static int selected(const models_pull_opts *o, const char *path) {
  if (!o->n_files) return 1;
  for (size_t i = 0; i < o->n_files; i++)
    if (!strcmp(o->files[i], path)) return 1;
  return 0;
}

int models_pull(const models_pull_opts *o, char *out_dir, size_t cap, char *err) {
  pthread_once(&curl_once, curl_init_once);
  pull p = {.o = o};
  hf_repo_info info = {0};
  int lock_fd = -1, rc;
  if (!o->endpoint || !o->models_dir || !o->ref)
    return err_set(err, GLOAM_EINVAL, "endpoint, models_dir and ref are required");
  if (strncmp(o->endpoint, "http://", 7) && strncmp(o->endpoint, "https://", 8))
    return err_set(err, GLOAM_EINVAL, "endpoint must start with http:// or https://");
  size_t el = strlen(o->endpoint);
  while (el && o->endpoint[el - 1] == '/') el--;
  if (el >= sizeof p.endpoint / 2 || memchr(o->endpoint, '?', el) || memchr(o->endpoint, '#', el))
    return err_set(err, GLOAM_EINVAL, "bad endpoint URL");
  memcpy(p.endpoint, o->endpoint, el);
  if ((rc = hf_split_ref(o->ref, p.repo, sizeof p.repo, p.rev, sizeof p.rev, err)) < 0) return rc;
  if (o->token && *o->token) {
    char h[600];
    if (snprintf(h, sizeof h, "Authorization: Bearer %s", o->token) >= (int)sizeof h)
      return err_set(err, GLOAM_EINVAL, "token too long");
    if (!(p.headers = curl_slist_append(NULL, h))) return err_set(err, GLOAM_ENOMEM, "headers");
  }
  if ((rc = fetch_listing(&p, &info, err)) < 0) goto done;
  if ((rc = check_selection(o, &info, err)) < 0) goto done;
  if (models_snapshot_dir(o->models_dir, p.repo, info.commit, p.snap, sizeof p.snap) < 0) {
    rc = err_set(err, GLOAM_ETOOBIG, "models_dir path too long");
    goto done;
  }
  memcpy(p.commit, info.commit, sizeof p.commit);
  if ((rc = lock_repo(&p, &lock_fd, err)) < 0) goto done;
  if ((rc = models_mkdirs(p.snap, 0755, err)) < 0) goto done;
  for (size_t i = 0; i < info.n_files && rc == 0; i++)
    if (selected(o, info.files[i].path)) rc = pull_file(&p, &info.files[i], err);
  if (rc == 0) rc = models_ref_write(o->models_dir, p.repo, p.rev, info.commit, err);
  if (rc == 0 && snprintf(out_dir, cap, "%s", p.snap) >= (int)cap)
    rc = err_set(err, GLOAM_ETOOBIG, "output path too long");
done:
  if (lock_fd >= 0) close(lock_fd);
  curl_slist_free_all(p.headers);
  hf_repo_info_deinit(&info);
  return rc;
}
