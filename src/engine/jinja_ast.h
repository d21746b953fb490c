/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/jinja_ast.h: tokens and syntax tree of the Jinja subset.
 *
 * jinja_lex() turns template source into tokens, applying Jinja's
 * whitespace control (`{%-`, `-%}`, `{{-`, `-}}`, `{%+`, `+%}`) and the
 * trim_blocks / lstrip_blocks behaviour Hugging Face enables, and dropping
 * comments. jinja_parse() builds the tree the evaluator walks. Both
 * allocate from the compiled template's arena.
 *
 * Ownership: tokens and nodes live in the arena passed in.
 * Thread safety: a finished tree is immutable and may be shared.
 */
#ifndef GLOAM_ENGINE_JINJA_AST_H
#define GLOAM_ENGINE_JINJA_AST_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "engine/jinja_value.h"

enum jtok_type {
  JT_EOF = 0,
  JT_DATA,        /* literal text (after whitespace control) */
  JT_VAR_BEGIN,   /* {{ */
  JT_VAR_END,     /* }} */
  JT_BLOCK_BEGIN, /* {% */
  JT_BLOCK_END,   /* %} */
  JT_NAME,
  JT_STRING, /* str/len hold the unescaped value */
  JT_INT,
  JT_FLOAT,
  JT_OP, /* op holds one of the JOP_* codes */
};

enum jop {
  JOP_ADD = 1,
  JOP_SUB,
  JOP_MUL,
  JOP_DIV,
  JOP_FLOORDIV,
  JOP_MOD,
  JOP_POW,
  JOP_CONCAT, /* ~ */
  JOP_EQ,
  JOP_NE,
  JOP_LT,
  JOP_LE,
  JOP_GT,
  JOP_GE,
  JOP_ASSIGN, /* = */
  JOP_DOT,
  JOP_COLON,
  JOP_PIPE,
  JOP_COMMA,
  JOP_LPAREN,
  JOP_RPAREN,
  JOP_LBRACKET,
  JOP_RBRACKET,
  JOP_LBRACE,
  JOP_RBRACE,
  /* logical/membership, used by the tree only */
  JOP_AND,
  JOP_OR,
  JOP_IN,
  JOP_NOTIN,
  JOP_NOT,
  JOP_NEG,
  JOP_POS,
};

typedef struct jtok {
  uint8_t type;
  uint8_t op;
  int line;
  const char *str; /* name text, string value, or data */
  size_t len;
  int64_t ival;
  double fval;
} jtok;

enum jnode_kind {
  /* expressions */
  JN_LIT = 1, /* lit */
  JN_NAME,    /* str */
  JN_LIST,    /* kids */
  JN_TUPLE,   /* kids */
  JN_DICT,    /* kids: k0, v0, k1, v1, ... */
  JN_GETATTR, /* a . str */
  JN_GETITEM, /* a [ b ] */
  JN_SLICE,   /* a [ kids[0] : kids[1] : kids[2] ] (entries may be NULL) */
  JN_UNARY,   /* op a */
  JN_BINOP,   /* a op b (arithmetic, ~, and, or) */
  JN_COMPARE, /* a ops[0] kids[0] ops[1] kids[1] ... */
  JN_COND,    /* b if a else c (c may be NULL) */
  JN_CALL,    /* a ( args ) */
  JN_FILTER,  /* a | str ( args ); a is NULL inside a filter block */
  JN_TEST,    /* a is [not] str ( args ); op = JOP_NOT when negated */
  /* statements */
  JN_DATA,      /* str: literal output */
  JN_PRINT,     /* {{ a }} */
  JN_IF,        /* if a: body else: else_body */
  JN_FOR,       /* for targets in a [if b]: body else: else_body */
  JN_SET,       /* set targets = a; or set str.attr = a (attr != NULL) */
  JN_SETBLOCK,  /* set str: body (filtered by b when not NULL) */
  JN_MACRO,     /* macro str(params): body */
  JN_CALLBLOCK, /* call a: body (caller()) */
  JN_BREAK,
  JN_CONTINUE,
  JN_FILTERBLOCK, /* filter b: body, b is a JN_FILTER chain with a NULL leaf */
  JN_BLOCK,       /* a plain body (e.g. generation) */
};

typedef struct jnode jnode;

typedef struct jkwarg {
  const char *name;
  size_t len;
  jnode *val;
} jkwarg;

typedef struct jargs {
  jnode **pos;
  size_t n_pos;
  jkwarg *kw;
  size_t n_kw;
} jargs;

typedef struct jname {
  const char *str;
  size_t len;
} jname;

struct jnode {
  uint8_t kind;
  uint8_t op;
  int line;
  const char *str;
  size_t len;
  const char *attr; /* JN_SET on a namespace attribute */
  size_t attr_len;
  jv lit;
  jnode *a, *b, *c;
  jnode **kids;
  size_t n_kids;
  uint8_t *ops; /* JN_COMPARE */
  jargs args;
  jname *targets; /* JN_FOR / JN_SET names, JN_MACRO parameters */
  size_t n_targets;
  jnode **defaults; /* JN_MACRO parameter defaults (entries may be NULL) */
  jnode **body;
  size_t n_body;
  jnode **else_body;
  size_t n_else;
};

/* Tokenizes src (n bytes of valid UTF-8) into *out_toks / *out_n. Returns 0,
 * GLOAM_EFORMAT (detail in err, with the line), GLOAM_ENOMEM. */
int jinja_lex(arena *a, const char *src, size_t n, jtok **out_toks, size_t *out_n, char *err);

/* Parses tokens into a statement list. max_depth bounds the nesting of
 * blocks and expressions. Returns 0, GLOAM_EFORMAT, GLOAM_ENOMEM. */
int jinja_parse(arena *a, const jtok *toks, size_t n, unsigned max_depth, jnode ***out_body,
                size_t *out_n, char *err);

#endif
