/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/store_sqlite.c: the store (store.h) on SQLite in WAL mode.
 *
 * DESIGN: versioned migrations (PRAGMA user_version), each applied in one
 * transaction. Every money movement runs inside BEGIN IMMEDIATE ... COMMIT,
 * so a crash leaves either all of a movement or none of it; reservations
 * left open by a crash are refunded at the next start. synchronous=NORMAL
 * in WAL mode is durable across application crashes and consistent across
 * power loss (the last transactions may roll back, never half-apply).
 */
#include "coord/store.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/time.h"

#define STMT_CACHE 48

/* Prepared statements are kept and reset rather than re-parsed; SQL text is
 * the key (it is always one of this file's fixed statements). */
typedef struct stmt_slot {
  char *sql; /* owned copy */
  sqlite3_stmt *st;
} stmt_slot;

struct coord_store {
  sqlite3 *db;
  stmt_slot cache[STMT_CACHE];
  char err[GLOAM_ERR_LEN];
};

static const char *const migrations[] = {
    /* 1: accounts, credentials, prices, ledger, requests */
    "CREATE TABLE accounts ("
    "  id INTEGER PRIMARY KEY,"
    "  kind INTEGER NOT NULL CHECK (kind IN (0,1,2)),"
    "  name TEXT NOT NULL,"
    "  balance INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  CHECK (kind = 2 OR balance >= 0));"
    "INSERT INTO accounts(id,kind,name,created_at) VALUES"
    "  (1,2,'mint',0),(2,2,'escrow',0),(3,2,'fees',0);"
    "CREATE TABLE api_keys ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
    "  prefix TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER);"
    "CREATE TABLE node_tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
    "  prefix TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER);"
    "CREATE TABLE prices ("
    "  model TEXT PRIMARY KEY,"
    "  input_per_mtok INTEGER NOT NULL CHECK (input_per_mtok >= 0),"
    "  output_per_mtok INTEGER NOT NULL CHECK (output_per_mtok >= 0),"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE ledger_txns ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  request_id TEXT,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE ledger_entries ("
    "  id INTEGER PRIMARY KEY,"
    "  txn_id INTEGER NOT NULL REFERENCES ledger_txns(id),"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  amount INTEGER NOT NULL);"
    "CREATE INDEX ledger_entries_account ON ledger_entries(account_id);"
    "CREATE TABLE requests ("
    "  id TEXT PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  model TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('reserved','settled','refunded')),"
    "  reserved INTEGER NOT NULL CHECK (reserved >= 0),"
    "  charged INTEGER NOT NULL DEFAULT 0,"
    "  operator_id INTEGER REFERENCES accounts(id),"
    "  node_id TEXT,"
    "  prompt_tokens INTEGER NOT NULL DEFAULT 0,"
    "  completion_tokens INTEGER NOT NULL DEFAULT 0,"
    "  reason TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  finished_at INTEGER);"
    "CREATE INDEX requests_account ON requests(account_id, created_at);"
    "CREATE INDEX requests_state ON requests(state);",
    /* 2: audio endpoints are priced per audio minute (docs/speech.md) */
    "ALTER TABLE prices ADD COLUMN audio_per_minute INTEGER NOT NULL DEFAULT 0"
    "  CHECK (audio_per_minute >= 0);",
    /* 3: image generation is priced per image (docs/images.md) */
    "ALTER TABLE prices ADD COLUMN image_price INTEGER NOT NULL DEFAULT 0"
    "  CHECK (image_price >= 0);",
    /* 4: node identity pins survive a restart (docs/attestation.md) */
    "CREATE TABLE node_pins ("
    "  node_id TEXT PRIMARY KEY,"
    "  identity_thumb TEXT NOT NULL,"
    "  trust TEXT NOT NULL,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL);",
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

const char *coord_store_errmsg(const coord_store *s) {
  return s ? s->err : "no store";
}

static int db_fail(coord_store *s, int code, const char *what) {
  return err_set(s->err, code, "%s: %s", what, sqlite3_errmsg(s->db));
}

static int exec(coord_store *s, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    err_set(s->err, GLOAM_EIO, "sqlite: %s", msg ? msg : "error");
    sqlite3_free(msg);
    return GLOAM_EIO;
  }
  return 0;
}

static void done(coord_store *s, sqlite3_stmt *st);

/* Prepares sql and binds arguments described by `types`: 'i' int64,
 * 't' text, 'b' 32-byte blob, 'n' null. */
static sqlite3_stmt *prep(coord_store *s, const char *sql, const char *types, ...) {
  sqlite3_stmt *st = NULL;
  stmt_slot *free_slot = NULL;
  for (int i = 0; i < STMT_CACHE && !st; i++) {
    if (!s->cache[i].sql) {
      if (!free_slot) free_slot = &s->cache[i];
    } else if (strcmp(s->cache[i].sql, sql) == 0) {
      st = s->cache[i].st;
    }
  }
  if (!st) {
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
      db_fail(s, GLOAM_EIO, "prepare");
      return NULL;
    }
    if (free_slot && (free_slot->sql = mem_strdup(sql))) free_slot->st = st;
  }
  va_list ap;
  va_start(ap, types);
  for (int i = 0; types[i]; i++) {
    int rc = SQLITE_OK;
    switch (types[i]) {
      case 'i':
        rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        break;
      case 't': {
        const char *t = va_arg(ap, const char *);
        rc = t ? sqlite3_bind_text(st, i + 1, t, -1, SQLITE_TRANSIENT)
               : sqlite3_bind_null(st, i + 1);
        break;
      }
      case 'b':
        rc = sqlite3_bind_blob(st, i + 1, va_arg(ap, const uint8_t *), 32, SQLITE_TRANSIENT);
        break;
      default:
        rc = sqlite3_bind_null(st, i + 1);
    }
    if (rc != SQLITE_OK) {
      va_end(ap);
      db_fail(s, GLOAM_EIO, "bind");
      done(s, st);
      return NULL;
    }
  }
  va_end(ap);
  return st;
}

/* Releases a statement from prep(): cached ones are reset for next time. */
static void done(coord_store *s, sqlite3_stmt *st) {
  for (int i = 0; i < STMT_CACHE; i++)
    if (s->cache[i].st == st) {
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      return;
    }
  sqlite3_finalize(st); /* not cached (cache full or out of memory) */
}

/* Runs a statement that returns no rows. */
static int run(coord_store *s, sqlite3_stmt *st) {
  if (!st) return GLOAM_EIO;
  int rc = sqlite3_step(st);
  done(s, st);
  if (rc == SQLITE_DONE) return 0;
  if (rc == SQLITE_CONSTRAINT) return db_fail(s, GLOAM_EEXIST, "constraint");
  return db_fail(s, GLOAM_EIO, "step");
}

/* One int64 from the first row; GLOAM_ENOENT without rows. */
static int one_int(coord_store *s, sqlite3_stmt *st, int64_t *out) {
  if (!st) return GLOAM_EIO;
  int rc = sqlite3_step(st);
  int r = 0;
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int64(st, 0);
  else if (rc == SQLITE_DONE)
    r = err_set(s->err, GLOAM_ENOENT, "not found");
  else
    r = db_fail(s, GLOAM_EIO, "step");
  done(s, st);
  return r;
}

int coord_store_schema_version(coord_store *s) {
  int64_t v = 0;
  one_int(s, prep(s, "PRAGMA user_version", ""), &v);
  return (int)v;
}

static int migrate(coord_store *s) {
  int v = coord_store_schema_version(s);
  for (int i = v; i < N_MIGRATIONS; i++) {
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", i + 1);
    int rc = exec(s, "BEGIN IMMEDIATE");
    if (rc == 0) rc = exec(s, migrations[i]);
    if (rc == 0) rc = exec(s, pragma);
    if (rc == 0) rc = exec(s, "COMMIT");
    if (rc < 0) {
      exec(s, "ROLLBACK");
      return rc;
    }
  }
  if (v > N_MIGRATIONS)
    return err_set(s->err, GLOAM_EUNSUPPORTED, "database schema %d is newer than this binary", v);
  return 0;
}

int coord_store_open(coord_store **out, const char *path, char *err) {
  *out = NULL;
  coord_store *s = mem_calloc(1, sizeof *s);
  if (!s) return err_set(err, GLOAM_ENOMEM, "out of memory");
  int rc;
  if (sqlite3_open_v2(path, &s->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    rc = err_set(err, GLOAM_EIO, "cannot open database %s", path);
    goto fail;
  }
  sqlite3_busy_timeout(s->db, 5000);
  rc = exec(s,
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            "PRAGMA secure_delete=ON;");
  if (rc == 0) rc = migrate(s);
  if (rc < 0) {
    err_set(err, rc, "%s", s->err);
    goto fail;
  }
  *out = s;
  return 0;
fail:
  coord_store_close(s);
  return rc;
}

void coord_store_close(coord_store *s) {
  if (!s) return;
  for (int i = 0; i < STMT_CACHE; i++) {
    if (s->cache[i].st) sqlite3_finalize(s->cache[i].st);
    mem_free(s->cache[i].sql);
  }
  if (s->db) sqlite3_close_v2(s->db);
  mem_free(s);
}

int coord_store_account_create(coord_store *s, enum store_kind kind, const char *name,
                               int64_t *out_id) {
  if (kind == STORE_SYSTEM || !name || !*name || strlen(name) > 200)
    return err_set(s->err, GLOAM_EINVAL, "bad account kind or name");
  int rc = run(s, prep(s, "INSERT INTO accounts(kind,name,created_at) VALUES(?,?,?)", "iti",
                       (int64_t)kind, name, time_wall_s()));
  if (rc == 0) *out_id = sqlite3_last_insert_rowid(s->db);
  return rc;
}

int coord_store_account_kind(coord_store *s, int64_t id, enum store_kind *out_kind) {
  int64_t k;
  int rc = one_int(s, prep(s, "SELECT kind FROM accounts WHERE id=?", "i", id), &k);
  if (rc == 0) *out_kind = (enum store_kind)k;
  return rc;
}

static int cred_add(coord_store *s, const char *table, int64_t account, const uint8_t hash[32],
                    const char *prefix) {
  enum store_kind k;
  int rc = coord_store_account_kind(s, account, &k);
  if (rc < 0) return rc;
  if ((strcmp(table, "api_keys") == 0) != (k == STORE_CONSUMER))
    return err_set(s->err, GLOAM_EINVAL, "API keys belong to consumers, node tokens to operators");
  char sql[128];
  snprintf(sql, sizeof sql, "INSERT INTO %s(account_id,hash,prefix,created_at) VALUES(?,?,?,?)",
           table);
  return run(s, prep(s, sql, "ibti", account, hash, prefix, time_wall_s()));
}

static int cred_lookup(coord_store *s, const char *table, const uint8_t hash[32],
                       int64_t *out_account) {
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT account_id FROM %s WHERE hash=? AND revoked_at IS NULL", table);
  return one_int(s, prep(s, sql, "b", hash), out_account);
}

int coord_store_api_key_add(coord_store *s, int64_t account, const uint8_t hash[32],
                            const char *prefix) {
  return cred_add(s, "api_keys", account, hash, prefix);
}
int coord_store_api_key_lookup(coord_store *s, const uint8_t hash[32], int64_t *out_account) {
  return cred_lookup(s, "api_keys", hash, out_account);
}
int coord_store_node_token_add(coord_store *s, int64_t account, const uint8_t hash[32],
                               const char *prefix) {
  return cred_add(s, "node_tokens", account, hash, prefix);
}
int coord_store_node_token_lookup(coord_store *s, const uint8_t hash[32], int64_t *out_account) {
  return cred_lookup(s, "node_tokens", hash, out_account);
}

int coord_store_api_key_revoke(coord_store *s, const char *prefix) {
  int rc = run(s, prep(s, "UPDATE api_keys SET revoked_at=? WHERE prefix=? AND revoked_at IS NULL",
                       "it", time_wall_s(), prefix));
  if (rc == 0 && sqlite3_changes(s->db) == 0) return err_set(s->err, GLOAM_ENOENT, "no such key");
  return rc;
}

int coord_store_price_set(coord_store *s, const char *model, int64_t in_per_mtok,
                          int64_t out_per_mtok) {
  if (!model || !*model || strlen(model) > 128 || in_per_mtok < 0 || out_per_mtok < 0)
    return err_set(s->err, GLOAM_EINVAL, "bad model or price");
  return run(
      s, prep(s,
              "INSERT INTO prices(model,input_per_mtok,output_per_mtok,updated_at) VALUES(?,?,?,?) "
              "ON CONFLICT(model) DO UPDATE SET "
              "input_per_mtok=excluded.input_per_mtok,"
              "output_per_mtok=excluded.output_per_mtok,updated_at=excluded.updated_at",
              "tiii", model, in_per_mtok, out_per_mtok, time_wall_s()));
}

int coord_store_price_get(coord_store *s, const char *model, int64_t *in_per_mtok,
                          int64_t *out_per_mtok) {
  sqlite3_stmt *st =
      prep(s, "SELECT input_per_mtok, output_per_mtok FROM prices WHERE model=?", "t", model);
  if (!st) return GLOAM_EIO;
  int rc = sqlite3_step(st), r = 0;
  if (rc == SQLITE_ROW) {
    *in_per_mtok = sqlite3_column_int64(st, 0);
    *out_per_mtok = sqlite3_column_int64(st, 1);
  } else {
    r = rc == SQLITE_DONE ? err_set(s->err, GLOAM_ENOENT, "no price")
                          : db_fail(s, GLOAM_EIO, "step");
  }
  done(s, st);
  return r;
}

/* A per-unit price column of prices: audio_per_minute or image_price. */
static int unit_price_set(coord_store *s, const char *model, bool image, int64_t v) {
  if (!model || !*model || strlen(model) > 128 || v < 0)
    return err_set(s->err, GLOAM_EINVAL, "bad model or price");
  return run(
      s, prep(s,
              image ? "INSERT INTO prices(model,input_per_mtok,output_per_mtok,updated_at,"
                      "image_price) VALUES(?,0,0,?,?) ON CONFLICT(model) DO UPDATE SET "
                      "image_price=excluded.image_price,updated_at=excluded.updated_at"
                    : "INSERT INTO prices(model,input_per_mtok,output_per_mtok,updated_at,"
                      "audio_per_minute) VALUES(?,0,0,?,?) ON CONFLICT(model) DO UPDATE SET "
                      "audio_per_minute=excluded.audio_per_minute,updated_at=excluded.updated_at",
              "tii", model, time_wall_s(), v));
}

static int unit_price_get(coord_store *s, const char *model, bool image, int64_t *v) {
  int rc = one_int(s,
                   prep(s,
                        image ? "SELECT image_price FROM prices WHERE model=?"
                              : "SELECT audio_per_minute FROM prices WHERE model=?",
                        "t", model),
                   v);
  if (rc == 0 && *v <= 0)
    rc = err_set(s->err, GLOAM_ENOENT, "no %s price", image ? "image" : "audio");
  return rc;
}

int coord_store_audio_price_set(coord_store *s, const char *model, int64_t per_minute) {
  return unit_price_set(s, model, false, per_minute);
}

int coord_store_audio_price_get(coord_store *s, const char *model, int64_t *per_minute) {
  return unit_price_get(s, model, false, per_minute);
}

int coord_store_image_price_set(coord_store *s, const char *model, int64_t per_image) {
  return unit_price_set(s, model, true, per_image);
}

int coord_store_image_price_get(coord_store *s, const char *model, int64_t *per_image) {
  return unit_price_get(s, model, true, per_image);
}

int coord_store_balance(coord_store *s, int64_t account, int64_t *out) {
  return one_int(s, prep(s, "SELECT balance FROM accounts WHERE id=?", "i", account), out);
}

/* ---- ledger -------------------------------------------------------------- */

/* One movement: -amount from `from`, +amount to `to`, inside an open
 * transaction. amount 0 writes nothing. */
static int move(coord_store *s, const char *kind, const char *request_id, int64_t from, int64_t to,
                int64_t amount) {
  if (amount < 0) return err_set(s->err, GLOAM_ERANGE, "negative movement");
  if (amount == 0) return 0;
  int rc = run(s, prep(s, "INSERT INTO ledger_txns(kind,request_id,created_at) VALUES(?,?,?)",
                       "tti", kind, request_id, time_wall_ms()));
  if (rc < 0) return rc;
  int64_t txn = sqlite3_last_insert_rowid(s->db);
  rc = run(s, prep(s, "INSERT INTO ledger_entries(txn_id,account_id,amount) VALUES(?,?,?),(?,?,?)",
                   "iiiiii", txn, from, -amount, txn, to, amount));
  if (rc == 0)
    rc = run(s, prep(s, "UPDATE accounts SET balance=balance-? WHERE id=?", "ii", amount, from));
  if (rc == 0)
    rc = run(s, prep(s, "UPDATE accounts SET balance=balance+? WHERE id=?", "ii", amount, to));
  if (rc == GLOAM_EEXIST) rc = err_set(s->err, GLOAM_EPOLICY, "insufficient balance");
  return rc;
}

static int begin(coord_store *s) {
  return exec(s, "BEGIN IMMEDIATE");
}
static int end(coord_store *s, int rc) {
  if (rc == 0) rc = exec(s, "COMMIT");
  if (rc < 0) {
    char keep[GLOAM_ERR_LEN];
    memcpy(keep, s->err, sizeof keep);
    exec(s, "ROLLBACK");
    memcpy(s->err, keep, sizeof keep);
  }
  return rc;
}

int coord_store_credit(coord_store *s, int64_t account, int64_t amount) {
  if (amount <= 0) return err_set(s->err, GLOAM_ERANGE, "credit must be positive");
  enum store_kind k;
  int rc = coord_store_account_kind(s, account, &k);
  if (rc < 0) return rc;
  if (k == STORE_SYSTEM) return err_set(s->err, GLOAM_EINVAL, "cannot credit a system account");
  rc = begin(s);
  if (rc < 0) return rc;
  return end(s, move(s, "credit", NULL, STORE_ACCOUNT_MINT, account, amount));
}

int coord_store_reserve(coord_store *s, const char *request_id, int64_t account, const char *model,
                        int64_t amount) {
  if (amount < 0) return err_set(s->err, GLOAM_ERANGE, "negative reservation");
  int rc = begin(s);
  if (rc < 0) return rc;
  int64_t bal = 0;
  rc = coord_store_balance(s, account, &bal);
  if (rc == 0 && bal < amount) rc = err_set(s->err, GLOAM_EPOLICY, "insufficient balance");
  if (rc == 0)
    rc = run(s, prep(s,
                     "INSERT INTO requests(id,account_id,model,state,reserved,created_at) "
                     "VALUES(?,?,?,'reserved',?,?)",
                     "titii", request_id, account, model, amount, time_wall_ms()));
  if (rc == 0) rc = move(s, "reserve", request_id, account, STORE_ACCOUNT_ESCROW, amount);
  return end(s, rc);
}

/* Reads a reserved request's account and amount. */
static int reserved_of(coord_store *s, const char *request_id, int64_t *account,
                       int64_t *reserved) {
  sqlite3_stmt *st =
      prep(s, "SELECT account_id, reserved, state FROM requests WHERE id=?", "t", request_id);
  if (!st) return GLOAM_EIO;
  int rc = sqlite3_step(st), r = 0;
  if (rc == SQLITE_ROW) {
    *account = sqlite3_column_int64(st, 0);
    *reserved = sqlite3_column_int64(st, 1);
    const char *state = (const char *)sqlite3_column_text(st, 2);
    if (!state || strcmp(state, "reserved") != 0)
      r = err_set(s->err, GLOAM_ESTATE, "request already finished");
  } else {
    r = rc == SQLITE_DONE ? err_set(s->err, GLOAM_ENOENT, "no such request")
                          : db_fail(s, GLOAM_EIO, "step");
  }
  done(s, st);
  return r;
}

int coord_store_settle(coord_store *s, const char *request_id, int64_t operator_account,
                       int64_t cost, int64_t fee, int64_t prompt_tokens, int64_t completion_tokens,
                       const char *node_id) {
  int rc = begin(s);
  if (rc < 0) return rc;
  int64_t account = 0, reserved = 0;
  rc = reserved_of(s, request_id, &account, &reserved);
  if (rc == 0 &&
      (fee < 0 || fee > cost || cost > reserved || prompt_tokens < 0 || completion_tokens < 0))
    rc = err_set(s->err, GLOAM_ERANGE, "settlement out of range");
  enum store_kind k = STORE_SYSTEM;
  if (rc == 0) rc = coord_store_account_kind(s, operator_account, &k);
  if (rc == 0 && k != STORE_OPERATOR)
    rc = err_set(s->err, GLOAM_EINVAL, "settlement to a non-operator account");
  if (rc == 0) rc = move(s, "earn", request_id, STORE_ACCOUNT_ESCROW, operator_account, cost - fee);
  if (rc == 0) rc = move(s, "fee", request_id, STORE_ACCOUNT_ESCROW, STORE_ACCOUNT_FEES, fee);
  if (rc == 0) rc = move(s, "release", request_id, STORE_ACCOUNT_ESCROW, account, reserved - cost);
  if (rc == 0)
    rc = run(s, prep(s,
                     "UPDATE requests SET state='settled',charged=?,operator_id=?,node_id=?,"
                     "prompt_tokens=?,completion_tokens=?,finished_at=? WHERE id=?",
                     "iitiiit", cost, operator_account, node_id, prompt_tokens, completion_tokens,
                     time_wall_ms(), request_id));
  return end(s, rc);
}

int coord_store_refund(coord_store *s, const char *request_id, const char *reason) {
  int rc = begin(s);
  if (rc < 0) return rc;
  int64_t account = 0, reserved = 0;
  rc = reserved_of(s, request_id, &account, &reserved);
  if (rc == 0) rc = move(s, "refund", request_id, STORE_ACCOUNT_ESCROW, account, reserved);
  if (rc == 0)
    rc = run(s, prep(s, "UPDATE requests SET state='refunded',reason=?,finished_at=? WHERE id=?",
                     "tit", reason, time_wall_ms(), request_id));
  return end(s, rc);
}

int coord_store_refund_all_reserved(coord_store *s, int *out_n) {
  *out_n = 0;
  for (;;) {
    sqlite3_stmt *st = prep(s, "SELECT id FROM requests WHERE state='reserved' LIMIT 1", "");
    if (!st) return GLOAM_EIO;
    char id[128] = "";
    if (sqlite3_step(st) == SQLITE_ROW)
      snprintf(id, sizeof id, "%s", (const char *)sqlite3_column_text(st, 0));
    done(s, st);
    if (!id[0]) return 0;
    int rc = coord_store_refund(s, id, "coordinator restarted");
    if (rc < 0) return rc;
    ++*out_n;
  }
}

int coord_store_usage(coord_store *s, int64_t account, int limit, json_t **out) {
  *out = NULL;
  sqlite3_stmt *st = prep(s,
                          "SELECT id,model,state,reserved,charged,prompt_tokens,"
                          "completion_tokens,node_id,created_at,finished_at FROM requests "
                          "WHERE account_id=? ORDER BY created_at DESC, rowid DESC LIMIT ?",
                          "ii", account, (int64_t)limit);
  if (!st) return GLOAM_EIO;
  json_t *arr = json_array();
  int rc;
  while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *node = (const char *)sqlite3_column_text(st, 7);
    json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s?,s:I,s:I}", "id",
                          (const char *)sqlite3_column_text(st, 0), "model",
                          (const char *)sqlite3_column_text(st, 1), "state",
                          (const char *)sqlite3_column_text(st, 2), "reserved_micro_usd",
                          (json_int_t)sqlite3_column_int64(st, 3), "charged_micro_usd",
                          (json_int_t)sqlite3_column_int64(st, 4), "prompt_tokens",
                          (json_int_t)sqlite3_column_int64(st, 5), "completion_tokens",
                          (json_int_t)sqlite3_column_int64(st, 6), "node_id", node, "created_ms",
                          (json_int_t)sqlite3_column_int64(st, 8), "finished_ms",
                          (json_int_t)sqlite3_column_int64(st, 9));
    if (!o || json_array_append_new(arr, o) < 0) {
      json_decref(arr);
      arr = NULL;
    }
  }
  done(s, st);
  if (!arr) return err_set(s->err, GLOAM_ENOMEM, "out of memory");
  *out = arr;
  return 0;
}

int coord_store_earnings(coord_store *s, int64_t account, int64_t *out_total,
                         int64_t *out_requests) {
  int rc = one_int(s,
                   prep(s,
                        "SELECT COALESCE(SUM(e.amount),0) FROM ledger_entries e JOIN ledger_txns t"
                        " ON e.txn_id=t.id WHERE t.kind='earn' AND e.account_id=?",
                        "i", account),
                   out_total);
  if (rc == 0)
    rc = one_int(s,
                 prep(s, "SELECT COUNT(*) FROM requests WHERE operator_id=? AND state='settled'",
                      "i", account),
                 out_requests);
  return rc;
}

static int check_zero(coord_store *s, const char *sql, const char *what) {
  int64_t v = 0;
  int rc = one_int(s, prep(s, sql, ""), &v);
  if (rc < 0) return rc;
  if (v != 0)
    return err_set(s->err, GLOAM_EINTERNAL, "ledger check failed: %s (%lld)", what, (long long)v);
  return 0;
}

int coord_store_check(coord_store *s, int64_t *out_reserved, int64_t *out_settled,
                      int64_t *out_refunded) {
  int rc = check_zero(s, "SELECT COALESCE(SUM(amount),0) FROM ledger_entries",
                      "entries do not sum to zero");
  if (rc == 0)
    rc = check_zero(s,
                    "SELECT COUNT(*) FROM (SELECT txn_id FROM ledger_entries GROUP BY txn_id "
                    "HAVING SUM(amount) != 0 OR COUNT(*) != 2)",
                    "a transaction is not two entries summing to zero");
  if (rc == 0)
    rc = check_zero(s,
                    "SELECT COUNT(*) FROM accounts a WHERE a.balance != (SELECT "
                    "COALESCE(SUM(amount),0) FROM ledger_entries e WHERE e.account_id=a.id)",
                    "cached balance differs from its entries");
  if (rc == 0)
    rc = check_zero(s, "SELECT COUNT(*) FROM accounts WHERE kind != 2 AND balance < 0",
                    "negative balance");
  if (rc == 0)
    rc = check_zero(s,
                    "SELECT (SELECT balance FROM accounts WHERE id=2) - (SELECT "
                    "COALESCE(SUM(reserved),0) FROM requests WHERE state='reserved')",
                    "escrow differs from open reservations");
  if (rc == 0)
    rc = check_zero(s, "SELECT COUNT(*) FROM requests WHERE state='settled' AND charged > reserved",
                    "charged more than reserved");
  if (rc == 0)
    rc = one_int(s, prep(s, "SELECT COUNT(*) FROM requests WHERE state='reserved'", ""),
                 out_reserved);
  if (rc == 0)
    rc =
        one_int(s, prep(s, "SELECT COUNT(*) FROM requests WHERE state='settled'", ""), out_settled);
  if (rc == 0)
    rc = one_int(s, prep(s, "SELECT COUNT(*) FROM requests WHERE state='refunded'", ""),
                 out_refunded);
  return rc;
}

/* ---- node identity pins ------------------------------------------------- */

/* The pinned thumbprint of node_id into out[cap]; GLOAM_ENOENT if none. */
static int pin_thumb(coord_store *s, const char *node_id, char *out, size_t cap) {
  sqlite3_stmt *st = prep(s, "SELECT identity_thumb FROM node_pins WHERE node_id=?", "t", node_id);
  if (!st) return GLOAM_EIO;
  int rc = sqlite3_step(st), r = 0;
  if (rc == SQLITE_ROW)
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
  else
    r = rc == SQLITE_DONE ? err_set(s->err, GLOAM_ENOENT, "no pin for node id %.64s", node_id)
                          : db_fail(s, GLOAM_EIO, "step");
  done(s, st);
  return r;
}

static int pin_mismatch(coord_store *s, const char *node_id) {
  return err_set(s->err, GLOAM_EAUTH, "identity key changed for node id %.64s", node_id);
}

int coord_store_pin(coord_store *s, const char *node_id, const char *thumb, const char *trust,
                    bool touch, bool *out_new) {
  if (out_new) *out_new = false;
  if (!node_id || !*node_id || strlen(node_id) > 128 || !thumb || !*thumb || strlen(thumb) > 64 ||
      !trust)
    return err_set(s->err, GLOAM_EINVAL, "bad node id, thumbprint or trust");
  char have[72];
  int rc = pin_thumb(s, node_id, have, sizeof have);
  if (rc == 0 && strcmp(have, thumb) != 0) return pin_mismatch(s, node_id);
  if (rc == 0 && !touch) return 0; /* read only: no write lock */
  if (rc < 0 && rc != GLOAM_ENOENT) return rc;
  /* first sight or a new connection: decide again under the write lock
   * (another connection or the admin command may have written meanwhile) */
  rc = begin(s);
  if (rc < 0) return rc;
  int64_t now = time_wall_ms();
  rc = run(s, prep(s,
                   "INSERT INTO node_pins(node_id,identity_thumb,trust,first_seen,last_seen) "
                   "VALUES(?,?,?,?,?) ON CONFLICT(node_id) DO NOTHING",
                   "tttii", node_id, thumb, trust, now, now));
  if (rc == 0 && sqlite3_changes(s->db) == 1) {
    if (out_new) *out_new = true;
  } else if (rc == 0) {
    rc = pin_thumb(s, node_id, have, sizeof have);
    if (rc == 0 && strcmp(have, thumb) != 0) rc = pin_mismatch(s, node_id);
    if (rc == 0)
      rc = run(s, prep(s, "UPDATE node_pins SET last_seen=?, trust=? WHERE node_id=?", "itt", now,
                       trust, node_id));
  }
  return end(s, rc);
}

int coord_store_pin_list(coord_store *s, json_t **out) {
  *out = NULL;
  sqlite3_stmt *st = prep(s,
                          "SELECT node_id,identity_thumb,trust,first_seen,last_seen FROM node_pins "
                          "ORDER BY node_id",
                          "");
  if (!st) return GLOAM_EIO;
  json_t *arr = json_array();
  int rc = SQLITE_DONE;
  while (arr && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:I,s:I}", "node_id", (const char *)sqlite3_column_text(st, 0),
                  "identity_thumb", (const char *)sqlite3_column_text(st, 1), "trust",
                  (const char *)sqlite3_column_text(st, 2), "first_seen_ms",
                  (json_int_t)sqlite3_column_int64(st, 3), "last_seen_ms",
                  (json_int_t)sqlite3_column_int64(st, 4));
    if (!o || json_array_append_new(arr, o) < 0) {
      json_decref(arr);
      arr = NULL;
    }
  }
  int r = 0;
  if (!arr)
    r = err_set(s->err, GLOAM_ENOMEM, "out of memory");
  else if (rc != SQLITE_DONE)
    r = db_fail(s, GLOAM_EIO, "step");
  done(s, st);
  if (r < 0) {
    json_decref(arr);
    return r;
  }
  *out = arr;
  return 0;
}

int coord_store_pin_drop(coord_store *s, const char *node_id) {
  int rc = run(s, prep(s, "DELETE FROM node_pins WHERE node_id=?", "t", node_id));
  if (rc == 0 && sqlite3_changes(s->db) == 0)
    return err_set(s->err, GLOAM_ENOENT, "no pin for node id %.64s", node_id);
  return rc;
}
