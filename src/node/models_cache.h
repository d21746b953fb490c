/* SPDX-License-Identifier: Apache-2.0
 *
 * node/models_cache.h: the on-disk model cache that `gloam-node models pull`
 * fills and `models list` / `serve` read (docs/node.md, "Model cache").
 *
 *   <models_dir>/<org>--<name>/snapshots/<commit>/<repo files>
 *   <models_dir>/<org>--<name>/refs/<revision, '/' as %2F>   "<commit>\n"
 *   <models_dir>/<org>--<name>/.lock      flock(2) held by a running pull
 *
 * A file being downloaded is "<file>.partial" next to its final place; it is
 * renamed into place only after its size and checksum matched (and fsync).
 * A checksum or size failure leaves "<file>.failed" (a marker with the
 * reason). models_dir_servable refuses a directory holding either, so
 * neither a partial nor a corrupt download is ever served.
 *
 * Thread safety: plain file-system functions; callers serialise writers
 * with the repo's .lock (models_pull does).
 */
#ifndef GLOAM_NODE_MODELS_CACHE_H
#define GLOAM_NODE_MODELS_CACHE_H

#include <stddef.h>
#include <stdio.h>

/* $XDG_CACHE_HOME/gloam/models or $HOME/.cache/gloam/models. GLOAM_EINVAL
 * when neither variable is set. */
int models_default_dir(char *out, size_t cap, char *err);
/* <models_dir>/<org>--<name>; GLOAM_ETOOBIG / GLOAM_EINVAL. */
int models_repo_dir(const char *models_dir, const char *repo, char *out, size_t cap);
/* <models_dir>/<org>--<name>/snapshots/<commit>. */
int models_snapshot_dir(const char *models_dir, const char *repo, const char *commit, char *out,
                        size_t cap);
/* The commit a revision was last pulled at: a 40-hex revision is itself;
 * else refs/<rev>. GLOAM_ENOENT when never pulled. */
int models_ref_read(const char *models_dir, const char *repo, const char *rev, char commit[41],
                    char *err);
/* Atomically (temporary file, fsync, rename) records rev -> commit. */
int models_ref_write(const char *models_dir, const char *repo, const char *rev, const char *commit,
                     char *err);
/* "REPO[@REV]" -> its snapshot directory, when pulled. GLOAM_ENOENT. */
int models_resolve(const char *models_dir, const char *ref, char *out, size_t cap, char *err);
/* 0 when model_path (a directory, or a file) holds no "*.partial" and no
 * "*.failed" entry (directories searched 8 levels deep); GLOAM_ESTATE naming
 * the first one found; GLOAM_ENOENT when the path does not exist. */
int models_dir_servable(const char *model_path, char *err);
/* Prints one line per snapshot: repo, revisions, commit, files, bytes,
 * state (ok / partial / failed), path. 0, or GLOAM_EIO. A missing
 * models_dir lists nothing. */
int models_list(const char *models_dir, FILE *out, char *err);
/* mkdir -p with mode for each created directory. 0 or GLOAM_EIO. */
int models_mkdirs(const char *path, unsigned mode, char *err);

#endif
