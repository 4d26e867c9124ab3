#!/usr/bin/env bash
# The main job on the embedded default: a throwaway control plane on 127.0.0.1 and a local state
# backend, then a real `pulumi up` of an IPsec stack and its verification report.
#   bash scripts/demo.sh          clean up at the end
#   bash scripts/demo.sh --keep   leave cluster and state for inspection (prints how to tear down)
# Cilium's real chart of the default minor is installed. No Cilium agent can run here (no container
# images): a simulator built from Cilium's source answers for each agent from the live cluster state,
# and a simulated datapath writes the wire check's captures, through the same `kubectl exec` path the
# verifier uses on a real cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
keep=false
case "${1:-}" in --keep) keep=true ;; "") ;; *) echo "usage: bash scripts/demo.sh [--keep]" >&2; exit 2 ;; esac

work=$PWD/.demo
if [ -e "$work/cluster" ]; then bash toolchain/cluster.sh stop "$work/cluster" >/dev/null 2>&1 || true; fi
rm -rf "$work" && mkdir -p "$work"
setup_node
setup_toolchain
KEEP_CLUSTER=$keep start_cluster "$work"
$keep || at_exit rm -f Pulumi.demo.yaml
setup_pulumi "$work"

step "pulumi up (stack demo)"
pulumi stack init demo --secrets-provider passphrase >/dev/null
cat >> Pulumi.demo.yaml <<YAML
config:
  cilium-encryption:encryption:
    type: ipsec
    ipsec:
      keyId: 1
  cilium-encryption:cilium:
    namespace: kube-system
    version: ${CILIUM_DEFAULT_CHART##*/}
    chart:
      path: $CILIUM_DEFAULT_CHART
  cilium-encryption:cluster:
    kubeconfig: .demo/cluster/kubeconfig
  cilium-encryption:verification:
    timeout: 7m
    wireCheck: true
YAML
pulumi up --yes --skip-preview --stack demo

step "verification report"
pulumi stack output verification --stack demo --json

if $keep; then
  cat <<TXT

Left running for inspection:
  export PATH="$TOOLCHAIN_BIN:\$PATH" PULUMI_HOME="$PULUMI_HOME" PULUMI_BACKEND_URL="$PULUMI_BACKEND_URL" PULUMI_CONFIG_PASSPHRASE_FILE="$PULUMI_CONFIG_PASSPHRASE_FILE"
  kubectl --kubeconfig .demo/cluster/kubeconfig -n kube-system get ds,pods,secrets
  pulumi stack --stack demo
Tear down:
  bash toolchain/cluster.sh stop .demo/cluster && rm -rf .demo Pulumi.demo.yaml
TXT
fi
