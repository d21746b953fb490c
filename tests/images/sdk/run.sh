#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/images/sdk/run.sh: /v1/images/generations end to end with real
# processes and the official openai SDK (images_sdk.mjs): gloam-coord
# (temporary database, a price per image), gloam-node (hardened, seccomp on)
# serving a tiny random Janus model with Llama 3's tokenizer
# (make_model.mjs: 8 x 8 images from 16 image tokens), and `gloam proxy`.
#
# usage: run.sh BINDIR FIXTURES NPMDIR   (exit 77: cannot run here)
set -u
BIN=$1
FIX=$2
NPM=$3
MODEL=janus-tiny
PRICE=20000 # micro-USD per image
# shellcheck source=../../e2e/lib.sh
. "$(dirname "$0")/../../e2e/lib.sh"
e2e_begin images-sdk
for b in gloam gloam-coord gloam-node; do
  [ -x "$BIN/$b" ] || { echo "skip: $BIN/$b not built"; exit 77; }
done
[ -d "$NPM/node_modules/openai" ] && [ -d "$NPM/node_modules/jose" ] ||
  { echo "skip: $NPM/node_modules missing (scripts/install-deps)"; exit 77; }
command -v node >/dev/null || { echo "skip: no node"; exit 77; }
[ -f "$FIX/models/janus/model.safetensors" ] || { echo "skip: no janus fixture"; exit 77; }
M=$T/model
node "$(dirname "$0")/make_model.mjs" "$FIX" "$M" || fail "make_model.mjs"

DB=$T/coord.db
A="$BIN/gloam-coord admin --db $DB"
$A create-consumer --name alice --credit 5000000 >"$T/consumer.json" || fail "create-consumer"
$A create-consumer --name bob --credit 1 >"$T/poor.json" || fail "create-consumer (poor)"
$A create-operator --name op >"$T/operator.json" || fail "create-operator"
$A set-price --model $MODEL --image $PRICE >/dev/null || fail "set-price"
KEY=$(sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' "$T/consumer.json")
POOR=$(sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' "$T/poor.json")
TOKEN=$(sed -n 's/.*"node_token":"\([^"]*\)".*/\1/p' "$T/operator.json")
"$BIN/gloam-coord" serve --listen 127.0.0.1:0 --db "$DB" --port-file "$T/coord.port" \
  >"$T/coord.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$T/coord.port" ] && break; sleep 0.1; done
PORT=$(cat "$T/coord.port" 2>/dev/null) || fail "coordinator did not start"
"$BIN/gloam-node" serve --coordinator "ws://127.0.0.1:$PORT" --token "$TOKEN" --model "$M" \
  --model-id $MODEL --state-dir "$T/node-state" --threads 1 --slots 1 >"$T/node.log" 2>&1 &
PIDS+=($!)
export GLOAM_BASE_URL=http://127.0.0.1:$PORT GLOAM_API_KEY=$KEY HOME=$T XDG_CONFIG_HOME=$T/cfg
for _ in $(seq 100); do
  "$BIN/gloam" nodes --model $MODEL --json 2>/dev/null | grep -q '"accepted": true' && break
  sleep 0.1
done
PROXY_URL=
if [ "${IMAGES_NO_PROXY:-0}" != 1 ]; then
  "$BIN/gloam" proxy --listen 127.0.0.1:0 --port-file "$T/proxy.port" >"$T/proxy.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
  PP=$(cat "$T/proxy.port" 2>/dev/null) || fail "proxy did not start"
  PROXY_URL=http://127.0.0.1:$PP
fi

# ES modules resolve packages from the script's directory
script=$NPM/.gloam-images-sdk-$$.mjs
cp "$(dirname "$0")/images_sdk.mjs" "$script"
res=$(COORD_URL=http://127.0.0.1:$PORT PROXY_URL=$PROXY_URL API_KEY=$KEY POOR_KEY=$POOR \
  PRICE=$PRICE MODEL=$MODEL SIDE=8 node "$script" 2>&1)
rc=$?
rm -f "$script"
echo "$res"
grep -q '^PASS all' <<<"$res" && [ $rc = 0 ] || fail "SDK checks"
grep -q 'seccomp' "$T/node.log" && echo "node log mentions seccomp: $(grep -m1 seccomp "$T/node.log")"
"$BIN/gloam-coord" admin --db "$DB" check >/dev/null || fail "ledger invariants"
echo "ok: ledger invariants hold"
