/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/bpe.c: the BPE model (see bpe.h), its hash maps and the word cache.
 */
#include "engine/bpe.h"

#include <limits.h>
#include <string.h>

#include "core/alloc.h"
#include "gloam/err.h"

/* ---- hashing and maps ---- */

uint64_t tok_hash(const void *p, size_t n) {
  const uint8_t *s = p;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xC2B2AE3D27D4EB4Full);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    s += 8;
    n -= 8;
  }
  uint64_t w = 0;
  for (size_t i = 0; i < n; i++) w |= (uint64_t)s[i] << (8 * i);
  h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 29;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 32;
  return h;
}

static size_t pow2_at_least(size_t n) {
  size_t c = 16;
  while (c < n) c <<= 1;
  return c;
}

int str_map_build(str_map *m, arena *a, const tok_str *strs, size_t n) {
  size_t cap = pow2_at_least(n * 2 + 1);
  m->slot = arena_alloc(a, cap * sizeof *m->slot);
  if (!m->slot) return GLOAM_ENOMEM;
  memset(m->slot, 0xff, cap * sizeof *m->slot);
  m->mask = cap - 1;
  m->strs = strs;
  for (size_t i = 0; i < n; i++) {
    if (!strs[i].p) continue;
    size_t j = (size_t)tok_hash(strs[i].p, strs[i].len) & m->mask;
    bool dup = false;
    while (m->slot[j] >= 0) {
      const tok_str *o = &strs[m->slot[j]];
      if (o->len == strs[i].len && memcmp(o->p, strs[i].p, o->len) == 0) {
        dup = true; /* keep the first (lowest) index */
        break;
      }
      j = (j + 1) & m->mask;
    }
    if (!dup) m->slot[j] = (int32_t)i;
  }
  return 0;
}

int32_t str_map_get(const str_map *m, const void *p, size_t n) {
  if (!m->slot) return -1;
  size_t j = (size_t)tok_hash(p, n) & m->mask;
  for (;;) {
    int32_t i = m->slot[j];
    if (i < 0) return -1;
    const tok_str *o = &m->strs[i];
    if (o->len == n && memcmp(o->p, p, n) == 0) return i;
    j = (j + 1) & m->mask;
  }
}

int merge_map_init(merge_map *m, arena *a, size_t n) {
  size_t cap = pow2_at_least(n * 2 + 1);
  m->slot = arena_alloc(a, cap * sizeof *m->slot);
  if (!m->slot) return GLOAM_ENOMEM;
  memset(m->slot, 0xff, cap * sizeof *m->slot);
  m->mask = cap - 1;
  return 0;
}

int merge_map_put(merge_map *m, int32_t l, int32_t r, int32_t rank, int32_t merged) {
  uint64_t k = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
  size_t i = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & m->mask;
  while (m->slot[i].key != UINT64_MAX) {
    if (m->slot[i].key == k) return 1;
    i = (i + 1) & m->mask;
  }
  m->slot[i] = (merge_slot){k, rank, merged};
  return 0;
}

/* ---- id_vec ---- */

void id_vec_init(id_vec *v, size_t max) {
  memset(v, 0, sizeof *v);
  v->max = max;
}

void id_vec_deinit(id_vec *v) {
  mem_free(v->v);
  memset(v, 0, sizeof *v);
}

static int id_vec_reserve(id_vec *v, size_t extra) {
  if (extra > v->max - v->n) return GLOAM_ETOOBIG;
  if (v->n + extra <= v->cap) return 0;
  size_t c = v->cap ? v->cap : 64;
  while (c < v->n + extra) c *= 2;
  int32_t *nv = mem_reallocarray(v->v, c, sizeof *nv);
  if (!nv) return GLOAM_ENOMEM;
  v->v = nv;
  v->cap = c;
  return 0;
}

int id_vec_push(id_vec *v, int32_t id) {
  if (v->n == v->cap || v->n >= v->max) {
    int rc = id_vec_reserve(v, 1);
    if (rc < 0) return rc;
  }
  v->v[v->n++] = id;
  return 0;
}

int id_vec_append(id_vec *v, const int32_t *ids, size_t n) {
  if (n == 0) return 0;
  int rc = id_vec_reserve(v, n);
  if (rc < 0) return rc;
  memcpy(v->v + v->n, ids, n * sizeof *ids);
  v->n += n;
  return 0;
}

/* ---- scratch ---- */

void bpe_scratch_deinit(bpe_scratch *s) {
  mem_free(s->id);
  mem_free(s->prev);
  mem_free(s->next);
  mem_free(s->heap);
  mem_free(s->mapped);
  memset(s, 0, sizeof *s);
}

static int scratch_reserve(bpe_scratch *s, size_t n) {
  if (n <= s->cap) return 0;
  size_t c = s->cap ? s->cap : 256;
  while (c < n) c *= 2;
  int32_t *a = mem_reallocarray(s->id, c, sizeof *a);
  if (!a) return GLOAM_ENOMEM;
  s->id = a;
  a = mem_reallocarray(s->prev, c, sizeof *a);
  if (!a) return GLOAM_ENOMEM;
  s->prev = a;
  a = mem_reallocarray(s->next, c, sizeof *a);
  if (!a) return GLOAM_ENOMEM;
  s->next = a;
  bpe_heap_ent *h = mem_reallocarray(s->heap, c, sizeof *h);
  if (!h) return GLOAM_ENOMEM;
  s->heap = h;
  s->heap_cap = c;
  s->cap = c;
  return 0;
}

/* ---- heap ordered by (rank, pos) ---- */

static bool ent_less(const bpe_heap_ent *a, const bpe_heap_ent *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static int heap_push(bpe_scratch *s, bpe_heap_ent e) {
  if (s->heap_n == s->heap_cap) {
    size_t c = s->heap_cap * 2;
    bpe_heap_ent *h = mem_reallocarray(s->heap, c, sizeof *h);
    if (!h) return GLOAM_ENOMEM;
    s->heap = h;
    s->heap_cap = c;
  }
  size_t i = s->heap_n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!ent_less(&e, &s->heap[p])) break;
    s->heap[i] = s->heap[p];
    i = p;
  }
  s->heap[i] = e;
  return 0;
}

static bpe_heap_ent heap_pop(bpe_scratch *s) {
  bpe_heap_ent top = s->heap[0];
  bpe_heap_ent last = s->heap[--s->heap_n];
  size_t i = 0, n = s->heap_n;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && ent_less(&s->heap[c + 1], &s->heap[c])) c++;
    if (!ent_less(&s->heap[c], &last)) break;
    s->heap[i] = s->heap[c];
    i = c;
  }
  if (n > 0) s->heap[i] = last;
  return top;
}

static int push_pair(const gloam_tokenizer *t, bpe_scratch *s, int32_t pos) {
  if (pos < 0) return 0;
  int32_t nx = s->next[pos];
  if (nx < 0) return 0;
  int32_t rank, merged;
  if (!merge_map_get(&t->merges, s->id[pos], s->id[nx], &rank, &merged)) return 0;
  return heap_push(s, (bpe_heap_ent){rank, pos, s->id[pos], s->id[nx], merged});
}

static int merge_heap(const gloam_tokenizer *t, bpe_scratch *s, size_t ns) {
  s->heap_n = 0;
  for (size_t i = 0; i < ns; i++) {
    s->prev[i] = (int32_t)i - 1;
    s->next[i] = i + 1 < ns ? (int32_t)i + 1 : -1;
  }
  for (size_t i = 0; i + 1 < ns; i++) {
    int rc = push_pair(t, s, (int32_t)i);
    if (rc < 0) return rc;
  }
  while (s->heap_n > 0) {
    bpe_heap_ent e = heap_pop(s);
    int32_t pos = e.pos;
    int32_t nx = s->next[pos];
    /* Stale if the pair changed. (tokenizers instead re-looks-up the pair
     * and compares the merged id; that is the same test, because merges
     * only remove boundaries: a changed pair at pos always spans a
     * different stretch of text, hence a different token.) */
    if (s->id[pos] < 0 || nx < 0 || s->id[pos] != e.left || s->id[nx] != e.right) continue;
    s->id[pos] = e.merged;
    s->id[nx] = -1;
    int32_t nn = s->next[nx];
    s->next[pos] = nn;
    if (nn >= 0) s->prev[nn] = pos;
    int rc = push_pair(t, s, s->prev[pos]);
    if (rc == 0) rc = push_pair(t, s, pos);
    if (rc < 0) return rc;
  }
  size_t k = 0;
  for (size_t i = 0; i < ns; i++)
    if (s->id[i] >= 0) s->id[k++] = s->id[i];
  return (int)k;
}

/* Linear BPE for short words: the rank of each adjacent pair is cached, so
 * a merge costs a min-scan plus two lookups. Same order as the heap: lowest
 * rank first, leftmost on ties. Uses s->prev/next as rank/merged scratch. */
static size_t merge_scan(const gloam_tokenizer *t, bpe_scratch *s, size_t ns) {
  int32_t *id = s->id, *rank = s->prev, *merged = s->next;
  if (ns < 2) return ns;
  for (size_t i = 0; i + 1 < ns; i++)
    if (!merge_map_get(&t->merges, id[i], id[i + 1], &rank[i], &merged[i])) rank[i] = INT32_MAX;
  while (ns > 1) {
    size_t bi = 0;
    for (size_t i = 1; i + 1 < ns; i++)
      if (rank[i] < rank[bi]) bi = i;
    if (rank[bi] == INT32_MAX) break;
    id[bi] = merged[bi];
    memmove(id + bi + 1, id + bi + 2, (ns - bi - 2) * sizeof *id);
    memmove(rank + bi, rank + bi + 1, (ns - bi - 2) * sizeof *rank);
    memmove(merged + bi, merged + bi + 1, (ns - bi - 2) * sizeof *merged);
    ns--;
    if (bi > 0 && !merge_map_get(&t->merges, id[bi - 1], id[bi], &rank[bi - 1], &merged[bi - 1]))
      rank[bi - 1] = INT32_MAX;
    if (bi + 1 < ns && !merge_map_get(&t->merges, id[bi], id[bi + 1], &rank[bi], &merged[bi]))
      rank[bi] = INT32_MAX;
  }
  return ns;
}

/* Initial symbols of a word; returns their count. */
static size_t initial_symbols(const gloam_tokenizer *t, const uint8_t *p, size_t n, int32_t *id) {
  size_t ns = 0;
  bool last_unk = false;
  for (size_t i = 0; i < n;) {
    int32_t v;
    size_t cl = 1;
    if (t->byte_level) {
      v = t->byte_ids[p[i]];
    } else {
      if (p[i] < 0x80) {
        v = t->ascii_ids[p[i]];
      } else {
        cl = tok_utf8_len(p + i, n - i);
        if (cl == 0) cl = 1; /* the caller validated UTF-8; be safe anyway */
        v = str_map_get(&t->vocab_map, p + i, cl);
      }
      if (v < 0 && t->byte_fallback) {
        bool all = true;
        for (size_t j = 0; j < cl; j++) all = all && t->fallback_ids[p[i + j]] >= 0;
        if (all) {
          for (size_t j = 0; j < cl; j++) id[ns++] = t->fallback_ids[p[i + j]];
          last_unk = false;
          i += cl;
          continue;
        }
      }
    }
    if (v >= 0) {
      id[ns++] = v;
      last_unk = false;
    } else if (t->unk_id >= 0) {
      if (!(t->fuse_unk && last_unk)) id[ns++] = t->unk_id;
      last_unk = true;
    }
    i += cl;
  }
  return ns;
}

int bpe_encode_word(const gloam_tokenizer *t, bpe_scratch *s, const uint8_t *p, size_t n,
                    id_vec *out) {
  if (n == 0) return 0;
  if (t->ignore_merges) {
    const void *key = p;
    size_t klen = n;
    if (t->byte_level) {
      if (s->mapped_cap < n * 2) {
        char *m = mem_realloc(s->mapped, n * 2);
        if (!m) return GLOAM_ENOMEM;
        s->mapped = m;
        s->mapped_cap = n * 2;
      }
      klen = 0;
      for (size_t i = 0; i < n; i++)
        klen += tok_utf8_encode(bytelevel_char(p[i]), s->mapped + klen);
      key = s->mapped;
    }
    int32_t v = str_map_get(&t->vocab_map, key, klen);
    if (v >= 0) return id_vec_push(out, v);
  }
  int rc = scratch_reserve(s, n);
  if (rc < 0) return rc;
  size_t ns = initial_symbols(t, p, n, s->id);
  if (ns <= 128) {
    ns = merge_scan(t, s, ns);
  } else {
    int k = merge_heap(t, s, ns);
    if (k < 0) return k;
    ns = (size_t)k;
  }
  return id_vec_append(out, s->id, ns);
}

/* ---- safe cuts inside long words ---- */

/* Does s occur at byte offset k of p (k, s within bounds)? */
static bool has_at(const uint8_t *p, size_t n, size_t k, const char *s, size_t sl) {
  return k + sl <= n && memcmp(p + k, s, sl) == 0;
}

/* True if p[0..k) ends with separator s. */
static bool ends_with_sep(const uint8_t *p, size_t k, const struct word_sep *sp) {
  return k >= sp->len && memcmp(p + k - sp->len, sp->s, sp->len) == 0;
}

int tok_prepare_splits(gloam_tokenizer *t) {
  static const char *cands[2] = {"\xE2\x96\x81", "\n"};
  t->n_seps = 0;
  if (t->byte_level || t->ignore_merges) return 0;
  for (int c = 0; c < 2; c++) {
    struct word_sep *sp = &t->seps[t->n_seps];
    memset(sp, 0, sizeof *sp);
    sp->len = (uint8_t)strlen(cands[c]);
    memcpy(sp->s, cands[c], sp->len);
    if (str_map_get(&t->vocab_map, sp->s, sp->len) < 0) continue; /* would be byte fallback */
    size_t n_exc = 0;
    for (size_t i = 0; i < t->n_ids; i++) {
      const tok_str *v = &t->vocab[i];
      for (size_t k = 1; v->p && k < v->len; k++)
        if (has_at((const uint8_t *)v->p, v->len, k, sp->s, sp->len) &&
            !ends_with_sep((const uint8_t *)v->p, k, sp)) {
          n_exc++;
          break;
        }
    }
    if (n_exc > 64) continue; /* too many: do not cut at this separator */
    tok_str *exc = arena_alloc(&t->mem, (n_exc + 1) * sizeof *exc);
    if (!exc) return GLOAM_ENOMEM;
    sp->n_exc = 0;
    for (size_t i = 0; i < t->n_ids; i++) {
      const tok_str *v = &t->vocab[i];
      for (size_t k = 1; v->p && k < v->len; k++)
        if (has_at((const uint8_t *)v->p, v->len, k, sp->s, sp->len) &&
            !ends_with_sep((const uint8_t *)v->p, k, sp)) {
          exc[sp->n_exc++] = *v;
          break;
        }
    }
    sp->exc = exc;
    t->n_seps++;
  }
  return 0;
}

/* May the word be cut at byte i (p[i..] starts with separator sp, p[..i)
 * does not end with it)? Not if an exception token occurs across i. */
static bool cut_ok(const struct word_sep *sp, const uint8_t *p, size_t n, size_t i) {
  for (size_t e = 0; e < sp->n_exc; e++) {
    const tok_str *x = &sp->exc[e];
    for (size_t k = 1; k < x->len; k++) {
      if (!has_at((const uint8_t *)x->p, x->len, k, sp->s, sp->len) ||
          ends_with_sep((const uint8_t *)x->p, k, sp))
        continue;
      if (k <= i && has_at(p, n, i - k, x->p, x->len)) return false;
    }
  }
  return true;
}

size_t bpe_next_cut(const gloam_tokenizer *t, const uint8_t *p, size_t n) {
  for (size_t i = 1; i < n; i++) {
    for (int s = 0; s < t->n_seps; s++) {
      const struct word_sep *sp = &t->seps[s];
      if (p[i] == (uint8_t)sp->s[0] && has_at(p, n, i, sp->s, sp->len) &&
          !ends_with_sep(p, i, sp) && cut_ok(sp, p, n, i))
        return i;
    }
  }
  return n;
}

/* ---- cache ---- */

#define CACHE_MAX_ENT (1u << 16)
#define CACHE_MAX_KEY 128

void bpe_cache_init(bpe_cache *c) {
  memset(c, 0, sizeof *c);
  id_vec_init(&c->ids, (size_t)1 << 22);
}

void bpe_cache_deinit(bpe_cache *c) {
  mem_free(c->slot);
  mem_free(c->ent);
  mem_free(c->keys);
  id_vec_deinit(&c->ids);
  memset(c, 0, sizeof *c);
}

/* Doubles the slot table (starting at 256) and rehashes. */
static int cache_grow(bpe_cache *c) {
  size_t cap = c->slot ? (c->mask + 1) * 2 : 256;
  if (cap > CACHE_MAX_ENT * 2) return c->slot ? 0 : GLOAM_ENOMEM; /* full size already */
  uint32_t *ns = mem_calloc(cap, sizeof *ns);
  if (!ns) return GLOAM_ENOMEM;
  for (size_t e = 0; e < c->n_ent; e++) {
    size_t j = (size_t)c->ent[e].hash & (cap - 1);
    while (ns[j]) j = (j + 1) & (cap - 1);
    ns[j] = (uint32_t)e + 1;
  }
  mem_free(c->slot);
  c->slot = ns;
  c->mask = cap - 1;
  return 0;
}

static int cache_insert(bpe_cache *c, uint64_t h, size_t j, const uint8_t *p, size_t n,
                        const int32_t *ids, size_t n_ids) {
  if (c->n_ent == c->ent_cap) {
    size_t cap = c->ent_cap ? c->ent_cap * 2 : 128;
    struct bpe_cache_ent *e = mem_reallocarray(c->ent, cap, sizeof *e);
    if (!e) return GLOAM_ENOMEM;
    c->ent = e;
    c->ent_cap = cap;
  }
  if (c->keys_len + n > c->keys_cap) {
    size_t cap = c->keys_cap ? c->keys_cap * 2 : 2048;
    while (cap < c->keys_len + n) cap *= 2;
    uint8_t *k = mem_realloc(c->keys, cap);
    if (!k) return GLOAM_ENOMEM;
    c->keys = k;
    c->keys_cap = cap;
  }
  size_t ids_off = c->ids.n;
  int rc = id_vec_append(&c->ids, ids, n_ids);
  if (rc < 0) return rc;
  memcpy(c->keys + c->keys_len, p, n);
  c->ent[c->n_ent] = (struct bpe_cache_ent){h, (uint32_t)c->keys_len, (uint32_t)n,
                                            (uint32_t)ids_off, (uint32_t)n_ids};
  c->keys_len += n;
  c->slot[j] = (uint32_t)++c->n_ent;
  return 0;
}

int bpe_encode_cached(const gloam_tokenizer *t, bpe_scratch *s, bpe_cache *c, const uint8_t *p,
                      size_t n, id_vec *out) {
  if (n > CACHE_MAX_KEY) return bpe_encode_word(t, s, p, n, out);
  if ((c->n_ent + 1) * 2 > c->mask + 1 && cache_grow(c) < 0)
    return bpe_encode_word(t, s, p, n, out);
  uint64_t h = tok_hash(p, n);
  size_t j = (size_t)h & c->mask;
  for (;;) {
    uint32_t e = c->slot[j];
    if (e == 0) break;
    const struct bpe_cache_ent *en = &c->ent[e - 1];
    if (en->hash == h && en->key_len == n && memcmp(c->keys + en->key_off, p, n) == 0)
      return en->n_ids ? id_vec_append(out, c->ids.v + en->ids_off, en->n_ids) : 0;
    j = (j + 1) & c->mask;
  }
  size_t before = out->n;
  int rc = bpe_encode_word(t, s, p, n, out);
  if (rc < 0) return rc;
  if (c->n_ent >= CACHE_MAX_ENT || c->ids.n > c->ids.max / 2) {
    /* Full (a long-lived encoder): start over rather than grow. */
    memset(c->slot, 0, (c->mask + 1) * sizeof *c->slot);
    c->n_ent = 0;
    c->keys_len = 0;
    c->ids.n = 0;
    j = (size_t)h & c->mask;
  }
  const int32_t *ids = out->n > before ? out->v + before : NULL;
  if (cache_insert(c, h, j, p, n, ids, out->n - before) < 0) {
    /* A full cache only costs speed. */
  }
  return 0;
}
