/* SPDX-License-Identifier: Apache-2.0
 *
 * node/models_pull.h: `gloam-node models pull REPO[@REVISION] [--file F]`:
 * downloads a model from a Hugging Face-compatible endpoint into the model
 * cache (layout in models_cache.h; docs/node.md "Model cache").
 *
 *   models_pull_opts o = {.endpoint = "https://huggingface.co",
 *                         .models_dir = dir, .ref = "Qwen/Qwen3-0.6B"};
 *   char snap[4096];
 *   if (models_pull(&o, snap, sizeof snap, err) < 0) die(err);
 *
 * DESIGN: libcurl (blocking, one easy handle per transfer): the content
 * URLs of large files redirect to another host (a CDN), downloads resume
 * with Range requests onto "<file>.partial", TLS peers are verified
 * (system trust store or ca_file; no switch turns it off), redirects stay on
 * http(s) and on https when the endpoint is https, and a bearer token is not
 * forwarded to another host (libcurl's rule for custom Authorization
 * headers). Each finished file is checked against the listing's size and
 * checksum (LFS SHA-256, else the git blob id), fsynced and renamed into
 * place; a mismatch deletes the partial data and leaves "<file>.failed".
 * Pulls of the same repository serialise on <repo>/.lock (flock), so
 * concurrent pulls (processes or threads) never write the same file twice;
 * the second finds the files in place.
 *
 * Thread safety: models_pull may run on several threads at once (own
 * handles; curl_global_init runs once under pthread_once).
 */
#ifndef GLOAM_NODE_MODELS_PULL_H
#define GLOAM_NODE_MODELS_PULL_H

#include <stddef.h>
#include <stdio.h>

typedef struct models_pull_opts {
  const char *endpoint;     /* base URL (http:// or https://), no query */
  const char *models_dir;   /* the cache root */
  const char *ref;          /* "ORG/NAME[@REVISION]" (revision default main) */
  const char *const *files; /* only these files (NULL: every file listed) */
  size_t n_files;
  const char *ca_file; /* NULL: the system trust store */
  const char *token;   /* Authorization: Bearer token (HF_TOKEN), or NULL */
  int progress;        /* draw a progress bar on stderr */
  int retries;         /* extra attempts per file after a failed transfer */
  int stall_s;         /* abort a transfer idle this long (0: 60 s) */
  FILE *log;           /* one line per file, or NULL */
} models_pull_opts;

/* Fetches the listing, then every selected file not already in place.
 * OUT: out_dir gets the snapshot directory. Returns 0, or:
 *   GLOAM_ENOENT   repository, revision or file not found (404 / not listed)
 *   GLOAM_EAUTH    401/403 (gated or private: set a token)
 *   GLOAM_EFORMAT  size or checksum mismatch (the file is not kept), or a bad listing
 *   GLOAM_EIO      network failure after all retries, or a local write failure
 *   GLOAM_EINVAL   bad arguments
 * with detail in err. Files finished before a failure stay in place. */
int models_pull(const models_pull_opts *o, char *out_dir, size_t cap, char *err);

#endif
