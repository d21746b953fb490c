/* SPDX-License-Identifier: Apache-2.0
 *
 * tokenizer.h: Hugging Face tokenizers (tokenizer.json + tokenizer_config.json),
 * reproduced byte for byte: BPE as Qwen3, Llama 3 (byte-level) and Gemma 3
 * (SentencePiece-style, byte fallback) use it, added/special tokens,
 * normalizers, pre-tokenizers, post-processors and decoders.
 *
 *   char err[GLOAM_ERR_LEN];
 *   gloam_tokenizer *tok;
 *   if (gloam_tokenizer_load(&tok, "models/qwen3", err) < 0) die(err);
 *   int32_t *ids; size_t n;
 *   if (gloam_tokenizer_encode(tok, "Hello!", 6, GLOAM_TOK_ADD_SPECIAL, &ids, &n) == 0) {
 *     char *text; size_t len;
 *     gloam_tokenizer_decode(tok, ids, n, 0, &text, &len);   // "Hello!"
 *     gloam_tokenizer_buf_free(text);
 *     gloam_tokenizer_buf_free(ids);
 *   }
 *   // streaming: text comes out only when a UTF-8 character is complete
 *   gloam_tok_stream *s;
 *   gloam_tok_stream_new(tok, 0, &s);
 *   for (each generated id) {
 *     const char *piece; size_t piece_len;
 *     gloam_tok_stream_push(s, id, &piece, &piece_len);  // piece may be empty
 *   }
 *   gloam_tok_stream_free(s);
 *   gloam_tokenizer_free(tok);
 *
 * Ownership: gloam_tokenizer_load() returns a handle the caller frees with
 * gloam_tokenizer_free(). Strings returned by accessors are borrowed and valid
 * until then. Arrays and text returned by encode/decode are owned by the
 * caller and freed with gloam_tokenizer_buf_free().
 *
 * Thread safety: a loaded tokenizer is immutable; any number of threads may
 * encode, decode and create streams on one handle at once. A gloam_tok_stream
 * or gloam_tok_encoder belongs to one thread at a time.
 *
 * Limits: tokenizer.json up to 512 MiB (after gunzip), 4M vocabulary entries,
 * 4M merges, 64K added tokens, tokens of up to 1 KiB; a file over a limit or
 * malformed gives GLOAM_EFORMAT / GLOAM_ETOOBIG with detail text. Encode
 * accepts up to 256 MiB of text; each maximal invalid UTF-8 sequence in the
 * input is read as U+FFFD (like Python's bytes.decode(errors="replace")).
 *
 * GGUF models: the engine builds the tokenizer from the file's
 * tokenizer.ggml.* metadata (src/engine/tokenizer_gguf.h).
 */
#ifndef GLOAM_TOKENIZER_H
#define GLOAM_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gloam/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gloam_tokenizer gloam_tokenizer;
typedef struct gloam_tok_stream gloam_tok_stream;
typedef struct gloam_tok_encoder gloam_tok_encoder;

/* encode flags */
#define GLOAM_TOK_ADD_SPECIAL 0x1u   /* apply the post-processor (e.g. prepend BOS) */
#define GLOAM_TOK_SPLIT_SPECIAL 0x2u /* treat special-token text as plain text */
/* decode / stream flags */
#define GLOAM_TOK_SKIP_SPECIAL 0x1u /* drop tokens marked "special" */

/* Loads a tokenizer. path: a directory holding tokenizer.json or
 * tokenizer.json.gz (and, optionally, tokenizer_config.json), or the path of
 * a tokenizer.json[.gz] file itself (tokenizer_config.json is then looked for
 * beside it). OUT: *out. err: GLOAM_ERR_LEN bytes for detail text (may be NULL).
 * Returns 0, GLOAM_ENOENT, GLOAM_EIO, GLOAM_EFORMAT (malformed or hostile),
 * GLOAM_ETOOBIG (over a limit), GLOAM_EUNSUPPORTED (model or component type
 * gloam does not implement), GLOAM_ENOMEM. */
GLOAM_API int gloam_tokenizer_load(gloam_tokenizer **out, const char *path, char *err);

/* The same from memory: tokenizer.json bytes (plain JSON) and optional
 * tokenizer_config.json bytes (config may be NULL). Inputs are borrowed. */
GLOAM_API int gloam_tokenizer_load_mem(gloam_tokenizer **out, const void *json, size_t json_len,
                                       const void *config, size_t config_len, char *err);

/* Frees the tokenizer; NULL is a no-op. No stream may outlive it. */
GLOAM_API void gloam_tokenizer_free(gloam_tokenizer *tok);

/* Frees an array or string returned by encode or decode; NULL is a no-op. */
GLOAM_API void gloam_tokenizer_buf_free(void *p);

/* Encodes text (len bytes, need not be NUL-terminated). Added tokens are
 * matched first; with GLOAM_TOK_SPLIT_SPECIAL those marked special are not
 * (their text is encoded as ordinary text, like tokenizers'
 * encode_special_tokens). GLOAM_TOK_ADD_SPECIAL runs the post-processor.
 * OUT: *out_ids (owned, NULL when *out_n == 0), *out_n.
 * Returns 0, GLOAM_EINVAL, GLOAM_ETOOBIG (text over the limit), GLOAM_ENOMEM. */
GLOAM_API int gloam_tokenizer_encode(const gloam_tokenizer *tok, const char *text, size_t len,
                                     unsigned flags, int32_t **out_ids, size_t *out_n);

/* A reusable encoding state for one thread: scratch buffers and a cache of
 * the words it has already encoded, so repeated calls (a server encoding
 * prompts) skip most BPE work. gloam_tokenizer_encode() is the same with a
 * fresh state per call. The cache is bounded (64K words, a few MiB) and
 * restarts when full. tok must outlive it; one thread at a time.
 * OUT: *out. Returns 0, GLOAM_EINVAL, GLOAM_ENOMEM. */
GLOAM_API int gloam_tok_encoder_new(const gloam_tokenizer *tok, gloam_tok_encoder **out);
/* As gloam_tokenizer_encode(), same results. */
GLOAM_API int gloam_tok_encoder_encode(gloam_tok_encoder *enc, const char *text, size_t len,
                                       unsigned flags, int32_t **out_ids, size_t *out_n);
GLOAM_API void gloam_tok_encoder_free(gloam_tok_encoder *enc);

/* Decodes ids to UTF-8 text (NUL-terminated; invalid sequences become
 * U+FFFD). Unknown ids are skipped. OUT: *out_text (owned), *out_len.
 * Returns 0, GLOAM_EINVAL, GLOAM_ENOMEM. */
GLOAM_API int gloam_tokenizer_decode(const gloam_tokenizer *tok, const int32_t *ids, size_t n,
                                     unsigned flags, char **out_text, size_t *out_len);

/* Streaming decoder for generated tokens. OUT: *out (free with
 * gloam_tok_stream_free). Returns 0, GLOAM_EINVAL, GLOAM_ENOMEM. */
GLOAM_API int gloam_tok_stream_new(const gloam_tokenizer *tok, unsigned flags,
                                   gloam_tok_stream **out);
/* Adds one token. OUT: *out_text and *out_len: the text completed by it (often
 * empty while a multi-byte character is split across tokens). Borrowed;
 * valid until the next call on s. Concatenating every piece and the final
 * flush gives exactly gloam_tokenizer_decode() of the same ids.
 * Returns 0, GLOAM_ENOMEM. */
GLOAM_API int gloam_tok_stream_push(gloam_tok_stream *s, int32_t id, const char **out_text,
                                    size_t *out_len);
/* Emits what is pending (an incomplete character becomes U+FFFD) and resets
 * the stream for a new sequence. Same output contract as push. */
GLOAM_API int gloam_tok_stream_flush(gloam_tok_stream *s, const char **out_text, size_t *out_len);
GLOAM_API void gloam_tok_stream_free(gloam_tok_stream *s);

/* Number of ids (highest id + 1, vocabulary and added tokens). */
GLOAM_API size_t gloam_tokenizer_vocab_size(const gloam_tokenizer *tok);
/* The token's string as stored in tokenizer.json (byte-level tokens in their
 * mapped form, e.g. "Ġthe"); NULL for an unknown id. Borrowed. */
GLOAM_API const char *gloam_tokenizer_id_to_token(const gloam_tokenizer *tok, int32_t id);
/* The id of a token string (vocabulary or added token); -1 if none. */
GLOAM_API int32_t gloam_tokenizer_token_to_id(const gloam_tokenizer *tok, const char *token);
/* Whether id is an added token marked "special". */
GLOAM_API bool gloam_tokenizer_is_special(const gloam_tokenizer *tok, int32_t id);

enum gloam_tok_role {
  GLOAM_TOK_BOS = 0,
  GLOAM_TOK_EOS,
  GLOAM_TOK_PAD,
  GLOAM_TOK_UNK,
};
/* Special token strings from tokenizer_config.json (bos_token, eos_token,
 * pad_token, unk_token); NULL when unset. Borrowed. */
GLOAM_API const char *gloam_tokenizer_role_token(const gloam_tokenizer *tok,
                                                 enum gloam_tok_role role);
/* Their ids; -1 when unset or not in the vocabulary. */
GLOAM_API int32_t gloam_tokenizer_role_id(const gloam_tokenizer *tok, enum gloam_tok_role role);
/* The raw chat template (tokenizer_config.json "chat_template"; for a list of
 * named templates, the one named "default"); NULL when none. Borrowed. */
GLOAM_API const char *gloam_tokenizer_chat_template(const gloam_tokenizer *tok);

#ifdef __cplusplus
}
#endif
#endif /* GLOAM_TOKENIZER_H */
