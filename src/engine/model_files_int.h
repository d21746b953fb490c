/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/model_files_int.h: the inside of a model_files handle, shared by
 * model_files.c (directories, table, checks), gguf_load.c (GGUF files) and
 * the quantize-on-load pass. Not used outside the model-loading code.
 *
 * Ownership: the handle owns mappings, owned buffers, tensor names and the
 * GGUF context; see model_files.h. Not thread-safe while being built.
 */
#ifndef GLOAM_ENGINE_MODEL_FILES_INT_H
#define GLOAM_ENGINE_MODEL_FILES_INT_H

#include "engine/model_files.h"

typedef struct mf_mapping {
  void *p;
  size_t len;
} mf_mapping;

struct gguf_ctx;

struct model_files {
  model_config cfg;
  char *path;
  const char *format; /* static string */
  tensor *tensors;    /* sorted by name once built; names owned */
  int n_tensors, cap_tensors;
  mf_mapping *maps;
  int n_maps, cap_maps;
  void **owned; /* 64-byte aligned buffers (free()) */
  int n_owned, cap_owned;
  struct gguf_ctx *gguf; /* GGUF metadata, NULL for safetensors */
};

/* Maps path read-only into mf (unmapped at close). */
int mf_map_file(model_files *mf, const char *path, const uint8_t **out, size_t *out_len, char *err);
/* A 64-byte aligned buffer of n bytes owned by mf; NULL (err set) on OOM. */
void *mf_own(model_files *mf, size_t n, char *err);
/* Appends a tensor; takes ownership of name (a mem_alloc'd string) even on
 * failure. data must stay valid for mf's lifetime. */
int mf_add(model_files *mf, char *name, enum dtype type, int n_dims, const int64_t *shape,
           const void *data, size_t n_bytes, char *err);

/* Multimodal prefixes ("language_model.model.", "model.language_model.",
 * "language_model.lm_head.") -> the text model's names, in place. */
void mf_canonical_name(char *name);

/* mlx_load.c: MLX-quantized safetensors (engine/mlx_load.h). */
int mf_mlx_prepare(model_files *mf, const char *config_path, char *err);

/* gguf_load.c: fills mf (config and tensors) from a .gguf file. */
int mf_open_gguf(model_files *mf, const char *path, char *err);
/* The same from a buffer (borrowed: must outlive mf). */
int mf_load_gguf(model_files *mf, const uint8_t *buf, size_t len, char *err);

/* model_files.c: a model from a GGUF image in memory, with every check of
 * model_files_open() (for the fuzzer and tests). buf must outlive *out. */
int model_files_open_gguf_buffer(model_files **out, const uint8_t *buf, size_t len, char *err);
void mf_gguf_free(model_files *mf);

/* model_quant.c: quantize-on-load of 2-D weight matrices to t. */
int mf_quantize(model_files *mf, enum dtype t, char *err);

#endif
