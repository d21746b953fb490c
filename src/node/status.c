/* SPDX-License-Identifier: Apache-2.0
 *
 * node/status.c: the status socket (see status.h).
 */
#include "node/status.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/time.h"
#include "gloam/err.h"
#include "http/json.h"

#define STATUS_MAX (64 * 1024)

struct node_status {
  int fd;
  struct event *ev;
  node_status_fill_fn fill;
  void *ud;
};

static int make_addr(const char *path, struct sockaddr_un *a, char *err) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof a->sun_path)
    return err_set(err, GLOAM_EINVAL, "status socket path longer than %zu bytes",
                   sizeof a->sun_path - 1);
  memcpy(a->sun_path, path, strlen(path) + 1);
  return 0;
}

static int connect_to(const char *path, char *err) {
  struct sockaddr_un a;
  int rc = make_addr(path, &a, err);
  if (rc < 0) return rc;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return err_set(err, GLOAM_EIO, "socket: %s", strerror(errno));
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    int e = errno;
    close(fd);
    return err_set(err, e == ENOENT ? GLOAM_ENOENT : GLOAM_ECLOSED, "%s: %s", path, strerror(e));
  }
  return fd;
}

static void on_accept(evutil_socket_t lfd, short what, void *arg) {
  node_status *st = arg;
  (void)what;
  for (int i = 0; i < 16; i++) { /* bounded work per wake-up */
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    json_t *j = st->fill(st->ud);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s) {
      size_t n = strlen(s);
      s[n] = '\n';
      (void)!send(fd, s, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      free(s);
    }
    close(fd);
  }
}

int node_status_open(node_status **out, struct event_base *base, const char *path,
                     node_status_fill_fn fill, void *ud, char *err) {
  *out = NULL;
  struct sockaddr_un a;
  int rc = make_addr(path, &a, err);
  if (rc < 0) return rc;
  int probe = connect_to(path, err);
  if (probe >= 0) {
    close(probe);
    return err_set(err, GLOAM_EBUSY, "another gloam-node serve answers on %s", path);
  }
  unlink(path); /* a dead serve's socket */
  node_status *st = mem_calloc(1, sizeof *st);
  if (!st) return err_set(err, GLOAM_ENOMEM, "out of memory");
  st->fill = fill;
  st->ud = ud;
  st->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  mode_t old = umask(0177);
  int ok = st->fd >= 0 && bind(st->fd, (struct sockaddr *)&a, sizeof a) == 0;
  umask(old);
  ok = ok && chmod(path, 0600) == 0 && listen(st->fd, 16) == 0;
  if (!ok) {
    rc = err_set(err, GLOAM_EIO, "status socket %s: %s", path, strerror(errno));
    goto fail;
  }
  st->ev = event_new(base, st->fd, EV_READ | EV_PERSIST, on_accept, st);
  if (!st->ev || event_add(st->ev, NULL) < 0) {
    rc = err_set(err, GLOAM_ENOMEM, "status socket event");
    goto fail;
  }
  *out = st;
  return 0;
fail:
  node_status_close(st);
  return rc;
}

void node_status_close(node_status *st) {
  if (!st) return;
  if (st->ev) event_free(st->ev);
  if (st->fd >= 0) close(st->fd);
  mem_free(st);
}

int node_status_query(const char *path, json_t **out, char *err) {
  *out = NULL;
  int fd = connect_to(path, err);
  if (fd < 0) return fd;
  char *b = mem_alloc(STATUS_MAX);
  if (!b) {
    close(fd);
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  size_t n = 0;
  int rc = 0;
  uint64_t deadline = time_mono_ms() + 2000;
  for (;;) {
    uint64_t now = time_mono_ms();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (now >= deadline || poll(&p, 1, (int)(deadline - now)) == 0) {
      rc = err_set(err, GLOAM_ETIMEDOUT, "no answer on %s", path);
      break;
    }
    ssize_t r = read(fd, b + n, STATUS_MAX - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = err_set(err, GLOAM_EIO, "read: %s", strerror(errno));
      break;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n == STATUS_MAX - 1) {
      rc = err_set(err, GLOAM_ETOOBIG, "status answer too long");
      break;
    }
  }
  close(fd);
  if (rc == 0) rc = json_parse_limited(b, n, STATUS_MAX, 8, out, err);
  mem_free(b);
  return rc;
}
