/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/jinja_parse.c: tokens -> syntax tree (recursive descent).
 *
 * Operator precedence follows Jinja's parser, lowest first:
 *   x if c else y;  or;  and;  not;  comparisons, in, not in;  + -;  ~;
 *   * / // %;  **;  unary - +;  primary with .attr [sub] (call), then
 *   filters `|f(args)` and tests `is [not] t(args)`, which bind tighter
 *   than any binary operator (`a ~ b|upper` filters b only).
 * Statements: if/elif/else, for (targets, `if` filter, else), set (name,
 * tuple, `ns.attr`, block set), macro, call, filter, break, continue,
 * generation (Hugging Face's AssistantTracker block; rendered as its body).
 * Nesting of blocks and expressions is bounded by max_depth so hostile
 * templates cannot exhaust the C stack.
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "engine/jinja_ast.h"

typedef struct parser {
  arena *a;
  const jtok *t;
  size_t n, pos;
  unsigned depth, max_depth;
  char *err;
} parser;

/* A growable pointer vector in the arena (old blocks are abandoned). */
typedef struct pvec {
  jnode **v;
  size_t n, cap;
} pvec;

/* "template line N: msg 'arg'" (arg may be NULL). */
static int perr(parser *p, const char *msg, const char *arg) {
  int line = p->t[p->pos < p->n ? p->pos : p->n - 1].line;
  return err_set(p->err, GLOAM_EFORMAT, "template line %d: %s%s%s%s", line, msg, arg ? " '" : "",
                 arg ? arg : "", arg ? "'" : "");
}

static int pvec_push(parser *p, pvec *v, jnode *x) {
  if (v->n == v->cap) {
    size_t nc = v->cap ? v->cap * 2 : 4;
    jnode **nv = arena_alloc(p->a, nc * sizeof(jnode *));
    if (!nv) return GLOAM_ENOMEM;
    if (v->n) memcpy(nv, v->v, v->n * sizeof(jnode *));
    v->v = nv;
    v->cap = nc;
  }
  v->v[v->n++] = x;
  return 0;
}

static const jtok *cur(parser *p) {
  return &p->t[p->pos];
}
static const jtok *peek_at(parser *p, size_t k) {
  return &p->t[p->pos + k < p->n ? p->pos + k : p->n - 1];
}
static void adv(parser *p) {
  if (p->pos + 1 < p->n) p->pos++;
}
static bool tok_is_name(const jtok *t, const char *s) {
  return t->type == JT_NAME && t->len == strlen(s) && memcmp(t->str, s, t->len) == 0;
}
static bool is_name(parser *p, const char *s) {
  return tok_is_name(cur(p), s);
}
static bool is_op(parser *p, uint8_t op) {
  return cur(p)->type == JT_OP && cur(p)->op == op;
}
static bool accept_op(parser *p, uint8_t op) {
  if (!is_op(p, op)) return false;
  adv(p);
  return true;
}
static bool accept_name(parser *p, const char *s) {
  if (!is_name(p, s)) return false;
  adv(p);
  return true;
}

static jnode *nn(parser *p, uint8_t kind) {
  jnode *x = arena_zalloc(p->a, sizeof(jnode));
  if (x) {
    x->kind = kind;
    x->line = cur(p)->line;
  }
  return x;
}

#define NEW(var, kind)      \
  jnode *var = nn(p, kind); \
  if (!var) return GLOAM_ENOMEM;
#define TRY(expr)            \
  do {                       \
    int rc_ = (expr);        \
    if (rc_ < 0) return rc_; \
  } while (0)

static int expect_op(parser *p, uint8_t op, const char *what) {
  if (!accept_op(p, op)) return perr(p, "expected", what);
  return 0;
}

static int enter(parser *p) {
  if (++p->depth > p->max_depth) return perr(p, "nesting too deep", NULL);
  return 0;
}

static int parse_expr(parser *p, bool condexpr, jnode **out);
static int parse_tuple(parser *p, bool condexpr, jnode **out);
static int parse_unary(parser *p, bool with_filter, jnode **out);

static int parse_args(parser *p, jargs *args) {
  /* after '(' */
  pvec pos = {0};
  jkwarg *kw = NULL;
  size_t n_kw = 0, cap_kw = 0;
  while (!is_op(p, JOP_RPAREN)) {
    if (pos.n || n_kw) TRY(expect_op(p, JOP_COMMA, ","));
    if (is_op(p, JOP_RPAREN)) break;
    if (cur(p)->type == JT_NAME && peek_at(p, 1)->type == JT_OP &&
        peek_at(p, 1)->op == JOP_ASSIGN) {
      if (n_kw == cap_kw) {
        size_t nc = cap_kw ? cap_kw * 2 : 4;
        jkwarg *nk = arena_alloc(p->a, nc * sizeof(jkwarg));
        if (!nk) return GLOAM_ENOMEM;
        if (n_kw) memcpy(nk, kw, n_kw * sizeof(jkwarg));
        kw = nk, cap_kw = nc;
      }
      kw[n_kw].name = cur(p)->str;
      kw[n_kw].len = cur(p)->len;
      adv(p);
      adv(p);
      TRY(parse_expr(p, true, &kw[n_kw].val));
      n_kw++;
    } else {
      if (n_kw) return perr(p, "positional argument after keyword argument", NULL);
      if (is_op(p, JOP_MUL) || is_op(p, JOP_POW))
        return perr(p, "*args and **kwargs are not supported", NULL);
      jnode *x;
      TRY(parse_expr(p, true, &x));
      TRY(pvec_push(p, &pos, x));
    }
  }
  adv(p); /* ')' */
  args->pos = pos.v;
  args->n_pos = pos.n;
  args->kw = kw;
  args->n_kw = n_kw;
  return 0;
}

static int parse_primary(parser *p, jnode **out) {
  const jtok *t = cur(p);
  if (t->type == JT_NAME) {
    NEW(x, JN_LIT);
    if (tok_is_name(t, "true") || tok_is_name(t, "True"))
      x->lit = jv_bool(true);
    else if (tok_is_name(t, "false") || tok_is_name(t, "False"))
      x->lit = jv_bool(false);
    else if (tok_is_name(t, "none") || tok_is_name(t, "None"))
      x->lit = jv_none();
    else {
      x->kind = JN_NAME;
      x->str = t->str;
      x->len = t->len;
    }
    adv(p);
    *out = x;
    return 0;
  }
  if (t->type == JT_STRING) {
    NEW(x, JN_LIT);
    const char *s = t->str;
    size_t len = t->len;
    adv(p);
    while (cur(p)->type == JT_STRING) { /* "a" "b" concatenates */
      char *c = arena_alloc(p->a, len + cur(p)->len + 1);
      if (!c) return GLOAM_ENOMEM;
      memcpy(c, s, len);
      memcpy(c + len, cur(p)->str, cur(p)->len);
      len += cur(p)->len;
      c[len] = '\0';
      s = c;
      adv(p);
    }
    x->lit = jv_str(s, len);
    *out = x;
    return 0;
  }
  if (t->type == JT_INT || t->type == JT_FLOAT) {
    NEW(x, JN_LIT);
    x->lit = t->type == JT_INT ? jv_int(t->ival) : jv_float(t->fval);
    adv(p);
    *out = x;
    return 0;
  }
  if (accept_op(p, JOP_LPAREN)) {
    if (accept_op(p, JOP_RPAREN)) {
      NEW(x, JN_TUPLE);
      *out = x;
      return 0;
    }
    TRY(parse_tuple(p, true, out));
    return expect_op(p, JOP_RPAREN, ")");
  }
  if (is_op(p, JOP_LBRACKET) || is_op(p, JOP_LBRACE)) {
    bool dict = is_op(p, JOP_LBRACE);
    NEW(x, dict ? JN_DICT : JN_LIST);
    adv(p);
    pvec items = {0};
    uint8_t close = dict ? JOP_RBRACE : JOP_RBRACKET;
    while (!is_op(p, close)) {
      if (items.n) TRY(expect_op(p, JOP_COMMA, ","));
      if (is_op(p, close)) break;
      jnode *e;
      TRY(parse_expr(p, true, &e));
      TRY(pvec_push(p, &items, e));
      if (dict) {
        TRY(expect_op(p, JOP_COLON, ":"));
        TRY(parse_expr(p, true, &e));
        TRY(pvec_push(p, &items, e));
      }
    }
    adv(p);
    x->kids = items.v;
    x->n_kids = items.n;
    *out = x;
    return 0;
  }
  if (t->type == JT_EOF || t->type == JT_VAR_END || t->type == JT_BLOCK_END)
    return perr(p, "unexpected end of expression", NULL);
  return perr(p, "unexpected token", NULL);
}

static int parse_subscript(parser *p, jnode *obj, jnode **out) {
  /* after '[' */
  jnode *parts[3] = {NULL, NULL, NULL};
  bool slice = false;
  if (!is_op(p, JOP_COLON)) TRY(parse_expr(p, true, &parts[0]));
  if (accept_op(p, JOP_COLON)) {
    slice = true;
    if (!is_op(p, JOP_RBRACKET) && !is_op(p, JOP_COLON)) TRY(parse_expr(p, true, &parts[1]));
    if (accept_op(p, JOP_COLON) && !is_op(p, JOP_RBRACKET)) TRY(parse_expr(p, true, &parts[2]));
  }
  TRY(expect_op(p, JOP_RBRACKET, "]"));
  if (!slice) {
    if (!parts[0]) return perr(p, "empty subscript", NULL);
    NEW(x, JN_GETITEM);
    x->a = obj;
    x->b = parts[0];
    *out = x;
    return 0;
  }
  NEW(x, JN_SLICE);
  x->a = obj;
  x->kids = arena_alloc(p->a, 3 * sizeof(jnode *));
  if (!x->kids) return GLOAM_ENOMEM;
  memcpy(x->kids, parts, sizeof parts);
  x->n_kids = 3;
  *out = x;
  return 0;
}

static int parse_postfix(parser *p, jnode *node, jnode **out) {
  for (;;) {
    if (accept_op(p, JOP_DOT)) {
      if (cur(p)->type == JT_NAME) {
        NEW(x, JN_GETATTR);
        x->a = node;
        x->str = cur(p)->str;
        x->len = cur(p)->len;
        adv(p);
        node = x;
      } else if (cur(p)->type == JT_INT) {
        NEW(x, JN_GETITEM);
        NEW(k, JN_LIT);
        k->lit = jv_int(cur(p)->ival);
        x->a = node;
        x->b = k;
        adv(p);
        node = x;
      } else {
        return perr(p, "expected attribute name after '.'", NULL);
      }
    } else if (accept_op(p, JOP_LBRACKET)) {
      TRY(parse_subscript(p, node, &node));
    } else if (accept_op(p, JOP_LPAREN)) {
      NEW(x, JN_CALL);
      x->a = node;
      TRY(parse_args(p, &x->args));
      node = x;
    } else {
      *out = node;
      return 0;
    }
  }
}

/* `| name(args)`, applied to operand (NULL in a filter block). */
static int parse_filter(parser *p, jnode *operand, jnode **out) {
  if (cur(p)->type != JT_NAME) return perr(p, "expected filter name after '|'", NULL);
  NEW(x, JN_FILTER);
  x->a = operand;
  x->str = cur(p)->str;
  x->len = cur(p)->len;
  adv(p);
  if (accept_op(p, JOP_LPAREN)) TRY(parse_args(p, &x->args));
  *out = x;
  return 0;
}

static int parse_filter_expr(parser *p, jnode *node, jnode **out) {
  for (;;) {
    if (accept_op(p, JOP_PIPE)) {
      TRY(parse_filter(p, node, &node));
    } else if (accept_name(p, "is")) {
      NEW(x, JN_TEST);
      x->a = node;
      if (accept_name(p, "not")) x->op = JOP_NOT;
      if (cur(p)->type != JT_NAME) return perr(p, "expected test name after 'is'", NULL);
      x->str = cur(p)->str;
      x->len = cur(p)->len;
      adv(p);
      if (accept_op(p, JOP_LPAREN)) {
        TRY(parse_args(p, &x->args));
      } else {
        const jtok *t = cur(p);
        bool arg = (t->type == JT_NAME || t->type == JT_STRING || t->type == JT_INT ||
                    t->type == JT_FLOAT ||
                    (t->type == JT_OP && (t->op == JOP_LBRACKET || t->op == JOP_LBRACE))) &&
                   !tok_is_name(t, "else") && !tok_is_name(t, "or") && !tok_is_name(t, "and");
        if (arg) {
          jnode *a;
          TRY(parse_primary(p, &a));
          TRY(parse_postfix(p, a, &a));
          x->args.pos = arena_alloc(p->a, sizeof(jnode *));
          if (!x->args.pos) return GLOAM_ENOMEM;
          x->args.pos[0] = a;
          x->args.n_pos = 1;
        }
      }
      node = x;
    } else if (accept_op(p, JOP_LPAREN)) {
      NEW(x, JN_CALL);
      x->a = node;
      TRY(parse_args(p, &x->args));
      node = x;
    } else {
      *out = node;
      return 0;
    }
  }
}

static int parse_unary(parser *p, bool with_filter, jnode **out) {
  TRY(enter(p));
  jnode *node;
  if (is_op(p, JOP_SUB) || is_op(p, JOP_ADD)) {
    NEW(x, JN_UNARY);
    x->op = is_op(p, JOP_SUB) ? JOP_NEG : JOP_POS;
    adv(p);
    TRY(parse_unary(p, false, &x->a));
    node = x;
  } else {
    TRY(parse_primary(p, &node));
    TRY(parse_postfix(p, node, &node));
  }
  if (with_filter) TRY(parse_filter_expr(p, node, &node));
  p->depth--;
  *out = node;
  return 0;
}

typedef int (*sub_fn)(parser *p, jnode **out);

/* Left-associative binary level: operands from sub, operators from ops. */
static int parse_binary(parser *p, sub_fn sub, const uint8_t *ops, size_t n_ops, jnode **out) {
  jnode *left;
  TRY(sub(p, &left));
  for (;;) {
    uint8_t op = 0;
    for (size_t i = 0; i < n_ops; i++)
      if (is_op(p, ops[i])) op = ops[i];
    if (!op) break;
    NEW(x, JN_BINOP);
    x->op = op;
    adv(p);
    x->a = left;
    TRY(sub(p, &x->b));
    left = x;
  }
  *out = left;
  return 0;
}

static int parse_unary_f(parser *p, jnode **out) {
  return parse_unary(p, true, out);
}
static int parse_pow(parser *p, jnode **out) {
  static const uint8_t ops[] = {JOP_POW};
  return parse_binary(p, parse_unary_f, ops, 1, out);
}
static int parse_math2(parser *p, jnode **out) {
  static const uint8_t ops[] = {JOP_MUL, JOP_DIV, JOP_FLOORDIV, JOP_MOD};
  return parse_binary(p, parse_pow, ops, 4, out);
}
static int parse_concat(parser *p, jnode **out) {
  static const uint8_t ops[] = {JOP_CONCAT};
  return parse_binary(p, parse_math2, ops, 1, out);
}
static int parse_math1(parser *p, jnode **out) {
  static const uint8_t ops[] = {JOP_ADD, JOP_SUB};
  return parse_binary(p, parse_concat, ops, 2, out);
}

static int parse_compare(parser *p, jnode **out) {
  jnode *first;
  TRY(parse_math1(p, &first));
  pvec rhs = {0};
  uint8_t ops[64];
  for (;;) {
    uint8_t op = 0;
    const jtok *t = cur(p);
    if (t->type == JT_OP && t->op >= JOP_EQ && t->op <= JOP_GE) {
      op = t->op;
      adv(p);
    } else if (is_name(p, "in")) {
      op = JOP_IN;
      adv(p);
    } else if (is_name(p, "not") && tok_is_name(peek_at(p, 1), "in")) {
      op = JOP_NOTIN;
      adv(p);
      adv(p);
    } else {
      break;
    }
    if (rhs.n >= sizeof ops) return perr(p, "comparison chain too long", NULL);
    ops[rhs.n] = op;
    jnode *r;
    TRY(parse_math1(p, &r));
    TRY(pvec_push(p, &rhs, r));
  }
  if (!rhs.n) {
    *out = first;
    return 0;
  }
  NEW(x, JN_COMPARE);
  x->a = first;
  x->kids = rhs.v;
  x->n_kids = rhs.n;
  x->ops = arena_memdup(p->a, ops, rhs.n);
  if (!x->ops) return GLOAM_ENOMEM;
  *out = x;
  return 0;
}

static int parse_not(parser *p, jnode **out) {
  if (is_name(p, "not")) {
    TRY(enter(p));
    NEW(x, JN_UNARY);
    x->op = JOP_NOT;
    adv(p);
    TRY(parse_not(p, &x->a));
    p->depth--;
    *out = x;
    return 0;
  }
  return parse_compare(p, out);
}

static int parse_logic(parser *p, bool is_or, jnode **out) {
  jnode *left;
  if (is_or)
    TRY(parse_logic(p, false, &left));
  else
    TRY(parse_not(p, &left));
  while (is_name(p, is_or ? "or" : "and")) {
    NEW(x, JN_BINOP);
    x->op = is_or ? JOP_OR : JOP_AND;
    adv(p);
    x->a = left;
    if (is_or)
      TRY(parse_logic(p, false, &x->b));
    else
      TRY(parse_not(p, &x->b));
    left = x;
  }
  *out = left;
  return 0;
}

static int parse_expr(parser *p, bool condexpr, jnode **out) {
  TRY(enter(p));
  jnode *e;
  TRY(parse_logic(p, true, &e));
  while (condexpr && is_name(p, "if")) {
    NEW(x, JN_COND);
    adv(p);
    x->b = e;
    TRY(parse_logic(p, true, &x->a));
    if (accept_name(p, "else")) TRY(parse_expr(p, true, &x->c));
    e = x;
  }
  p->depth--;
  *out = e;
  return 0;
}

static int parse_tuple(parser *p, bool condexpr, jnode **out) {
  jnode *first;
  TRY(parse_expr(p, condexpr, &first));
  if (!is_op(p, JOP_COMMA)) {
    *out = first;
    return 0;
  }
  NEW(x, JN_TUPLE);
  pvec items = {0};
  TRY(pvec_push(p, &items, first));
  while (accept_op(p, JOP_COMMA)) {
    const jtok *t = cur(p);
    if (t->type == JT_VAR_END || t->type == JT_BLOCK_END || is_op(p, JOP_RPAREN)) break;
    jnode *e;
    TRY(parse_expr(p, condexpr, &e));
    TRY(pvec_push(p, &items, e));
  }
  x->kids = items.v;
  x->n_kids = items.n;
  *out = x;
  return 0;
}

/* ---- statements ---- */

static int parse_body(parser *p, const char *const *ends, pvec *body);

static int expect_block_end(parser *p) {
  if (cur(p)->type != JT_BLOCK_END) return perr(p, "expected '%}'", NULL);
  adv(p);
  return 0;
}

static int parse_targets(parser *p, jname **out, size_t *out_n) {
  jname tmp[16];
  size_t n = 0;
  bool paren = accept_op(p, JOP_LPAREN);
  do {
    if (cur(p)->type != JT_NAME) return perr(p, "expected a variable name", NULL);
    if (n == 16) return perr(p, "too many targets", NULL);
    tmp[n].str = cur(p)->str;
    tmp[n].len = cur(p)->len;
    n++;
    adv(p);
  } while (accept_op(p, JOP_COMMA));
  if (paren) TRY(expect_op(p, JOP_RPAREN, ")"));
  *out = arena_memdup(p->a, tmp, n * sizeof(jname));
  if (!*out) return GLOAM_ENOMEM;
  *out_n = n;
  return 0;
}

static int parse_if(parser *p, jnode *x) {
  static const char *const ends[] = {"elif", "else", "endif", NULL};
  TRY(parse_expr(p, false, &x->a));
  TRY(expect_block_end(p));
  pvec body = {0};
  TRY(parse_body(p, ends, &body));
  x->body = body.v;
  x->n_body = body.n;
  if (accept_name(p, "elif")) {
    NEW(e, JN_IF);
    TRY(parse_if(p, e));
    x->else_body = arena_alloc(p->a, sizeof(jnode *));
    if (!x->else_body) return GLOAM_ENOMEM;
    x->else_body[0] = e;
    x->n_else = 1;
    return 0;
  }
  if (accept_name(p, "else")) {
    static const char *const ends2[] = {"endif", NULL};
    TRY(expect_block_end(p));
    pvec eb = {0};
    TRY(parse_body(p, ends2, &eb));
    x->else_body = eb.v;
    x->n_else = eb.n;
  }
  if (!accept_name(p, "endif")) return perr(p, "expected 'endif'", NULL);
  return expect_block_end(p);
}

static int parse_for(parser *p, jnode *x) {
  static const char *const ends[] = {"else", "endfor", NULL};
  TRY(parse_targets(p, &x->targets, &x->n_targets));
  if (!accept_name(p, "in")) return perr(p, "expected 'in' in for loop", NULL);
  TRY(parse_tuple(p, false, &x->a));
  if (accept_name(p, "if")) TRY(parse_expr(p, true, &x->b));
  if (is_name(p, "recursive")) return perr(p, "recursive loops are not supported", NULL);
  TRY(expect_block_end(p));
  pvec body = {0};
  TRY(parse_body(p, ends, &body));
  x->body = body.v;
  x->n_body = body.n;
  if (accept_name(p, "else")) {
    static const char *const ends2[] = {"endfor", NULL};
    TRY(expect_block_end(p));
    pvec eb = {0};
    TRY(parse_body(p, ends2, &eb));
    x->else_body = eb.v;
    x->n_else = eb.n;
  }
  if (!accept_name(p, "endfor")) return perr(p, "expected 'endfor'", NULL);
  return expect_block_end(p);
}

static int parse_set(parser *p, jnode *x) {
  if (cur(p)->type == JT_NAME && peek_at(p, 1)->type == JT_OP && peek_at(p, 1)->op == JOP_DOT) {
    x->str = cur(p)->str;
    x->len = cur(p)->len;
    adv(p);
    adv(p);
    if (cur(p)->type != JT_NAME) return perr(p, "expected attribute name", NULL);
    x->attr = cur(p)->str;
    x->attr_len = cur(p)->len;
    adv(p);
    TRY(expect_op(p, JOP_ASSIGN, "="));
    TRY(parse_tuple(p, true, &x->a));
    return expect_block_end(p);
  }
  TRY(parse_targets(p, &x->targets, &x->n_targets));
  if (accept_op(p, JOP_ASSIGN)) {
    TRY(parse_tuple(p, true, &x->a));
    return expect_block_end(p);
  }
  if (x->n_targets != 1) return perr(p, "block set takes one name", NULL);
  x->kind = JN_SETBLOCK;
  while (accept_op(p, JOP_PIPE)) TRY(parse_filter(p, x->b, &x->b));
  TRY(expect_block_end(p));
  static const char *const ends[] = {"endset", NULL};
  pvec body = {0};
  TRY(parse_body(p, ends, &body));
  x->body = body.v;
  x->n_body = body.n;
  adv(p);
  return expect_block_end(p);
}

static int parse_macro(parser *p, jnode *x) {
  if (cur(p)->type != JT_NAME) return perr(p, "expected macro name", NULL);
  x->str = cur(p)->str;
  x->len = cur(p)->len;
  adv(p);
  TRY(expect_op(p, JOP_LPAREN, "("));
  jname names[32];
  jnode *defs[32];
  size_t n = 0;
  while (!accept_op(p, JOP_RPAREN)) {
    if (n) TRY(expect_op(p, JOP_COMMA, ","));
    if (accept_op(p, JOP_RPAREN)) break;
    if (cur(p)->type != JT_NAME) return perr(p, "expected parameter name", NULL);
    if (n == 32) return perr(p, "too many macro parameters", NULL);
    names[n].str = cur(p)->str;
    names[n].len = cur(p)->len;
    defs[n] = NULL;
    adv(p);
    if (accept_op(p, JOP_ASSIGN)) TRY(parse_expr(p, true, &defs[n]));
    n++;
  }
  x->targets = arena_memdup(p->a, names, n * sizeof(jname) + 1);
  x->defaults = arena_memdup(p->a, defs, n * sizeof(jnode *) + 1);
  if (!x->targets || !x->defaults) return GLOAM_ENOMEM;
  x->n_targets = n;
  TRY(expect_block_end(p));
  static const char *const ends[] = {"endmacro", NULL};
  pvec body = {0};
  TRY(parse_body(p, ends, &body));
  x->body = body.v;
  x->n_body = body.n;
  adv(p);
  if (cur(p)->type == JT_NAME) adv(p); /* {% endmacro name %} */
  return expect_block_end(p);
}

static int parse_statement(parser *p, jnode **out) {
  const jtok *t = cur(p);
  if (t->type != JT_NAME) return perr(p, "expected a statement name", NULL);
  char name[32];
  snprintf(name, sizeof name, "%.*s", (int)(t->len < 31 ? t->len : 31), t->str);
  NEW(x, JN_BLOCK);
  adv(p);
  if (!strcmp(name, "if")) {
    x->kind = JN_IF;
    TRY(parse_if(p, x));
  } else if (!strcmp(name, "for")) {
    x->kind = JN_FOR;
    TRY(parse_for(p, x));
  } else if (!strcmp(name, "set")) {
    x->kind = JN_SET;
    TRY(parse_set(p, x));
  } else if (!strcmp(name, "macro")) {
    x->kind = JN_MACRO;
    TRY(parse_macro(p, x));
  } else if (!strcmp(name, "break") || !strcmp(name, "continue")) {
    x->kind = name[0] == 'b' ? JN_BREAK : JN_CONTINUE;
    TRY(expect_block_end(p));
  } else if (!strcmp(name, "call")) {
    x->kind = JN_CALLBLOCK;
    TRY(parse_expr(p, true, &x->a));
    if (x->a->kind != JN_CALL) return perr(p, "call block needs a macro call", NULL);
    TRY(expect_block_end(p));
    static const char *const ends[] = {"endcall", NULL};
    pvec body = {0};
    TRY(parse_body(p, ends, &body));
    x->body = body.v;
    x->n_body = body.n;
    adv(p);
    TRY(expect_block_end(p));
  } else if (!strcmp(name, "filter")) {
    x->kind = JN_FILTERBLOCK;
    TRY(parse_filter(p, NULL, &x->b));
    while (accept_op(p, JOP_PIPE)) TRY(parse_filter(p, x->b, &x->b));
    TRY(expect_block_end(p));
    static const char *const ends[] = {"endfilter", NULL};
    pvec body = {0};
    TRY(parse_body(p, ends, &body));
    x->body = body.v;
    x->n_body = body.n;
    adv(p);
    TRY(expect_block_end(p));
  } else if (!strcmp(name, "generation")) {
    TRY(expect_block_end(p));
    static const char *const ends[] = {"endgeneration", NULL};
    pvec body = {0};
    TRY(parse_body(p, ends, &body));
    x->body = body.v;
    x->n_body = body.n;
    adv(p);
    TRY(expect_block_end(p));
  } else {
    p->pos--;
    return perr(p, "unknown or misplaced tag", name);
  }
  *out = x;
  return 0;
}

/* Parses statements until `{% <end> %}` for one of ends (left at the end
 * keyword) or, when ends is NULL, until EOF. */
static int parse_body(parser *p, const char *const *ends, pvec *body) {
  TRY(enter(p));
  for (;;) {
    const jtok *t = cur(p);
    if (t->type == JT_EOF) {
      if (ends) {
        size_t k = 0;
        while (ends[k + 1]) k++;
        return perr(p, "unexpected end of template, expected", ends[k]);
      }
      break;
    }
    jnode *x = NULL;
    if (t->type == JT_DATA) {
      x = nn(p, JN_DATA);
      if (!x) return GLOAM_ENOMEM;
      x->str = t->str;
      x->len = t->len;
      adv(p);
    } else if (t->type == JT_VAR_BEGIN) {
      adv(p);
      x = nn(p, JN_PRINT);
      if (!x) return GLOAM_ENOMEM;
      TRY(parse_tuple(p, true, &x->a));
      if (cur(p)->type != JT_VAR_END) return perr(p, "expected '}}'", NULL);
      adv(p);
    } else if (t->type == JT_BLOCK_BEGIN) {
      adv(p);
      if (ends)
        for (size_t i = 0; ends[i]; i++)
          if (is_name(p, ends[i])) {
            p->depth--;
            return 0;
          }
      TRY(parse_statement(p, &x));
    } else {
      return perr(p, "unexpected token", NULL);
    }
    TRY(pvec_push(p, body, x));
  }
  p->depth--;
  return 0;
}

int jinja_parse(arena *a, const jtok *toks, size_t n, unsigned max_depth, jnode ***out_body,
                size_t *out_n, char *err) {
  parser p = {.a = a, .t = toks, .n = n, .max_depth = max_depth, .err = err};
  pvec body = {0};
  int rc = parse_body(&p, NULL, &body);
  if (rc < 0) return rc;
  *out_body = body.v;
  *out_n = body.n;
  return 0;
}
