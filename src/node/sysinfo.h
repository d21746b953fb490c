/* SPDX-License-Identifier: Apache-2.0
 *
 * node/sysinfo.h: facts about this machine that go into registration and
 * evidence: CPU model, cores, RAM and the weights digest of the served
 * model (the binary's hash is the attestation module's, attest_file_sha256).
 *
 * Weights digest (docs/node.md): "sha256:" + hex SHA-256 over the bytes of
 * the weight files concatenated in byte-wise order of their names. For a
 * Hugging Face directory the weight files are its *.safetensors files; for
 * a .gguf path, that one file. Anyone can recompute it with
 *   (cd model-dir && cat $(ls | grep safetensors$ | LC_ALL=C sort)) | sha256sum
 *
 * Thread safety: pure functions (file reads); call at start-up, they block.
 */
#ifndef GLOAM_NODE_SYSINFO_H
#define GLOAM_NODE_SYSINFO_H

#include <stddef.h>
#include <stdint.h>

typedef struct node_hw {
  char cpu[128];  /* /proc/cpuinfo "model name" (or "unknown") */
  int cores;      /* online CPUs */
  int64_t ram_gb; /* physical memory, GiB rounded down */
} node_hw;

void node_hw_read(node_hw *hw);
/* SHA-256 of one file. GLOAM_EIO / GLOAM_ENOENT with detail. */
int node_sha256_file(const char *path, uint8_t out[32], char *err);
/* out gets "sha256:<64 hex>" (at least 72 bytes). With state_dir (may be
 * NULL) the result is cached in <state_dir>/weights-<key>.digest, keyed by
 * the path and each file's device, inode, size, mtime and ctime, so a
 * restart does not re-read unchanged weights and any rewrite misses. */
int node_weights_digest(const char *model_path, const char *state_dir, char *out, size_t cap,
                        char *err);

#endif
