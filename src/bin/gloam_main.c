/* SPDX-License-Identifier: Apache-2.0
 *
 * src/bin/gloam_main.c: `gloam`, the consumer CLI and local sealing proxy
 * (docs/client.md).
 *
 *   gloam chat [--model M] [--min-trust L] [--node ID] [--max-tokens N]
 *              [--system TEXT] [--save DIR] [--raw] [-i] ["prompt" | -]
 *   gloam models | nodes [--model M] | balance | usage
 *   gloam verify --receipt FILE --transcript FILE (--key FILE | --evidence FILE) [--request FILE]
 *   gloam verify --evidence FILE [--node-id ID] [--nonce B64URL] [--ak NAME]
 *   gloam proxy --listen 127.0.0.1:PORT [--port-file FILE]
 * Global: --base-url URL, --api-key KEY, --config FILE, --min-trust LEVEL,
 *         --allow-binary sha256:HEX (repeatable), --max-evidence-age S, --ca-file F,
 *         --ek-roots PEM (TPM makers' EK roots: without them no node verifies as tpm)
 *
 * Settings: flags > GLOAM_BASE_URL / GLOAM_API_KEY / GLOAM_MODEL /
 * GLOAM_MIN_TRUST > config file (~/.config/gloam/config) > defaults.
 * Exit: 0 success, 1 failure (verification failures included), 2 usage or I/O.
 */
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/config.h"
#include "client/proxy.h"
#include "client/sse.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/file.h"
#include "core/log.h"
#include "core/time.h"
#include "gloam/client.h"
#include "gloam/receipt.h"
#include "net/server.h"

#define MAX_FILE (256u << 20)
#define MAX_LINE 65536

typedef struct opts {
  client_conf flags;
  const char *config_file;
  const char *node, *system, *save, *listen, *port_file;
  const char *receipt, *transcript, *key, *evidence, *request, *node_id, *nonce, *ak;
  uint32_t max_tokens;
  int interactive, raw, json;
  const char *prompt;
} opts;

static int usage(void) {
  fprintf(stderr,
          "usage: gloam chat [--model M] [--min-trust L] [--node ID] [--max-tokens N]\n"
          "                  [--system TEXT] [--save DIR] [--raw] [-i] [\"prompt\" | -]\n"
          "       gloam models [--json] | nodes [--model M] [--json] | balance | usage\n"
          "       gloam verify --receipt FILE --transcript FILE (--key FILE | --evidence FILE)\n"
          "                    [--request FILE]\n"
          "       gloam verify --evidence FILE [--node-id ID] [--nonce B64URL] [--ak NAME]\n"
          "       gloam proxy --listen 127.0.0.1:PORT [--port-file FILE]\n"
          "global: --base-url URL --api-key KEY --config FILE --min-trust none|software|tpm|...\n"
          "        --allow-binary sha256:HEX (repeatable) --max-evidence-age S --ca-file FILE\n"
          "        --ek-roots PEM\n"
          "env:    GLOAM_BASE_URL GLOAM_API_KEY GLOAM_MODEL GLOAM_MIN_TRUST GLOAM_CONFIG\n");
  return 2;
}

static int copy_flag(char *dst, size_t cap, const char *v) {
  if (strlen(v) >= cap) {
    fprintf(stderr, "gloam: value too long\n");
    return -1;
  }
  memcpy(dst, v, strlen(v) + 1);
  return 0;
}

static int parse_u32(const char *v, uint32_t *out) {
  char *end;
  errno = 0;
  unsigned long x = strtoul(v, &end, 10);
  if (errno || end == v || *end || x > 0xffffffffu || v[0] == '-') return -1;
  *out = (uint32_t)x;
  return 0;
}

/* Parses every flag after the command. */
static int parse_args(int argc, char **argv, opts *o) {
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || strcmp(a, "-") == 0) {
      if (o->prompt) return usage();
      o->prompt = a;
      continue;
    }
    if (strcmp(a, "-i") == 0 || strcmp(a, "--interactive") == 0) {
      o->interactive = 1;
      continue;
    }
    if (strcmp(a, "--raw") == 0) {
      o->raw = 1;
      continue;
    }
    if (strcmp(a, "--json") == 0) {
      o->json = 1;
      continue;
    }
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return usage();
    i++;
    client_conf *f = &o->flags;
    int rc = 0;
    if (strcmp(a, "--base-url") == 0)
      rc = copy_flag(f->base_url, sizeof f->base_url, v);
    else if (strcmp(a, "--api-key") == 0)
      rc = copy_flag(f->api_key, sizeof f->api_key, v);
    else if (strcmp(a, "--model") == 0)
      rc = copy_flag(f->model, sizeof f->model, v);
    else if (strcmp(a, "--min-trust") == 0)
      rc = copy_flag(f->min_trust, sizeof f->min_trust, v);
    else if (strcmp(a, "--ca-file") == 0)
      rc = copy_flag(f->ca_file, sizeof f->ca_file, v);
    else if (strcmp(a, "--ek-roots") == 0)
      rc = copy_flag(f->ek_roots, sizeof f->ek_roots, v);
    else if (strcmp(a, "--nonce") == 0)
      o->nonce = v;
    else if (strcmp(a, "--ak") == 0)
      o->ak = v;
    else if (strcmp(a, "--max-evidence-age") == 0)
      rc = parse_u32(v, &f->max_age_s);
    else if (strcmp(a, "--allow-binary") == 0) {
      if (f->n_binaries == GLOAM_CLIENT_MAX_BINARIES) return usage();
      rc = copy_flag(f->binaries[f->n_binaries++], sizeof f->binaries[0], v);
    } else if (strcmp(a, "--config") == 0)
      o->config_file = v;
    else if (strcmp(a, "--node") == 0)
      o->node = v;
    else if (strcmp(a, "--system") == 0)
      o->system = v;
    else if (strcmp(a, "--save") == 0)
      o->save = v;
    else if (strcmp(a, "--listen") == 0)
      o->listen = v;
    else if (strcmp(a, "--port-file") == 0)
      o->port_file = v;
    else if (strcmp(a, "--receipt") == 0)
      o->receipt = v;
    else if (strcmp(a, "--transcript") == 0)
      o->transcript = v;
    else if (strcmp(a, "--key") == 0)
      o->key = v;
    else if (strcmp(a, "--evidence") == 0)
      o->evidence = v;
    else if (strcmp(a, "--request") == 0)
      o->request = v;
    else if (strcmp(a, "--node-id") == 0)
      o->node_id = v;
    else if (strcmp(a, "--max-tokens") == 0)
      rc = parse_u32(v, &o->max_tokens);
    else
      return usage();
    if (rc < 0) return usage();
  }
  return 0;
}

static int make_client(const opts *o, client_conf *conf, gloam_client **out) {
  char err[GLOAM_ERR_LEN];
  const char *bins[GLOAM_CLIENT_MAX_BINARIES];
  gloam_client_config cfg;
  if (client_conf_resolve(conf, &o->flags, NULL, o->config_file, err) < 0 ||
      client_conf_to_config(conf, &cfg, bins, err) < 0 || gloam_client_new(out, &cfg, err) < 0) {
    fprintf(stderr, "gloam: %s\n", err);
    return 2;
  }
  return 0;
}

/* ---- files ---------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "gloam: cannot open %s: %s\n", path, strerror(errno));
    return NULL;
  }
  char *p = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (cap - n < 65536) {
      if (cap >= MAX_FILE) {
        fprintf(stderr, "gloam: %s is too large\n", path);
        free(p);
        fclose(f);
        return NULL;
      }
      cap = cap ? cap * 2 : 65536;
      char *q = realloc(p, cap + 1);
      if (!q) {
        free(p);
        fclose(f);
        return NULL;
      }
      p = q;
    }
    size_t got = fread(p + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  fclose(f);
  p[n] = 0;
  *len = n;
  return p;
}

static int write_file(const char *dir, const char *name, const void *p, size_t n) {
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) return -1;
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(p, 1, n, f);
  return fclose(f) == 0 && w == n ? 0 : -1;
}

/* ---- chat ----------------------------------------------------------------- */

typedef struct chat_out {
  csse sse;
  int raw, in_reasoning;
  FILE *transcript; /* --save: the exact plaintext */
  json_t *answer;   /* the assistant text, for history */
} chat_out;

static void append_answer(chat_out *c, const char *s) {
  const char *old = json_string_value(c->answer);
  size_t a = old ? strlen(old) : 0, b = strlen(s);
  char *t = malloc(a + b + 1);
  if (!t) return;
  memcpy(t, old ? old : "", a);
  memcpy(t + a, s, b + 1);
  json_decref(c->answer);
  c->answer = json_string(t);
  free(t);
}

static int on_event(const char *name, const char *data, size_t len, void *ud) {
  chat_out *c = ud;
  if (len == 6 && memcmp(data, "[DONE]", 6) == 0) return 0;
  json_t *j = json_loadb(data, len, 0, NULL);
  json_t *d = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta");
  const char *r = json_string_value(json_object_get(d, "reasoning_content"));
  const char *t = json_string_value(json_object_get(d, "content"));
  if (r && r[0]) {
    if (!c->in_reasoning && isatty(fileno(stdout))) fputs("\033[2m", stdout);
    c->in_reasoning = 1;
    fputs(r, stdout);
  }
  if (t && t[0]) {
    if (c->in_reasoning && isatty(fileno(stdout))) fputs("\033[0m", stdout);
    if (c->in_reasoning) fputs("\n", stdout);
    c->in_reasoning = 0;
    fputs(t, stdout);
    append_answer(c, t);
  }
  fflush(stdout);
  json_decref(j);
  return 0;
}

static int on_chunk(const char *p, size_t n, void *ud) {
  chat_out *c = ud;
  if (c->transcript) fwrite(p, 1, n, c->transcript);
  if (c->raw) {
    fwrite(p, 1, n, stdout);
    fflush(stdout);
    return 0;
  }
  return csse_feed(&c->sse, (const uint8_t *)p, n, on_event, c) < 0;
}

static void print_result(const gloam_chat_result *r, int rc, const char *err) {
  if (rc == 0) {
    fprintf(stderr,
            "\n[gloam: client-sealed · node %s · trust %s · receipt verified · %llu+%llu tokens",
            r->node_id, gloam_trust_name(r->trust), (unsigned long long)r->claims.prompt_tokens,
            (unsigned long long)r->claims.completion_tokens);
    if (r->charged_micro_usd >= 0)
      fprintf(stderr, " · charged %lld µUSD", (long long)r->charged_micro_usd);
    fprintf(stderr, "]\n");
  } else {
    fprintf(stderr, "\ngloam: %s\n", err);
    if (r->node_id[0])
      fprintf(stderr, "gloam: node %s (trust %s); do not trust any output above\n", r->node_id,
              gloam_trust_name(r->trust));
  }
}

static void save_result(const char *dir, const gloam_chat_result *r) {
  if (r->receipt_jws) write_file(dir, "receipt.jws", r->receipt_jws, strlen(r->receipt_jws));
  write_file(dir, "receipt_key.jwk", r->receipt_jwk, strlen(r->receipt_jwk));
  fprintf(stderr,
          "[saved %s/receipt.jws, receipt_key.jwk, transcript.txt; check with: gloam "
          "verify --receipt %s/receipt.jws --transcript %s/transcript.txt --key "
          "%s/receipt_key.jwk]\n",
          dir, dir, dir, dir);
}

/* One sealed exchange over `messages`; appends the answer to it. */
static int chat_once(gloam_client *c, const opts *o, const char *model, json_t *messages) {
  json_t *body = json_pack("{s:s,s:O,s:b}", "model", model, "messages", messages, "stream", 1);
  if (o->max_tokens) json_object_set_new(body, "max_tokens", json_integer(o->max_tokens));
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (!text) return 1;
  chat_out out = {.raw = o->raw};
  csse_init(&out.sse, 4u << 20);
  if (o->save) {
    mkdir(o->save, 0700);
    char path[4096];
    snprintf(path, sizeof path, "%s/transcript.txt", o->save);
    out.transcript = fopen(path, "wb");
    if (!out.transcript) fprintf(stderr, "gloam: cannot write %s\n", path);
  }
  gloam_chat_opts co = GLOAM_CHAT_OPTS_INIT;
  co.node_id = o->node;
  gloam_chat_result r;
  char err[GLOAM_ERR_LEN] = "";
  int rc = gloam_client_chat(c, text, strlen(text), &co, on_chunk, &out, &r, err);
  free(text);
  if (out.in_reasoning && isatty(fileno(stdout))) fputs("\033[0m", stdout);
  if (out.transcript) fclose(out.transcript);
  print_result(&r, rc, err);
  if (rc == 0 && o->save) save_result(o->save, &r);
  if (rc == 0)
    json_array_append_new(messages, json_pack("{s:s,s:o}", "role", "assistant", "content",
                                              out.answer ? out.answer : json_string("")));
  else
    json_decref(out.answer);
  csse_deinit(&out.sse);
  gloam_chat_result_deinit(&r);
  return rc == 0 ? 0 : 1;
}

static char *read_stdin_all(void) {
  size_t n = 0;
  char *p = NULL;
  size_t cap = 0;
  for (;;) {
    if (cap - n < 4096) {
      if (cap > (4u << 20)) break;
      cap = cap ? cap * 2 : 8192;
      char *q = realloc(p, cap + 1);
      if (!q) break;
      p = q;
    }
    size_t got = fread(p + n, 1, cap - n, stdin);
    n += got;
    if (got == 0) break;
  }
  if (p) p[n] = 0;
  return p;
}

static int cmd_chat(gloam_client *c, const client_conf *conf, const opts *o) {
  const char *model = conf->model[0] ? conf->model : NULL;
  if (!model) {
    fprintf(stderr, "gloam: no model; pass --model M or set GLOAM_MODEL (see gloam models)\n");
    return 2;
  }
  json_t *messages = json_array();
  if (o->system)
    json_array_append_new(messages, json_pack("{s:s,s:s}", "role", "system", "content", o->system));
  if (!o->interactive) {
    char *in = NULL;
    const char *prompt = o->prompt;
    if (!prompt || strcmp(prompt, "-") == 0) prompt = in = read_stdin_all();
    if (!prompt || !prompt[0]) {
      free(in);
      json_decref(messages);
      return usage();
    }
    json_array_append_new(messages, json_pack("{s:s,s:s}", "role", "user", "content", prompt));
    free(in);
    int rc = chat_once(c, o, model, messages);
    json_decref(messages);
    return rc;
  }
  /* Interactive: the conversation so far is resent (sealed) each turn. */
  fprintf(stderr,
          "gloam chat with %s (sealed on this machine). /reset clears, /exit or Ctrl-D quits.\n",
          model);
  char *line = malloc(MAX_LINE);
  int rc = 0;
  const char *first = o->prompt;
  while (line) {
    const char *text = first;
    first = NULL;
    if (!text) {
      fputs("> ", stderr);
      if (!fgets(line, MAX_LINE, stdin)) break;
      line[strcspn(line, "\n")] = 0;
      text = line;
    }
    if (!text[0]) continue;
    if (strcmp(text, "/exit") == 0) break;
    if (strcmp(text, "/reset") == 0) {
      json_array_clear(messages);
      if (o->system)
        json_array_append_new(messages,
                              json_pack("{s:s,s:s}", "role", "system", "content", o->system));
      continue;
    }
    json_array_append_new(messages, json_pack("{s:s,s:s}", "role", "user", "content", text));
    rc = chat_once(c, o, model, messages);
    if (rc != 0) json_array_remove(messages, json_array_size(messages) - 1);
  }
  free(line);
  json_decref(messages);
  return rc;
}

/* ---- models, nodes, balance, usage --------------------------------------- */

static int print_json_cmd(int (*fn)(gloam_client *, char **, char *), gloam_client *c) {
  char *s = NULL;
  char err[GLOAM_ERR_LEN] = "";
  if (fn(c, &s, err) < 0) {
    fprintf(stderr, "gloam: %s\n", err);
    return 1;
  }
  json_t *j = json_loads(s, 0, NULL);
  char *pretty = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
  printf("%s\n", pretty ? pretty : s);
  free(pretty);
  json_decref(j);
  gloam_client_free_str(s);
  return 0;
}

static int cmd_models(gloam_client *c, const opts *o) {
  if (o->json) return print_json_cmd(gloam_client_models, c);
  char *s = NULL;
  char err[GLOAM_ERR_LEN] = "";
  if (gloam_client_models(c, &s, err) < 0) {
    fprintf(stderr, "gloam: %s\n", err);
    return 1;
  }
  json_t *j = json_loads(s, 0, NULL), *m;
  size_t i;
  printf("%-40s %14s %14s\n", "MODEL", "IN $/Mtok", "OUT $/Mtok");
  json_array_foreach(json_object_get(j, "data"), i, m) {
    json_t *p = json_object_get(m, "pricing");
    printf("%-40s %14.6f %14.6f\n", json_string_value(json_object_get(m, "id")),
           (double)json_integer_value(json_object_get(p, "input_per_mtok_micro_usd")) / 1e6,
           (double)json_integer_value(json_object_get(p, "output_per_mtok_micro_usd")) / 1e6);
  }
  json_decref(j);
  gloam_client_free_str(s);
  return 0;
}

static int cmd_nodes(gloam_client *c, const client_conf *conf, const opts *o) {
  gloam_node_info *v;
  size_t n;
  char err[GLOAM_ERR_LEN] = "";
  const char *model = conf->model[0] ? conf->model : NULL;
  if (gloam_client_nodes(c, model, &v, &n, err) < 0) {
    fprintf(stderr, "gloam: %s\n", err);
    return 1;
  }
  if (o->json) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
      json_array_append_new(
          a, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:i,s:i,s:I}", "id", v[i].id, "model",
                       v[i].model, "weights_digest", v[i].weights_digest, "binary",
                       v[i].binary_digest, "trust_verified", gloam_trust_name(v[i].verified),
                       "trust_claimed", gloam_trust_name(v[i].claimed), "accepted", v[i].accepted,
                       "reason", v[i].reason, "free_slots", v[i].free_slots, "max_slots",
                       v[i].max_slots, "issued_ms", (json_int_t)v[i].issued_ms));
    char *s = json_dumps(a, JSON_INDENT(2));
    printf("%s\n", s ? s : "[]");
    free(s);
    json_decref(a);
  } else {
    printf("%-24s %-24s %-9s %-9s %-7s %s\n", "NODE", "MODEL", "VERIFIED", "CLAIMED", "SLOTS",
           "POLICY");
    for (size_t i = 0; i < n; i++)
      printf("%-24s %-24s %-9s %-9s %3d/%-3d %s%s%s%s\n", v[i].id, v[i].model[0] ? v[i].model : "-",
             gloam_trust_name(v[i].verified), gloam_trust_name(v[i].claimed), v[i].free_slots,
             v[i].max_slots,
             v[i].accepted ? "ok" : "rejected: ", v[i].accepted && v[i].reason[0] ? " (" : "",
             v[i].reason, v[i].accepted && v[i].reason[0] ? ")" : "");
    if (n == 0) printf("(no nodes%s%s)\n", model ? " for " : "", model ? model : "");
  }
  gloam_node_list_free(v);
  return 0;
}

static int cmd_balance(gloam_client *c) {
  char *s = NULL;
  char err[GLOAM_ERR_LEN] = "";
  if (gloam_client_balance(c, &s, err) < 0) {
    fprintf(stderr, "gloam: %s\n", err);
    return 1;
  }
  json_t *j = json_loads(s, 0, NULL);
  json_t *b = json_object_get(j, "balance_micro_usd");
  if (json_is_integer(b)) {
    long long v = (long long)json_integer_value(b);
    printf("balance: %s%lld.%06lld USD (%lld micro-USD)\n", v < 0 ? "-" : "", llabs(v) / 1000000,
           llabs(v) % 1000000, v);
  } else {
    printf("%s\n", s);
  }
  json_decref(j);
  gloam_client_free_str(s);
  return 0;
}

/* ---- verify (offline) ----------------------------------------------------- */

static int verify_evidence_only(const opts *o, gloam_node_info *info) {
  size_t n;
  char *ev = slurp(o->evidence, &n);
  if (!ev) return 2;
  while (n && (ev[n - 1] == '\n' || ev[n - 1] == '\r' || ev[n - 1] == ' ')) ev[--n] = 0;
  gloam_policy p = {0};
  p.max_age_s = o->flags.max_age_s;
  const char *bins[GLOAM_CLIENT_MAX_BINARIES];
  for (size_t i = 0; i < o->flags.n_binaries; i++) bins[i] = o->flags.binaries[i];
  p.allowed_binaries = bins;
  p.n_allowed_binaries = o->flags.n_binaries;
  if (o->flags.min_trust[0] && gloam_trust_parse(o->flags.min_trust, &p.min_trust) < 0) {
    free(ev);
    return usage();
  }
  p.expected_nonce = o->nonce;
  p.activated_ak = o->ak;
  buf roots;
  buf_init(&roots, 1u << 20);
  char err[GLOAM_ERR_LEN];
  if (o->flags.ek_roots[0] && file_read_all(o->flags.ek_roots, &roots, err) < 0) {
    fprintf(stderr, "gloam: %s\n", err);
    free(ev);
    buf_deinit(&roots);
    return 2;
  }
  p.ek_roots_pem = roots.len ? (const char *)roots.data : NULL;
  p.ek_roots_len = roots.len;
  int rc = gloam_evidence_verify(ev, n, o->node_id, NULL, 0, NULL, NULL, &p, 0, info);
  free(ev);
  buf_deinit(&roots);
  if (rc < 0) {
    printf("evidence: REJECTED: %s\n", info->reason);
    return 1;
  }
  printf(
      "evidence: ok\n  node      %s\n  trust     %s (claimed %s)\n  identity  %s\n"
      "  binary    %s\n  model     %s %s\n  receipt   %s\n",
      info->id, gloam_trust_name(info->verified), gloam_trust_name(info->claimed),
      info->identity_thumbprint, info->binary_digest, info->model, info->weights_digest,
      info->receipt_jwk);
  return 0;
}

static int cmd_verify(const opts *o) {
  gloam_node_info info;
  int have_ev = 0;
  if (o->evidence) {
    int rc = verify_evidence_only(o, &info);
    if (rc) return rc;
    have_ev = 1;
    if (!o->receipt) return 0;
  }
  if (!o->receipt || !o->transcript || (!o->key && !have_ev)) return usage();
  size_t jl, tl, kl = 0, rl = 0;
  char *jws = slurp(o->receipt, &jl), *tr = slurp(o->transcript, &tl);
  char *key = o->key ? slurp(o->key, &kl) : NULL;
  char *req = o->request ? slurp(o->request, &rl) : NULL;
  int rc = 2;
  gloam_receipt_key *k = NULL;
  char err[GLOAM_ERR_LEN] = "";
  gloam_receipt_claims cl;
  if (!jws || !tr || (o->key && !key) || (o->request && !req)) goto done;
  while (jl && (jws[jl - 1] == '\n' || jws[jl - 1] == '\r')) jws[--jl] = 0;
  const char *ktext = key ? key : info.receipt_jwk;
  rc = 1;
  if (gloam_receipt_key_parse(ktext, strlen(ktext), &k, err) < 0) {
    printf("receipt: bad key: %s\n", err);
    goto done;
  }
  if (gloam_receipt_verify(k, jws, jl, &cl, err) < 0) {
    printf("receipt: REJECTED: %s\n", err);
    goto done;
  }
  uint8_t h[32];
  SHA256((const uint8_t *)tr, tl, h);
  if (memcmp(h, cl.transcript_sha256, 32) != 0) {
    printf("receipt: REJECTED: the transcript's SHA-256 differs from the signed one\n");
    goto done;
  }
  if (req) {
    SHA256((const uint8_t *)req, rl, h);
    if (memcmp(h, cl.request_sha256, 32) != 0) {
      printf("receipt: REJECTED: the request's SHA-256 differs from the signed one\n");
      goto done;
    }
  }
  if (have_ev && (strcmp(cl.node_id, info.id) != 0 || strcmp(cl.model, info.model) != 0 ||
                  strcmp(cl.weights_digest, info.weights_digest) != 0)) {
    printf("receipt: REJECTED: node, model or weights differ from the evidence\n");
    goto done;
  }
  char rid[33], ts[48];
  codec_hex_encode(cl.request_id, sizeof cl.request_id, rid, sizeof rid);
  time_format_rfc3339((int64_t)(cl.finished_ms / 1000), ts, sizeof ts);
  printf(
      "receipt: ok\n  node        %s\n  model       %s (%s)\n  request     %s\n"
      "  tokens      %llu prompt + %llu completion\n  price       %llu micro-USD\n"
      "  finished    %s\n  transcript  matches (%zu bytes)%s\n",
      cl.node_id, cl.model, cl.weights_digest, rid, (unsigned long long)cl.prompt_tokens,
      (unsigned long long)cl.completion_tokens, (unsigned long long)cl.price_micro_usd, ts, tl,
      req ? "\n  request     matches" : "");
  rc = 0;
done:
  gloam_receipt_key_free(k);
  free(jws);
  free(tr);
  free(key);
  free(req);
  return rc;
}

/* ---- proxy ---------------------------------------------------------------- */

static void on_signal(evutil_socket_t sig, short what, void *ud) {
  event_base_loopbreak(ud);
}

static int cmd_proxy(gloam_client *c, const opts *o) {
  const char *listen = o->listen ? o->listen : "127.0.0.1:8787";
  if (strncmp(listen, "127.", 4) != 0 && strncmp(listen, "[::1]", 5) != 0 &&
      strncmp(listen, "localhost:", 10) != 0)
    fprintf(stderr,
            "gloam proxy: warning: %s is not a loopback address; anyone who can reach it "
            "spends your API key and sees your plaintext\n",
            listen);
  net_ignore_sigpipe();
  struct event_base *base = event_base_new();
  if (!base) return 1;
  client_proxy *p = NULL;
  int port = 0;
  char err[GLOAM_ERR_LEN] = "";
  if (client_proxy_new(&p, base, c, listen, &port, err) < 0) {
    fprintf(stderr, "gloam proxy: %s\n", err);
    event_base_free(base);
    return 1;
  }
  if (o->port_file) {
    FILE *f = fopen(o->port_file, "w");
    if (f) {
      fprintf(f, "%d\n", port);
      fclose(f);
    }
  }
  struct event *si = evsignal_new(base, SIGINT, on_signal, base);
  struct event *st = evsignal_new(base, SIGTERM, on_signal, base);
  if (si) event_add(si, NULL);
  if (st) event_add(st, NULL);
  fprintf(stderr, "gloam proxy: OpenAI endpoint on http://127.0.0.1:%d/v1 (client-sealed)\n", port);
  event_base_dispatch(base);
  if (si) event_free(si);
  if (st) event_free(st);
  client_proxy_free(p);
  event_base_free(base);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  const char *cmd = argv[1];
  opts o;
  memset(&o, 0, sizeof o);
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    usage();
    return 0;
  }
  if (parse_args(argc - 2, argv + 2, &o) != 0) return 2;
  log_configure_from_env();
  if (strcmp(cmd, "verify") == 0) return cmd_verify(&o);
  if (o.prompt && strcmp(cmd, "chat") != 0) return usage();
  client_conf conf;
  gloam_client *c = NULL;
  int rc = make_client(&o, &conf, &c);
  if (rc) return rc;
  if (strcmp(cmd, "chat") == 0)
    rc = cmd_chat(c, &conf, &o);
  else if (strcmp(cmd, "models") == 0)
    rc = cmd_models(c, &o);
  else if (strcmp(cmd, "nodes") == 0)
    rc = cmd_nodes(c, &conf, &o);
  else if (strcmp(cmd, "balance") == 0)
    rc = cmd_balance(c);
  else if (strcmp(cmd, "usage") == 0)
    rc = print_json_cmd(gloam_client_usage, c);
  else if (strcmp(cmd, "proxy") == 0)
    rc = cmd_proxy(c, &o);
  else
    rc = usage();
  memset(&conf, 0, sizeof conf);
  gloam_client_free(c);
  return rc;
}
