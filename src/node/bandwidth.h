/* SPDX-License-Identifier: Apache-2.0
 *
 * node/bandwidth.h: this machine's memory read bandwidth, measured once and
 * cached (it bounds decode speed: every token streams the weights), for the
 * registration's hardware summary (docs/node.md, "Hardware summary").
 *
 *   double gbps;
 *   node_membw_get(state_dir, hw.cpu, hw.cores, &gbps, err);
 *
 * DESIGN: a streaming read over a buffer far larger than any cache
 * (min(256 MiB, RAM/16)), split across min(cores, 16) threads that start
 * each pass together (barrier); the best of 5 passes, in GB/s (10^9 bytes).
 * About 0.2-0.5 s once. The result is cached in
 * <state_dir>/membw-<16 hex of SHA-256(cpu model "|" cores)>, so a restart
 * does not re-measure and a moved disk (another CPU) does.
 *
 * Thread safety: blocking; call at start-up (before the seccomp filter,
 * since it may write the cache file).
 */
#ifndef GLOAM_NODE_BANDWIDTH_H
#define GLOAM_NODE_BANDWIDTH_H

#include <stddef.h>

/* Measures now: bytes per pass over n_threads threads. OUT: *gbps. */
int node_membw_measure(size_t bytes, int n_threads, double *gbps, char *err);
/* Cached value, or measure and cache. state_dir may be NULL (no cache). */
int node_membw_get(const char *state_dir, const char *cpu_model, int cores, double *gbps,
                   char *err);

#endif
