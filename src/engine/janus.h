/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/janus.h: the internals of gloam/image.h for Janus-Pro
 * (JanusForConditionalGeneration): its configuration (vq_config), the
 * image-generation weights bound on top of the Llama language model
 * (generation embeddings, aligner MLP, generation head) and the VQ-GAN
 * decoder.
 *
 * DESIGN: the language model is an ordinary gloam_model (config.c reads
 * Janus's text_config, model_files.c maps "model.language_model." onto
 * "model."), so the forward pass, KV caches and kernels are the text
 * engine's; image generation adds two hooks to forward_rows() (input
 * embeddings in, normed hidden states out; engine_impl.h). The VQ decoder
 * (vq_decoder.c) runs channels-last on the conv / GroupNorm kernels.
 *
 * Files: janus_load.c (config and binding), janus_gen.c (generation loop,
 * guidance, sampling), vq_decoder.c (tokens -> pixels), png.c (libpng).
 *
 * Ownership: a gloam_image_model owns its gloam_model, arena and tokenizer.
 * Thread safety: immutable after load.
 */
#ifndef GLOAM_ENGINE_JANUS_H
#define GLOAM_ENGINE_JANUS_H

#include "engine/engine_impl.h"
#include "gloam/image.h"
#include "gloam/tokenizer.h"
#include "kernels/conv.h"

#define JANUS_MAX_LEVELS 8
#define JANUS_MAX_RES 8
#define JANUS_MAX_ALIGNER 8
#define JANUS_MAX_GRID 64
#define JANUS_GROUPS 32 /* GroupNorm groups, fixed by the reference */

/* vq_config (and the special tokens) of a Janus checkpoint. */
typedef struct janus_cfg {
  int n_codes;   /* num_embeddings: image-token vocabulary */
  int embed_dim; /* codebook and generation-embedding width */
  int latent;    /* latent_channels */
  int base;      /* base_channels */
  int n_levels;  /* len(channel_multiplier) */
  int mult[JANUS_MAX_LEVELS];
  int n_res;          /* num_res_blocks */
  int out_ch;         /* out_channels (3: RGB) */
  int grid;           /* num_patches: image tokens per side */
  int head_in;        /* image_token_embed_dim (= the language model's hidden) */
  int proj;           /* projection_dim */
  int aligner_layers; /* num_hidden_layers of the generation aligner */
} janus_cfg;

/* A linear layer: y = x W^T + b. */
typedef struct janus_linear {
  eng_mat w;
  const float *b; /* [w.rows] */
} janus_linear;

typedef struct vq_resblock {
  int cin, cout;
  const float *n1_g, *n1_b, *n2_g, *n2_b;
  kern_conv conv1, conv2, nin; /* nin.wt NULL when cin == cout */
} vq_resblock;

typedef struct vq_attn {
  int c;
  const float *n_g, *n_b;
  kern_conv q, k, v, proj; /* 1 x 1 */
} vq_attn;

typedef struct vq_level {
  vq_resblock block[JANUS_MAX_RES + 1];
  vq_attn attn[JANUS_MAX_RES + 1];
  bool has_attn, upsample;
  kern_conv up_conv;
  int res; /* input resolution of this level */
} vq_level;

typedef struct vq_decoder {
  const janus_cfg *cfg;
  const float *codebook; /* [n_codes, embed_dim] */
  kern_conv post_quant, conv_in;
  vq_resblock mid1, mid2;
  vq_attn mid_attn;
  vq_level up[JANUS_MAX_LEVELS];
  const float *out_g, *out_b;
  kern_conv conv_out;
  int out_res;     /* output width = height */
  size_t buf_len;  /* floats of each of the three activation buffers */
  size_t col_len;  /* floats of im2col scratch */
  size_t attn_len; /* floats of attention scratch */
} vq_decoder;

struct gloam_image_model {
  gloam_model *lm;
  gloam_tokenizer *tok; /* NULL without tokenizer.json */
  janus_cfg cfg;
  arena ar;                                /* float32 copies of biases, norms, conv weights */
  eng_mat gen_embed;                       /* [n_codes, embed_dim] */
  janus_linear aligner[JANUS_MAX_ALIGNER]; /* fc1, hidden_layers.* */
  janus_linear head_proj, head_out;        /* proj_out, vision_head */
  vq_decoder vq;
  int32_t pad_id, boi_id, bos_id; /* -1 when unknown */
  int n_threads;
  bool kv_f16;
};

/* Parses config.json's vq_config into *c (janus_load.c). 0, GLOAM_EFORMAT,
 * GLOAM_EUNSUPPORTED. */
int janus_cfg_parse(janus_cfg *c, const char *json, size_t len, char *err);

/* Binds the decoder's weights from mf (float32 copies in ar, convolution
 * weights reordered to OHWI) and sizes its buffers. 0, GLOAM_ENOENT,
 * GLOAM_EFORMAT, GLOAM_ENOMEM. */
int vq_decoder_bind(vq_decoder *d, const janus_cfg *c, const model_files *mf, arena *ar, char *err);

/* Names every decoder tensor of c (Hugging Face names, shapes outermost
 * first) to fn in load order, e.g. to write a random-weight checkpoint; a
 * negative return from fn stops the walk and is returned. */
typedef int (*janus_tensor_fn)(void *ctx, const char *name, int nd, const int64_t *shape);
int vq_decoder_walk(const janus_cfg *c, janus_tensor_fn fn, void *ctx);

/* Decodes grid * grid tokens (ids < n_codes, checked by the caller) into
 * pixels [out_res, out_res, out_ch] (the reference's float output).
 * Scratch: 3 * buf_len + col_len + attn_len floats. Never allocates. */
void vq_decode(const vq_decoder *d, kern_pool *p, const int32_t *tokens, float *pixels,
               float *scratch);
size_t vq_scratch_len(const vq_decoder *d);

/* The tensor name of exactly shape[0 .. nd) as float32 in ar (rows of the
 * innermost dimension dequantized from the stored type). OUT: *out.
 * 0, GLOAM_ENOENT, GLOAM_EFORMAT, GLOAM_ENOMEM. */
int janus_tensor_f32(const float **out, const model_files *mf, arena *ar, const char *name, int nd,
                     const int64_t *shape, char *err);

/* Teacher forcing (tests): the conditional generation-head logits
 * [n_img_tok, n_codes] for image token i given the prompt ids and image
 * tokens 0 .. i-1 fed back through the generation embeddings and aligner,
 * no guidance. 0 or gloam_image_generate()'s codes. */
int janus_teacher_forced(const gloam_image_model *im, const int32_t *prompt, int n_prompt,
                         const int32_t *img, int n_img_tok, float *logits, char *err);

/* exact (erf) GELU in place, ACT2FN["gelu"] */
void janus_gelu(float *x, size_t n);

#endif
