/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/normalize.c: normalizer steps and UTF-8 helpers (see normalize.h).
 *
 * DESIGN: NFC leaves text whose code points are all below U+0300 unchanged
 * (no combining marks or composable pairs), so that common case skips
 * utf8proc entirely; the others always call it.
 */
#include "engine/normalize.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "gloam/err.h"

/* ---- UTF-8 ---- */

/* Expected continuation range for the second byte of a sequence led by b. */
static int lead_info(uint8_t b, uint8_t *lo, uint8_t *hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b == 0xE0) *lo = 0xA0;
  if (b == 0xED) *hi = 0x9F;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b == 0xF0) *lo = 0x90;
  if (b == 0xF4) *hi = 0x8F;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

size_t tok_utf8_len(const uint8_t *p, size_t n) {
  if (n == 0) return 0;
  if (p[0] < 0x80) return 1;
  uint8_t lo, hi;
  int len = lead_info(p[0], &lo, &hi);
  if (len == 0 || n < (size_t)len) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (int i = 2; i < len; i++)
    if ((p[i] & 0xC0) != 0x80) return 0;
  return (size_t)len;
}

/* Bytes of the maximal invalid subpart at p (>= 1). */
static size_t tok_utf8_bad_len(const uint8_t *p, size_t n) {
  uint8_t lo, hi;
  int len = lead_info(p[0], &lo, &hi);
  if (len == 0 || n < 2 || p[1] < lo || p[1] > hi) return 1;
  size_t k = 2;
  while (k < (size_t)len && k < n && (p[k] & 0xC0) == 0x80) k++;
  return k;
}

uint32_t tok_utf8_decode(const uint8_t *p, size_t len) {
  switch (len) {
    case 1:
      return p[0];
    case 2:
      return ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    case 3:
      return ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    default:
      return ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
             ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
  }
}

size_t tok_utf8_encode(uint32_t cp, char out[4]) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

bool tok_utf8_valid(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    size_t l = tok_utf8_len(p + i, n - i);
    if (l == 0) return false;
    i += l;
  }
  return true;
}

int tok_utf8_sanitize(const uint8_t *p, size_t n, buf *out) {
  buf_reset(out);
  size_t run = 0; /* start of the pending valid run */
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    size_t l = tok_utf8_len(p + i, n - i);
    if (l) {
      i += l;
      continue;
    }
    int rc = buf_append(out, p + run, i - run);
    if (rc == 0) rc = buf_append(out, "\xEF\xBF\xBD", 3);
    if (rc < 0) return rc;
    i += tok_utf8_bad_len(p + i, n - i);
    run = i;
  }
  return buf_append(out, p + run, n - run);
}

bool tok_is_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

/* ---- steps ---- */

static bool all_below(const uint8_t *p, size_t n, uint8_t lim) {
  for (size_t i = 0; i < n; i++)
    if (p[i] >= lim) return false;
  return true;
}

/* A character before which NFC text can be cut: it has combining class 0,
 * no canonical decomposition, and is never the second element of a
 * composition (so NFC(a + b) == NFC(a) + NFC(b) when b starts with one).
 * Kana, which compose only as first elements, are listed explicitly;
 * conjoining jamo (composed algorithmically, not in utf8proc's table) are
 * never boundaries. */
static bool nfc_boundary(uint32_t c) {
  if (c < 0x300 || (c >= 0x3041 && c <= 0x3096) || (c >= 0x30A1 && c <= 0x30FA) ||
      (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7A3))
    return true;
  if (c >= 0x1100 && c <= 0x11FF) return false;
  const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
  return p->combining_class == 0 && p->comb_index == UINT16_MAX &&
         (p->decomp_seqindex == UINT16_MAX || p->decomp_type != 0);
}

static int nfc_run(const uint8_t *p, size_t n, buf *out) {
  utf8proc_uint8_t *dst = NULL;
  utf8proc_ssize_t r = utf8proc_map(p, (utf8proc_ssize_t)n, &dst,
                                    (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  int rc = r < 0 ? (r == UTF8PROC_ERROR_NOMEM ? GLOAM_ENOMEM : buf_append(out, p, n))
                 : buf_append(out, dst, (size_t)r);
  free(dst);
  return rc;
}

/* NFC that hands utf8proc only the runs around characters that might change. */
static int nfc_fast(const uint8_t *p, size_t n, buf *out) {
  size_t i = 0, safe_from = 0, last_start = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      last_start = i++;
      continue;
    }
    size_t l = tok_utf8_len(p + i, n - i);
    if (l == 0) l = 1;
    if (nfc_boundary(tok_utf8_decode(p + i, l))) {
      last_start = i;
      i += l;
      continue;
    }
    /* unsafe character at i: normalize from the boundary before it to the next one */
    size_t start = i > safe_from ? last_start : i;
    int rc = buf_append(out, p + safe_from, start - safe_from);
    if (rc < 0) return rc;
    size_t end = i + l;
    while (end < n) {
      size_t k = tok_utf8_len(p + end, n - end);
      if (k == 0) k = 1;
      if (nfc_boundary(tok_utf8_decode(p + end, k))) break;
      end += k;
    }
    rc = nfc_run(p + start, end - start, out);
    if (rc < 0) return rc;
    i = safe_from = last_start = end;
  }
  return buf_append(out, p + safe_from, n - safe_from);
}

static int unicode_form(enum norm_type type, const uint8_t *p, size_t n, buf *out) {
  int opts = UTF8PROC_STABLE;
  if (type == NORM_NFC || type == NORM_NFKC) opts |= UTF8PROC_COMPOSE;
  if (type == NORM_NFD || type == NORM_NFKD) opts |= UTF8PROC_DECOMPOSE;
  if (type == NORM_NFKC || type == NORM_NFKD) opts |= UTF8PROC_COMPAT;
  if (all_below(p, n, 0x80) || (type == NORM_NFC && all_below(p, n, 0xCC)))
    return buf_append(out, p, n);
  if (type == NORM_NFC) return nfc_fast(p, n, out);
  utf8proc_uint8_t *dst = NULL;
  utf8proc_ssize_t r = utf8proc_map(p, (utf8proc_ssize_t)n, &dst, (utf8proc_option_t)opts);
  if (r < 0) {
    free(dst);
    return r == UTF8PROC_ERROR_NOMEM ? GLOAM_ENOMEM : buf_append(out, p, n);
  }
  int rc = buf_append(out, dst, (size_t)r);
  free(dst);
  return rc;
}

static int lowercase(const uint8_t *p, size_t n, buf *out) {
  for (size_t i = 0; i < n;) {
    size_t l = tok_utf8_len(p + i, n - i);
    if (l == 0) l = 1;
    uint32_t cp = l == 1 ? p[i] : tok_utf8_decode(p + i, l);
    char enc[4];
    size_t el;
    if (cp < 0x80) {
      enc[0] = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
      el = 1;
    } else {
      el = tok_utf8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), enc);
    }
    int rc = buf_append(out, enc, el);
    if (rc < 0) return rc;
    i += l;
  }
  return 0;
}

static int replace_str(const norm_step *s, const uint8_t *p, size_t n, buf *out) {
  if (s->pat_len == 0) return buf_append(out, p, n);
  size_t i = 0, run = 0;
  while (i + s->pat_len <= n) {
    if (p[i] == (uint8_t)s->pat[0] && memcmp(p + i, s->pat, s->pat_len) == 0) {
      int rc = buf_append(out, p + run, i - run);
      if (rc == 0) rc = buf_append(out, s->content, s->content_len);
      if (rc < 0) return rc;
      i += s->pat_len;
      run = i;
    } else {
      i++;
    }
  }
  return buf_append(out, p + run, n - run);
}

static int replace_re(const norm_step *s, const uint8_t *p, size_t n, buf *out) {
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(s->re, NULL);
  if (!md) return GLOAM_ENOMEM;
  int rc = 0;
  size_t pos = 0, run = 0;
  while (pos <= n) {
    int m = pcre2_match(s->re, p, n, pos, PCRE2_NO_UTF_CHECK, md, NULL); /* validated upstream */
    if (m < 0) break;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t a = ov[0], b = ov[1];
    rc = buf_append(out, p + run, a - run);
    if (rc == 0) rc = buf_append(out, s->content, s->content_len);
    if (rc < 0) goto done;
    run = b;
    if (b == a) {
      if (b >= n) break;
      size_t l = tok_utf8_len(p + b, n - b);
      size_t adv = l ? l : 1;
      rc = buf_append(out, p + b, adv);
      if (rc < 0) goto done;
      run = b + adv;
      pos = b + adv;
    } else {
      pos = b;
    }
  }
  rc = buf_append(out, p + run, n - run);
done:
  pcre2_match_data_free(md);
  return rc;
}

static int strip(const norm_step *s, const uint8_t *p, size_t n, buf *out) {
  size_t a = 0, b = n;
  if (s->strip_left) {
    while (a < b) {
      size_t l = tok_utf8_len(p + a, b - a);
      if (l == 0 || !tok_is_space(tok_utf8_decode(p + a, l))) break;
      a += l;
    }
  }
  if (s->strip_right) {
    while (b > a) {
      size_t k = b - 1;
      while (k > a && (p[k] & 0xC0) == 0x80) k--;
      size_t l = tok_utf8_len(p + k, b - k);
      if (l == 0 || !tok_is_space(tok_utf8_decode(p + k, l))) break;
      b = k;
    }
  }
  return buf_append(out, p + a, b - a);
}

static int apply_step(const norm_step *s, const uint8_t *p, size_t n, buf *out) {
  switch (s->type) {
    case NORM_NFC:
    case NORM_NFD:
    case NORM_NFKC:
    case NORM_NFKD:
      return unicode_form(s->type, p, n, out);
    case NORM_LOWERCASE:
      return lowercase(p, n, out);
    case NORM_REPLACE:
      return s->re ? replace_re(s, p, n, out) : replace_str(s, p, n, out);
    case NORM_PREPEND:
      if (n > 0) {
        int rc = buf_append(out, s->content, s->content_len);
        if (rc < 0) return rc;
      }
      return buf_append(out, p, n);
    case NORM_STRIP:
      return strip(s, p, n, out);
  }
  return GLOAM_EINTERNAL;
}

int normalize_apply(const gloam_tokenizer *t, const uint8_t *p, size_t n, buf *out, buf *tmp) {
  buf_reset(out);
  int rc = buf_append(out, p, n);
  for (int i = 0; rc == 0 && i < t->n_norm; i++) {
    buf_reset(tmp);
    rc = apply_step(&t->norm[i], out->data ? out->data : (const uint8_t *)"", out->len, tmp);
    if (rc == 0) {
      buf swap = *out;
      *out = *tmp;
      *tmp = swap;
    }
  }
  return rc;
}
