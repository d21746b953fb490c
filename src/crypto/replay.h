/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/replay.h: a bounded cache of recently seen request ids.
 *
 * A fixed array of buckets of 8 slots, allocated once; each slot holds a
 * 16-byte request id and the wall time (ms) after which the id's envelope
 * would be rejected as stale anyway. An expired slot is free for reuse, so
 * no sweep is needed. A bucket is chosen by a keyed hash (random key per
 * cache) so clients cannot aim ids at one bucket. When all 8 slots of a
 * bucket hold live ids the insert fails with GLOAM_EBUSY: the cache fails
 * closed rather than forgetting an id early. Bound: `slots` live ids, so at
 * most slots / window requests per second (65536 / 150 s ~ 430 req/s by
 * default; size it for the node's rate).
 *
 * Thread safety: all operations take the cache's mutex.
 */
#ifndef GLOAM_CRYPTO_REPLAY_H
#define GLOAM_CRYPTO_REPLAY_H

#include <stddef.h>
#include <stdint.h>

typedef struct replay_cache replay_cache;

/* slots is rounded up to a multiple of 8 (at least 8, at most 2^24). */
int replay_new(replay_cache **out, uint32_t slots);
void replay_free(replay_cache *c);

/* Looks id up at time now_ms. With insert, records it until expires_ms.
 * Returns 0 when the id was not present (and is now recorded if insert),
 * GLOAM_EREPLAY when it is present and live, GLOAM_EBUSY when insert finds
 * no free slot. */
int replay_check(replay_cache *c, const uint8_t id[16], int64_t now_ms, int64_t expires_ms,
                 int insert);

#endif
