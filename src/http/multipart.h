/* SPDX-License-Identifier: Apache-2.0
 *
 * http/multipart.h: a strict, bounded multipart/form-data parser
 * (RFC 7578 over RFC 2046 §5.1), for OpenAI's upload endpoints
 * (/v1/audio/transcriptions, /v1/audio/translations).
 *
 *   char bnd[MP_BOUNDARY_MAX + 1], err[GLOAM_ERR_LEN];
 *   mp_limits lim;
 *   mp_limits_init(&lim);
 *   if (multipart_boundary(content_type, bnd, err) < 0) 415 or 400;
 *   mp_form f;
 *   int rc = multipart_parse(body, len, bnd, &lim, &f, err);
 *   if (rc == GLOAM_ETOOBIG) 413; else if (rc < 0) 400;
 *   const mp_part *file = multipart_get(&f, "file");
 *   ... file->data, file->len, file->filename ...
 *   multipart_form_free(&f);
 *
 * What is accepted (and nothing else):
 * - Content-Type `multipart/form-data` (case-insensitive) with exactly one
 *   `boundary` parameter, token or quoted, 1-70 RFC 2046 bchars, not ending
 *   in a space; other parameters are ignored.
 * - The body starts with `--boundary` (no preamble); delimiters are CRLF
 *   `--boundary`, optionally followed by spaces/tabs (transport padding),
 *   then CRLF; the close delimiter `--boundary--` may be followed by an
 *   epilogue, which is ignored. A body without a close delimiter is
 *   truncated (GLOAM_EFORMAT).
 * - Part headers are `Name: value` lines ending in CRLF (no obsolete line
 *   folding, no bare LF, no NUL or other control bytes but tab), ended by
 *   an empty line. Every part needs `Content-Disposition: form-data` with a
 *   `name` parameter; `filename` is optional. `Content-Type` is kept;
 *   other headers are skipped. A header named twice is an error.
 *   Parameter values are tokens or quoted strings (backslash quoted-pairs
 *   as RFC 7578/2616); `filename*` (RFC 5987) is not accepted.
 * Limits (mp_limits): the whole body, the number of parts, header bytes
 * per part, a field's value (a part without filename) and a file's bytes
 * (a part with one). Exceeding any is GLOAM_ETOOBIG; everything malformed
 * is GLOAM_EFORMAT. Error text names the part index, never its content.
 *
 * Ownership: part data points into the caller's body (borrowed: keep the
 * body alive while using the form); names, filenames and content types are
 * copies owned by the form. Thread safety: pure functions on caller data.
 */
#ifndef GLOAM_HTTP_MULTIPART_H
#define GLOAM_HTTP_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define MP_BOUNDARY_MAX 70
/* OpenAI's file size limit for audio uploads (25 MB); gloam reads it as MiB,
 * as the audio decoder's default does. */
#define MP_DEFAULT_MAX_FILE (25u << 20)

typedef struct mp_limits {
  size_t max_body;   /* whole body; default max_file + 1 MiB */
  size_t max_file;   /* bytes of a part with a filename; default 25 MiB */
  size_t max_field;  /* bytes of a part without one; default 64 KiB */
  size_t max_header; /* header bytes of one part (CRLFs included); default 4 KiB */
  int max_parts;     /* default 64 */
} mp_limits;

typedef struct mp_part {
  char *name;          /* NUL-terminated; owned by the form */
  char *filename;      /* NULL without a filename parameter; owned */
  char *content_type;  /* NULL without a Content-Type header; owned */
  const uint8_t *data; /* into the parsed body (borrowed) */
  size_t len;
} mp_part;

typedef struct mp_form {
  mp_part *parts; /* owned */
  int n_parts;
} mp_form;

void mp_limits_init(mp_limits *lim);

/* Checks a request's Content-Type and copies its boundary into out
 * (MP_BOUNDARY_MAX + 1 bytes). Returns 0, GLOAM_EUNSUPPORTED (missing or
 * another media type: the caller answers 415) or GLOAM_EFORMAT (a
 * multipart/form-data type with a missing or invalid boundary: 400). */
int multipart_boundary(const char *content_type, char *out, char *err);

/* The boundary of a body that starts with its first delimiter line
 * (`--boundary` CRLF, as multipart_parse requires), for multipart bodies
 * that travel without their Content-Type (the sealed audio requests).
 * Returns 0 or GLOAM_EFORMAT. */
int multipart_boundary_from_body(const uint8_t *body, size_t len, char *out, char *err);

/* Parses body into *out (zeroed first; freed on failure). lim NULL: the
 * defaults. Returns 0, GLOAM_EFORMAT, GLOAM_ETOOBIG, GLOAM_ENOMEM. */
int multipart_parse(const uint8_t *body, size_t len, const char *boundary, const mp_limits *lim,
                    mp_form *out, char *err);

/* The first part named name, or NULL. Borrowed from f. */
const mp_part *multipart_get(const mp_form *f, const char *name);
/* How many parts are named name. */
int multipart_count(const mp_form *f, const char *name);

void multipart_form_free(mp_form *f);

#endif
