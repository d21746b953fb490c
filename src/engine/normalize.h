/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/normalize.h: the tokenizer's normalizers (NFC, NFD, NFKC, NFKD,
 * Lowercase, Replace, Prepend, Strip; Sequence is flattened at load) and
 * small UTF-8 helpers. Unicode tables come from utf8proc.
 *
 * Thread safety: pure functions of their inputs; the tokenizer is only read.
 */
#ifndef GLOAM_ENGINE_NORMALIZE_H
#define GLOAM_ENGINE_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "engine/tokenizer_int.h"

/* Rust's char::is_whitespace (the Unicode White_Space property). */
bool tok_is_space(uint32_t cp);

/* Copies text into out, replacing each invalid UTF-8 sequence with U+FFFD
 * (one per maximal invalid subpart, like Rust's from_utf8_lossy). */
int tok_utf8_sanitize(const uint8_t *p, size_t n, buf *out);

/* True if p[0..n) is valid UTF-8. */
bool tok_utf8_valid(const uint8_t *p, size_t n);

/* Runs the tokenizer's normalizer steps over p[0..n); the result replaces
 * out's contents. tmp is scratch. Returns 0, GLOAM_ENOMEM, GLOAM_ETOOBIG. */
int normalize_apply(const gloam_tokenizer *t, const uint8_t *p, size_t n, buf *out, buf *tmp);

#endif
