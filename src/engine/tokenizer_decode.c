/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/tokenizer_decode.c: ids back to text, whole or streamed.
 *
 * DESIGN: tokenizers' decoders work on the list of token strings; every
 * decoder gloam supports is per token except that steps after a Fuse see the
 * whole text as one token, and Metaspace treats the first token specially.
 * So each token is run through the steps on its own (a Strip after Fuse
 * applies to the first token only), producing bytes; ByteLevel and
 * ByteFallback turn tokens into raw bytes that may end mid-character.
 * ByteFallback bytes are grouped as tokenizers does (a run of <0xXX> tokens
 * becomes its text if valid UTF-8, else one U+FFFD per token); the
 * concatenated bytes become text with invalid sequences replaced by U+FFFD
 * (what tokenizers' ByteLevel decoder does). The streaming decoder holds back
 * a trailing, still-valid prefix of a multi-byte character, and a run of
 * ByteFallback bytes until the run ends, so its pieces concatenate to exactly
 * the full decode.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "engine/normalize.h"
#include "engine/tokenizer_int.h"

#define DEC_MAX_OUT ((size_t)1 << 30)

/* Consecutive ByteFallback bytes, resolved as tokenizers' ByteFallback
 * decoder does when the run ends: the bytes if they are valid UTF-8, else
 * one U+FFFD per byte token. */
typedef struct byte_group {
  buf bytes;
  size_t n_tok;
} byte_group;

struct gloam_tok_stream {
  const gloam_tokenizer *t;
  unsigned flags;
  bool first;
  buf pending;     /* bytes not yet emitted */
  byte_group g;    /* ByteFallback bytes, held until their run ends */
  buf out;         /* last piece */
  buf w, tmp, one; /* per-token scratch */
};

static int hexv(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int replace_all(buf *w, buf *tmp, const char *pat, size_t pl, const char *rep, size_t rl) {
  if (pl == 0 || w->len < pl) return 0;
  buf_reset(tmp);
  size_t i = 0, run = 0;
  int rc = 0;
  while (rc == 0 && i + pl <= w->len) {
    if (memcmp(w->data + i, pat, pl) == 0) {
      rc = buf_append(tmp, w->data + run, i - run);
      if (rc == 0) rc = buf_append(tmp, rep, rl);
      i += pl;
      run = i;
    } else {
      i++;
    }
  }
  if (rc == 0) rc = buf_append(tmp, w->data + run, w->len - run);
  if (rc < 0) return rc;
  buf sw = *w;
  *w = *tmp;
  *tmp = sw;
  return 0;
}

static int bytelevel(buf *w, buf *tmp) {
  buf_reset(tmp);
  for (size_t i = 0; i < w->len;) {
    size_t l = tok_utf8_len(w->data + i, w->len - i);
    int b = l ? bytelevel_byte(tok_utf8_decode(w->data + i, l)) : -1;
    if (b < 0) return 0; /* unmappable: tokenizers keeps the token's own bytes */
    int rc = buf_putc(tmp, (uint8_t)b);
    if (rc < 0) return rc;
    i += l;
  }
  buf sw = *w;
  *w = *tmp;
  *tmp = sw;
  return 0;
}

/* Strips up to strip_start leading copies of the content character. The
 * end of the text is unknown while streaming, so strip_stop is not applied
 * (docs/tokenizer.md). */
static void strip_char(buf *w, const dec_step *s, bool apply) {
  size_t a = 0;
  for (int k = 0; apply && k < s->strip_start; k++) {
    if (w->len - a < s->repl_len || memcmp(w->data + a, s->repl, s->repl_len) != 0) break;
    a += s->repl_len;
  }
  memmove(w->data, w->data + a, w->len - a);
  w->len -= a;
  w->data[w->len] = 0;
}

/* Appends the bytes of token id to out. OUT: *is_byte: ByteFallback turned
 * the token into a raw byte (the caller groups those, see group_flush). */
static int decode_token(const gloam_tokenizer *t, int32_t id, bool first, buf *w, buf *tmp,
                        buf *out, bool *is_byte) {
  *is_byte = false;
  if (id < 0 || (size_t)id >= t->n_ids || !t->tokens[id].p) return 0;
  buf_reset(w);
  int rc = buf_append(w, t->tokens[id].p, t->tokens[id].len);
  bool fused = false;
  for (int i = 0; rc == 0 && i < t->n_dec; i++) {
    const dec_step *s = &t->dec[i];
    switch (s->type) {
      case DEC_BYTELEVEL:
        rc = bytelevel(w, tmp);
        break;
      case DEC_REPLACE:
        rc = replace_all(w, tmp, s->pat, s->pat_len, s->content, s->content_len);
        break;
      case DEC_BYTE_FALLBACK:
        if (w->len == 6 && memcmp(w->data, "<0x", 3) == 0 && w->data[5] == '>' &&
            hexv(w->data[3]) >= 0 && hexv(w->data[4]) >= 0) {
          uint8_t b = (uint8_t)(hexv(w->data[3]) * 16 + hexv(w->data[4]));
          buf_reset(w);
          rc = buf_putc(w, b);
          *is_byte = true;
        }
        break;
      case DEC_FUSE:
        fused = true;
        break;
      case DEC_STRIP:
        strip_char(w, s, fused ? first : true);
        break;
      case DEC_METASPACE:
        rc = replace_all(w, tmp, s->repl, s->repl_len, " ", 1);
        if (rc == 0 && first && s->prepend != PREPEND_NEVER && w->len > 0 && w->data[0] == ' ') {
          memmove(w->data, w->data + 1, w->len - 1);
          w->len--;
        }
        break;
    }
  }
  if (rc == 0) rc = buf_append(out, w->data, w->len);
  return rc;
}

static int group_flush(byte_group *g, buf *out) {
  int rc = 0;
  if (tok_utf8_valid(g->bytes.data, g->bytes.len))
    rc = buf_append(out, g->bytes.data, g->bytes.len);
  else
    for (size_t i = 0; rc == 0 && i < g->n_tok; i++) rc = buf_append(out, "\xEF\xBF\xBD", 3);
  buf_reset(&g->bytes);
  g->n_tok = 0;
  return rc;
}

/* Decodes one token into out, through the byte group. */
static int decode_grouped(const gloam_tokenizer *t, int32_t id, bool first, buf *w, buf *tmp,
                          buf *one, byte_group *g, buf *out) {
  bool is_byte;
  buf_reset(one);
  int rc = decode_token(t, id, first, w, tmp, one, &is_byte);
  if (rc < 0) return rc;
  if (is_byte) {
    g->n_tok++;
    return buf_append(&g->bytes, one->data, one->len);
  }
  if (g->n_tok > 0 && (rc = group_flush(g, out)) < 0) return rc;
  return buf_append(out, one->data, one->len);
}

GLOAM_API int gloam_tokenizer_decode(const gloam_tokenizer *tok, const int32_t *ids, size_t n,
                                     unsigned flags, char **out_text, size_t *out_len) {
  if (!tok || !out_text || !out_len || (!ids && n)) return GLOAM_EINVAL;
  *out_text = NULL;
  *out_len = 0;
  buf raw, w, tmp, one, text;
  byte_group g = {.n_tok = 0};
  buf_init(&raw, DEC_MAX_OUT);
  buf_init(&w, DEC_MAX_OUT);
  buf_init(&tmp, DEC_MAX_OUT);
  buf_init(&one, DEC_MAX_OUT);
  buf_init(&text, DEC_MAX_OUT);
  buf_init(&g.bytes, DEC_MAX_OUT);
  int rc = buf_reserve(&raw, 0);
  bool first = true;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if ((flags & GLOAM_TOK_SKIP_SPECIAL) && gloam_tokenizer_is_special(tok, ids[i])) continue;
    if (ids[i] < 0 || (size_t)ids[i] >= tok->n_ids || !tok->tokens[ids[i]].p) continue;
    rc = decode_grouped(tok, ids[i], first, &w, &tmp, &one, &g, &raw);
    first = false;
  }
  if (rc == 0 && g.n_tok > 0) rc = group_flush(&g, &raw);
  if (rc == 0) rc = tok_utf8_sanitize(raw.data, raw.len, &text);
  if (rc == 0) rc = buf_reserve(&text, 0);
  if (rc == 0) *out_text = (char *)buf_take(&text, out_len);
  if (rc == 0 && !*out_text) {
    *out_text = mem_strdup("");
    if (!*out_text) rc = GLOAM_ENOMEM;
  }
  buf_deinit(&raw);
  buf_deinit(&w);
  buf_deinit(&tmp);
  buf_deinit(&one);
  buf_deinit(&text);
  buf_deinit(&g.bytes);
  return rc;
}

/* ---- streaming ---- */

GLOAM_API int gloam_tok_stream_new(const gloam_tokenizer *tok, unsigned flags,
                                   gloam_tok_stream **out) {
  if (!tok || !out) return GLOAM_EINVAL;
  gloam_tok_stream *s = mem_calloc(1, sizeof *s);
  if (!s) return GLOAM_ENOMEM;
  s->t = tok;
  s->flags = flags;
  s->first = true;
  buf_init(&s->pending, DEC_MAX_OUT);
  buf_init(&s->out, DEC_MAX_OUT);
  buf_init(&s->w, DEC_MAX_OUT);
  buf_init(&s->tmp, DEC_MAX_OUT);
  buf_init(&s->one, DEC_MAX_OUT);
  buf_init(&s->g.bytes, DEC_MAX_OUT);
  *out = s;
  return 0;
}

GLOAM_API void gloam_tok_stream_free(gloam_tok_stream *s) {
  if (!s) return;
  buf_deinit(&s->pending);
  buf_deinit(&s->out);
  buf_deinit(&s->w);
  buf_deinit(&s->tmp);
  buf_deinit(&s->one);
  buf_deinit(&s->g.bytes);
  mem_free(s);
}

/* Length of the trailing bytes of p that are a proper, still-valid prefix of
 * a multi-byte character (0..3). */
static size_t incomplete_tail(const uint8_t *p, size_t n) {
  for (size_t back = 1; back <= 3 && back <= n; back++) {
    uint8_t b = p[n - back];
    if ((b & 0xC0) == 0x80) continue; /* continuation: look further back */
    size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    if (need <= back) return 0;
    /* Valid so far? Complete it with continuation bytes and check. */
    uint8_t probe[4];
    memcpy(probe, p + n - back, back);
    for (size_t k = back; k < need; k++) probe[k] = 0x80;
    bool ok = tok_utf8_len(probe, need) == need;
    if (!ok && back == 1) {
      /* E0/ED/F0/F4 constrain the second byte; try its bounds. */
      probe[1] = 0xA0;
      ok = tok_utf8_len(probe, need) == need;
      if (!ok) {
        probe[1] = 0x90;
        ok = tok_utf8_len(probe, need) == need;
      }
    }
    return ok ? back : 0;
  }
  return 0;
}

static int emit(gloam_tok_stream *s, size_t keep, const char **out_text, size_t *out_len) {
  int rc = tok_utf8_sanitize(s->pending.data, s->pending.len - keep, &s->out);
  if (rc < 0) return rc;
  memmove(s->pending.data, s->pending.data + s->pending.len - keep, keep);
  s->pending.len = keep;
  s->pending.data[keep] = 0;
  *out_text = (const char *)s->out.data;
  *out_len = s->out.len;
  return 0;
}

GLOAM_API int gloam_tok_stream_push(gloam_tok_stream *s, int32_t id, const char **out_text,
                                    size_t *out_len) {
  if (!s || !out_text || !out_len) return GLOAM_EINVAL;
  *out_text = "";
  *out_len = 0;
  int rc = buf_reserve(&s->pending, 0);
  if (rc < 0) return rc;
  const gloam_tokenizer *t = s->t;
  bool skip = ((s->flags & GLOAM_TOK_SKIP_SPECIAL) && gloam_tokenizer_is_special(t, id)) ||
              id < 0 || (size_t)id >= t->n_ids || !t->tokens[id].p;
  if (!skip) {
    rc = decode_grouped(t, id, s->first, &s->w, &s->tmp, &s->one, &s->g, &s->pending);
    if (rc < 0) return rc;
    s->first = false;
  }
  return emit(s, incomplete_tail(s->pending.data, s->pending.len), out_text, out_len);
}

GLOAM_API int gloam_tok_stream_flush(gloam_tok_stream *s, const char **out_text, size_t *out_len) {
  if (!s || !out_text || !out_len) return GLOAM_EINVAL;
  int rc = buf_reserve(&s->pending, 0);
  if (rc == 0 && s->g.n_tok > 0) rc = group_flush(&s->g, &s->pending);
  if (rc < 0) return rc;
  rc = emit(s, 0, out_text, out_len);
  s->first = true;
  return rc;
}
