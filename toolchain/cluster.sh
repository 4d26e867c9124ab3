#!/usr/bin/env bash
# Throwaway local Kubernetes control plane for e2e tests: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok, all on 127.0.0.1, state in DIR.
#
#   toolchain/cluster.sh start DIR   writes DIR/kubeconfig; returns once the API server is
#                                    healthy and the simulated nodes are Ready
#   toolchain/cluster.sh stop DIR    kills every process start made, removes DIR;
#                                    safe to repeat and after a failed start
#
# Environment (all optional):
#   TOOLCHAIN_BIN       bin dir from build.sh (default: ask build.sh, instant when built)
#   CLUSTER_NODES       simulated node names (default "node-a node-b")
#   CLUSTER_EXEC_PATH   dir put first on PATH for `kubectl exec` commands; those run on
#                       this host (kwok's local exec), not in a container
#   CILIUM_STANDIN_DIR  passed through to `kubectl exec` commands
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=e2e

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
log() { printf '[cluster %s] %s\n' "$(date +%T)" "$*" >&2; }

# kwokctl runs each component detached (setsid) and records it in pids/*.pid.
recorded_pids() {
  local f
  for f in "$1/kwok/clusters/$NAME/pids/"*.pid; do
    if [[ -f $f ]]; then echo "$(<"$f")"; fi
  done
}

# A recorded pid counts only while it still runs a binary of this cluster, so a stale
# pid file can never hit an unrelated process that reused the number.
ours() { [[ $1 =~ ^[0-9]+$ ]] && { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF -- "$2/"; }

# Exited but not yet reaped by init: wait for that too, so "stopped" means gone.
zombie() { [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]; }

stop() {
  local dir=$1 pid i left
  [[ -d $dir ]] || return 0
  dir=$(cd "$dir" && pwd)
  # Read the pids first: kwokctl deletes the pid files.
  local pids=()
  for pid in $(recorded_pids "$dir"); do
    if ours "$pid" "$dir"; then pids+=("$pid"); fi
  done
  if [[ -d $dir/kwok/clusters/$NAME ]]; then
    KWOK_WORKDIR=$dir/kwok "$BIN/kwokctl" -v=WARN delete cluster --name "$NAME" \
      --kubeconfig "$dir/kubeconfig" >&2 2>&1 || log "kwokctl delete failed; killing by pid"
  fi
  # kwokctl only signals; make sure everything is gone (half-started cluster, kwokctl
  # killed mid-way, a component ignoring TERM) before the state is removed.
  for pid in "${pids[@]}"; do
    if ours "$pid" "$dir"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for i in $(seq 100); do
    left=0
    for pid in "${pids[@]}"; do
      if ours "$pid" "$dir" || zombie "$pid"; then left=1; fi
    done
    ((left)) || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if ours "$pid" "$dir"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$dir"
}

nodes_yaml() {
  local n
  for n in ${CLUSTER_NODES:-node-a node-b}; do
    # No addresses: kwok fills in Hostname=localhost, so API server -> "kubelet"
    # traffic (exec) stays on loopback.
    cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $n
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: $n
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
---
EOF
  done
}

config_yaml() {
  local exec_path=${CLUSTER_EXEC_PATH:+$CLUSTER_EXEC_PATH:}$PATH
  cat <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  # Default is 0.0.0.0; nothing of ours may listen beyond loopback.
  bindAddress: 127.0.0.1
  kubeVersion: $("$BIN/kube-apiserver" --version | awk '{print $2}')
  kubeApiserverBinary: $BIN/kube-apiserver
  kubeControllerManagerBinary: $BIN/kube-controller-manager
  kubeSchedulerBinary: $BIN/kube-scheduler
  kwokControllerBinary: $BIN/kwok
  etcdBinary: $BIN/etcd
  # Every component has a local path, so kwokctl never tries to download one.
  kubectlBinary: $(command -v kubectl)
  securePort: true
  kubeAuthorization: true
  # Real admission (ServiceAccount etc.) so pods behave as on a real cluster.
  kubeAdmission: true
componentsPatches:
- name: kube-apiserver
  extraArgs:
  # The apiserver would publish this host's own eth0 address as the endpoint of the
  # "kubernetes" Service (loopback is not allowed there); publish nothing instead.
  - key: endpoint-reconciler-type
    value: none
  # Reach the "kubelet" (kwok) by node hostname only (localhost), never by an IP.
  - key: kubelet-preferred-address-types
    value: Hostname
- name: kwok-controller
  extraEnvs:
  # kwok resolves the exec'd command with its own PATH, so the prefix must be set on
  # the kwok process itself, not only on the exec target below.
  - name: PATH
    value: "$exec_path"
  - name: CILIUM_STANDIN_DIR
    value: "${CILIUM_STANDIN_DIR:-}"
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: host-exec
spec:
  execs:
  - local:
      envs:
      - name: PATH
        value: "$exec_path"
      - name: CILIUM_STANDIN_DIR
        value: "${CILIUM_STANDIN_DIR:-}"
EOF
}

on_start_exit() {
  (($1)) || return 0
  log "start failed; last log lines:"
  tail -n 5 "$START_DIR/kwok/clusters/$NAME/logs/"*.log >&2 2>/dev/null || true
  stop "$START_DIR"
}

start() {
  local dir=$1 t0=$SECONDS
  [[ -e $dir/kubeconfig ]] && { log "$dir/kubeconfig exists: stop it first"; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # Clean up on any failure so a broken start leaves no process behind.
  START_DIR=$dir
  trap 'on_start_exit $?' EXIT
  config_yaml >"$dir/kwokctl.yaml"
  KWOK_WORKDIR=$dir/kwok "$BIN/kwokctl" -v=WARN create cluster --name "$NAME" \
    --config "$dir/kwokctl.yaml" --kubeconfig "$dir/kubeconfig" --wait 2m >&2
  export KUBECONFIG=$dir/kubeconfig
  nodes_yaml | kubectl apply -f - >&2
  kubectl wait --for=condition=Ready node --all --timeout=120s >&2
  # Pods are rejected until the controller manager has made these accounts.
  local ns i
  for ns in default kube-system; do
    for i in $(seq 600); do kubectl get -n "$ns" serviceaccount default >/dev/null 2>&1 && break; sleep 0.1; done
    kubectl get -n "$ns" serviceaccount default >/dev/null
  done
  trap - EXIT
  log "ready in $((SECONDS - t0))s: export KUBECONFIG=$dir/kubeconfig"
}

[[ $# -eq 2 ]] || usage
BIN=${TOOLCHAIN_BIN:-$("$HERE/build.sh" etcd kwok kube | tail -n 1)}
export PATH=$BIN:$PATH
case $1 in
  start) start "$2" ;;
  stop) stop "$2" ;;
  *) usage ;;
esac
