#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs the official-SDK checks against a coordinator + test node held open by
# test_coord's test_hold_for_sdk. Usage (from the repo root, after building
# test_coord into BUILD; SDK_DIR is a directory whose node_modules has
# openai@4 and @anthropic-ai/sdk, since ES modules resolve packages from the
# script's location):
#   SDK_DIR=tests/npm tests/coord/sdk/run.sh build/dev [tool]
set -euo pipefail
build=${1:?build dir}
mode=${2:-basic}
hold=$(mktemp -u /tmp/gloam-sdk-hold.XXXXXX)
GLOAM_SDK_MODE=$([ "$mode" = tool ] && echo tool || echo ok) GLOAM_SDK_HOLD=$hold \
  "$build/tests/coord/test_coord" test_hold_for_sdk >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$hold" ] && break; sleep 0.1; done
src=$(dirname "$0")/sdk_$([ "$mode" = tool ] && echo tools || echo basic).mjs
[ -d "${SDK_DIR:?directory with node_modules}/node_modules/openai" ] || { echo "sdk: $SDK_DIR/node_modules missing (run scripts/install-deps)"; exit 77; }
script=$SDK_DIR/.gloam-sdk-check-$mode-$$.mjs
cp "$src" "$script"
res=$(HOLD=$hold node "$script" 2>&1) || true
rm -f "$script"
wait "$pid"
echo "$res"
# every check prints PASS or FAIL; any FAIL (or none at all) fails the test
grep -q '^PASS' <<<"$res" && ! grep -q '^FAIL' <<<"$res"
