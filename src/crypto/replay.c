/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/replay.c: the bounded request-id replay cache. See replay.h.
 */
#include "crypto/replay.h"

#include <pthread.h>
#include <string.h>

#include "core/alloc.h"
#include "crypto/prim.h"
#include "gloam/err.h"

#define WAYS 8

typedef struct slot {
  uint8_t id[16];
  int64_t expires_ms; /* 0: empty */
} slot;

struct replay_cache {
  pthread_mutex_t mu;
  uint64_t k0, k1; /* hash key */
  uint32_t n_buckets;
  slot *slots; /* n_buckets * WAYS */
};

int replay_new(replay_cache **out, uint32_t n_slots) {
  *out = NULL;
  if (n_slots > (1u << 24)) return GLOAM_ERANGE;
  uint32_t nb = (n_slots + WAYS - 1) / WAYS;
  if (nb == 0) nb = 1;
  replay_cache *c = mem_calloc(1, sizeof *c);
  if (!c) return GLOAM_ENOMEM;
  c->slots = mem_calloc((size_t)nb * WAYS, sizeof(slot));
  uint64_t key[2];
  int rc = !c->slots ? GLOAM_ENOMEM : prim_random(key, sizeof key);
  if (rc < 0) {
    mem_free(c->slots);
    mem_free(c);
    return rc;
  }
  c->k0 = key[0];
  c->k1 = key[1];
  c->n_buckets = nb;
  pthread_mutex_init(&c->mu, NULL);
  *out = c;
  return 0;
}

void replay_free(replay_cache *c) {
  if (!c) return;
  pthread_mutex_destroy(&c->mu);
  mem_free(c->slots);
  mem_free(c);
}

static uint64_t mix(uint64_t x) { /* splitmix64 finalizer */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint32_t bucket_of(const replay_cache *c, const uint8_t id[16]) {
  uint64_t a, b;
  memcpy(&a, id, 8);
  memcpy(&b, id + 8, 8);
  return (uint32_t)(mix(mix(a ^ c->k0) ^ b ^ c->k1) % c->n_buckets);
}

int replay_check(replay_cache *c, const uint8_t id[16], int64_t now_ms, int64_t expires_ms,
                 int insert) {
  pthread_mutex_lock(&c->mu);
  slot *b = c->slots + (size_t)bucket_of(c, id) * WAYS;
  slot *free_slot = NULL;
  int rc = 0;
  for (int i = 0; i < WAYS; i++) {
    int live = b[i].expires_ms != 0 && b[i].expires_ms > now_ms;
    if (live && memcmp(b[i].id, id, 16) == 0) {
      rc = GLOAM_EREPLAY;
      goto done;
    }
    if (!live && !free_slot) free_slot = &b[i];
  }
  if (insert) {
    if (!free_slot) {
      rc = GLOAM_EBUSY;
      goto done;
    }
    memcpy(free_slot->id, id, 16);
    free_slot->expires_ms = expires_ms > 0 ? expires_ms : 1;
  }
done:
  pthread_mutex_unlock(&c->mu);
  return rc;
}
