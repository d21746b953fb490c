/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/jinja_lex.c: template source -> tokens.
 *
 * Mirrors Jinja's lexer with the environment Hugging Face uses for chat
 * templates (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline
 * False):
 *   - newlines are normalised to "\n" and one trailing newline is dropped;
 *   - `{%-`, `{{-`, `{#-` strip all whitespace before the tag, `-%}`, `-}}`,
 *     `-#}` all whitespace after it;
 *   - trim_blocks: the first "\n" after `%}` or `#}` is removed (`+%}` keeps it);
 *   - lstrip_blocks: spaces and tabs from the start of a line up to `{%` or
 *     `{#` are removed (`{%+` keeps them), where "start of a line" includes
 *     text that follows a tag whose end consumed a newline;
 *   - inside `{{ }}` and `{% %}` an end marker only counts when no bracket
 *     is open, so `{{ {'a': {'b': 1}} }}` works.
 * Comments are dropped. String literals are unescaped as Python's
 * unicode-escape codec does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "engine/jinja_ast.h"

typedef struct lexer {
  arena *a;
  const char *s;
  size_t n, pos;
  int line;
  bool line_starting;
  jtok *toks;
  size_t n_toks, cap;
  char *err;
} lexer;

static bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int lex_err(lexer *lx, int line, const char *msg) {
  return err_set(lx->err, GLOAM_EFORMAT, "template line %d: %s", line, msg);
}

static jtok *push(lexer *lx, uint8_t type, int line) {
  if (lx->n_toks == lx->cap) {
    size_t nc = lx->cap ? lx->cap * 2 : 256;
    jtok *nt = arena_alloc(lx->a, nc * sizeof(jtok));
    if (!nt) return NULL;
    if (lx->n_toks) memcpy(nt, lx->toks, lx->n_toks * sizeof(jtok));
    lx->toks = nt;
    lx->cap = nc;
  }
  jtok *t = &lx->toks[lx->n_toks++];
  memset(t, 0, sizeof *t);
  t->type = type;
  t->line = line;
  return t;
}

static void advance_lines(lexer *lx, size_t from, size_t to) {
  for (size_t i = from; i < to; i++)
    if (lx->s[i] == '\n') lx->line++;
}

/* Consumes whitespace after a `-` end marker, or one newline (trim). */
static void after_end(lexer *lx, char sign, bool trim) {
  size_t start = lx->pos;
  if (sign == '-') {
    while (lx->pos < lx->n && is_ws(lx->s[lx->pos])) lx->pos++;
  } else if (sign != '+' && trim && lx->pos < lx->n && lx->s[lx->pos] == '\n') {
    lx->pos++;
  }
  advance_lines(lx, start, lx->pos);
  lx->line_starting = lx->pos > start && lx->s[lx->pos - 1] == '\n';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Unescapes a string literal body into the arena (Python unicode-escape). */
static int unescape(lexer *lx, const char *p, size_t n, int line, jtok *t) {
  char *o = arena_alloc(lx->a, n + 1);
  if (!o) return GLOAM_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    if (p[i] != '\\' || i + 1 >= n) {
      o[k++] = p[i++];
      continue;
    }
    char c = p[i + 1];
    i += 2;
    uint32_t cp;
    switch (c) {
      case '\n':
        continue; /* line continuation */
      case '\\':
        o[k++] = '\\';
        continue;
      case '\'':
        o[k++] = '\'';
        continue;
      case '"':
        o[k++] = '"';
        continue;
      case 'a':
        o[k++] = '\a';
        continue;
      case 'b':
        o[k++] = '\b';
        continue;
      case 'f':
        o[k++] = '\f';
        continue;
      case 'n':
        o[k++] = '\n';
        continue;
      case 'r':
        o[k++] = '\r';
        continue;
      case 't':
        o[k++] = '\t';
        continue;
      case 'v':
        o[k++] = '\v';
        continue;
      case 'x':
      case 'u':
      case 'U': {
        int want = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        cp = 0;
        for (int j = 0; j < want; j++) {
          int h = i + (size_t)j < n ? hexval(p[i + (size_t)j]) : -1;
          if (h < 0) return lex_err(lx, line, "truncated \\x/\\u escape in string");
          cp = cp * 16 + (uint32_t)h;
        }
        i += (size_t)want;
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          cp = (uint32_t)(c - '0');
          for (int j = 0; j < 2 && i < n && p[i] >= '0' && p[i] <= '7'; j++, i++)
            cp = cp * 8 + (uint32_t)(p[i] - '0');
          break;
        }
        o[k++] = '\\'; /* unknown escapes stay as written */
        o[k++] = c;
        continue;
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return lex_err(lx, line, "escape is not a valid code point");
    k += jutf8_encode(cp, o + k); /* an escape is never shorter than its UTF-8 */
  }
  o[k] = '\0';
  t->str = o;
  t->len = k;
  return 0;
}

static int lex_number(lexer *lx, jtok *t) {
  const char *s = lx->s;
  size_t i = lx->pos, n = lx->n;
  char tmp[64];
  size_t k = 0;
  bool is_float = false;
  int base = 10;
  if (s[i] == '0' && i + 1 < n && strchr("xXoObB", s[i + 1])) {
    base = (s[i + 1] == 'x' || s[i + 1] == 'X') ? 16 : (s[i + 1] == 'o' || s[i + 1] == 'O') ? 8 : 2;
    i += 2;
    while (i < n && (hexval(s[i]) >= 0 || s[i] == '_')) {
      if (s[i] != '_' && k < sizeof tmp - 1) tmp[k++] = s[i];
      i++;
    }
  } else {
    while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_')) {
      if (s[i] != '_' && k < sizeof tmp - 1) tmp[k++] = s[i];
      i++;
    }
    bool after_dot = lx->n_toks > 0 && lx->toks[lx->n_toks - 1].type == JT_OP &&
                     lx->toks[lx->n_toks - 1].op == JOP_DOT;
    if (!after_dot && i + 1 < n && s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9') {
      is_float = true;
      if (k < sizeof tmp - 1) tmp[k++] = '.';
      i++;
      while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_')) {
        if (s[i] != '_' && k < sizeof tmp - 1) tmp[k++] = s[i];
        i++;
      }
    }
    if (!after_dot && i < n && (s[i] == 'e' || s[i] == 'E')) {
      size_t j = i + 1;
      if (j < n && (s[j] == '+' || s[j] == '-')) j++;
      if (j < n && s[j] >= '0' && s[j] <= '9') {
        is_float = true;
        while (i < j && k < sizeof tmp - 1) tmp[k++] = s[i++];
        while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_')) {
          if (s[i] != '_' && k < sizeof tmp - 1) tmp[k++] = s[i];
          i++;
        }
      }
    }
  }
  tmp[k] = '\0';
  if (k == 0 || k >= sizeof tmp - 1) return lex_err(lx, lx->line, "bad number literal");
  if (is_float) {
    t->type = JT_FLOAT;
    t->fval = strtod(tmp, NULL);
  } else {
    t->type = JT_INT;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(tmp, &end, base);
    if (errno || *end || v > INT64_MAX) return lex_err(lx, lx->line, "integer literal too large");
    t->ival = (int64_t)v;
  }
  lx->pos = i;
  return 0;
}

static const struct {
  const char *s;
  uint8_t op;
} OPS[] = {
    {"//", JOP_FLOORDIV}, {"**", JOP_POW},     {"==", JOP_EQ},    {"!=", JOP_NE},
    {">=", JOP_GE},       {"<=", JOP_LE},      {"+", JOP_ADD},    {"-", JOP_SUB},
    {"/", JOP_DIV},       {"*", JOP_MUL},      {"%", JOP_MOD},    {"~", JOP_CONCAT},
    {"[", JOP_LBRACKET},  {"]", JOP_RBRACKET}, {"(", JOP_LPAREN}, {")", JOP_RPAREN},
    {"{", JOP_LBRACE},    {"}", JOP_RBRACE},   {">", JOP_GT},     {"<", JOP_LT},
    {"=", JOP_ASSIGN},    {".", JOP_DOT},      {":", JOP_COLON},  {"|", JOP_PIPE},
    {",", JOP_COMMA},
};

/* Tokens inside {{ }} or {% %} up to and including the end marker. */
static int lex_tag(lexer *lx, bool block, int open_line) {
  const char *s = lx->s;
  int depth = 0;
  for (;;) {
    size_t ws = lx->pos;
    while (lx->pos < lx->n && is_ws(s[lx->pos])) lx->pos++;
    advance_lines(lx, ws, lx->pos);
    if (lx->pos >= lx->n) return lex_err(lx, open_line, "unclosed tag (missing '}}' or '%}')");
    size_t i = lx->pos, left = lx->n - i;
    if (depth == 0) {
      char sign = 0;
      size_t m = 0;
      const char *end = block ? "%}" : "}}";
      if (left >= 3 && (s[i] == '-' || (block && s[i] == '+')) && memcmp(s + i + 1, end, 2) == 0)
        sign = s[i], m = 3;
      else if (left >= 2 && memcmp(s + i, end, 2) == 0)
        m = 2;
      if (m) {
        if (!push(lx, block ? JT_BLOCK_END : JT_VAR_END, lx->line)) return GLOAM_ENOMEM;
        lx->pos += m;
        after_end(lx, sign, block);
        return 0;
      }
    }
    char c = s[i];
    jtok *t = push(lx, JT_NAME, lx->line);
    if (!t) return GLOAM_ENOMEM;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
      size_t j = i;
      while (j < lx->n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
                           (s[j] >= '0' && s[j] <= '9') || s[j] == '_'))
        j++;
      t->str = s + i;
      t->len = j - i;
      lx->pos = j;
    } else if (c >= '0' && c <= '9') {
      int rc = lex_number(lx, t);
      if (rc < 0) return rc;
    } else if (c == '\'' || c == '"') {
      size_t j = i + 1;
      int line = lx->line;
      while (j < lx->n && s[j] != c) j += (s[j] == '\\' && j + 1 < lx->n) ? 2 : 1;
      if (j >= lx->n) return lex_err(lx, line, "unterminated string literal");
      t->type = JT_STRING;
      int rc = unescape(lx, s + i + 1, j - i - 1, line, t);
      if (rc < 0) return rc;
      advance_lines(lx, i, j);
      lx->pos = j + 1;
    } else {
      size_t k;
      for (k = 0; k < sizeof OPS / sizeof OPS[0]; k++) {
        size_t ol = strlen(OPS[k].s);
        if (left >= ol && memcmp(s + i, OPS[k].s, ol) == 0) break;
      }
      if (k == sizeof OPS / sizeof OPS[0]) {
        char msg[48];
        snprintf(msg, sizeof msg, "unexpected character '%c'", c);
        return lex_err(lx, lx->line, msg);
      }
      t->type = JT_OP;
      t->op = OPS[k].op;
      lx->pos += strlen(OPS[k].s);
      if (t->op == JOP_LPAREN || t->op == JOP_LBRACKET || t->op == JOP_LBRACE) depth++;
      if ((t->op == JOP_RPAREN || t->op == JOP_RBRACKET || t->op == JOP_RBRACE) && depth > 0)
        depth--;
    }
  }
}

/* Copies src with "\r\n" and "\r" turned into "\n" and one trailing newline
 * dropped (keep_trailing_newline=False). */
static int normalise(lexer *lx, const char *src, size_t n) {
  char *o = arena_alloc(lx->a, n + 1);
  if (!o) return GLOAM_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (src[i] == '\r') {
      o[k++] = '\n';
      if (i + 1 < n && src[i + 1] == '\n') i++;
    } else {
      o[k++] = src[i];
    }
  }
  if (k > 0 && o[k - 1] == '\n') k--;
  o[k] = '\0';
  lx->s = o;
  lx->n = k;
  return 0;
}

static int emit_data(lexer *lx, size_t start, size_t end, char sign, char kind) {
  const char *d = lx->s + start;
  size_t len = end - start;
  if (sign == '-') {
    while (len > 0 && is_ws(d[len - 1])) len--;
  } else if (sign != '+' && kind != '{') {
    size_t l_pos = len;
    while (l_pos > 0 && d[l_pos - 1] != '\n') l_pos--;
    if (l_pos > 0 || lx->line_starting) {
      bool all_ws = l_pos < len;
      for (size_t i = l_pos; i < len; i++)
        if (!is_ws(d[i])) all_ws = false;
      if (all_ws) len = l_pos;
    }
  }
  int line = lx->line;
  advance_lines(lx, start, end);
  if (len == 0) return 0;
  jtok *t = push(lx, JT_DATA, line);
  if (!t) return GLOAM_ENOMEM;
  t->str = d;
  t->len = len;
  return 0;
}

int jinja_lex(arena *a, const char *src, size_t n, jtok **out_toks, size_t *out_n, char *err) {
  lexer lx = {.a = a, .line = 1, .line_starting = true, .err = err};
  int rc = normalise(&lx, src, n);
  if (rc < 0) return rc;
  const char *s = lx.s;
  while (lx.pos < lx.n) {
    size_t i = lx.pos;
    const char *tag = NULL;
    while (i + 1 < lx.n) {
      if (s[i] == '{' && (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#')) {
        tag = s + i;
        break;
      }
      i++;
    }
    if (!tag) {
      rc = emit_data(&lx, lx.pos, lx.n, 0, '{');
      if (rc < 0) return rc;
      lx.pos = lx.n;
      break;
    }
    char kind = tag[1];
    char sign = (i + 2 < lx.n && (s[i + 2] == '-' || s[i + 2] == '+')) ? s[i + 2] : 0;
    if (kind == '{' && sign == '+') sign = 0; /* `{{+` is not a modifier */
    rc = emit_data(&lx, lx.pos, i, sign, kind);
    if (rc < 0) return rc;
    int open_line = lx.line;
    lx.pos = i + 2 + (sign ? 1 : 0);
    lx.line_starting = false;
    if (kind == '#') {
      const char *e = NULL;
      for (size_t j = lx.pos; j + 1 < lx.n; j++)
        if (s[j] == '#' && s[j + 1] == '}') {
          e = s + j;
          break;
        }
      if (!e) return lex_err(&lx, open_line, "unclosed comment (missing '#}')");
      size_t epos = (size_t)(e - s);
      char esign = (epos > lx.pos && (s[epos - 1] == '-' || s[epos - 1] == '+')) ? s[epos - 1] : 0;
      advance_lines(&lx, lx.pos, epos);
      lx.pos = epos + 2;
      after_end(&lx, esign, true);
      continue;
    }
    if (!push(&lx, kind == '{' ? JT_VAR_BEGIN : JT_BLOCK_BEGIN, open_line)) return GLOAM_ENOMEM;
    rc = lex_tag(&lx, kind == '%', open_line);
    if (rc < 0) return rc;
  }
  if (!push(&lx, JT_EOF, lx.line)) return GLOAM_ENOMEM;
  *out_toks = lx.toks;
  *out_n = lx.n_toks;
  return 0;
}
