/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/chat_config.c: the chat-relevant parts of a Hugging Face
 * tokenizer_config.json: the chat template (a string, or a list of
 * {"name", "template"} entries from which "tool_use" is chosen when the
 * request has tools and "default" otherwise, as transformers does) and the
 * special tokens, stored either as strings or as AddedToken objects
 * ({"content": "<s>", ...}).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "gloam/chat.h"

#define CONFIG_MAX (16u << 20)

struct gloam_chat_config {
  json_t *root;
  const char *tmpl_default, *tmpl_tools;
};

static const char *token_text(const json_t *v) {
  if (json_is_string(v)) return json_string_value(v);
  if (json_is_object(v)) {
    const json_t *c = json_object_get(v, "content");
    if (json_is_string(c)) return json_string_value(c);
  }
  return NULL;
}

int gloam_chat_config_parse(gloam_chat_config **out, const char *json, size_t len, char *err) {
  char tmp[GLOAM_ERR_LEN];
  if (!err) err = tmp;
  if (!out || !json) return err_set(err, GLOAM_EINVAL, "invalid argument");
  *out = NULL;
  if (len > CONFIG_MAX) return err_set(err, GLOAM_ETOOBIG, "tokenizer_config.json too large");
  json_error_t je;
  json_t *root =
      json_loadb(json, len, JSON_DECODE_INT_AS_REAL, &je); /* model_max_length can be 1e30 */
  if (!root)
    return err_set(err, GLOAM_EINVAL, "tokenizer_config.json line %d: %s", je.line, je.text);
  if (!json_is_object(root)) {
    json_decref(root);
    return err_set(err, GLOAM_EINVAL, "tokenizer_config.json is not an object");
  }
  gloam_chat_config *c = mem_calloc(1, sizeof *c);
  if (!c) {
    json_decref(root);
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  c->root = root;
  const json_t *ct = json_object_get(root, "chat_template");
  if (json_is_string(ct)) {
    c->tmpl_default = json_string_value(ct);
  } else if (json_is_array(ct)) {
    size_t i;
    const json_t *e;
    json_array_foreach(ct, i, e) {
      const json_t *n = json_object_get(e, "name"), *t = json_object_get(e, "template");
      if (!json_is_string(n) || !json_is_string(t)) continue;
      if (!strcmp(json_string_value(n), "default")) c->tmpl_default = json_string_value(t);
      if (!strcmp(json_string_value(n), "tool_use")) c->tmpl_tools = json_string_value(t);
    }
  }
  *out = c;
  return 0;
}

int gloam_chat_config_load(gloam_chat_config **out, const char *dir, char *err) {
  char tmp[GLOAM_ERR_LEN];
  if (!err) err = tmp;
  if (!out || !dir) return err_set(err, GLOAM_EINVAL, "invalid argument");
  *out = NULL;
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/tokenizer_config.json", dir) >= sizeof path)
    return err_set(err, GLOAM_EINVAL, "path too long");
  FILE *f = fopen(path, "rb");
  if (!f)
    return err_set(err, errno == ENOENT ? GLOAM_ENOENT : GLOAM_EIO, "%s: %s", path,
                   strerror(errno));
  char *data = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (n == cap) {
      if (cap >= CONFIG_MAX) {
        rc = err_set(err, GLOAM_ETOOBIG, "%s: larger than %u bytes", path, CONFIG_MAX);
        break;
      }
      size_t nc = cap ? cap * 2 : 65536;
      char *nd = mem_realloc(data, nc);
      if (!nd) {
        rc = err_set(err, GLOAM_ENOMEM, "out of memory");
        break;
      }
      data = nd, cap = nc;
    }
    size_t r = fread(data + n, 1, cap - n, f);
    n += r;
    if (r == 0) {
      if (ferror(f)) rc = err_set(err, GLOAM_EIO, "%s: read error", path);
      break;
    }
  }
  fclose(f);
  if (rc == 0) rc = gloam_chat_config_parse(out, data, n, err);
  mem_free(data);
  return rc;
}

const char *gloam_chat_config_template(const gloam_chat_config *c, int has_tools) {
  if (!c) return NULL;
  if (has_tools && c->tmpl_tools) return c->tmpl_tools;
  return c->tmpl_default ? c->tmpl_default : c->tmpl_tools;
}

const char *gloam_chat_config_token(const gloam_chat_config *c, const char *which) {
  if (!c || !which) return NULL;
  return token_text(json_object_get(c->root, which));
}

void gloam_chat_config_free(gloam_chat_config *c) {
  if (!c) return;
  json_decref(c->root);
  mem_free(c);
}
