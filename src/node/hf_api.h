/* SPDX-License-Identifier: Apache-2.0
 *
 * node/hf_api.h: the parts of the Hugging Face Hub HTTP API that
 * `gloam-node models pull` uses, as pure functions (no I/O).
 *
 *   GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true
 *     -> {"id":..., "sha":"<commit>", "siblings":[{"rfilename":"config.json",
 *         "size":832, "blobId":"<git sha1>"}, {"rfilename":"model.safetensors",
 *         "size":290112, "blobId":..., "lfs":{"sha256":"<hex>","size":290112,
 *         "pointerSize":135}}]}
 *   GET {endpoint}/{repo}/resolve/{commit}/{file}   (the content; LFS files
 *       usually answer 302 to a CDN)
 *
 * hf_repo_info_parse reads the model-info JSON (untrusted: size, depth and
 * count limits; every file name checked by hf_path_ok, so a listing can
 * never make the downloader write outside its snapshot directory). Each file
 * needs a size and a checksum: the LFS SHA-256, or for small files stored in
 * git the blob id (SHA-1 over "blob <size>\0" + content, git's object id).
 *
 * Ownership: hf_repo_info owns its files array (hf_repo_info_deinit).
 * Thread safety: pure functions.
 */
#ifndef GLOAM_NODE_HF_API_H
#define GLOAM_NODE_HF_API_H

#include <stddef.h>
#include <stdint.h>

#define HF_PATH_MAX 255        /* a file name inside a repository */
#define HF_REPO_MAX 96         /* "org/name" (the Hub allows 96) */
#define HF_REV_MAX 128         /* a branch, tag or commit */
#define HF_INFO_MAX (32 << 20) /* model-info JSON bytes */
#define HF_FILES_MAX 20000

typedef struct hf_file {
  char path[HF_PATH_MAX + 1];
  int64_t size;
  int has_sha256; /* LFS file: sha256 of the content */
  uint8_t sha256[32];
  int has_git_sha1; /* git blob id */
  uint8_t git_sha1[20];
} hf_file;

typedef struct hf_repo_info {
  char commit[41]; /* 40 hex digits */
  hf_file *files;  /* owned */
  size_t n_files;
} hf_repo_info;

/* Parses the model-info JSON. GLOAM_EFORMAT (detail in err) for anything
 * malformed or unsafe, GLOAM_ETOOBIG past the limits, GLOAM_ENOMEM. On
 * failure *out is left empty. */
int hf_repo_info_parse(const char *json, size_t n, hf_repo_info *out, char *err);
void hf_repo_info_deinit(hf_repo_info *info);
/* The file named path, or NULL. */
const hf_file *hf_repo_info_find(const hf_repo_info *info, const char *path);

/* 1 when path is a safe relative file name: components of [A-Za-z0-9._+=,@-]
 * (and space), none empty, "." or "..", no leading '/', not ending in the
 * downloader's own suffixes (.partial, .failed). */
int hf_path_ok(const char *path);
/* 1 for "name" or "org/name" with [A-Za-z0-9._-], not starting with '.' or '-'. */
int hf_repo_ok(const char *repo);
/* 1 for a revision of [A-Za-z0-9._/-], no "..", no leading '/'. */
int hf_revision_ok(const char *rev);
/* Splits "REPO[@REVISION]" (revision default "main"). GLOAM_EINVAL. */
int hf_split_ref(const char *ref, char *repo, size_t repo_cap, char *rev, size_t rev_cap,
                 char *err);
/* Appends s to out with every byte outside [A-Za-z0-9._~-] percent-encoded,
 * '/' kept when keep_slash. Returns 0 or GLOAM_ETOOBIG. */
int hf_url_escape(const char *s, int keep_slash, char *out, size_t cap);

#endif
