#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/attest/swtpm.sh: a software TPM for tests, made the way a TPM maker
# ships one: an EK certificate issued by a local CA (swtpm_localca: root CA
# -> intermediate -> EK certificate in NV 0x01c00002).
#
#   swtpm.sh make DIR    manufactures DIR/state; the CA is DIR/ca
#                        (roots: DIR/ca/swtpm-localca-rootca-cert.pem,
#                        intermediate: DIR/ca/issuercert.pem)
#   swtpm.sh start DIR   runs `swtpm socket` on a free loopback port in the
#                        background (pid in DIR/pid) and prints the TCTI
#                        string, swtpm:host=127.0.0.1,port=P
#
# Exit 77 when swtpm is not installed (scripts/install-deps). Used by
# tests/attest (make) and tests/e2e/e2e_tpm.sh (make + start).
set -eu
cmd=${1:?make or start}
d=$(cd "${2:?directory}" && pwd)
for t in swtpm swtpm_setup swtpm_localca; do
  command -v "$t" >/dev/null || { echo "swtpm.sh: $t not installed" >&2; exit 77; }
done
case $cmd in
make)
  cd "$d"
  mkdir -p ca state
  printf 'statedir = %s/ca\nsigningkey = %s/ca/signkey.pem\nissuercert = %s/ca/issuercert.pem\ncertserial = %s/ca/certserial\n' \
    "$d" "$d" "$d" "$d" >ca.conf
  printf -- '--platform-manufacturer gloam\n--platform-version 2.1\n--platform-model test\n' >ca.options
  printf 'create_certs_tool = swtpm_localca\ncreate_certs_tool_config = %s/ca.conf\ncreate_certs_tool_options = %s/ca.options\nactive_pcr_banks = sha256\n' \
    "$d" "$d" >setup.conf
  swtpm_setup --tpm2 --tpmstate "$d/state" --create-ek-cert --config "$d/setup.conf" --overwrite \
    >setup.log 2>&1
  ;;
start)
  for _ in $(seq 20); do
    port=$((20000 + RANDOM % 30000))
    rm -f "$d/pid"
    if swtpm socket --tpmstate "dir=$d/state" --tpm2 \
      --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
      --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
      --flags not-need-init,startup-clear --daemon --pid "file=$d/pid" >>"$d/swtpm.log" 2>&1; then
      for _ in $(seq 100); do [ -s "$d/pid" ] && break; sleep 0.02; done
      echo "swtpm:host=127.0.0.1,port=$port"
      exit 0
    fi
  done
  echo "swtpm.sh: could not start swtpm on a free port" >&2
  exit 1
  ;;
*)
  echo "usage: swtpm.sh make|start DIR" >&2
  exit 2
  ;;
esac
