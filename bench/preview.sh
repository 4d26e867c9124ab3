#!/usr/bin/env bash
# Benchmark: a no-op `pulumi preview` of this program against one of a minimal program that creates
# a single Secret, both deployed to the same local control plane, alternating runs. Prints each run,
# the medians and their ratio (goal: at most 1.2).
#   bash bench/preview.sh [RUNS]   (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
runs=${1:-7}

setup_node
setup_toolchain
work=$(mktemp -d "${TMPDIR:-/tmp}/cilium-encryption-bench.XXXXXX")
start_cluster "$work"
setup_pulumi "$work"
kubeconfig=$work/cluster/kubeconfig

# The minimal program: same runtime options and packages, one Secret through an explicit provider.
minimal=$work/minimal
mkdir -p "$minimal"
ln -s "$PWD/node_modules" "$minimal/node_modules"
cp package.json "$minimal/"
sed 's/^name: .*/name: minimal-secret/' Pulumi.yaml > "$minimal/Pulumi.yaml"
cat > "$minimal/index.ts" <<TS
import * as k8s from "@pulumi/kubernetes";
const provider = new k8s.Provider("k8s", { kubeconfig: "$kubeconfig" });
new k8s.core.v1.Secret("one", { metadata: { name: "one", namespace: "default" }, stringData: { a: "b" } }, { provider });
TS

step "deploy both programs"
pulumi stack init bench >/dev/null
at_exit rm -f Pulumi.bench.yaml
cat >> Pulumi.bench.yaml <<YAML
config:
  cilium-encryption:encryption: {type: ipsec, ipsec: {keyId: 1}}
  cilium-encryption:cilium: {namespace: kube-system, version: ${CILIUM_DEFAULT_CHART##*/}, chart: {path: $CILIUM_DEFAULT_CHART}}
  cilium-encryption:cluster: {kubeconfig: $kubeconfig}
  cilium-encryption:verification: {timeout: 2m, wireCheck: true}
YAML
pulumi up --yes --skip-preview --stack bench >/dev/null
pulumi stack init bench --cwd "$minimal" >/dev/null
pulumi up --yes --skip-preview --stack bench --cwd "$minimal" >/dev/null

step "no-op previews, $runs each, alternating"
ms() { local t0; t0=$(date +%s%N); pulumi preview --expect-no-changes --stack bench "$@" >/dev/null; echo $((($(date +%s%N) - t0) / 1000000)); }
ours=() mini=()
for i in $(seq "$runs"); do
  ours+=("$(ms)"); mini+=("$(ms --cwd "$minimal")")
  echo "run $i: ours ${ours[-1]} ms, minimal ${mini[-1]} ms"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mo=$(median "${ours[@]}"); mm=$(median "${mini[@]}")
echo "median no-op preview: ours $mo ms, minimal $mm ms, ratio $(awk -v a="$mo" -v b="$mm" 'BEGIN {printf "%.2f", a/b}') (goal <= 1.20)"
