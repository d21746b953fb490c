/* SPDX-License-Identifier: Apache-2.0
 *
 * client/config.h: the gloam CLI's settings and where they come from.
 * Precedence, highest first: command-line flags, environment
 * (GLOAM_BASE_URL, GLOAM_API_KEY, GLOAM_MODEL, GLOAM_MIN_TRUST), the config
 * file (GLOAM_CONFIG, else $XDG_CONFIG_HOME/gloam/config, else
 * ~/.config/gloam/config), built-in defaults.
 *
 *   # ~/.config/gloam/config   (key = value; '#' comments)
 *   base_url = https://coord.example
 *   api_key = gk_...
 *   model = qwen3
 *   min_trust = software
 *   allowed_binaries = sha256:ab12..., sha256:cd34...
 *   max_evidence_age_s = 86400
 *   ca_file = /etc/ssl/my-ca.pem
 *   ek_roots = /etc/gloam/tpm-ek-roots.pem   (TPM makers' EK root CAs)
 *
 * A file that holds api_key must not be readable by group or others.
 * Ownership: plain value struct, no heap. Thread safety: pure functions.
 */
#ifndef GLOAM_CLIENT_CONFIG_H
#define GLOAM_CLIENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "gloam/client.h"

#define CLIENT_CONF_FILE_MAX (64 * 1024)
#define CLIENT_CONF_DEFAULT_URL "http://127.0.0.1:8080"

typedef struct client_conf {
  char base_url[512];
  char api_key[256];
  char model[GLOAM_SEAL_MODEL_MAX + 1];
  char min_trust[16];
  char binaries[GLOAM_CLIENT_MAX_BINARIES][80];
  size_t n_binaries;
  uint32_t max_age_s;
  char ca_file[512];
  char ek_roots[512];
} client_conf;

/* Reads key = value lines into c (only keys present are set). GLOAM_ENOENT
 * when the file does not exist; GLOAM_EFORMAT (with the line number) for an
 * unknown key or a bad value; GLOAM_EPERM for an api_key in a file others
 * can read; GLOAM_ETOOBIG. */
int client_conf_load_file(client_conf *c, const char *path, char *err);

typedef const char *(*client_getenv_fn)(const char *name);

/* out = defaults < file < env < flags. `flags` holds the command line's
 * values ("" / 0 = unset). getenv_fn may be NULL (getenv). file_path NULL:
 * the default location (missing is fine); an explicit path must exist. */
int client_conf_resolve(client_conf *out, const client_conf *flags, client_getenv_fn getenv_fn,
                        const char *file_path, char *err);

/* Fills a gloam_client_config that borrows from c. */
int client_conf_to_config(const client_conf *c, gloam_client_config *cfg,
                          const char *bins[GLOAM_CLIENT_MAX_BINARIES], char *err);

#endif
