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
#   CLUSTER_NODES       simulated node names (default "node-a node-b"), at most 1024
#   CLUSTER_IP_FAMILIES ipv4 (default), dual or ipv6: the node addresses and pod CIDRs each
#                       simulated node gets (see nodes_yaml)
#   CLUSTER_EXEC_PATH   dir put first on PATH for `kubectl exec` commands; those run on
#                       this host (kwok's local exec), not in a container
#   SIM_STATE_DIR       passed through to `kubectl exec` commands (the agent simulator's state)
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

# Node i (0-based) of CLUSTER_NODES gets, per family asked for:
#   IPv4: InternalIP 198.18.0.0 + i + 1, pod CIDR the i-th /26 of 198.19.0.0/16 (so at most
#         1024 nodes);
#   IPv6: InternalIP 2001:db8::<i+1>, pod CIDR 2001:db8:1:<i>::/64.
# 2001:db8::/32 is the IPv6 documentation prefix (RFC 3849). IPv4's documentation blocks
# (RFC 5737) hold 3 x 256 addresses, too few for the 1,000-node benchmark, so IPv4 uses the
# benchmarking block 198.18.0.0/15 (RFC 2544, not globally reachable). Nothing is ever sent to
# these addresses: every command the verifier execs in a pod runs on this host (kwok's local
# exec) and is answered by the stand-ins in test/sim/bin. Native routing needs
# ipv4NativeRoutingCIDR 198.19.0.0/16 and ipv6NativeRoutingCIDR 2001:db8:1::/48.
#
# kwok v0.8.0 fills pod addresses from these (pkg/kwok/controllers/pod_controller.go,
# funcPodIPsWith, used by kwokctl's pod-ready stage kustomize/stage/pod/fast/pod-ready.yaml):
# a pod gets one address from each of its node's spec.podCIDRs (counting up from the CIDR's
# first address, past the /26 if a node ever ran more than 62 pods); a hostNetwork pod gets
# the node's InternalIPs, one per family (node_controller.go, getNodeHostIPs).
node_families() {
  case ${CLUSTER_IP_FAMILIES:-ipv4} in
    ipv4) echo 4 ;;
    dual) echo 4 6 ;;
    ipv6) echo 6 ;;
    *) log "CLUSTER_IP_FAMILIES must be ipv4, dual or ipv6, not '${CLUSTER_IP_FAMILIES}'"; return 1 ;;
  esac
}

nodes_yaml() {
  local n i=0 fam families addresses cidrs first v6net
  families=$(node_families) || return 1
  for n in ${CLUSTER_NODES:-node-a node-b}; do
    if ((i >= 1024)); then log "at most 1024 nodes: the IPv4 pod CIDRs are /26s of 198.19.0.0/16"; return 1; fi
    addresses='' cidrs='' first=''
    for fam in $families; do
      if [[ $fam == 4 ]]; then
        addresses+="  - {type: InternalIP, address: 198.18.$(((i + 1) >> 8)).$(((i + 1) & 255))}"$'\n'
        cidrs+="  - 198.19.$((i >> 2)).$(((i & 3) * 64))/26"$'\n'
      else
        # RFC 5952 form, as the API server and kwok print it.
        v6net=2001:db8:1:$(printf %x "$i")::/64
        ((i == 0)) && v6net=2001:db8:1::/64
        addresses+="  - {type: InternalIP, address: '2001:db8::$(printf %x $((i + 1)))'}"$'\n'
        cidrs+="  - '$v6net'"$'\n'
      fi
      [[ -n $first ]] || first=${cidrs#  - }
    done
    # Hostname localhost, as kwok's node-initialize stage would fill it in
    # (kustomize/stage/node/fast/node-initialize.yaml; NodeName is kwokctl's "localhost"):
    # with --kubelet-preferred-address-types=Hostname the API server reaches the "kubelet"
    # (kwok) on loopback only, never at the InternalIPs above. Status given on create is kept,
    # as when a kubelet registers its node.
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
spec:
  podCIDR: ${first%$'\n'}
  podCIDRs:
${cidrs%$'\n'}
status:
  addresses:
$addresses  - {type: Hostname, address: localhost}
---
EOF
    i=$((i + 1))
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
  # Namespaced Exec objects served by the API: the agent simulator (test/sim) makes one per pod
  # with SIM_POD_NAME/SIM_POD_NAMESPACE/SIM_NODE_NAME, and kwok v0.8.0 prefers them to the
  # ClusterExec below (pkg/kwok/server/debugging_exec.go getExecTarget). The ClusterExec stays in
  # this file: a kind is served from the file or the API, not both (pkg/kwok/cmd/root.go
  # checkConfigOrCRD).
  enableCRDs:
  - Exec
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
  - name: SIM_STATE_DIR
    value: "${SIM_STATE_DIR:-}"
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
      - name: SIM_STATE_DIR
        value: "${SIM_STATE_DIR:-}"
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
  # Refuse a bad CLUSTER_IP_FAMILIES or too many nodes before anything starts.
  nodes_yaml >/dev/null
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # Clean up on any failure so a broken start leaves no process behind.
  START_DIR=$dir
  trap 'on_start_exit $?' EXIT
  config_yaml >"$dir/kwokctl.yaml"
  # kwokctl picks free ports by probing, so two clusters created at once can pick the same ones:
  # creations on this machine take turns (the lock goes with this shell). The lock is beside the
  # toolchain cache, not in $TMPDIR, which each test's Pulumi runs point elsewhere.
  local lock=${XDG_CACHE_HOME:-$HOME/.cache}/cilium-encryption/kwokctl-create.lock
  mkdir -p "${lock%/*}"
  exec 8>"$lock"
  flock 8
  KWOK_WORKDIR=$dir/kwok "$BIN/kwokctl" -v=WARN create cluster --name "$NAME" \
    --config "$dir/kwokctl.yaml" --kubeconfig "$dir/kubeconfig" --wait 2m >&2
  flock -u 8
  export KUBECONFIG=$dir/kubeconfig
  nodes_yaml | kubectl apply -f - >&2
  # kwok marks a few nodes Ready per second on a busy machine: a thousand take minutes.
  local count
  count=$(kubectl get nodes --no-headers | wc -l)
  kubectl wait --for=condition=Ready node --all --timeout="$((120 + count / 2))s" >&2
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
