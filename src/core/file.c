/* SPDX-License-Identifier: Apache-2.0
 *
 * core/file.c: reading a whole small file into a capped buf (file.h).
 */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

int file_read_all(const char *path, buf *b, char *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return err_set(err, errno == ENOENT ? GLOAM_ENOENT : GLOAM_EIO, "%s: %s", path,
                   strerror(errno));
  uint8_t chunk[16384];
  int rc = 0;
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = err_set(err, GLOAM_EIO, "%s: %s", path, strerror(errno));
      break;
    }
    if (n == 0) break;
    if ((rc = buf_append(b, chunk, (size_t)n)) < 0) {
      err_set(err, rc, "%s: %s", path, rc == GLOAM_ETOOBIG ? "file too large" : "out of memory");
      break;
    }
  }
  close(fd);
  return rc;
}
