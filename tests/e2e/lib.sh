# SPDX-License-Identifier: Apache-2.0
#
# tests/e2e/lib.sh: what every end-to-end script does the same way, sourced
# after it has set BIN (the binaries' directory) and FIX (tests/fixtures):
#   e2e_begin NAME          temp dir $T (removed at exit unless KEEP=1),
#                           $PIDS killed at exit, e2e_extra_cleanup run if defined
#   fail MSG / ok MSG       report (fail prints the tail of every $T/*.log, exits 1)
#   e2e_need TOOL...        the four gloam binaries and these commands, else exit 77
#   e2e_start_coord ARG...  accounts (alice, 5 USD), an operator, a qwen3 price,
#                           `gloam-coord serve ARG...`; sets DB API_KEY NODE_TOKEN
#                           PORT and the gloam client's environment
#   e2e_demo_model          the embedded demo model in $M (gloam-engine make-demo)

e2e_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if declare -F e2e_extra_cleanup >/dev/null; then e2e_extra_cleanup; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}

e2e_begin() {
  T=$(mktemp -d "/tmp/gloam-$1.XXXXXX")
  PIDS=()
  trap e2e_cleanup EXIT
}

fail() {
  echo "FAIL: $*"
  for f in "$T"/*.log; do echo "--- $f"; tail -n 20 "$f"; done
  exit 1
}

ok() { echo "ok: $*"; }

e2e_need() {
  for b in gloam gloam-coord gloam-node gloam-engine; do
    [ -x "$BIN/$b" ] || { echo "skip: $BIN/$b not built"; exit 77; }
  done
  for t in "$@"; do command -v "$t" >/dev/null || { echo "skip: no $t"; exit 77; }; done
}

e2e_start_coord() {
  DB=$T/coord.db
  "$BIN/gloam-coord" admin --db "$DB" create-consumer --name alice --credit 5000000 \
    >"$T/consumer.json" || fail "create-consumer"
  "$BIN/gloam-coord" admin --db "$DB" create-operator --name op >"$T/operator.json" ||
    fail "create-operator"
  "$BIN/gloam-coord" admin --db "$DB" set-price --model qwen3 --input 100000 --output 200000 \
    >/dev/null || fail "set-price"
  API_KEY=$(jq -r .api_key "$T/consumer.json")
  NODE_TOKEN=$(jq -r .node_token "$T/operator.json")
  [ -n "$API_KEY" ] && [ -n "$NODE_TOKEN" ] || fail "no api key or node token"
  GLOAM_LOG=debug "$BIN/gloam-coord" serve --listen 127.0.0.1:0 --db "$DB" \
    --port-file "$T/coord.port" "$@" >"$T/coord.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do [ -s "$T/coord.port" ] && break; sleep 0.1; done
  PORT=$(cat "$T/coord.port" 2>/dev/null) || fail "coordinator did not start"
  export GLOAM_BASE_URL=http://127.0.0.1:$PORT GLOAM_API_KEY=$API_KEY HOME=$T XDG_CONFIG_HOME=$T/cfg
  unset GLOAM_CONFIG GLOAM_MIN_TRUST GLOAM_MODEL
}

e2e_demo_model() {
  M=$T/model
  "$BIN/gloam-engine" make-demo --out "$M" --tokenizer "$FIX/tokenizers/qwen3" \
    >"$T/make-demo.log" 2>&1 || fail "make-demo: $(cat "$T/make-demo.log")"
}
