#!/usr/bin/env bash
# The Cilium agent simulator for a local kwok cluster (test/sim/README.md).
#
#   bash test/sim/sim.sh start STATE_DIR   KUBECONFIG set: starts the simulator in the background
#                                          and returns once it has synced the cluster and serves
#                                          STATE_DIR/sim.sock
#   bash test/sim/sim.sh stop STATE_DIR    stops what start started; safe to repeat
#
# Environment: KUBECONFIG (start), CLUSTER_EXEC_PATH (the dir kwok puts first on PATH for exec'd
# commands; the simulator's Exec objects set the same PATH as toolchain/cluster.sh's ClusterExec),
# CILIUM_CHARTS or TOOLCHAIN_BIN/../charts (<version> links into the Cilium modules, for the
# CiliumNode CRD).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

usage() { echo "usage: $0 start|stop STATE_DIR" >&2; exit 2; }
log() { printf '[sim %s] %s\n' "$(date +%T)" "$*" >&2; }

# A recorded pid counts only while it still runs our command line, so a stale pid file never
# hits an unrelated process that reused the number.
ours() { [[ $1 =~ ^[0-9]+$ ]] && { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF -- "$2"; }

stop() {
  local dir=$1 f pid i
  [[ -d $dir ]] || return 0
  dir=$(cd "$dir" && pwd)
  local -A pattern=([sim.pid]="test/sim/server/main.ts $dir" [proxy.pid]="--unix-socket=$dir/kapi.sock")
  for f in sim.pid proxy.pid; do
    [[ -f $dir/$f ]] || continue
    pid=$(<"$dir/$f")
    if ours "$pid" "${pattern[$f]}"; then kill -TERM "$pid" 2>/dev/null || true; fi
    for i in $(seq 50); do ours "$pid" "${pattern[$f]}" || break; sleep 0.1; done
    if ours "$pid" "${pattern[$f]}"; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$dir/$f"
  done
  rm -f "$dir/sim.sock" "$dir/kapi.sock"
  # Datapath stand-ins kwok started and left running (a capture outlives a killed exec stream):
  # every one runs this directory's bundle.
  pkill -TERM -f -- "$dir/datapath.cjs" 2>/dev/null || true
}

start() {
  local dir=$1 i
  : "${KUBECONFIG:?sim.sh start: KUBECONFIG is not set}"
  mkdir -p "$dir/faults"
  dir=$(cd "$dir" && pwd)
  if [[ -f $dir/sim.pid ]] && ours "$(<"$dir/sim.pid")" "test/sim/server/main.ts $dir"; then
    log "already running for $dir"
    return 0
  fi
  bash "$ROOT/test/sim/datapath/bundle.sh" "$dir/datapath.cjs"
  # The same PATH toolchain/cluster.sh gives its ClusterExec.
  SIM_EXEC_PATH=${CLUSTER_EXEC_PATH:+$CLUSTER_EXEC_PATH:}$PATH
  SIM_CILIUM_CHARTS=${CILIUM_CHARTS:-${TOOLCHAIN_BIN:+$TOOLCHAIN_BIN/../charts}}
  (cd "$ROOT" && SIM_EXEC_PATH=$SIM_EXEC_PATH SIM_CILIUM_CHARTS=$SIM_CILIUM_CHARTS exec setsid node --import tsx test/sim/server/main.ts "$dir" \
    >>"$dir/sim.log" 2>&1 </dev/null) &
  local pid=$!
  echo "$pid" >"$dir/sim.pid"
  for i in $(seq 600); do
    if curl -sf --unix-socket "$dir/sim.sock" http://sim/healthz >/dev/null 2>&1; then
      log "ready: $dir/sim.sock"
      return 0
    fi
    # Not `ours`: on a busy machine the child can still be sim.sh's fork, not yet node. It is our
    # unreaped child, so its pid is nobody else's: gone means no process, or a zombie.
    if ! kill -0 "$pid" 2>/dev/null || [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]]; then
      log "simulator exited; last log lines:"
      tail -n 20 "$dir/sim.log" >&2 || true
      stop "$dir"
      return 1
    fi
    sleep 0.1
  done
  log "simulator not ready after 60s; last log lines:"
  tail -n 20 "$dir/sim.log" >&2 || true
  stop "$dir"
  return 1
}

[[ $# -eq 2 ]] || usage
case $1 in
  start) start "$2" ;;
  stop) stop "$2" ;;
  *) usage ;;
esac
