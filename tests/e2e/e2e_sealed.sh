#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/e2e/e2e_sealed.sh: gloam end to end on one machine, with real
# processes: gloam-coord (temporary SQLite database), an account, a node
# token and a price made with `gloam-coord admin`, gloam-node serving the
# demo model (`gloam-engine make-demo`: a tiny Qwen3 with the real Qwen3
# tokenizer and vocabulary, seeded random weights), then
#   - `gloam chat` (client-sealed, and -i for two turns) with a canary prompt: the stream opens,
#     the receipt verifies, `gloam verify` re-checks it offline and rejects a
#     transcript changed by one byte;
#   - `gloam proxy` driven by curl (an independent HTTP client), streaming
#     and not: OpenAI JSON / SSE with Gloam-* headers and a verified receipt;
#   - the official `openai` SDK against the proxy (client-sealed), and the
#     official `openai` and `@anthropic-ai/sdk` clients straight against the
#     coordinator (coordinator-sealed), when tests/npm has them;
#   - a policy nobody meets is refused with an OpenAI-format error;
#   - the canary (in every prompt, coordinator-sealed ones included) appears
#     in no coordinator or node log and not in the coordinator's database
#     files.
#
# usage: e2e_sealed.sh BINDIR FIXTURES [NPMDIR]     (exit 77: cannot run here)
set -u
BIN=$1
FIX=$2
NPM=${3:-}
CANARY="canary-e2e-$$-$RANDOM"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
e2e_begin e2e
e2e_need curl jq

# --- coordinator, accounts, price
e2e_start_coord

# --- node with the demo model (the Qwen3 tokenizer from the fixture set; no id clamping)
e2e_demo_model
GLOAM_LOG=debug "$BIN/gloam-node" serve --coordinator "ws://127.0.0.1:$PORT" --token "$NODE_TOKEN" \
  --model "$M" --model-id qwen3 --state-dir "$T/node-state" --threads 1 \
  >"$T/node.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  "$BIN/gloam" nodes --model qwen3 --json 2>/dev/null | grep -q '"accepted": true' && break
  sleep 0.1
done
"$BIN/gloam" nodes --model qwen3 >"$T/nodes.txt" 2>&1 || fail "gloam nodes"
grep -q 'software' "$T/nodes.txt" || fail "node not verified at software: $(cat "$T/nodes.txt")"
ok "node registered, evidence verified on the client (software)"

# --- gloam chat, then gloam verify offline
"$BIN/gloam" chat --model qwen3 --max-tokens 16 --save "$T/out" "Say hello. $CANARY" \
  >"$T/chat.out" 2>"$T/chat.err" || fail "gloam chat: $(cat "$T/chat.err")"
grep -q 'receipt verified' "$T/chat.err" || fail "no verified receipt: $(cat "$T/chat.err")"
grep -q 'trust software' "$T/chat.err" || fail "trust not reported"
grep -q '"finish_reason"' "$T/out/transcript.txt" || fail "the transcript is not the node's SSE"
ok "gloam chat: stream opened, receipt verified"
"$BIN/gloam" verify --receipt "$T/out/receipt.jws" --transcript "$T/out/transcript.txt" \
  --key "$T/out/receipt_key.jwk" >"$T/verify.out" || fail "gloam verify: $(cat "$T/verify.out")"
cp "$T/out/transcript.txt" "$T/tampered.txt"
printf 'x' >>"$T/tampered.txt"
if "$BIN/gloam" verify --receipt "$T/out/receipt.jws" --transcript "$T/tampered.txt" \
  --key "$T/out/receipt_key.jwk" >"$T/verify2.out"; then
  fail "a changed transcript verified"
fi
curl -sS "$GLOAM_BASE_URL/v1/nodes?model=qwen3" >"$T/nodes.json"
jq -r '.data[0].evidence' "$T/nodes.json" >"$T/evidence.txt"
NONCE=$(jq -r '.data[0].evidence_nonce' "$T/nodes.json")
"$BIN/gloam" verify --evidence "$T/evidence.txt" --nonce "$NONCE" >"$T/verify4.out" ||
  fail "evidence with its nonce: $(cat "$T/verify4.out")"
if "$BIN/gloam" verify --evidence "$T/evidence.txt" --nonce "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
  >/dev/null; then
  fail "evidence accepted with another nonce"
fi
"$BIN/gloam" verify --evidence "$T/evidence.txt" --receipt "$T/out/receipt.jws" \
  --transcript "$T/out/transcript.txt" >"$T/verify3.out" || fail "verify with evidence: $(cat "$T/verify3.out")"
grep -q 'trust     software' "$T/verify3.out" || fail "evidence level: $(cat "$T/verify3.out")"
if "$BIN/gloam" verify --evidence "$T/evidence.txt" --allow-binary "sha256:$(printf '0%.0s' $(seq 64))" \
  >/dev/null; then
  fail "evidence accepted with a binary outside the allowed list"
fi
ok "gloam verify: receipt ok (by key and by evidence), changed transcript and other binary rejected"

# --- interactive: two turns, history resent sealed
printf 'first %s\nsecond\n/exit\n' "$CANARY" |
  "$BIN/gloam" chat -i --model qwen3 --max-tokens 4 >"$T/chat_i.out" 2>"$T/chat_i.err" ||
  fail "gloam chat -i: $(cat "$T/chat_i.err")"
[ "$(grep -c 'receipt verified' "$T/chat_i.err")" = 2 ] || fail "interactive: $(cat "$T/chat_i.err")"
ok "gloam chat -i: two verified turns"

# --- policy nobody meets
if "$BIN/gloam" chat --model qwen3 --min-trust tpm "x $CANARY" >/dev/null 2>"$T/policy.err"; then
  fail "a tpm minimum was met by a software node"
fi
grep -q 'meets the policy' "$T/policy.err" || fail "unclear policy error: $(cat "$T/policy.err")"
ok "min-trust tpm refused"

# --- the proxy, through curl
"$BIN/gloam" proxy --listen 127.0.0.1:0 --port-file "$T/proxy.port" >"$T/proxy.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
PP=$(cat "$T/proxy.port" 2>/dev/null) || fail "proxy did not start"
BODY='{"model":"qwen3","max_tokens":8,"messages":[{"role":"user","content":"'$CANARY'"}]}'
curl -sS -D "$T/h1" -o "$T/b1" -H 'Content-Type: application/json' -d "$BODY" \
  "http://127.0.0.1:$PP/v1/chat/completions" || fail "curl"
grep -qi '^Gloam-Mode: client-sealed' "$T/h1" || fail "no Gloam-Mode header"
grep -qi '^Gloam-Trust: software' "$T/h1" || fail "no Gloam-Trust header"
grep -qi '^Gloam-Node: ' "$T/h1" || fail "no Gloam-Node header"
grep -q '"object":"chat.completion"' "$T/b1" || fail "not a chat.completion: $(head -c 300 "$T/b1")"
grep -q '"receipt_verified":true' "$T/b1" || fail "no verified receipt in the body"
SBODY='{"model":"qwen3","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"'$CANARY'"}]}'
curl -sS -N -o "$T/b2" -H 'Content-Type: application/json' -d "$SBODY" \
  "http://127.0.0.1:$PP/v1/chat/completions" || fail "curl stream"
grep -q '"object":"chat.completion.chunk"' "$T/b2" || fail "no chunks"
grep -q '"receipt_verified":true' "$T/b2" || fail "no verified receipt in the stream"
[ "$(tail -n 2 "$T/b2" | head -n 1)" = "data: [DONE]" ] || fail "stream does not end with [DONE]"
curl -sS "http://127.0.0.1:$PP/v1/models" | grep -q '"qwen3"' || fail "proxy /v1/models"
ok "proxy: OpenAI JSON and SSE with Gloam headers and verified receipts"

# --- the official openai SDK, when installed
if [ -n "$NPM" ] && [ -d "$NPM/node_modules/openai" ] && command -v node >/dev/null; then
  node "$(dirname "$0")/openai_sdk.mjs" "http://127.0.0.1:$PP/v1" "$CANARY" "$NPM" \
    >"$T/sdk.out" 2>&1 || fail "openai SDK: $(cat "$T/sdk.out")"
  ok "openai SDK against the proxy: $(tail -n 1 "$T/sdk.out")"
  node "$(dirname "$0")/sdk_coordinator.mjs" "$GLOAM_BASE_URL" "$API_KEY" qwen3 "$CANARY" "$NPM" \
    >"$T/sdk_coord.out" 2>&1 || fail "SDKs against the coordinator: $(cat "$T/sdk_coord.out")"
  ok "$(tail -n 1 "$T/sdk_coord.out")"
else
  echo "note: openai npm package not installed; SDK check skipped"
fi

# --- balance moved, and the canary is nowhere on the coordinator's side
"$BIN/gloam" balance | grep -q 'balance: 4\.' || fail "balance not charged: $("$BIN/gloam" balance)"
"$BIN/gloam" usage | grep -q 'qwen3' || fail "usage does not list the requests"
kill "${PIDS[0]}" 2>/dev/null
wait "${PIDS[0]}" 2>/dev/null
for f in "$T/coord.log" "$T/node.log" "$DB" "$DB-wal" "$DB-shm"; do
  [ -e "$f" ] || continue
  if grep -aq "$CANARY" "$f"; then fail "the canary leaked into $f"; fi
done
grep -aq "$CANARY" "$T/out/transcript.txt" && fail "the model echoed the canary (test needs another prompt)"
ok "no prompt text in the coordinator's logs and database or in the node's log"
echo "e2e: all passed"
