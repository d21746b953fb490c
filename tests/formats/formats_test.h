/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/formats/formats_test.h: helpers shared by the two source files of
 * the `formats` test binary (test_formats.c: config, safetensors,
 * quantize-on-load, allocation sweeps; test_gguf.c: GGUF reader, writer,
 * converter, hostile GGUF, tokenizer metadata).
 *
 * Ownership: returned paths are malloc'd; the caller frees them.
 */
#ifndef GLOAM_TESTS_FORMATS_TEST_H
#define GLOAM_TESTS_FORMATS_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/model_files.h"

#define N_FAMILIES 6
extern const char *const k_families[N_FAMILIES];

/* Fixture model directory (skips the test when fixtures are missing). */
char *fixture_dir(const char *fam);
void write_file(const char *path, const void *p, size_t n);
void copy_file(const char *from, const char *to);
void assert_config_eq(const model_config *a, const model_config *b);
/* Opens or fails the test with the error text. */
model_files *open_ok(const char *path, const model_open_opts *o);
/* model_files_open's code; asserts err is set on failure. */
int open_err(const char *path, char *err);
/* Row r of an F32/F16/BF16 tensor as float32. */
void row_f32(const tensor *t, int64_t r, float *out);
/* Per-32-block error of quantized q against o within rel_bound * amax. */
void check_quantized(const tensor *o, const tensor *q, double rel_bound);
/* A safetensors file of the given tensors. */
void st_write(const char *path, const tensor *const *t, int n);
/* Copies a fixture's config.json and generation_config.json into dir. */
void setup_dir(const char *fam, const char *dir);
/* Converts a fixture to a GGUF in a fresh temporary directory. */
char *convert_tmp(const char *fam, enum dtype t, const char *tag, bool keys_only);

void test_gguf_permutation(void);
void test_gguf_roundtrip(void);
void test_gguf_layout(void);
void test_gguf_llama3_fit(void);
void test_gguf_llama_bias(void);
void test_gguf_kv_types(void);
void test_gguf_hostile(void);
void test_gguf_foreign_files(void);
void test_gguf_hostile_metadata(void);
void test_gguf_tokenizer(void);

#endif
