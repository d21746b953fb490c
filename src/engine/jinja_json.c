/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/jinja_json.c: JSON <-> template values.
 *
 * jv_from_json() converts jansson values (messages, tools, extra
 * variables) into template values without copying strings: they point into
 * the json_t, which the caller keeps alive for the render. Object key order
 * is preserved (jansson keeps insertion order).
 *
 * jv_write_json() is Python's json.dumps as Hugging Face's `tojson` calls
 * it: separators ", " and ": " (or "," and ": " with an indent),
 * ensure_ascii=False by default (non-ASCII written as is), control
 * characters as \u00XX in lowercase hex, floats as Python's repr, NaN and
 * Infinity spelled as Python does, keys in insertion order unless
 * sort_keys.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "engine/jinja_eval.h"

#define JSON_MAX_DEPTH 128

int jv_from_json(jctx *c, const json_t *j, unsigned depth, jv *out) {
  if (depth > JSON_MAX_DEPTH)
    return err_set(c->err, GLOAM_EINVAL, "template variables nested deeper than %d",
                   JSON_MAX_DEPTH);
  switch (json_typeof(j)) {
    case JSON_OBJECT: {
      jdict *d = jdict_new(c->a, json_object_size(j));
      if (!d) return jfail_mem(c);
      const char *k;
      json_t *v;
      json_object_foreach((json_t *)j, k, v) {
        jv val;
        int rc = jv_from_json(c, v, depth + 1, &val);
        if (rc < 0) return rc;
        if (jdict_append(c->a, d, jv_str(k, strlen(k)), val) < 0) return jfail_mem(c);
      }
      if (jdict_seal(c->a, d) < 0) return jfail_mem(c);
      out->t = JV_DICT;
      out->u.d = d;
      return 0;
    }
    case JSON_ARRAY: {
      size_t n = json_array_size(j);
      jlist *l = jlist_new(c->a, n);
      if (!l) return jfail_mem(c);
      for (size_t i = 0; i < n; i++) {
        int rc = jv_from_json(c, json_array_get(j, i), depth + 1, &l->items[i]);
        if (rc < 0) return rc;
      }
      out->t = JV_LIST;
      out->u.l = l;
      return 0;
    }
    case JSON_STRING:
      *out = jv_str(json_string_value(j), json_string_length(j));
      return 0;
    case JSON_INTEGER:
      *out = jv_int((int64_t)json_integer_value(j));
      return 0;
    case JSON_REAL:
      *out = jv_float(json_real_value(j));
      return 0;
    case JSON_TRUE:
      *out = jv_bool(true);
      return 0;
    case JSON_FALSE:
      *out = jv_bool(false);
      return 0;
    default:
      *out = jv_none();
      return 0;
  }
}

static int put_json_str(buf *b, const char *p, size_t n, bool ascii) {
  int rc = buf_putc(b, '"');
  size_t run = 0; /* start of the pending verbatim run */
  for (size_t i = 0; i < n && rc == 0;) {
    unsigned char ch = (unsigned char)p[i];
    const char *esc = NULL;
    char tmp[16];
    size_t k = 1;
    if (ch == '"')
      esc = "\\\"";
    else if (ch == '\\')
      esc = "\\\\";
    else if (ch == '\n')
      esc = "\\n";
    else if (ch == '\r')
      esc = "\\r";
    else if (ch == '\t')
      esc = "\\t";
    else if (ch == '\b')
      esc = "\\b";
    else if (ch == '\f')
      esc = "\\f";
    else if (ch < 0x20 || (ascii && ch == 0x7f)) {
      snprintf(tmp, sizeof tmp, "\\u%04x", ch);
      esc = tmp;
    } else if (ascii && ch >= 0x80) {
      uint32_t cp = jutf8_decode(p + i, n - i, &k);
      if (cp >= 0x10000) {
        uint32_t v = cp - 0x10000;
        snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        snprintf(tmp, sizeof tmp, "\\u%04x", cp);
      }
      esc = tmp;
    }
    if (esc) {
      if (i > run) rc = buf_append(b, p + run, i - run);
      if (rc == 0) rc = buf_append_str(b, esc);
      i += k;
      run = i;
    } else {
      i++;
    }
  }
  if (rc == 0 && n > run) rc = buf_append(b, p + run, n - run);
  if (rc == 0) rc = buf_putc(b, '"');
  return rc;
}

static int put_float(buf *b, double d) {
  if (isnan(d)) return buf_append_str(b, "NaN");
  if (isinf(d)) return buf_append_str(b, d > 0 ? "Infinity" : "-Infinity");
  char tmp[48];
  jv_float_repr(d, tmp, sizeof tmp);
  return buf_append_str(b, tmp);
}

static int newline_indent(buf *b, const jjson_opts *o, unsigned level) {
  int rc = buf_putc(b, '\n');
  for (unsigned i = 0; i < level && rc == 0; i++) {
    if (o->indent_str)
      rc = buf_append(b, o->indent_str, o->indent_len);
    else
      for (int k = 0; k < o->indent && rc == 0; k++) rc = buf_putc(b, ' ');
  }
  return rc;
}

static int key_str(jctx *c, jv k, jv *out) {
  switch (k.t) {
    case JV_STR:
      *out = k;
      return 0;
    case JV_BOOL:
      *out = jv_cstr(k.u.b ? "true" : "false");
      return 0;
    case JV_NONE:
      *out = jv_cstr("null");
      return 0;
    case JV_INT:
    case JV_FLOAT:
      return jstr_of(c, k, out);
    default:
      return jerr(c, GLOAM_EINVAL, "tojson: keys must be str, int, float, bool or None, not %s",
                  jv_type_name(k));
  }
}

static int buf_rc(jctx *c, int rc) {
  if (rc == GLOAM_ETOOBIG) return jerr(c, rc, "tojson result exceeds the output limit");
  if (rc < 0) return jfail_mem(c);
  return 0;
}

static int write_dict(jctx *c, buf *b, const jdict *d, const jjson_opts *o, unsigned level) {
  if (d->n == 0) return buf_rc(c, buf_append(b, "{}", 2));
  size_t *order = jalloc(c, d->n * sizeof(size_t));
  jv *keys = jalloc(c, d->n * sizeof(jv));
  if (!order || !keys) return jfail_mem(c);
  int rc;
  for (size_t i = 0; i < d->n; i++) {
    order[i] = i;
    if ((rc = key_str(c, d->ents[i].key, &keys[i])) < 0) return rc;
  }
  if (o->sort_keys) { /* insertion sort: dicts in templates are small */
    if ((rc = jstep(c, d->n * d->n / 64)) < 0) return rc;
    for (size_t i = 1; i < d->n; i++) {
      size_t x = order[i], j = i;
      bool ok;
      while (j > 0 && jv_lt(keys[x], keys[order[j - 1]], &ok)) {
        order[j] = order[j - 1];
        j--;
      }
      order[j] = x;
    }
  }
  bool ind = o->indent >= 0;
  if ((rc = buf_rc(c, buf_putc(b, '{'))) < 0) return rc;
  if (ind && (rc = buf_rc(c, newline_indent(b, o, level + 1))) < 0) return rc;
  for (size_t i = 0; i < d->n; i++) {
    if (i) {
      if ((rc = buf_rc(c, buf_append_str(b, o->item_sep))) < 0) return rc;
      if (ind && (rc = buf_rc(c, newline_indent(b, o, level + 1))) < 0) return rc;
    }
    const jv *k = &keys[order[i]];
    if ((rc = buf_rc(c, put_json_str(b, k->u.s.p, k->u.s.n, o->ensure_ascii))) < 0) return rc;
    if ((rc = buf_rc(c, buf_append_str(b, o->key_sep))) < 0) return rc;
    if ((rc = jv_write_json(c, b, d->ents[order[i]].val, o, level + 1)) < 0) return rc;
  }
  if (ind && (rc = buf_rc(c, newline_indent(b, o, level))) < 0) return rc;
  return buf_rc(c, buf_putc(b, '}'));
}

int jv_write_json(jctx *c, buf *b, jv v, const jjson_opts *o, unsigned level) {
  if (level > 256) return jerr(c, GLOAM_ETOOBIG, "tojson: value nested too deeply");
  int rc;
  switch (v.t) {
    case JV_NONE:
      return buf_rc(c, buf_append(b, "null", 4));
    case JV_BOOL:
      return buf_rc(c, buf_append_str(b, v.u.b ? "true" : "false"));
    case JV_INT:
      return buf_rc(c, buf_printf(b, "%" PRId64, v.u.i));
    case JV_FLOAT:
      return buf_rc(c, put_float(b, v.u.f));
    case JV_STR:
      return buf_rc(c, put_json_str(b, v.u.s.p, v.u.s.n, o->ensure_ascii));
    case JV_LIST: {
      const jlist *l = v.u.l;
      if (l->n == 0) return buf_rc(c, buf_append(b, "[]", 2));
      bool ind = o->indent >= 0;
      if ((rc = buf_rc(c, buf_putc(b, '['))) < 0) return rc;
      if (ind && (rc = buf_rc(c, newline_indent(b, o, level + 1))) < 0) return rc;
      for (size_t i = 0; i < l->n; i++) {
        if (i) {
          if ((rc = buf_rc(c, buf_append_str(b, o->item_sep))) < 0) return rc;
          if (ind && (rc = buf_rc(c, newline_indent(b, o, level + 1))) < 0) return rc;
        }
        if ((rc = jv_write_json(c, b, l->items[i], o, level + 1)) < 0) return rc;
      }
      if (ind && (rc = buf_rc(c, newline_indent(b, o, level))) < 0) return rc;
      return buf_rc(c, buf_putc(b, ']'));
    }
    case JV_DICT:
      return write_dict(c, b, v.u.d, o, level);
    case JV_UNDEF:
      return jerr(c, GLOAM_EINVAL, "tojson: Undefined is not JSON serializable");
    default:
      return jerr(c, GLOAM_EINVAL, "tojson: object of type %s is not JSON serializable",
                  jv_type_name(v));
  }
}
