/* SPDX-License-Identifier: Apache-2.0
 *
 * node/config.h: gloam-node's settings, from a `key = value` file and the
 * command line (docs/node.md lists every key with its default).
 *
 *   node_config c;
 *   node_config_defaults(&c);
 *   if (node_config_load_file(&c, path, err) < 0) ...;   // optional
 *   if (node_config_set(&c, "slots", "4", err) < 0) ...; // flags override
 *   if (node_config_check(&c, err) < 0) ...;
 *
 * File format: one `key = value` per line; blank lines and lines starting
 * with '#' are ignored; values run to the end of the line with surrounding
 * spaces trimmed; an unknown key is an error (a typo must not silently fall
 * back to a default). Lines up to 4 KiB, files up to 64 KiB.
 *
 * Ownership: the caller embeds node_config; strings inside are fixed arrays.
 * Not thread-safe; filled once at start, read-only afterwards.
 */
#ifndef GLOAM_NODE_CONFIG_H
#define GLOAM_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NODE_PATH_MAX 1024

typedef struct node_config {
  char coordinator[512]; /* ws://host:port[/path] */
  char token[256];       /* operator node token (gnt_...) */
  char model[NODE_PATH_MAX];
  char model_id[129];             /* default: the model directory's base name */
  char tokenizer[NODE_PATH_MAX];  /* default: the model directory */
  char state_dir[NODE_PATH_MAX];  /* default: $XDG_STATE_HOME/gloam-node or ~/.local/state/... */
  char ca_file[NODE_PATH_MAX];    /* wss: PEM bundle to trust instead of the system store */
  char node_id[65];               /* default: derived from the identity key */
  char identity[512];             /* "software" (default), "tpm" or "tpm:TCTI" (docs/node.md) */
  char ek_chain[NODE_PATH_MAX];   /* tpm: PEM intermediates from the EK cert to the maker's root */
  char models_dir[NODE_PATH_MAX]; /* model cache; default $XDG_CACHE_HOME/gloam/models */
  char hf_endpoint[512];          /* models pull: Hugging Face-compatible base URL */
  char schedule[512];             /* serving windows (schedule.h); "" = always */
  int idle_max_cpu;               /* % of all CPUs used by other processes; 0 = off */
  int idle_resume_s;              /* calm this long before serving again; default 300 */
  int threads;                    /* compute threads per slot; 0: online CPUs / slots */
  int slots;                      /* concurrent sessions; default 2 */
  int n_ctx;                      /* KV length per slot; 0: the model's, capped at 4096 */
  int quantize;                   /* enum gloam_quant */
  bool seccomp;                   /* apply the syscall allowlist; default true */
  bool batch;                     /* decode all slots in one forward pass; default true */
  bool clamp_token_ids;     /* test fixtures only: prompt ids >= n_vocab become id % n_vocab */
  uint32_t backoff_min_ms;  /* first reconnect delay; default 500 */
  uint32_t backoff_max_ms;  /* cap; default 30000 */
  uint32_t max_jobs_queued; /* beyond slots, jobs refused with "busy"; default 0 */
  int speech_max_tokens;    /* Whisper: tokens per 30 s window; 0: the model's half context */
} node_config;

void node_config_defaults(node_config *c);
/* Sets one key from text. GLOAM_EINVAL (unknown key, bad value) with detail. */
int node_config_set(node_config *c, const char *key, const char *value, char *err);
/* Reads a config file. GLOAM_ENOENT, GLOAM_EIO, GLOAM_ETOOBIG, GLOAM_EINVAL
 * (with the line number). */
int node_config_load_file(node_config *c, const char *path, char *err);
/* Fills derived defaults (model_id, tokenizer, state_dir) and checks that the
 * required keys are set. GLOAM_EINVAL with detail. */
int node_config_check(node_config *c, char *err);
/* Fills the default state_dir when unset (part of node_config_check). */
int node_config_state_dir(node_config *c, char *err);

/* Parses ws://host[:port][/path] or wss://... (also http:// and https://).
 * OUT: host (cap bytes), *port (80 / 443 by default), path (cap; default
 * /v1/node/connect), *tls. GLOAM_EINVAL for anything else. */
int node_parse_ws_url(const char *url, char *host, size_t host_cap, uint16_t *port, char *path,
                      size_t path_cap, bool *tls, char *err);

#endif
