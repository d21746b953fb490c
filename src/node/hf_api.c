/* SPDX-License-Identifier: Apache-2.0
 *
 * node/hf_api.c: parsing the Hugging Face model-info JSON and checking repo,
 * revision and file names (see hf_api.h).
 */
#include "node/hf_api.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "gloam/err.h"
#include "http/json.h"

static int name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int hf_path_ok(const char *path) {
  size_t n = strlen(path);
  if (n == 0 || n > HF_PATH_MAX || path[0] == '/') return 0;
  if (ends_with(path, ".partial") || ends_with(path, ".failed")) return 0;
  const char *comp = path;
  for (const char *p = path;; p++) {
    if (*p == '/' || *p == 0) {
      size_t len = (size_t)(p - comp);
      if (len == 0 || (len == 1 && comp[0] == '.') || (len == 2 && !memcmp(comp, "..", 2)))
        return 0;
      if (*p == 0) return 1;
      comp = p + 1;
      continue;
    }
    char c = *p;
    if (!name_char(c) && c != '+' && c != '=' && c != ',' && c != '@' && c != ' ') return 0;
  }
}

int hf_repo_ok(const char *repo) {
  size_t n = strlen(repo);
  if (n == 0 || n > HF_REPO_MAX) return 0;
  int slashes = 0;
  const char *comp = repo;
  for (const char *p = repo;; p++) {
    if (*p == '/' || *p == 0) {
      size_t len = (size_t)(p - comp);
      if (len == 0 || comp[0] == '.' || comp[0] == '-') return 0;
      if (*p == 0) return 1;
      if (++slashes > 1) return 0;
      comp = p + 1;
      continue;
    }
    if (!name_char(*p)) return 0;
  }
}

int hf_revision_ok(const char *rev) {
  size_t n = strlen(rev);
  if (n == 0 || n > HF_REV_MAX || rev[0] == '/' || rev[n - 1] == '/' || strstr(rev, "..")) return 0;
  for (const char *p = rev; *p; p++)
    if (!name_char(*p) && *p != '/') return 0;
  return 1;
}

int hf_split_ref(const char *ref, char *repo, size_t repo_cap, char *rev, size_t rev_cap,
                 char *err) {
  const char *at = strchr(ref, '@');
  size_t rl = at ? (size_t)(at - ref) : strlen(ref);
  const char *r = at ? at + 1 : "main";
  if (rl >= repo_cap || strlen(r) >= rev_cap)
    return err_set(err, GLOAM_EINVAL, "repository or revision too long");
  memcpy(repo, ref, rl);
  repo[rl] = 0;
  memcpy(rev, r, strlen(r) + 1);
  if (!hf_repo_ok(repo)) return err_set(err, GLOAM_EINVAL, "bad repository name (want ORG/NAME)");
  if (!hf_revision_ok(rev)) return err_set(err, GLOAM_EINVAL, "bad revision name");
  return 0;
}

int hf_url_escape(const char *s, int keep_slash, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = strlen(out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    int plain = name_char((char)*p) || *p == '~' || (keep_slash && *p == '/');
    size_t need = plain ? 1 : 3;
    if (o + need >= cap) return GLOAM_ETOOBIG;
    if (plain) {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = 0;
  return 0;
}

static int hex_field(json_t *obj, const char *key, uint8_t *out, size_t n) {
  const char *s = json_string_value(json_object_get(obj, key));
  if (!s || strlen(s) != 2 * n) return 0;
  return codec_hex_decode(s, 2 * n, out, n, 0) == (long)n;
}

static int parse_sibling(json_t *sib, hf_file *f, char *err) {
  const char *name = json_string_value(json_object_get(sib, "rfilename"));
  if (!name) return err_set(err, GLOAM_EFORMAT, "sibling without rfilename");
  if (!hf_path_ok(name)) return err_set(err, GLOAM_EFORMAT, "unsafe file name in listing");
  memcpy(f->path, name, strlen(name) + 1);
  json_t *size = json_object_get(sib, "size");
  json_t *lfs = json_object_get(sib, "lfs");
  f->size = json_is_integer(size) ? json_integer_value(size) : -1;
  if (json_is_object(lfs)) {
    json_t *ls = json_object_get(lfs, "size");
    if (json_is_integer(ls)) {
      if (f->size >= 0 && f->size != json_integer_value(ls))
        return err_set(err, GLOAM_EFORMAT, "%s: size and lfs.size differ", f->path);
      f->size = json_integer_value(ls);
    }
    f->has_sha256 = hex_field(lfs, "sha256", f->sha256, 32);
    if (!f->has_sha256 && json_object_get(lfs, "sha256"))
      return err_set(err, GLOAM_EFORMAT, "%s: bad lfs.sha256", f->path);
  }
  f->has_git_sha1 = hex_field(sib, "blobId", f->git_sha1, 20);
  if (f->size < 0 && json_object_get(sib, "size"))
    return err_set(err, GLOAM_EFORMAT, "%s: bad size", f->path);
  return 0;
}

int hf_repo_info_parse(const char *json, size_t n, hf_repo_info *out, char *err) {
  memset(out, 0, sizeof *out);
  json_t *root = NULL;
  int rc = json_parse_limited(json, n, HF_INFO_MAX, 64, &root, err);
  if (rc < 0) return rc;
  const char *sha = json_string_value(json_object_get(root, "sha"));
  uint8_t commit[20];
  if (!sha || strlen(sha) != 40 || codec_hex_decode(sha, 40, commit, sizeof commit, 0) != 20) {
    rc = err_set(err, GLOAM_EFORMAT, "model info without a commit sha");
    goto fail;
  }
  for (int i = 0; i < 40; i++) out->commit[i] = (char)(sha[i] | 0x20); /* lower-case hex */
  json_t *sibs = json_object_get(root, "siblings");
  if (!json_is_array(sibs)) {
    rc = err_set(err, GLOAM_EFORMAT, "model info without siblings");
    goto fail;
  }
  size_t count = json_array_size(sibs);
  if (count > HF_FILES_MAX) {
    rc = err_set(err, GLOAM_ETOOBIG, "more than %d files", HF_FILES_MAX);
    goto fail;
  }
  if (count && !(out->files = mem_calloc(count, sizeof *out->files))) {
    rc = GLOAM_ENOMEM;
    goto fail;
  }
  for (size_t i = 0; i < count; i++) {
    json_t *sib = json_array_get(sibs, i);
    if (!json_is_object(sib)) {
      rc = err_set(err, GLOAM_EFORMAT, "sibling is not an object");
      goto fail;
    }
    if ((rc = parse_sibling(sib, &out->files[i], err)) < 0) goto fail;
    out->n_files = i + 1;
  }
  json_decref(root);
  return 0;
fail:
  json_decref(root);
  hf_repo_info_deinit(out);
  return rc;
}

void hf_repo_info_deinit(hf_repo_info *info) {
  mem_free(info->files);
  memset(info, 0, sizeof *info);
}

const hf_file *hf_repo_info_find(const hf_repo_info *info, const char *path) {
  for (size_t i = 0; i < info->n_files; i++)
    if (strcmp(info->files[i].path, path) == 0) return &info->files[i];
  return NULL;
}
