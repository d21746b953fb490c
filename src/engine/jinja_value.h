/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/jinja_value.h: the values a chat template computes with.
 *
 * Jinja (Python) values: undefined, none, bool, int, float, str, list
 * (and tuple), dict (insertion-ordered), namespace (the only mutable
 * kind), macro, builtin function and the `loop` object. A jv is a small
 * tagged union passed by value; strings are (pointer, length) views of
 * UTF-8 bytes, lists and dicts point at immutable arena blocks. Everything
 * one render allocates lives in that render's arena (capped), so nothing is
 * freed piecemeal and a value never outlives its render.
 *
 * Text conversions follow Python: jv_to_str() is str() (what `{{ x }}`
 * prints: None, True, 1.5, ['a', 1]), jv_repr() is repr().
 *
 * Ownership: values are borrowed views into an arena (or into the compiled
 * template for literals), valid until that arena is released.
 * Thread safety: a value belongs to one render on one thread.
 */
#ifndef GLOAM_ENGINE_JINJA_VALUE_H
#define GLOAM_ENGINE_JINJA_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"

enum jv_type {
  JV_UNDEF = 0, /* s.p/s.n: the name that was looked up (for messages) */
  JV_NONE,
  JV_BOOL,
  JV_INT,
  JV_FLOAT,
  JV_STR,
  JV_LIST, /* also tuples (list->tuple) */
  JV_DICT,
  JV_NS,    /* namespace(): mutable attributes */
  JV_MACRO, /* a {% macro %} */
  JV_FUNC,  /* a builtin global (range, namespace, raise_exception, ...) */
  JV_LOOP,  /* the `loop` variable of a for loop */
};

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jloop jloop;
struct jnode;
struct jscope;

/* A macro and the scope it was defined in (its closure). */
typedef struct jmacro {
  const struct jnode *node;
  struct jscope *closure;
} jmacro;

typedef struct jv {
  uint8_t t;
  union {
    bool b;
    int64_t i;
    double f;
    struct {
      const char *p;
      size_t n;
    } s;
    jlist *l;
    jdict *d; /* JV_DICT and JV_NS */
    const jmacro *m;
    int fn;
    jloop *loop;
  } u;
} jv;

struct jlist {
  size_t n;
  bool tuple;
  bool range; /* made by range(): printed as Python prints a range */
  int64_t r_start, r_stop, r_step;
  jv items[];
};

typedef struct jdict_ent {
  jv key;
  jv val;
} jdict_ent;

/* Dicts are built once (jdict_new + jdict_put, then read-only), except
 * namespaces, which grow through jdict_put. Dicts with more than 16 keys
 * get a hash index (kept up to date as they grow) so lookups and inserts
 * stay O(1) on hostile input. */
struct jdict {
  size_t n, cap;
  jdict_ent *ents;
  uint32_t *index; /* open addressing over ents, or NULL when small */
  size_t index_cap;
};

struct jloop {
  size_t index0, length;
  const jlist *items; /* for previtem/nextitem */
  jloop *parent;
};

static inline jv jv_undef(void) {
  return (jv){.t = JV_UNDEF};
}
static inline jv jv_none(void) {
  return (jv){.t = JV_NONE};
}
static inline jv jv_bool(bool b) {
  return (jv){.t = JV_BOOL, .u.b = b};
}
static inline jv jv_int(int64_t i) {
  return (jv){.t = JV_INT, .u.i = i};
}
static inline jv jv_float(double f) {
  return (jv){.t = JV_FLOAT, .u.f = f};
}
static inline jv jv_str(const char *p, size_t n) {
  jv v = {.t = JV_STR};
  v.u.s.p = p;
  v.u.s.n = n;
  return v;
}
static inline jv jv_cstr(const char *p) {
  size_t n = 0;
  while (p[n]) n++;
  return jv_str(p, n);
}
static inline bool jv_is_str(jv v) {
  return v.t == JV_STR;
}
static inline bool jv_is_num(jv v) {
  return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
}

/* A list of n items (uninitialised) or NULL when the arena is exhausted. */
jlist *jlist_new(arena *a, size_t n);
jdict *jdict_new(arena *a, size_t cap);
/* Inserts or replaces key. Returns 0 or GLOAM_ENOMEM (arena exhausted). */
int jdict_put(arena *a, jdict *d, jv key, jv val);
/* Adds key without looking for an existing entry (the caller knows the
 * keys are unique, e.g. a JSON object). Returns 0 or GLOAM_ENOMEM. */
int jdict_append(arena *a, jdict *d, jv key, jv val);
/* Builds the hash index when the dict has more than 8 keys and none yet.
 * Returns 0 or GLOAM_ENOMEM. */
int jdict_seal(arena *a, jdict *d);
/* The value for key, or NULL. */
const jv *jdict_get(const jdict *d, jv key);
const jv *jdict_get_str(const jdict *d, const char *key, size_t n);

/* Python truthiness. */
bool jv_truthy(jv v);
/* Python ==. */
bool jv_eq(jv a, jv b);
/* Python <, for numbers and strings (code point order). *ok is false when
 * the types are not orderable. Returns a<b. */
bool jv_lt(jv a, jv b, bool *ok);
/* Number of items (list, dict, str in code points); -1 if unsized. */
int64_t jv_len(jv v);

/* Appends Python's str(v) / repr(v) to out. Returns 0, GLOAM_ETOOBIG or
 * GLOAM_ENOMEM (from the buffer). */
int jv_write_str(buf *out, jv v);
int jv_write_repr(buf *out, jv v);
/* Python float repr ("1.0", "0.1", "1e+16", "nan", "inf") into out (>= 32 bytes). */
void jv_float_repr(double d, char *out, size_t cap);
/* str(v) as a jv string allocated in a (strings are returned as-is). */
int jv_to_str(arena *a, jv v, size_t max, jv *out);

/* Type name for error messages ("str", "int", "undefined", ...). */
const char *jv_type_name(jv v);

/* UTF-8 helpers over valid UTF-8. */
size_t jutf8_count(const char *p, size_t n);
/* Byte offset of code point index i (clamped to n). */
size_t jutf8_offset(const char *p, size_t n, size_t i);
/* Decodes one code point at p (n > 0 bytes left); *len gets its length. */
uint32_t jutf8_decode(const char *p, size_t n, size_t *len);
/* Encodes cp into out (4 bytes); returns the length. */
size_t jutf8_encode(uint32_t cp, char *out);
/* Whether p[0..n) is valid UTF-8. */
bool jutf8_valid(const char *p, size_t n);

#endif
