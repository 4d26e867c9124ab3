#!/usr/bin/env bash
# Self-test of cluster.sh: start, what e2e tests rely on, stop, nothing left behind.
#   toolchain/test-cluster.sh        (TOOLCHAIN_BIN optional, as for cluster.sh)
# Prints "N passed, N failed" last; exits non-zero on any failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d)
DIR=$TMP/cluster
trap '"$HERE/cluster.sh" stop "$DIR" || true; rm -rf "$TMP"' EXIT
pass=0 fail=0
check() { # check NAME CMD...
  if "${@:2}"; then pass=$((pass + 1)); echo "ok   $1"; else fail=$((fail + 1)); echo "FAIL $1"; fi
}

# A dummy command in the exec PATH dir that shows what it was run with.
mkdir -p "$TMP/execpath" "$TMP/standin"
cat >"$TMP/execpath/cilium-dbg" <<'EOF'
#!/bin/sh
echo "args=$*"
echo "standin=$SIM_STATE_DIR"
echo "path=$PATH"
echo "whoami=$(id -un)"
EOF
chmod +x "$TMP/execpath/cilium-dbg"

t0=$(date +%s.%N)
CLUSTER_EXEC_PATH=$TMP/execpath SIM_STATE_DIR=$TMP/standin "$HERE/cluster.sh" start "$DIR"
t1=$(date +%s.%N)
echo "start took $(echo "$t1 - $t0" | bc)s"
export KUBECONFIG=$DIR/kubeconfig

ready_nodes() { [[ $(kubectl get nodes --no-headers | awk '$2 == "Ready"' | wc -l) -ge 2 ]]; }
check "2 Ready nodes" ready_nodes
no_fake_addresses() { ! kubectl get nodes -o jsonpath='{.items[*].status.addresses[*].address}' | grep -qE '192\.0\.2\.|(^| )10\.'; }
check "node addresses are not 192.0.2.x/10.x" no_fake_addresses
echo "node addresses: $(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.addresses[*].address} {end}')"
check "kube-system namespace" kubectl get ns kube-system -o name
check "default SA in default" kubectl get sa default -n default -o name
check "default SA in kube-system" kubectl get sa default -n kube-system -o name

kubectl apply -f - <<'EOF'
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: probe, namespace: kube-system}
spec:
  selector: {matchLabels: {app: probe}}
  template:
    metadata: {labels: {app: probe}}
    spec:
      containers: [{name: probe, image: probe:none}]
EOF
ds_running() {
  local i n
  for i in $(seq 300); do
    n=$(kubectl get pods -n kube-system -l app=probe --field-selector=status.phase=Running --no-headers 2>/dev/null | wc -l)
    ((n >= 2)) && return 0
    sleep 0.2
  done
  return 1
}
check "DaemonSet pod Running on each node" ds_running
check "DaemonSet pods on distinct nodes" bash -c "[[ \$(kubectl get pods -n kube-system -l app=probe -o jsonpath='{.items[*].spec.nodeName}' | tr ' ' '\n' | sort -u | wc -l) -ge 2 ]]"

pod=$(kubectl get pods -n kube-system -l app=probe -o jsonpath='{.items[0].metadata.name}')
out=$(kubectl exec -n kube-system "$pod" -- cilium-dbg encrypt status -o json 2>&1) || true
echo "$out" | sed 's/^/  exec> /'
check "exec runs the host program with args" grep -qx 'args=encrypt status -o json' <<<"$out"
check "exec passes SIM_STATE_DIR" grep -qx "standin=$TMP/standin" <<<"$out"
check "exec PATH starts with CLUSTER_EXEC_PATH" grep -q "^path=$TMP/execpath:" <<<"$out"

# Everything the cluster listens on must be loopback.
pids=$(for f in "$DIR"/kwok/clusters/*/pids/*.pid; do echo "$(<"$f")"; done | paste -sd'|')
check "5 components recorded" test "$(tr '|' '\n' <<<"$pids" | grep -c .)" -eq 5
listeners=$(ss -Hltnp | grep -E "pid=($pids)," || true)
echo "$listeners" | awk '{print "  listen " $4}'
check "components listen" test -n "$listeners"
check "all listeners on 127.0.0.1" bash -c '! grep -vE "^\S+\s+\S+\s+\S+\s+127\.0\.0\.1:" <<<"$1" | grep -q .' _ "$listeners"
no_endpoint() { [[ -z $(kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes -o jsonpath='{.items[*].endpoints[*].addresses[*]}') ]]; }
check "kubernetes Service publishes no address" no_endpoint

t0=$(date +%s.%N)
"$HERE/cluster.sh" stop "$DIR"
t1=$(date +%s.%N)
echo "stop took $(echo "$t1 - $t0" | bc)s"
gone() { local p; for p in ${pids//|/ }; do [[ ! -e /proc/$p ]] || return 1; done; }
check "stop leaves no process" gone
check "stop removes DIR" test ! -e "$DIR"
check "stop twice is fine" "$HERE/cluster.sh" stop "$DIR"

# A start that fails half-way (bad etcd binary) must clean up after itself.
mkdir -p "$TMP/badbin"
for b in "${TOOLCHAIN_BIN:-$("$HERE/build.sh" etcd kwok kube | tail -n 1)}"/*; do ln -s "$b" "$TMP/badbin/"; done
printf '#!/bin/sh\necho "etcd Version: 0"\nexit 1\n' >"$TMP/badbin/etcd.fake"
rm "$TMP/badbin/etcd" && mv "$TMP/badbin/etcd.fake" "$TMP/badbin/etcd" && chmod +x "$TMP/badbin/etcd"
if TOOLCHAIN_BIN=$TMP/badbin timeout 200 "$HERE/cluster.sh" start "$DIR" >/dev/null 2>&1; then bad_start=ok; else bad_start=failed; fi
check "start with broken etcd fails" test "$bad_start" = failed
check "failed start leaves no DIR" test ! -e "$DIR"
check "stop after failed start is fine" "$HERE/cluster.sh" stop "$DIR"
leftover() { ! pgrep -f -- "$TMP/" >/dev/null; }
check "failed start leaves no process" leftover

echo "$pass passed, $fail failed"
((fail == 0))
