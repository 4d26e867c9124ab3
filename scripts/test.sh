#!/usr/bin/env bash
# Runs every test tier: type check, format and lint (Biome), unit tests under Pulumi mocks, and the
# end-to-end tests with the real Pulumi engine and providers against a throwaway control plane on
# 127.0.0.1. Provides whatever it needs itself (Node, npm packages, the offline toolchain); nothing is
# skipped for a missing tool.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

setup_node
setup_toolchain
work=$(mktemp -d "${TMPDIR:-/tmp}/cilium-encryption-test.XXXXXX")
# Each end-to-end file starts its own control plane under WORK (test/e2e/harness.ts) and stops it
# when it ends; this sweeps up after a file that was killed.
_stop_e2e_clusters() {
  local d
  for d in "$1"/cluster-*/; do [ -d "$d" ] && _stop_cluster "${d%/}"; done
  rm -rf "$1"
}
at_exit _stop_e2e_clusters "$work"
setup_pulumi "$work"

step "type check"
npx --no-install tsc --noEmit

step "format and lint"
npx --no-install biome ci .

step "workflows lint"
"$TOOLCHAIN_BIN/actionlint"

step "tests"
export E2E_WORK=$work
# Three files at a time: the end-to-end files spend most of their time waiting (rollouts, agents
# settling), each on its own cluster. Arguments narrow the run to some files.
files=("$@")
((${#files[@]})) || files=('test/unit/**/*.test.ts' 'test/sim/**/*.test.ts' 'test/e2e/**/*.test.ts')
node --import tsx --test --test-concurrency=3 --test-reporter=spec "${files[@]}"
