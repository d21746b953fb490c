/* SPDX-License-Identifier: Apache-2.0
 *
 * core/file.h: reading a whole small file (a PEM bundle, a key list) into a
 * capped buf, the one way programs and libraries load such files.
 *
 *   buf b; buf_init(&b, 1 << 20);
 *   if (file_read_all("roots.pem", &b, err) < 0) ...;   // b.data NUL-terminated
 *   buf_deinit(&b);
 *
 * Ownership: the caller owns b. Thread safety: reentrant.
 */
#ifndef GLOAM_CORE_FILE_H
#define GLOAM_CORE_FILE_H

#include "core/buf.h"

/* Appends the file's bytes to b. GLOAM_ENOENT (no such file), GLOAM_EIO,
 * GLOAM_ETOOBIG (over b's cap), GLOAM_ENOMEM; detail in err. */
int file_read_all(const char *path, buf *b, char *err);

#endif
