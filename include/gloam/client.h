/* SPDX-License-Identifier: Apache-2.0
 *
 * gloam/client.h: libgloam, the client side of gloam's end-to-end sealing
 * (docs/client.md). It finds the nodes that serve a model, verifies their
 * evidence against a policy on this machine, seals the OpenAI request body to
 * the chosen node's key, posts the envelope to the coordinator, opens the
 * sealed response stream and checks the node's signed receipt. The
 * coordinator only ever sees ciphertext and the envelope's cleartext header.
 *
 *   gloam_client_config cfg = {0};
 *   cfg.base_url = "http://127.0.0.1:8080";
 *   cfg.api_key = getenv("GLOAM_API_KEY");
 *   cfg.min_trust = GLOAM_TRUST_SOFTWARE;
 *   gloam_client *c;
 *   char err[GLOAM_ERR_LEN];
 *   if (gloam_client_new(&c, &cfg, err) < 0) die(err);
 *   const char *body = "{\"model\":\"qwen3\",\"stream\":true,"
 *                      "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
 *   gloam_chat_result r;
 *   int rc = gloam_client_chat(c, body, strlen(body), NULL, on_chunk, ud, &r, err);
 *   // on_chunk(data, len, ud) got the opened plaintext (OpenAI SSE text for
 *   // "stream": true, else the JSON body); rc == 0 means the stream ended
 *   // with its final chunk and the receipt verified against the node's key.
 *   printf("node %s trust %s\n", r.node_id, gloam_trust_name(r.trust));
 *   gloam_chat_result_deinit(&r);
 *   gloam_client_free(c);
 *
 * Ownership: the config's strings are copied by gloam_client_new(). Results
 * are caller-owned: node lists are freed with gloam_node_list_free(), strings
 * with gloam_client_free_str(), chat results with gloam_chat_result_deinit().
 * Callbacks get borrowed bytes valid only during the call.
 * Thread safety: a gloam_client is immutable after creation; every call makes
 * its own event loop and connections, so any number of threads may call into
 * one client at once. Error detail goes to the caller's `err` buffer
 * (GLOAM_ERR_LEN bytes, may be NULL), never to shared state. Calls block
 * until done; the chunk callback runs on the calling thread.
 * Return codes: 0 or a negative GLOAM_E* (gloam/err.h): GLOAM_EINVAL bad
 * arguments or config; GLOAM_EIO connection failures; GLOAM_ETIMEDOUT;
 * GLOAM_EPROTO the coordinator answered an HTTP error (status and OpenAI
 * error code in the result) or something that is not the protocol;
 * GLOAM_EPOLICY no node meets the policy; GLOAM_EAUTH a sealed chunk or the
 * receipt failed verification (tampering); GLOAM_ESTATE the stream ended
 * before its final chunk (truncation); GLOAM_ECANCELED the callback asked to
 * stop; GLOAM_ETOOBIG limits; GLOAM_ENOMEM.
 */
#ifndef GLOAM_CLIENT_H
#define GLOAM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "gloam/attest.h"
#include "gloam/err.h"
#include "gloam/receipt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Trust levels (gloam_trust, gloam_trust_name, gloam_trust_parse) come from
 * gloam/attest.h: one enum for the verifier, the client and the coordinator.
 * A level is only ever reported when this library verified it. */

#define GLOAM_CLIENT_MAX_BINARIES 32
#define GLOAM_CLIENT_DEFAULT_MAX_AGE_S 86400u
#define GLOAM_CLIENT_DEFAULT_TIMEOUT_S 300u
#define GLOAM_CLIENT_DEFAULT_MAX_OUTPUT 4096u

typedef struct gloam_client_config {
  const char *base_url;  /* "http://host:port" or "https://host[:port]"; required */
  const char *api_key;   /* "gk_..."; required for chat, balance and usage */
  gloam_trust min_trust; /* lowest acceptable verified level (0 = none) */
  /* Allowed binary digests ("sha256:<hex>"); n_allowed_binaries 0 = any. */
  const char *const *allowed_binaries;
  size_t n_allowed_binaries;
  uint32_t max_evidence_age_s; /* 0 = GLOAM_CLIENT_DEFAULT_MAX_AGE_S */
  uint32_t timeout_s;          /* per HTTP exchange; 0 = GLOAM_CLIENT_DEFAULT_TIMEOUT_S */
  const char *ca_file;         /* PEM CA bundle for https; NULL = system store */
  /* PEM bundle of TPM makers' EK root CAs; NULL: no node verifies as `tpm`
   * (and a TPM statement, which carries no software signature to fall back
   * on, is rejected). */
  const char *ek_roots_file;
} gloam_client_config;

typedef struct gloam_client gloam_client;

/* Validates and copies cfg. err gets the reason on failure (GLOAM_EINVAL). */
GLOAM_API int gloam_client_new(gloam_client **out, const gloam_client_config *cfg, char *err);
GLOAM_API void gloam_client_free(gloam_client *c);
/* Frees a string returned by this API. NULL is a no-op. */
GLOAM_API void gloam_client_free_str(char *s);

/* ---- evidence and node discovery ---- */

/* The evidence policy that nodes are checked against (from the config, or
 * built directly for offline checks). */
typedef struct gloam_policy {
  gloam_trust min_trust;
  const char *const *allowed_binaries; /* NULL / 0: any */
  size_t n_allowed_binaries;
  uint32_t max_age_s;         /* 0: not checked */
  const char *expected_nonce; /* base64url challenge the statement must carry (16..64 bytes
                               * decoded); NULL: any (an offline check) */
  const char *ek_roots_pem;   /* TPM EK root CAs (PEM); NULL: no `tpm` level */
  size_t ek_roots_len;
  /* The AK name (hex) that the coordinator ran credential activation for
   * (its listing's "ak_name"): a client cannot challenge the node's TPM
   * itself, so for this one fact it relies on the coordinator. NULL: none. */
  const char *activated_ak;
  const char *const *secure_boot_pcr7; /* `measured` golden PCR 7 values (64 hex) */
  size_t n_secure_boot_pcr7;
} gloam_policy;

/* What the verifier learned about one node. */
typedef struct gloam_node_info {
  char id[GLOAM_SEAL_NODE_ID_MAX + 1];
  char model[GLOAM_SEAL_MODEL_MAX + 1];               /* the model asked about, or the first */
  char weights_digest[GLOAM_RECEIPT_WEIGHTS_MAX + 1]; /* as the statement binds it */
  char binary_digest[GLOAM_RECEIPT_WEIGHTS_MAX + 1];  /* as the statement binds it */
  char identity_thumbprint[48];                       /* RFC 7638, of the identity key */
  gloam_trust claimed;  /* the level the statement claims (informational) */
  gloam_trust verified; /* the level this library verified (<= claimed) */
  int accepted;         /* 1 when the node meets the policy */
  int status;           /* 0 when accepted, else the GLOAM_E* reason */
  char reason[160];     /* why it was rejected; when accepted: why not a higher level, or "" */
  int64_t issued_ms;    /* statement time (Unix ms) */
  int free_slots, max_slots;
  uint8_t hpke_pk[32];   /* the sealing key (bound by the statement) */
  char receipt_jwk[256]; /* the receipt key (bound by the statement) */
} gloam_node_info;

/* Verifies one node's evidence with gloam_attest_verify(): `evidence` is
 * the evidence v1 JSON text (docs/attestation.md) the coordinator publishes.
 * The statement's signature and identity (software key, or TPM quote by an
 * activated AK whose EK chains to policy->ek_roots_pem), its node id, its binding of the HPKE key
 * hpke_pk and of the receipt key receipt_jwk (NULL: not compared, taken from the statement), the
 * model (NULL: any) and the policy are checked at wall time now_ms (0 = now). Always fills *out
 * (with the reason when rejected) and returns 0 when accepted, or the reason's GLOAM_E*:
 * GLOAM_EFORMAT malformed, GLOAM_EAUTH bad signature or a binding that differs, GLOAM_ESTALE too
 * old or from the future, GLOAM_EREPLAY wrong nonce, GLOAM_EPOLICY binary not allowed or trust
 * below the minimum, GLOAM_ENOENT model not bound. Without policy->expected_nonce the check is
 * offline: no nonce, the age is checked from issued_ms. */
GLOAM_API int gloam_evidence_verify(const char *evidence, size_t len, const char *node_id,
                                    const uint8_t *hpke_pk, size_t hpke_pk_len,
                                    const char *receipt_jwk, const char *model,
                                    const gloam_policy *policy, int64_t now_ms,
                                    gloam_node_info *out);

/* GET /v1/nodes?model=M (model NULL: all) and verifies every node against
 * the client's policy. OUT: *out (gloam_node_list_free), *n_out, ranked:
 * accepted first, then by verified trust, then free slots; rejected nodes
 * are listed too, with accepted = 0 and the reason. The coordinator's own
 * "trust" field is ignored. Only a policy with min_trust none, no binary
 * list and no nonce accepts a node whose evidence does not verify: it is
 * then reported at level none, with the coordinator's keys, and `reason`
 * says why nothing was verified. */
GLOAM_API int gloam_client_nodes(gloam_client *c, const char *model, gloam_node_info **out,
                                 size_t *n_out, char *err);
GLOAM_API void gloam_node_list_free(gloam_node_info *v);

/* ---- plain JSON endpoints ---- */

/* GET /v1/models, /v1/balance, /v1/usage: the response JSON text (checked to
 * be a JSON object). OUT: *out_json (gloam_client_free_str). An HTTP error
 * is GLOAM_EPROTO with the OpenAI error message in err. */
GLOAM_API int gloam_client_models(gloam_client *c, char **out_json, char *err);
GLOAM_API int gloam_client_balance(gloam_client *c, char **out_json, char *err);
GLOAM_API int gloam_client_usage(gloam_client *c, char **out_json, char *err);

/* ---- sealed chat ---- */

/* One opened chunk of the response plaintext. Return 0 to go on, anything
 * else to cancel (the call then returns GLOAM_ECANCELED). The bytes are
 * authenticated as coming from the node the request was sealed to; the
 * receipt over all of them is checked after the last one. */
typedef int (*gloam_chunk_cb)(const char *data, size_t len, void *ud);

typedef struct gloam_chat_opts {
  int min_trust;              /* -1 or a gloam_trust: overrides the client's minimum */
  const char *node_id;        /* seal to this node only; NULL: pick the best */
  uint32_t max_output_tokens; /* envelope limit; 0: the body's max_tokens or the default */
  const char *endpoint;       /* NULL: "chat/completions" */
  /* Audio endpoints ("audio/transcriptions", "audio/translations"): the
   * body is the multipart/form-data upload, not JSON, so the model is given
   * here, with the audio duration measured on this machine (the envelope's
   * audio_ms, which the coordinator reserves the price for). */
  const char *model;
  uint32_t audio_ms;
  /* images/generations: the images requested (the envelope's n_images,
   * which the coordinator reserves n x the image price for); with model. */
  uint32_t n_images;
} gloam_chat_opts;
#define GLOAM_CHAT_OPTS_INIT \
  { -1, NULL, 0, NULL, NULL, 0, 0 }

typedef struct gloam_chat_result {
  int http_status;                          /* the coordinator's status (0: no answer) */
  char error_code[64];                      /* OpenAI error code of a failure, "" if none */
  char node_id[GLOAM_SEAL_NODE_ID_MAX + 1]; /* the node the request was sealed to */
  gloam_trust trust;                        /* its verified level */
  int receipt_ok;                           /* 1: receipt verified against key and transcript */
  gloam_receipt_claims claims;              /* the receipt's claims when receipt_ok */
  char *receipt_jws;                        /* the receipt (NUL-terminated) or NULL */
  char receipt_jwk[256];                    /* the key that verified it */
  uint8_t transcript_sha256[32];
  int64_t charged_micro_usd; /* from the coordinator's gloam.usage event; -1 unknown */
  int attempts;              /* nodes tried */
} gloam_chat_result;

/* Seals the OpenAI request body (JSON object with "model") to a verified
 * node, posts it, calls cb for each opened chunk and verifies the receipt.
 * opts may be NULL. *res is always initialized (free with
 * gloam_chat_result_deinit, also on failure). If the coordinator refuses
 * before streaming because the node is busy or gone (429/503), the next
 * accepted node is tried (at most 3). */
GLOAM_API int gloam_client_chat(gloam_client *c, const char *body, size_t body_len,
                                const gloam_chat_opts *opts, gloam_chunk_cb cb, void *ud,
                                gloam_chat_result *res, char *err);
GLOAM_API void gloam_chat_result_deinit(gloam_chat_result *res);

#ifdef __cplusplus
}
#endif
#endif /* GLOAM_CLIENT_H */
