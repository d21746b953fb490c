/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/bpe.h: byte-pair encoding of one pre-tokenized word, as Hugging
 * Face's BPE model does it, plus a per-call cache of words already encoded.
 *
 * DESIGN: a word starts as one symbol per character (per byte for
 * byte-level models); symbols form a doubly linked list over an array, and
 * candidate merges sit in a binary min-heap keyed by (rank, position), so the
 * lowest-ranked pair (leftmost on ties) merges first, exactly like
 * tokenizers' Word::merge_all. Stale heap entries are discarded on pop.
 * Merge ranks come from a (left id, right id) hash map. Words of a few
 * symbols use a linear scan instead of the heap (same result, less work).
 *
 * Ownership: bpe_scratch and bpe_cache are per call / per thread; the caller
 * embeds them, bpe_*_deinit() frees them. Not thread-safe; the tokenizer
 * itself is only read.
 */
#ifndef GLOAM_ENGINE_BPE_H
#define GLOAM_ENGINE_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer_int.h"

/* A growable id array with a hard cap on its length. */
typedef struct id_vec {
  int32_t *v;
  size_t n, cap, max;
} id_vec;

void id_vec_init(id_vec *v, size_t max);
void id_vec_deinit(id_vec *v);
int id_vec_push(id_vec *v, int32_t id);
int id_vec_append(id_vec *v, const int32_t *ids, size_t n);

typedef struct bpe_heap_ent {
  int32_t rank, pos;
  int32_t left, right, merged; /* the pair when pushed: stale if either changed */
} bpe_heap_ent;

typedef struct bpe_scratch {
  int32_t *id, *prev, *next; /* symbols */
  size_t cap;
  bpe_heap_ent *heap;
  size_t heap_n, heap_cap;
  char *mapped; /* byte-level word in mapped form (ignore_merges lookup) */
  size_t mapped_cap;
} bpe_scratch;

void bpe_scratch_deinit(bpe_scratch *s);

/* Encodes one word (raw bytes for byte-level models, else UTF-8) and appends
 * its ids to out. Returns 0, GLOAM_ENOMEM or GLOAM_ETOOBIG (out's cap). */
int bpe_encode_word(const gloam_tokenizer *t, bpe_scratch *s, const uint8_t *p, size_t n,
                    id_vec *out);

/* Length of the next sub-word of p[0..n) (n when it cannot be cut): the
 * word is cut only where tok_prepare_splits() proved BPE cannot merge across. */
size_t bpe_next_cut(const gloam_tokenizer *t, const uint8_t *p, size_t n);

/* Cache of word -> ids for one encode call (bounded). */
typedef struct bpe_cache {
  uint32_t *slot; /* entry index + 1, 0 when empty */
  size_t mask;
  struct bpe_cache_ent {
    uint64_t hash;
    uint32_t key_off, key_len;
    uint32_t ids_off, n_ids;
  } * ent;
  size_t n_ent, ent_cap;
  uint8_t *keys;
  size_t keys_len, keys_cap;
  id_vec ids;
} bpe_cache;

void bpe_cache_init(bpe_cache *c);
void bpe_cache_deinit(bpe_cache *c);
/* bpe_encode_word() through the cache. */
int bpe_encode_cached(const gloam_tokenizer *t, bpe_scratch *s, bpe_cache *c, const uint8_t *p,
                      size_t n, id_vec *out);

#endif
