/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/model_files.c: opens a model (Hugging Face directory or .gguf),
 * maps its files and builds the name -> tensor table of model_files.h.
 *
 * DESIGN: files are mmapped read-only; tensors point into the mappings
 * unless they had to be rewritten (misaligned data, quantize-on-load,
 * GGUF Q/K un-permutation, split MoE experts), in which case the handle owns
 * the copy. The table is sorted by name for bsearch. After loading, every
 * tensor the config implies is checked for presence and shape, so the
 * forward pass can index weights without re-validating.
 */
#include "engine/model_files.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/config.h"
#include "engine/minimax.h"
#include "engine/model_files_int.h"
#include "engine/safetensors.h"

#define MF_MAX_SHARDS 4096
#define MF_MAX_INDEX (64u << 20)

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const tensor *)a)->name, ((const tensor *)b)->name);
}

int mf_map_file(model_files *mf, const char *path, const uint8_t **out, size_t *out_len,
                char *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return err_set(err, e == ENOENT ? GLOAM_ENOENT : GLOAM_EIO, "%s: %s", path, strerror(e));
  }
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    rc = err_set(err, GLOAM_EIO, "%s: not a regular file", path);
    goto done;
  }
  if (st.st_size <= 0) {
    rc = err_set(err, GLOAM_EFORMAT, "%s: empty file", path);
    goto done;
  }
  if (mf->n_maps == mf->cap_maps) {
    int nc = mf->cap_maps ? mf->cap_maps * 2 : 4;
    mf_mapping *m = mem_reallocarray(mf->maps, (size_t)nc, sizeof *m);
    if (!m) {
      rc = err_set(err, GLOAM_ENOMEM, "out of memory");
      goto done;
    }
    mf->maps = m;
    mf->cap_maps = nc;
  }
  size_t len = (size_t)st.st_size;
  void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) {
    rc = err_set(err, GLOAM_EIO, "%s: mmap: %s", path, strerror(errno));
    goto done;
  }
  mf->maps[mf->n_maps].p = p;
  mf->maps[mf->n_maps].len = len;
  mf->n_maps++;
  *out = p;
  *out_len = len;
done:
  close(fd);
  return rc;
}

void *mf_own(model_files *mf, size_t n, char *err) {
  if (mf->n_owned == mf->cap_owned) {
    int nc = mf->cap_owned ? mf->cap_owned * 2 : 16;
    void **o = mem_reallocarray(mf->owned, (size_t)nc, sizeof *o);
    if (!o) {
      err_set(err, GLOAM_ENOMEM, "out of memory");
      return NULL;
    }
    mf->owned = o;
    mf->cap_owned = nc;
  }
  /* 64-byte aligned so kernels can use aligned loads */
  void *p = NULL;
  size_t sz = n ? (n + 63) & ~(size_t)63 : 64;
  if (posix_memalign(&p, 64, sz) != 0 || !p) {
    err_set(err, GLOAM_ENOMEM, "out of memory (%zu bytes)", n);
    return NULL;
  }
  mf->owned[mf->n_owned++] = p;
  return p;
}

int mf_add(model_files *mf, char *name, enum dtype type, int n_dims, const int64_t *shape,
           const void *data, size_t n_bytes, char *err) {
  if (mf->n_tensors == mf->cap_tensors) {
    int nc = mf->cap_tensors ? mf->cap_tensors * 2 : 64;
    tensor *t = mem_reallocarray(mf->tensors, (size_t)nc, sizeof *t);
    if (!t) {
      mem_free(name);
      return err_set(err, GLOAM_ENOMEM, "out of memory");
    }
    mf->tensors = t;
    mf->cap_tensors = nc;
  }
  tensor *t = &mf->tensors[mf->n_tensors++];
  memset(t, 0, sizeof *t);
  t->name = name;
  t->type = type;
  t->n_dims = n_dims;
  for (int i = 0; i < n_dims; i++) t->shape[i] = shape[i];
  t->data = data;
  t->n_bytes = n_bytes;
  return 0;
}

static size_t elem_align(enum dtype t) {
  switch (t) {
    case DT_F32:
    case DT_U32:
      return 4;
    case DT_F16:
    case DT_BF16:
      return 2;
    default:
      return 2; /* ggml blocks start with an f16 (q6_K: 2-byte aligned too) */
  }
}

/* Multimodal checkpoints (Gemma 3 ForConditionalGeneration) keep the text
 * model under a prefix: "language_model.model.X" (transformers 4) or
 * "model.language_model.X" (transformers 5) -> "model.X", and
 * "language_model.lm_head.X" -> "lm_head.X". Rewrites name in place. */
void mf_canonical_name(char *name) {
  static const struct {
    const char *from, *to;
  } map[] = {
      {"language_model.model.", "model."},
      {"model.language_model.", "model."},
      {"language_model.lm_head.", "lm_head."},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    size_t fl = strlen(map[i].from), tl = strlen(map[i].to);
    if (strncmp(name, map[i].from, fl) == 0) {
      memcpy(name, map[i].to, tl);
      memmove(name + tl, name + fl, strlen(name + fl) + 1);
      return;
    }
  }
}

/* Adds the tensors of one mapped safetensors file. */
static int add_shard(model_files *mf, const char *path, char *err) {
  const uint8_t *p;
  size_t len;
  st_header h;
  int rc = mf_map_file(mf, path, &p, &len, err);
  if (rc < 0) return rc;
  if ((rc = st_parse(p, len, &h, err)) < 0) return rc;
  for (int i = 0; i < h.n_tensors; i++) {
    st_tensor *t = &h.tensors[i];
    const uint8_t *data = p + h.data_offset + t->begin;
    size_t nb = (size_t)(t->end - t->begin);
    if ((uintptr_t)data % elem_align(t->type) != 0) {
      uint8_t *copy = mf_own(mf, nb, err);
      if (!copy) {
        rc = GLOAM_ENOMEM;
        goto done;
      }
      memcpy(copy, data, nb);
      data = copy;
    }
    mf_canonical_name(t->name);
    rc = mf_add(mf, t->name, t->type, t->n_dims, t->shape, data, nb, err);
    t->name = NULL; /* ownership moved (mf_add frees it on failure) */
    if (rc < 0) goto done;
  }
done:
  st_header_deinit(&h);
  return rc;
}

static bool plain_file_name(const char *s) {
  size_t n = strlen(s);
  return n > 0 && n < 256 && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\');
}

static int open_index(model_files *mf, const char *dir, const char *index_path, char *err) {
  char *text = NULL;
  size_t len = 0;
  json_t *j = NULL;
  const char **files = NULL;
  int n_files = 0, rc;
  if ((rc = config_read_file(index_path, MF_MAX_INDEX, &text, &len, err)) < 0) return rc;
  json_error_t je;
  j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  const json_t *wm = json_object_get(j, "weight_map");
  if (!json_is_object(wm)) {
    rc = err_set(err, GLOAM_EFORMAT, "%s: no weight_map object", index_path);
    goto done;
  }
  files = mem_calloc(MF_MAX_SHARDS, sizeof *files);
  if (!files) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto done;
  }
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)wm, key, val) {
    const char *f = json_string_value(val);
    if (!f || !plain_file_name(f)) {
      rc = err_set(err, GLOAM_EFORMAT, "%s: bad shard file name for %.80s", index_path, key);
      goto done;
    }
    bool seen = false;
    for (int i = 0; i < n_files && !seen; i++) seen = strcmp(files[i], f) == 0;
    if (seen) continue;
    if (n_files == MF_MAX_SHARDS) {
      rc = err_set(err, GLOAM_EFORMAT, "%s: too many shards", index_path);
      goto done;
    }
    files[n_files++] = f;
  }
  for (int i = 0; i < n_files; i++) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, files[i]) >= (int)sizeof path) {
      rc = err_set(err, GLOAM_EINVAL, "path too long");
      goto done;
    }
    if ((rc = add_shard(mf, path, err)) < 0) goto done;
  }
  /* every tensor the index names must be in the shards */
  qsort(mf->tensors, (size_t)mf->n_tensors, sizeof *mf->tensors, cmp_name);
  json_object_foreach((json_t *)wm, key, val) {
    char cname[ST_MAX_NAME + 1];
    snprintf(cname, sizeof cname, "%s", key);
    mf_canonical_name(cname);
    tensor k = {.name = cname};
    if (!bsearch(&k, mf->tensors, (size_t)mf->n_tensors, sizeof k, cmp_name)) {
      rc = err_set(err, GLOAM_EFORMAT, "%s: tensor %.80s missing from its shard", index_path, key);
      goto done;
    }
  }
  rc = 0;
done:
  mem_free(files);
  json_decref(j);
  mem_free(text);
  return rc;
}

static int open_dir(model_files *mf, const char *dir, const model_open_opts *o, char *err) {
  int rc;
  char path[4096];
  if ((rc = config_load_dir(&mf->cfg, dir, o ? o->config_name : NULL, err)) < 0) return rc;
  if (snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir) >= (int)sizeof path)
    return err_set(err, GLOAM_EINVAL, "path too long");
  if (access(path, F_OK) == 0) {
    rc = open_index(mf, dir, path, err);
  } else {
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rc = add_shard(mf, path, err);
  }
  if (rc < 0) return rc;
  snprintf(path, sizeof path, "%s/%s", dir, o && o->config_name ? o->config_name : "config.json");
  return mf_mlx_prepare(mf, path, err); /* MLX-quantized checkpoints (engine/mlx_load.h) */
}

typedef struct check_ctx {
  model_files *mf;
  char *err;
} check_ctx;

static int check_one(void *vctx, const char *name, int n_dims, const int64_t *shape) {
  check_ctx *c = vctx;
  const tensor *t = model_files_tensor(c->mf, name);
  if (!t) return err_set(c->err, GLOAM_EFORMAT, "tensor %s missing", name);
  bool ok = t->n_dims == n_dims;
  for (int i = 0; ok && i < n_dims; i++) ok = t->shape[i] == shape[i];
  if (!ok) {
    return err_set(c->err, GLOAM_EFORMAT, "tensor %s: shape [%lld, %lld] expected [%lld, %lld]",
                   name, (long long)t->shape[0], (long long)(t->n_dims > 1 ? t->shape[1] : 0),
                   (long long)shape[0], (long long)(n_dims > 1 ? shape[1] : 0));
  }
  if (t->type >= DT_COUNT || t->type == DT_Q8_K)
    return err_set(c->err, GLOAM_EUNSUPPORTED, "tensor %s: dtype not supported", name);
  return 0;
}

/* Adds name as a view of rows [r0, r0 + rows) of expert e of a 3-D
 * tensor t [E, R, C] (outermost first). */
static int add_expert_view(model_files *mf, const tensor *t, int e, int64_t r0, int64_t rows,
                           const char *part, int l, int n_sorted, char *err) {
  char name[160];
  snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%d.%s.weight", l, e, part);
  tensor k = {.name = name}; /* the file has it already (sorted prefix) */
  if (bsearch(&k, mf->tensors, (size_t)n_sorted, sizeof k, cmp_name)) return 0;
  size_t rb = dtype_row_bytes(t->type, t->shape[2]);
  const uint8_t *p = (const uint8_t *)t->data + ((size_t)e * (size_t)t->shape[1] + (size_t)r0) * rb;
  int64_t shape[2] = {rows, t->shape[2]};
  char *n = mem_strdup(name);
  if (!n) return err_set(err, GLOAM_ENOMEM, "out of memory");
  return mf_add(mf, n, t->type, 2, shape, p, (size_t)rows * rb, err);
}

/* transformers 5 may save experts fused: mlp.experts.gate_up_proj [E, 2F, H]
 * and mlp.experts.down_proj [E, H, F]. Expose per-expert views under the
 * per-expert names so that consumers see one layout. */
static int split_fused_experts(model_files *mf, char *err) {
  const model_config *c = &mf->cfg;
  if (!c->n_experts) return 0;
  int n0 = mf->n_tensors, rc;
  for (int l = 0; l < c->n_layers; l++) {
    char name[160];
    int64_t E = c->n_experts, F = c->moe_ffn_hidden, H = c->hidden;
    tensor g = {0}, d = {0}; /* copies: the table moves while views are added */
    snprintf(name, sizeof name, "model.layers.%d.mlp.experts.gate_up_proj", l);
    const tensor *gu = model_files_tensor(mf, name);
    if (!gu) { /* gemma4: beside the MLP, not in it */
      snprintf(name, sizeof name, "model.layers.%d.experts.gate_up_proj", l);
      gu = model_files_tensor(mf, name);
    }
    if (gu) {
      if (gu->n_dims != 3 || gu->shape[0] != E || gu->shape[1] != 2 * F || gu->shape[2] != H ||
          !dtype_row_bytes(gu->type, H))
        return err_set(err, GLOAM_EFORMAT, "%s: bad shape", name);
      g = *gu;
    }
    snprintf(name, sizeof name, "model.layers.%d.mlp.experts.down_proj", l);
    const tensor *dn = model_files_tensor(mf, name);
    if (!dn) {
      snprintf(name, sizeof name, "model.layers.%d.experts.down_proj", l);
      dn = model_files_tensor(mf, name);
    }
    if (dn) {
      if (dn->n_dims != 3 || dn->shape[0] != E || dn->shape[1] != H || dn->shape[2] != F ||
          !dtype_row_bytes(dn->type, F))
        return err_set(err, GLOAM_EFORMAT, "%s: bad shape", name);
      d = *dn;
    }
    for (int e = 0; g.name && e < E; e++)
      if ((rc = add_expert_view(mf, &g, e, 0, F, "gate_proj", l, n0, err)) < 0 ||
          (rc = add_expert_view(mf, &g, e, F, F, "up_proj", l, n0, err)) < 0)
        return rc;
    for (int e = 0; d.name && e < E; e++)
      if ((rc = add_expert_view(mf, &d, e, 0, H, "down_proj", l, n0, err)) < 0) return rc;
    if (mf->n_tensors != n0) {
      qsort(mf->tensors, (size_t)mf->n_tensors, sizeof *mf->tensors, cmp_name);
      n0 = mf->n_tensors;
    }
  }
  return 0;
}

/* Sorts the table, rejects duplicates and checks the config's tensors. */
static int finish(model_files *mf, char *err) {
  int rc = minimax_rename_tensors(mf, err);
  if (rc < 0) return rc;
  qsort(mf->tensors, (size_t)mf->n_tensors, sizeof *mf->tensors, cmp_name);
  for (int i = 1; i < mf->n_tensors; i++)
    if (strcmp(mf->tensors[i - 1].name, mf->tensors[i].name) == 0)
      return err_set(err, GLOAM_EFORMAT, "tensor %.80s appears twice", mf->tensors[i].name);
  rc = split_fused_experts(mf, err);
  if (rc < 0) return rc;
  check_ctx c = {mf, err};
  return config_for_each_tensor(&mf->cfg, check_one, &c);
}

int model_files_open(model_files **out, const char *path, const model_open_opts *opts, char *err) {
  *out = NULL;
  err_clear(err);
  struct stat st;
  if (stat(path, &st) < 0) {
    int e = errno;
    return err_set(err, e == ENOENT ? GLOAM_ENOENT : GLOAM_EIO, "%s: %s", path, strerror(e));
  }
  int q = opts ? opts->quantize : -1;
  if (q == DT_F32) q = -1;
  if (q != -1 && q != DT_Q8_0 && q != DT_Q4_0 && q != DT_Q4_K && q != DT_Q6_K)
    return err_set(err, GLOAM_EINVAL, "quantize: unsupported target type %d", q);
  model_files *mf = mem_calloc(1, sizeof *mf);
  if (!mf) return err_set(err, GLOAM_ENOMEM, "out of memory");
  int rc;
  mf->path = mem_strdup(path);
  if (!mf->path) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto fail;
  }
  if (S_ISDIR(st.st_mode)) {
    mf->format = "safetensors";
    rc = open_dir(mf, path, opts, err);
  } else {
    mf->format = "gguf";
    rc = mf_open_gguf(mf, path, err);
  }
  if (rc < 0) goto fail;
  if ((rc = finish(mf, err)) < 0) goto fail;
  if (q != -1 && (rc = mf_quantize(mf, (enum dtype)q, err)) < 0) goto fail;
  *out = mf;
  return 0;
fail:
  model_files_close(mf);
  return rc;
}

int model_files_open_gguf_buffer(model_files **out, const uint8_t *buf, size_t len, char *err) {
  *out = NULL;
  err_clear(err);
  model_files *mf = mem_calloc(1, sizeof *mf);
  if (!mf) return err_set(err, GLOAM_ENOMEM, "out of memory");
  int rc;
  mf->format = "gguf";
  mf->path = mem_strdup("(memory)");
  if (!mf->path) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto fail;
  }
  if ((rc = mf_load_gguf(mf, buf, len, err)) < 0 || (rc = finish(mf, err)) < 0) goto fail;
  *out = mf;
  return 0;
fail:
  model_files_close(mf);
  return rc;
}

void model_files_close(model_files *mf) {
  if (!mf) return;
  for (int i = 0; i < mf->n_tensors; i++) mem_free((char *)mf->tensors[i].name);
  mem_free(mf->tensors);
  for (int i = 0; i < mf->n_owned; i++) free(mf->owned[i]);
  mem_free(mf->owned);
  for (int i = 0; i < mf->n_maps; i++) munmap(mf->maps[i].p, mf->maps[i].len);
  mem_free(mf->maps);
  mf_gguf_free(mf);
  mem_free(mf->path);
  mem_free(mf);
}

const model_config *model_files_config(const model_files *mf) {
  return &mf->cfg;
}

const tensor *model_files_tensor(const model_files *mf, const char *name) {
  tensor k = {.name = name};
  return bsearch(&k, mf->tensors, (size_t)mf->n_tensors, sizeof k, cmp_name);
}

int model_files_n_tensors(const model_files *mf) {
  return mf->n_tensors;
}

const tensor *model_files_tensor_at(const model_files *mf, int i) {
  return (i >= 0 && i < mf->n_tensors) ? &mf->tensors[i] : NULL;
}

void model_files_advise_random(model_files *mf) {
  for (int i = 0; i < mf->n_maps; i++) (void)madvise(mf->maps[i].p, mf->maps[i].len, MADV_RANDOM);
}

const char *model_files_format(const model_files *mf) {
  return mf->format;
}

const char *model_files_path(const model_files *mf) {
  return mf->path;
}
