#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/speech/sdk/run.sh: speech-to-text end to end with real processes and
# the official openai SDK (speech_sdk.mjs): gloam-coord (temporary database,
# uploads capped at 1 MiB so the 413 check stays small, a price per audio
# minute), gloam-node serving the whisper fixture (8 tokens per window to
# keep it fast), `gloam proxy`, and the reference: what `gloam-engine
# transcribe` prints for the same file and options.
#
# Then a client that lies about the duration (claim_check.c, libgloam,
# client-sealed) is charged at its claim, not at the receipt's duration.
#
# usage: run.sh BINDIR FIXTURES NPMDIR [CLAIM_CHECK]   (exit 77: cannot run here)
set -u
BIN=$1
FIX=$2
NPM=$3
CLAIM=${4:-}
MODEL=whisper
PRICE=6000 # micro-USD per audio minute
MAXTOK=8
# shellcheck source=../../e2e/lib.sh
. "$(dirname "$0")/../../e2e/lib.sh"
e2e_begin speech-sdk
for b in gloam gloam-coord gloam-node gloam-engine; do
  [ -x "$BIN/$b" ] || { echo "skip: $BIN/$b not built"; exit 77; }
done
[ -d "$NPM/node_modules/openai" ] && [ -d "$NPM/node_modules/jose" ] ||
  { echo "skip: $NPM/node_modules missing (scripts/install-deps)"; exit 77; }
command -v node >/dev/null || { echo "skip: no node"; exit 77; }
M=$FIX/models/whisper
WAV=$M/speech16k.wav
[ -f "$WAV" ] || { echo "skip: no whisper fixture"; exit 77; }

# the reference: gloam-engine with the options the node uses (fallback on,
# timestamps for srt/vtt/verbose_json, the same per-window token limit)
E="$BIN/gloam-engine transcribe --model $M --audio $WAV --max-tokens $MAXTOK --fallback --threads 1"
$E --language en >"$T/plain.txt" 2>"$T/ref.log" || fail "gloam-engine transcribe"
$E --language en --timestamps >"$T/ts.txt" 2>>"$T/ref.log" || fail "gloam-engine --timestamps"
$E --task translate --timestamps >"$T/translate.txt" 2>>"$T/ref.log" || fail "gloam-engine translate"

DB=$T/coord.db
A="$BIN/gloam-coord admin --db $DB"
$A create-consumer --name alice --credit 5000000 >"$T/consumer.json" || fail "create-consumer"
$A create-consumer --name bob --credit 1 >"$T/poor.json" || fail "create-consumer (poor)"
$A create-operator --name op >"$T/operator.json" || fail "create-operator"
$A set-price --model $MODEL --audio-minute $PRICE >/dev/null || fail "set-price"
KEY=$(sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' "$T/consumer.json")
POOR=$(sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' "$T/poor.json")
TOKEN=$(sed -n 's/.*"node_token":"\([^"]*\)".*/\1/p' "$T/operator.json")
"$BIN/gloam-coord" serve --listen 127.0.0.1:0 --db "$DB" --port-file "$T/coord.port" \
  --max-upload-mib 1 >"$T/coord.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$T/coord.port" ] && break; sleep 0.1; done
PORT=$(cat "$T/coord.port" 2>/dev/null) || fail "coordinator did not start"
"$BIN/gloam-node" serve --coordinator "ws://127.0.0.1:$PORT" --token "$TOKEN" --model "$M" \
  --model-id $MODEL --state-dir "$T/node-state" --threads 1 --slots 1 \
  --speech-max-tokens $MAXTOK >"$T/node.log" 2>&1 &
PIDS+=($!)
export GLOAM_BASE_URL=http://127.0.0.1:$PORT GLOAM_API_KEY=$KEY HOME=$T XDG_CONFIG_HOME=$T/cfg
for _ in $(seq 100); do
  "$BIN/gloam" nodes --model $MODEL --json 2>/dev/null | grep -q '"accepted": true' && break
  sleep 0.1
done
"$BIN/gloam" proxy --listen 127.0.0.1:0 --port-file "$T/proxy.port" >"$T/proxy.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
PP=$(cat "$T/proxy.port" 2>/dev/null) || fail "proxy did not start"

# ES modules resolve packages from the script's directory
script=$NPM/.gloam-speech-sdk-$$.mjs
cp "$(dirname "$0")/speech_sdk.mjs" "$script"
res=$(COORD_URL=http://127.0.0.1:$PORT PROXY_URL=http://127.0.0.1:$PP API_KEY=$KEY POOR_KEY=$POOR \
  WAV=$WAV PRICE_PER_MIN=$PRICE MODEL=$MODEL REF_DIR=$T node "$script" 2>&1)
rc=$?
rm -f "$script"
echo "$res"
grep -q '^PASS' <<<"$res" && ! grep -q '^FAIL' <<<"$res" && [ $rc = 0 ] || fail "SDK checks"

# a duration claim of 1000 ms for the 5.03 s file: beyond the slack
# (max(1 s, 2%)), so the charge is the claim's ceil(1000 * PRICE / 60000)
if [ -n "$CLAIM" ]; then
  bal() { curl -s "http://127.0.0.1:$PORT/v1/balance" -H "Authorization: Bearer $KEY" |
    sed -n 's/.*"balance_micro_usd":\([0-9]*\).*/\1/p'; }
  before=$(bal)
  out=$("$CLAIM" "http://127.0.0.1:$PORT" "$KEY" $MODEL "$WAV" 1000 2>"$T/claim.log") ||
    fail "claim_check: $out $(cat "$T/claim.log")"
  after=$(bal)
  want=$(( (1000 * PRICE + 59999) / 60000 ))
  grep -q '"receipt_ok":1' <<<"$out" || fail "claim_check receipt: $out"
  grep -q "\"charged\":$want," <<<"$out" || fail "claim_check charged: $out (want $want)"
  [ $((before - after)) = "$want" ] || fail "balance moved by $((before - after)), want $want"
  grep -q 'speech.duration_over_claim' "$T/coord.log" || fail "over-claim not logged"
  echo "ok: a 1000 ms claim for 5033 ms of audio is charged $want (receipt: $out)"
fi
"$BIN/gloam-coord" admin --db "$DB" check >/dev/null || fail "ledger invariants"
echo "ok: ledger invariants hold"
