/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/admin.c: the admin subcommands (see admin.h).
 */
#include "coord/admin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/secure.h"
#include "coord/creds.h"
#include "coord/store.h"

typedef struct opts {
  const char *db, *name, *model, *label, *node;
  int64_t account, amount, credit, in_price, out_price, audio_price, image_price;
  int have_account, have_amount, have_in, have_out, have_audio, have_image;
} opts;

static int parse_i64(const char *s, int64_t *out) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < 0) return -1;
  *out = v;
  return 0;
}

static int parse_opts(int argc, char **argv, int first, opts *o, FILE *errf) {
  for (int i = first; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = 0;
    if (!v) {
      fprintf(errf, "gloam-coord admin: %s needs a value\n", a);
      return -1;
    }
    if (strcmp(a, "--db") == 0)
      o->db = v;
    else if (strcmp(a, "--name") == 0)
      o->name = v;
    else if (strcmp(a, "--model") == 0)
      o->model = v;
    else if (strcmp(a, "--label") == 0)
      o->label = v;
    else if (strcmp(a, "--node") == 0)
      o->node = v;
    else if (strcmp(a, "--account") == 0)
      bad = parse_i64(v, &o->account), o->have_account = 1;
    else if (strcmp(a, "--amount") == 0)
      bad = parse_i64(v, &o->amount), o->have_amount = 1;
    else if (strcmp(a, "--credit") == 0)
      bad = parse_i64(v, &o->credit);
    else if (strcmp(a, "--input") == 0)
      bad = parse_i64(v, &o->in_price), o->have_in = 1;
    else if (strcmp(a, "--output") == 0)
      bad = parse_i64(v, &o->out_price), o->have_out = 1;
    else if (strcmp(a, "--audio-minute") == 0)
      bad = parse_i64(v, &o->audio_price), o->have_audio = 1;
    else if (strcmp(a, "--image") == 0)
      bad = parse_i64(v, &o->image_price), o->have_image = 1;
    else {
      fprintf(errf, "gloam-coord admin: unknown option %s\n", a);
      return -1;
    }
    if (bad) {
      fprintf(errf, "gloam-coord admin: %s needs a non-negative integer\n", a);
      return -1;
    }
  }
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: gloam-coord admin --db FILE COMMAND [options]\n"
          "  create-consumer --name N [--credit MICRO_USD]   new account + API key (shown once)\n"
          "  create-operator --name N                        new operator + node token\n"
          "  create-key --account ID                         another API key\n"
          "  create-node-token --account ID                  another node token\n"
          "  revoke-key --label gk_XXXXXXXXX                 revoke an API key\n"
          "  credit --account ID --amount MICRO_USD          add funds\n"
          "  set-price --model M --input P --output P        micro-USD per million tokens\n"
          "  set-price --model M --audio-minute P            micro-USD per audio minute (Whisper)\n"
          "  set-price --model M --image P                   micro-USD per image (Janus)\n"
          "  balance --account ID\n"
          "  earnings --account ID                           an operator's earnings\n"
          "  check                                           verify the ledger invariants\n"
          "  list-pins                                       node ids and their pinned identity\n"
          "  drop-pin --node NODE_ID                         forget a pin (a re-keyed node)\n");
}

static int new_cred(coord_store *s, int64_t account, int node, FILE *out, FILE *errf) {
  char key[CREDS_MAX], label[CREDS_LABEL_LEN + 1];
  uint8_t hash[32];
  int rc = coord_creds_new(node ? "gnt_" : "gk_", key, hash, label);
  if (rc == 0)
    rc = node ? coord_store_node_token_add(s, account, hash, label)
              : coord_store_api_key_add(s, account, hash, label);
  if (rc < 0) {
    fprintf(errf, "gloam-coord admin: %s\n", coord_store_errmsg(s));
    secure_zero(key, sizeof key);
    return rc;
  }
  fprintf(out, "{\"account\":%" PRId64 ",\"%s\":\"%s\",\"label\":\"%s\"}\n", account,
          node ? "node_token" : "api_key", key, label);
  secure_zero(key, sizeof key);
  return 0;
}

/* list-pins, drop-pin --node ID: node identity pins (docs/attestation.md). */
static int pins_cmd(coord_store *s, const char *cmd, const char *node, FILE *out, FILE *errf) {
  json_t *o = NULL, *list = NULL;
  int rc;
  if (cmd[0] == 'l') {
    rc = coord_store_pin_list(s, &list);
    if (rc == 0) o = json_pack("{s:o}", "pins", list);
  } else {
    if (!node) {
      fprintf(errf, "gloam-coord admin: drop-pin: missing options\n");
      usage(errf);
      return GLOAM_EINVAL;
    }
    rc = coord_store_pin_drop(s, node);
    if (rc == 0) o = json_pack("{s:s}", "dropped", node);
  }
  if (rc < 0) {
    fprintf(errf, "gloam-coord admin: %s\n", coord_store_errmsg(s));
    return rc;
  }
  if (!o || json_dumpf(o, out, JSON_COMPACT) < 0) rc = GLOAM_ENOMEM;
  if (rc == 0) fputc('\n', out);
  json_decref(o);
  if (rc < 0) fprintf(errf, "gloam-coord admin: out of memory\n");
  return rc;
}

static int run_cmd(coord_store *s, const char *cmd, const opts *o, FILE *out, FILE *errf) {
  int rc = GLOAM_EINVAL;
  int64_t v = 0, w = 0;
  if (strcmp(cmd, "create-consumer") == 0 || strcmp(cmd, "create-operator") == 0) {
    int node = cmd[7] == 'o';
    if (!o->name) goto need;
    rc = coord_store_account_create(s, node ? STORE_OPERATOR : STORE_CONSUMER, o->name, &v);
    if (rc == 0 && o->credit > 0) rc = coord_store_credit(s, v, o->credit);
    if (rc == 0) return new_cred(s, v, node, out, errf);
  } else if (strcmp(cmd, "create-key") == 0 || strcmp(cmd, "create-node-token") == 0) {
    if (!o->have_account) goto need;
    return new_cred(s, o->account, cmd[7] == 'n', out, errf);
  } else if (strcmp(cmd, "revoke-key") == 0) {
    if (!o->label) goto need;
    rc = coord_store_api_key_revoke(s, o->label);
    if (rc == 0) fprintf(out, "{\"revoked\":\"%s\"}\n", o->label);
  } else if (strcmp(cmd, "credit") == 0) {
    if (!o->have_account || !o->have_amount) goto need;
    rc = coord_store_credit(s, o->account, o->amount);
    if (rc == 0) rc = coord_store_balance(s, o->account, &v);
    if (rc == 0)
      fprintf(out, "{\"account\":%" PRId64 ",\"balance_micro_usd\":%" PRId64 "}\n", o->account, v);
  } else if (strcmp(cmd, "set-price") == 0 && o->have_image) {
    if (!o->model || o->have_in || o->have_out || o->have_audio) goto need;
    if (o->image_price > 1000000000000) {
      fprintf(errf, "gloam-coord admin: price above $1,000,000 per image\n");
      return GLOAM_ERANGE;
    }
    rc = coord_store_image_price_set(s, o->model, o->image_price);
    if (rc == 0)
      fprintf(out, "{\"model\":\"%s\",\"image_price\":%" PRId64 "}\n", o->model, o->image_price);
  } else if (strcmp(cmd, "set-price") == 0 && o->have_audio) {
    if (!o->model || o->have_in || o->have_out) goto need;
    if (o->audio_price > 1000000000000) {
      fprintf(errf, "gloam-coord admin: price above $1,000,000 per minute\n");
      return GLOAM_ERANGE;
    }
    rc = coord_store_audio_price_set(s, o->model, o->audio_price);
    if (rc == 0)
      fprintf(out, "{\"model\":\"%s\",\"audio_per_minute\":%" PRId64 "}\n", o->model,
              o->audio_price);
  } else if (strcmp(cmd, "set-price") == 0) {
    if (!o->model || !o->have_in || !o->have_out) goto need;
    if (o->in_price > 1000000000000 || o->out_price > 1000000000000) {
      fprintf(errf, "gloam-coord admin: price above $1,000,000 per million tokens\n");
      return GLOAM_ERANGE;
    }
    rc = coord_store_price_set(s, o->model, o->in_price, o->out_price);
    if (rc == 0)
      fprintf(out,
              "{\"model\":\"%s\",\"input_per_mtok\":%" PRId64 ",\"output_per_mtok\":%" PRId64 "}\n",
              o->model, o->in_price, o->out_price);
  } else if (strcmp(cmd, "balance") == 0) {
    if (!o->have_account) goto need;
    rc = coord_store_balance(s, o->account, &v);
    if (rc == 0)
      fprintf(out, "{\"account\":%" PRId64 ",\"balance_micro_usd\":%" PRId64 "}\n", o->account, v);
  } else if (strcmp(cmd, "earnings") == 0) {
    if (!o->have_account) goto need;
    rc = coord_store_earnings(s, o->account, &v, &w);
    if (rc == 0)
      fprintf(out,
              "{\"account\":%" PRId64 ",\"earned_micro_usd\":%" PRId64 ",\"requests\":%" PRId64
              "}\n",
              o->account, v, w);
  } else if (strcmp(cmd, "check") == 0) {
    int64_t r = 0, st = 0, rf = 0;
    rc = coord_store_check(s, &r, &st, &rf);
    if (rc == 0)
      fprintf(out,
              "{\"ok\":true,\"reserved\":%" PRId64 ",\"settled\":%" PRId64 ",\"refunded\":%" PRId64
              "}\n",
              r, st, rf);
  } else if (strcmp(cmd, "list-pins") == 0 || strcmp(cmd, "drop-pin") == 0) {
    return pins_cmd(s, cmd, o->node, out, errf);
  } else {
    fprintf(errf, "gloam-coord admin: unknown command %s\n", cmd);
    usage(errf);
    return GLOAM_EINVAL;
  }
  if (rc < 0) fprintf(errf, "gloam-coord admin: %s\n", coord_store_errmsg(s));
  return rc;
need:
  fprintf(errf, "gloam-coord admin: %s: missing options\n", cmd);
  usage(errf);
  return GLOAM_EINVAL;
}

int coord_admin_main(int argc, char **argv, FILE *out, FILE *errf) {
  opts o = {0};
  const char *cmd = NULL;
  int first = 0;
  /* --db may come before the command */
  while (first < argc && strncmp(argv[first], "--", 2) == 0 && first + 1 < argc) {
    if (strcmp(argv[first], "--db") != 0) break;
    o.db = argv[first + 1];
    first += 2;
  }
  if (first >= argc) {
    usage(errf);
    return 2;
  }
  cmd = argv[first];
  if (parse_opts(argc, argv, first + 1, &o, errf) < 0) return 2;
  if (!o.db) {
    fprintf(errf, "gloam-coord admin: --db FILE is required\n");
    return 2;
  }
  char err[GLOAM_ERR_LEN];
  coord_store *s;
  if (coord_store_open(&s, o.db, err) < 0) {
    fprintf(errf, "gloam-coord admin: %s\n", err);
    return 1;
  }
  int rc = run_cmd(s, cmd, &o, out, errf);
  coord_store_close(s);
  return rc < 0 ? (rc == GLOAM_EINVAL ? 2 : 1) : 0;
}
