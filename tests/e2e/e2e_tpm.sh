#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/e2e/e2e_tpm.sh: a TPM-backed node end to end, with real processes:
# a software TPM manufactured with an EK certificate from a local CA
# (tests/attest/swtpm.sh), gloam-coord with that CA as its EK root and a
# routing minimum of `tpm`, and gloam-node with `--identity tpm:swtpm:...`
# (seccomp on). Checks:
#   - the coordinator runs credential activation and verifies the node's
#     quoted statement: /v1/nodes says trust tpm and publishes the evidence,
#     its nonce and the activated AK name;
#   - the client verifies the evidence itself (gloam nodes, gloam verify
#     --evidence --nonce --ak --ek-roots: tpm) and completes a sealed chat
#     at --min-trust tpm; without the EK roots it refuses the node;
#   - the published statement checks with tpm2_checkquote (an independent
#     verifier) against the AK in the statement and SHA-256 of its JWS input;
#   - a wrong nonce and an AK the coordinator did not activate are rejected.
#
# usage: e2e_tpm.sh BINDIR FIXTURES SRCDIR     (exit 77: cannot run here)
set -u
BIN=$1
FIX=$2
SRC=$3
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin e2e-tpm
e2e_extra_cleanup() { [ -s "$T/tpm/pid" ] && kill "$(cat "$T/tpm/pid")" 2>/dev/null; }
e2e_need curl jq openssl

# --- the TPM, as a maker ships it
mkdir -p "$T/tpm"
"$SRC/tests/attest/swtpm.sh" make "$T/tpm"
rc=$?
[ $rc = 77 ] && { echo "skip: swtpm not installed"; exit 77; }
[ $rc = 0 ] || fail "swtpm manufacture: $(tail -n 5 "$T/tpm/setup.log")"
TCTI=$("$SRC/tests/attest/swtpm.sh" start "$T/tpm") || fail "swtpm start"
ROOTS=$T/tpm/ca/swtpm-localca-rootca-cert.pem
CHAIN=$T/tpm/ca/issuercert.pem

# --- coordinator (EK roots, routing minimum tpm), accounts, price
e2e_start_coord --ek-roots "$ROOTS" --min-trust tpm

# --- node with a TPM identity
e2e_demo_model
GLOAM_LOG=debug "$BIN/gloam-node" serve --coordinator "ws://127.0.0.1:$PORT" --token "$NODE_TOKEN" \
  --model "$M" --model-id qwen3 --state-dir "$T/node-state" --threads 1 \
  --identity "tpm:$TCTI" --ek-chain "$CHAIN" >"$T/node.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  curl -sS "$GLOAM_BASE_URL/v1/nodes" >"$T/nodes.json" 2>/dev/null
  [ "$(jq -r '.data[0].trust' "$T/nodes.json" 2>/dev/null)" = tpm ] && break
  sleep 0.1
done
[ "$(jq -r '.data[0].trust' "$T/nodes.json")" = tpm ] || fail "coordinator trust: $(cat "$T/nodes.json")"
jq -r '.data[0].evidence' "$T/nodes.json" >"$T/evidence.json"
NONCE=$(jq -r '.data[0].evidence_nonce' "$T/nodes.json")
AK=$(jq -r '.data[0].ak_name' "$T/nodes.json")
[ "${#AK}" = 68 ] || fail "no activated AK name published"
ok "coordinator: credential activation and quote verified, trust tpm"

# --- the client verifies on its own
"$BIN/gloam" nodes --model qwen3 --ek-roots "$ROOTS" --min-trust tpm --json >"$T/client_nodes.json" ||
  fail "gloam nodes"
[ "$(jq -r '.[0].trust_verified // .data[0].trust_verified' "$T/client_nodes.json")" = tpm ] ||
  fail "client level: $(cat "$T/client_nodes.json")"
"$BIN/gloam" verify --evidence "$T/evidence.json" --nonce "$NONCE" --ak "$AK" --ek-roots "$ROOTS" \
  >"$T/verify.out" || fail "gloam verify: $(cat "$T/verify.out")"
grep -q 'trust     tpm' "$T/verify.out" || fail "verify level: $(cat "$T/verify.out")"
if "$BIN/gloam" verify --evidence "$T/evidence.json" --nonce "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
  --ak "$AK" --ek-roots "$ROOTS" >/dev/null; then
  fail "evidence accepted with another nonce"
fi
OTHER_AK=000b$(printf '0%.0s' $(seq 64))
if "$BIN/gloam" verify --evidence "$T/evidence.json" --nonce "$NONCE" --ak "$OTHER_AK" \
  --ek-roots "$ROOTS" >/dev/null; then
  fail "evidence accepted with an AK nobody activated"
fi
if "$BIN/gloam" verify --evidence "$T/evidence.json" --nonce "$NONCE" --ak "$AK" >/dev/null; then
  fail "tpm evidence accepted without EK roots"
fi
ok "client: evidence verified independently (tpm); wrong nonce, other AK, no roots rejected"

# --- an independent verifier: tpm2_checkquote over the statement's quote
if command -v tpm2_checkquote >/dev/null; then
  b64d() {
    local s
    s=$(tr -- '-_' '+/')
    while [ $((${#s} % 4)) -ne 0 ]; do s="$s="; done
    printf '%s' "$s" | base64 -d
  }
  jq -r .jws "$T/evidence.json" | cut -d. -f1-2 | tr -d '\n' >"$T/input"
  jq -r .jws "$T/evidence.json" | cut -d. -f2 | b64d | jq -c .identity >"$T/ak.jwk"
  { printf '3059301306072a8648ce3d020106082a8648ce3d03010703420004'
    jq -r .x "$T/ak.jwk" | b64d | xxd -p -c 64
    jq -r .y "$T/ak.jwk" | b64d | xxd -p -c 64; } | tr -d '\n' | xxd -r -p |
    openssl pkey -pubin -inform DER -out "$T/ak.pem" || fail "AK to PEM"
  jq -r .tpm.quote "$T/evidence.json" | b64d >"$T/quote.msg"
  jq -r .tpm.signature "$T/evidence.json" | b64d >"$T/quote.sig"
  tpm2_checkquote -u "$T/ak.pem" -m "$T/quote.msg" -s "$T/quote.sig" -g sha256 \
    -q "$(openssl dgst -sha256 -r "$T/input" | cut -c1-64)" >"$T/checkquote.log" 2>&1 ||
    fail "tpm2_checkquote: $(cat "$T/checkquote.log")"
  ok "tpm2_checkquote verifies the published quote over the statement"
fi

# --- a sealed chat at --min-trust tpm
"$BIN/gloam" chat --model qwen3 --max-tokens 8 --min-trust tpm --ek-roots "$ROOTS" "Say hello." \
  >"$T/chat.out" 2>"$T/chat.err" || fail "gloam chat: $(cat "$T/chat.err")"
grep -q 'receipt verified' "$T/chat.err" || fail "no verified receipt: $(cat "$T/chat.err")"
grep -q 'trust tpm' "$T/chat.err" || fail "trust not tpm: $(cat "$T/chat.err")"
ok "gloam chat: sealed to the TPM node, receipt verified, trust tpm"
if "$BIN/gloam" chat --model qwen3 --max-tokens 8 --min-trust software "x" >/dev/null \
  2>"$T/chat2.err"; then
  fail "a client without EK roots sealed to a TPM node"
fi
ok "a client without EK roots refuses the node"
echo "e2e_tpm: all passed"
