/* SPDX-License-Identifier: Apache-2.0
 *
 * http/multipart.c: the strict multipart/form-data parser of multipart.h.
 *
 * DESIGN: one pass over the body held in memory (evhttp has already read it
 * under the server's body cap). Part data is not copied: each part records
 * where its bytes lie in the body. The delimiter search looks for CR and
 * compares `\r\n--boundary` there; a boundary has no CR in it, so a partial
 * match can never overlap the next candidate by more than it scanned, and
 * the search stays linear in the body length. Header parsing never looks
 * past the per-part header budget, so a part without an empty line costs at
 * most max_header bytes of scanning before it fails.
 */
#include "http/multipart.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/err.h"

void mp_limits_init(mp_limits *lim) {
  lim->max_file = MP_DEFAULT_MAX_FILE;
  lim->max_body = (size_t)MP_DEFAULT_MAX_FILE + (1u << 20);
  lim->max_field = 64u << 10;
  lim->max_header = 4u << 10;
  lim->max_parts = 64;
}

/* RFC 2046 bchars (the last one may not be a space). */
static bool is_bchar(unsigned char ch) {
  if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) return true;
  return ch != 0 && strchr("'()+_,-./:=? ", ch) != NULL;
}

/* RFC 7230 tchar. */
static bool is_tchar(unsigned char ch) {
  if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) return true;
  return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static const char *skip_ows(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  return p;
}

/* A parameter value at *pp (token or quoted string), copied unquoted into
 * a fresh string. Advances *pp past it. */
static int param_value(const char **pp, const char *end, char **out) {
  const char *p = *pp;
  size_t n = 0;
  char *v;
  if (p < end && *p == '"') {
    const char *q = p + 1;
    /* first pass: length and validity */
    for (; q < end && *q != '"'; q++) {
      if (*q == '\\') {
        if (++q >= end) return GLOAM_EFORMAT;
      }
      n++;
    }
    if (q >= end) return GLOAM_EFORMAT;
    if (!(v = mem_alloc(n + 1))) return GLOAM_ENOMEM;
    n = 0;
    for (q = p + 1; *q != '"'; q++) {
      if (*q == '\\') q++;
      v[n++] = *q;
    }
    *pp = q + 1;
  } else {
    const char *q = p;
    while (q < end && is_tchar((unsigned char)*q)) q++;
    if (q == p) return GLOAM_EFORMAT;
    n = (size_t)(q - p);
    if (!(v = mem_strndup(p, n))) return GLOAM_ENOMEM;
    *pp = q;
  }
  v[n] = '\0';
  *out = v;
  return 0;
}

/* Iterates `; name=value` parameters after a media type or disposition
 * type. cb is called for each; unknown names are the callback's business. */
typedef int (*param_cb)(void *ud, const char *name, size_t name_len, char *value);

static int parse_params(const char *p, const char *end, param_cb cb, void *ud) {
  for (;;) {
    p = skip_ows(p, end);
    if (p == end) return 0;
    if (*p != ';') return GLOAM_EFORMAT;
    p = skip_ows(p + 1, end);
    if (p == end) return 0; /* a trailing ';' is tolerated */
    const char *name = p;
    while (p < end && is_tchar((unsigned char)*p)) p++;
    size_t name_len = (size_t)(p - name);
    if (name_len == 0 || p == end || *p != '=') return GLOAM_EFORMAT;
    p++;
    char *value = NULL;
    int rc = param_value(&p, end, &value);
    if (rc < 0) return rc;
    rc = cb(ud, name, name_len, value); /* takes value */
    if (rc < 0) return rc;
  }
}

static bool name_is(const char *name, size_t n, const char *want) {
  return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static int boundary_cb(void *ud, const char *name, size_t name_len, char *value) {
  char **slot = ud;
  if (!name_is(name, name_len, "boundary")) {
    mem_free(value);
    return 0;
  }
  if (*slot) {
    mem_free(value);
    return GLOAM_EFORMAT; /* two boundaries */
  }
  *slot = value;
  return 0;
}

int multipart_boundary(const char *content_type, char *out, char *err) {
  static const char mt[] = "multipart/form-data";
  out[0] = '\0';
  if (!content_type) return err_set(err, GLOAM_EUNSUPPORTED, "no Content-Type");
  const char *end = content_type + strlen(content_type);
  const char *p = skip_ows(content_type, end);
  if ((size_t)(end - p) < sizeof mt - 1 || strncasecmp(p, mt, sizeof mt - 1) != 0)
    return err_set(err, GLOAM_EUNSUPPORTED, "Content-Type must be multipart/form-data");
  p += sizeof mt - 1;
  if (p < end && *p != ';' && *p != ' ' && *p != '\t')
    return err_set(err, GLOAM_EUNSUPPORTED, "Content-Type must be multipart/form-data");
  char *b = NULL;
  int rc = parse_params(p, end, boundary_cb, &b);
  if (rc == GLOAM_ENOMEM) return err_set(err, rc, "out of memory");
  if (rc < 0 || !b) {
    mem_free(b);
    return err_set(err, GLOAM_EFORMAT, "multipart/form-data needs one valid boundary parameter");
  }
  size_t n = strlen(b);
  bool ok = n >= 1 && n <= MP_BOUNDARY_MAX && b[n - 1] != ' ';
  for (size_t i = 0; ok && i < n; i++) ok = is_bchar((unsigned char)b[i]);
  if (ok) memcpy(out, b, n + 1);
  mem_free(b);
  if (!ok) return err_set(err, GLOAM_EFORMAT, "invalid multipart boundary");
  return 0;
}

int multipart_boundary_from_body(const uint8_t *body, size_t len, char *out, char *err) {
  out[0] = '\0';
  size_t n = 0;
  if (len < 4 || !body || body[0] != '-' || body[1] != '-')
    return err_set(err, GLOAM_EFORMAT, "multipart: body does not start with a boundary");
  while (2 + n < len && n <= MP_BOUNDARY_MAX && body[2 + n] != '\r' && body[2 + n] != ' ' &&
         body[2 + n] != '\t')
    n++;
  bool ok = n >= 1 && n <= MP_BOUNDARY_MAX;
  for (size_t i = 0; ok && i < n; i++) ok = is_bchar(body[2 + i]);
  if (!ok) return err_set(err, GLOAM_EFORMAT, "multipart: invalid boundary in the body");
  memcpy(out, body + 2, n);
  out[n] = '\0';
  return 0;
}

/* ---- body ---- */

typedef struct parser {
  const uint8_t *p, *end;
  const char *bnd;
  size_t bnd_len;
  const mp_limits *lim;
  mp_form *f;
  char *err;
} parser;

/* The offset of the next "\r\n--boundary" at or after p, or NULL. */
static const uint8_t *find_delim(const parser *ps, const uint8_t *p) {
  size_t need = 4 + ps->bnd_len;
  while ((size_t)(ps->end - p) >= need) {
    const uint8_t *cr = memchr(p, '\r', (size_t)(ps->end - p) - need + 1);
    if (!cr) return NULL;
    if (cr[1] == '\n' && cr[2] == '-' && cr[3] == '-' && memcmp(cr + 4, ps->bnd, ps->bnd_len) == 0)
      return cr;
    p = cr + 1;
  }
  return NULL;
}

/* After "--boundary": "--" (close, *out_close) or padding and CRLF. */
static int after_delim(parser *ps, bool *out_close) {
  const uint8_t *p = ps->p;
  if (ps->end - p >= 2 && p[0] == '-' && p[1] == '-') {
    *out_close = true;
    ps->p = ps->end; /* the epilogue is ignored */
    return 0;
  }
  while (p < ps->end && (*p == ' ' || *p == '\t')) p++;
  if (ps->end - p < 2 || p[0] != '\r' || p[1] != '\n')
    return err_set(ps->err, GLOAM_EFORMAT, "multipart: bad delimiter line (part %d)",
                   ps->f->n_parts);
  *out_close = false;
  ps->p = p + 2;
  return 0;
}

typedef struct disp {
  char *name, *filename;
} disp;

static int disp_cb(void *ud, const char *name, size_t name_len, char *value) {
  disp *d = ud;
  char **slot = NULL;
  if (name_is(name, name_len, "name"))
    slot = &d->name;
  else if (name_is(name, name_len, "filename"))
    slot = &d->filename;
  else if (name_is(name, name_len, "filename*")) {
    mem_free(value);
    return GLOAM_EUNSUPPORTED;
  }
  if (!slot) {
    mem_free(value);
    return 0;
  }
  if (*slot) {
    mem_free(value);
    return GLOAM_EFORMAT;
  }
  *slot = value;
  return 0;
}

static int part_error(parser *ps, int rc, const char *what) {
  if (rc == GLOAM_ENOMEM) return err_set(ps->err, rc, "out of memory");
  return err_set(ps->err, rc, "multipart: part %d: %s", ps->f->n_parts, what);
}

/* Content-Disposition: form-data; name="..."[; filename="..."] */
static int parse_disposition(parser *ps, const char *v, const char *end, mp_part *part) {
  static const char fd[] = "form-data";
  if ((size_t)(end - v) < sizeof fd - 1 || strncasecmp(v, fd, sizeof fd - 1) != 0)
    return part_error(ps, GLOAM_EFORMAT, "Content-Disposition must be form-data");
  disp d = {0};
  int rc = parse_params(v + sizeof fd - 1, end, disp_cb, &d);
  if (rc < 0 || !d.name || !d.name[0]) {
    mem_free(d.name);
    mem_free(d.filename);
    if (rc == GLOAM_ENOMEM) return part_error(ps, rc, "");
    if (rc == GLOAM_EUNSUPPORTED)
      return part_error(ps, GLOAM_EFORMAT, "filename* (RFC 5987) is not accepted");
    return part_error(ps, GLOAM_EFORMAT, "Content-Disposition needs one non-empty name");
  }
  for (const char *s = d.name; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) {
      mem_free(d.name);
      mem_free(d.filename);
      return part_error(ps, GLOAM_EFORMAT, "control byte in the name");
    }
  part->name = d.name;
  part->filename = d.filename;
  return 0;
}

/* One header line [line, eol) (no CRLF). */
static int parse_header(parser *ps, const char *line, const char *eol, mp_part *part, bool *seen_cd,
                        bool *seen_ct) {
  for (const char *s = line; s < eol; s++)
    if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
      return part_error(ps, GLOAM_EFORMAT, "control byte in a header");
  if (*line == ' ' || *line == '\t') return part_error(ps, GLOAM_EFORMAT, "folded header line");
  const char *colon = line;
  while (colon < eol && is_tchar((unsigned char)*colon)) colon++;
  if (colon == line || colon == eol || *colon != ':')
    return part_error(ps, GLOAM_EFORMAT, "malformed header line");
  size_t nlen = (size_t)(colon - line);
  const char *v = skip_ows(colon + 1, eol), *vend = eol;
  while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t')) vend--;
  if (name_is(line, nlen, "Content-Disposition")) {
    if (*seen_cd) return part_error(ps, GLOAM_EFORMAT, "two Content-Disposition headers");
    *seen_cd = true;
    return parse_disposition(ps, v, vend, part);
  }
  if (name_is(line, nlen, "Content-Type")) {
    if (*seen_ct) return part_error(ps, GLOAM_EFORMAT, "two Content-Type headers");
    *seen_ct = true;
    if (!(part->content_type = mem_strndup(v, (size_t)(vend - v))))
      return part_error(ps, GLOAM_ENOMEM, "");
  }
  return 0; /* other headers are skipped */
}

/* Headers from ps->p up to and including the empty line. */
static int parse_headers(parser *ps, mp_part *part) {
  const uint8_t *start = ps->p;
  size_t avail = (size_t)(ps->end - start);
  size_t budget = avail < ps->lim->max_header ? avail : ps->lim->max_header;
  const char *p = (const char *)start, *lim_end = p + budget;
  bool seen_cd = false, seen_ct = false;
  for (;;) {
    const char *cr = memchr(p, '\r', (size_t)(lim_end - p));
    if (!cr || cr + 1 >= lim_end || cr[1] != '\n') {
      if (budget == ps->lim->max_header && (!cr || cr + 1 >= lim_end))
        return part_error(ps, GLOAM_ETOOBIG, "headers over the limit");
      return part_error(ps, GLOAM_EFORMAT,
                        cr && cr + 1 < lim_end ? "bare CR in headers" : "truncated headers");
    }
    if (memchr(p, '\n', (size_t)(cr - p)))
      return part_error(ps, GLOAM_EFORMAT, "bare LF in headers");
    if (cr == p) { /* the empty line */
      ps->p = (const uint8_t *)cr + 2;
      break;
    }
    int rc = parse_header(ps, p, cr, part, &seen_cd, &seen_ct);
    if (rc < 0) return rc;
    p = cr + 2;
  }
  if (!seen_cd) return part_error(ps, GLOAM_EFORMAT, "no Content-Disposition");
  return 0;
}

static int add_part(parser *ps, mp_part *part) {
  mp_form *f = ps->f;
  if (f->n_parts >= ps->lim->max_parts)
    return err_set(ps->err, GLOAM_ETOOBIG, "multipart: more than %d parts", ps->lim->max_parts);
  mp_part *np = mem_reallocarray(f->parts, (size_t)f->n_parts + 1, sizeof *np);
  if (!np) return err_set(ps->err, GLOAM_ENOMEM, "out of memory");
  f->parts = np;
  f->parts[f->n_parts++] = *part;
  memset(part, 0, sizeof *part);
  return 0;
}

static void part_deinit(mp_part *p) {
  mem_free(p->name);
  mem_free(p->filename);
  mem_free(p->content_type);
  memset(p, 0, sizeof *p);
}

static int parse_parts(parser *ps) {
  /* no preamble: the body opens with --boundary */
  if ((size_t)(ps->end - ps->p) < 2 + ps->bnd_len || ps->p[0] != '-' || ps->p[1] != '-' ||
      memcmp(ps->p + 2, ps->bnd, ps->bnd_len) != 0)
    return err_set(ps->err, GLOAM_EFORMAT, "multipart: body does not start with the boundary");
  ps->p += 2 + ps->bnd_len;
  mp_part part = {0};
  int rc;
  for (;;) {
    bool close = false;
    rc = after_delim(ps, &close);
    if (rc < 0 || close) return rc;
    if ((rc = parse_headers(ps, &part)) < 0) goto fail;
    const uint8_t *d = find_delim(ps, ps->p);
    if (!d) {
      rc = part_error(ps, GLOAM_EFORMAT, "no closing boundary (truncated body)");
      goto fail;
    }
    part.data = ps->p;
    part.len = (size_t)(d - ps->p);
    size_t cap = part.filename ? ps->lim->max_file : ps->lim->max_field;
    if (part.len > cap) {
      rc = part_error(
          ps, GLOAM_ETOOBIG,
          part.filename ? "file over the size limit" : "field value over the size limit");
      goto fail;
    }
    if ((rc = add_part(ps, &part)) < 0) goto fail;
    ps->p = d + 4 + ps->bnd_len;
  }
fail:
  part_deinit(&part);
  return rc;
}

int multipart_parse(const uint8_t *body, size_t len, const char *boundary, const mp_limits *lim,
                    mp_form *out, char *err) {
  mp_limits def;
  memset(out, 0, sizeof *out);
  if (!lim) {
    mp_limits_init(&def);
    lim = &def;
  }
  size_t bl = boundary ? strlen(boundary) : 0;
  if (bl == 0 || bl > MP_BOUNDARY_MAX) return err_set(err, GLOAM_EINVAL, "multipart: bad boundary");
  if (len > lim->max_body)
    return err_set(err, GLOAM_ETOOBIG, "multipart: body over %zu bytes", lim->max_body);
  if (!body) return err_set(err, GLOAM_EFORMAT, "multipart: empty body");
  parser ps = {body, body + len, boundary, bl, lim, out, err};
  int rc = parse_parts(&ps);
  if (rc < 0) multipart_form_free(out);
  return rc;
}

const mp_part *multipart_get(const mp_form *f, const char *name) {
  for (int i = 0; i < f->n_parts; i++)
    if (strcmp(f->parts[i].name, name) == 0) return &f->parts[i];
  return NULL;
}

int multipart_count(const mp_form *f, const char *name) {
  int n = 0;
  for (int i = 0; i < f->n_parts; i++) n += strcmp(f->parts[i].name, name) == 0;
  return n;
}

void multipart_form_free(mp_form *f) {
  if (!f) return;
  for (int i = 0; i < f->n_parts; i++) part_deinit(&f->parts[i]);
  mem_free(f->parts);
  memset(f, 0, sizeof *f);
}
