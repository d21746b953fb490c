/* SPDX-License-Identifier: Apache-2.0
 *
 * core/time.h: monotonic time for deadlines and measurements, wall time for
 * timestamps that leave the process (receipts, envelopes, logs).
 */
#ifndef GLOAM_CORE_TIME_H
#define GLOAM_CORE_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic clock (CLOCK_MONOTONIC), nanoseconds since an arbitrary origin. */
uint64_t time_mono_ns(void);
uint64_t time_mono_ms(void);

/* Wall clock (CLOCK_REALTIME), since the Unix epoch. */
int64_t time_wall_ms(void);
int64_t time_wall_s(void);

/* Formats Unix seconds as RFC 3339 UTC ("2026-11-26T10:54:54Z") into out
 * (at least 21 bytes). Returns the length, or GLOAM_ERANGE. */
int time_format_rfc3339(int64_t unix_s, char *out, size_t out_cap);

#endif
