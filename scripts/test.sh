#!/usr/bin/env bash
# Runs every test tier: type check, unit tests under Pulumi mocks, and the end-to-end tests with the
# real Pulumi engine and providers against a throwaway control plane on 127.0.0.1. Provides whatever
# it needs itself (Node, npm packages, the offline toolchain); nothing is skipped for a missing tool.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

setup_node
setup_toolchain
work=$(mktemp -d "${TMPDIR:-/tmp}/cilium-encryption-test.XXXXXX")
start_cluster "$work"
setup_pulumi "$work"

step "type check"
npx --no-install tsc --noEmit

step "workflows lint"
"$TOOLCHAIN_BIN/actionlint"

step "tests"
export E2E_KUBECONFIG=$work/cluster/kubeconfig
# One file at a time: the end-to-end files share one cluster. Arguments narrow the run to some files.
files=("$@")
((${#files[@]})) || files=('test/unit/**/*.test.ts' 'test/e2e/**/*.test.ts')
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
