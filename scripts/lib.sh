# Shared setup for scripts/test.sh, scripts/demo.sh and bench/ (sourced).

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS" >&2; }

# Cleanups run last-registered first when the shell exits, however it exits.
#   at_exit COMMAND [ARG...]   a command (or function) and its arguments, kept as given
# Each one is stored as its own array and run as "${array[@]}", never re-parsed by the shell, so a
# quote, space, $ or ; in $TMPDIR or the checkout path stays part of the argument.
_cleanup_count=0
at_exit() {
  local j
  (($#)) || { echo "at_exit: a command is required" >&2; return 1; }
  declare -ga "_cleanup_$_cleanup_count"
  for ((j = 1; j <= $#; j++)); do printf -v "_cleanup_${_cleanup_count}[$((j - 1))]" '%s' "${!j}"; done
  _cleanup_count=$((_cleanup_count + 1))
}
_run_cleanups() {
  local i ref
  for ((i = _cleanup_count - 1; i >= 0; i--)); do
    ref="_cleanup_$i[@]"
    "${!ref}" || true
  done
}
trap _run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Node LTS from the npm registry, and the project's packages from the lockfile.
setup_node() {
  step "node and npm packages"
  PATH="$(bash toolchain/node.sh):$PATH"; export PATH
  if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.lock-snapshot; then
    # Install scripts only try to download plugins; the toolchain provides them.
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.lock-snapshot
  fi
}

# Pulumi CLI, language host, providers and control-plane binaries, built once from the Go module proxy.
setup_toolchain() {
  step "toolchain (cold: long; cached by pins)"
  TOOLCHAIN_BIN=$(bash toolchain/build.sh | tail -n 1)
  # Cilium's real charts, one per supported minor, as build.sh's charts step links them.
  CILIUM_CHARTS=$(dirname "$TOOLCHAIN_BIN")/charts
  CILIUM_VERSIONS=$(. toolchain/pins.env && echo "$CILIUM_VERSIONS")
  CILIUM_DEFAULT_CHART=$CILIUM_CHARTS/${CILIUM_VERSIONS##* }
  export TOOLCHAIN_BIN CILIUM_CHARTS CILIUM_VERSIONS CILIUM_DEFAULT_CHART
}

_stop_cluster() { bash test/sim/sim.sh stop "$1/sim" >/dev/null 2>&1; bash toolchain/cluster.sh stop "$1/cluster" >/dev/null 2>&1; rm -rf "$1"; }

# A throwaway control plane on 127.0.0.1 with state in WORK/cluster, stopped (and WORK removed) at
# exit unless KEEP_CLUSTER=true. Its nodes are dual-stack, so one cluster serves both the chart's
# default IPv4 and a dual-stack install. `kubectl exec` into its pods runs test/sim/bin on this
# host: the agent simulator (state in WORK/sim, SIM_STATE_DIR) answers for Cilium's agents.
start_cluster() {
  local work=$1
  step "local control plane and agent simulator"
  export CLUSTER_NODES=${CLUSTER_NODES:-"node-a node-b node-c"} CLUSTER_IP_FAMILIES=dual
  export CLUSTER_EXEC_PATH="$PWD/test/sim/bin" SIM_STATE_DIR="$work/sim"
  [ "${KEEP_CLUSTER:-false}" = true ] || at_exit _stop_cluster "$work"
  # Explicit: callers run this under `||`, where set -e does not stop a function.
  bash toolchain/cluster.sh start "$work/cluster" || return
  KUBECONFIG="$work/cluster/kubeconfig" bash test/sim/sim.sh start "$SIM_STATE_DIR"
}

# Local file backend and passphrase secrets in WORK; plugins from the toolchain, no downloads.
setup_pulumi() {
  local work=$1
  # shellcheck source=../toolchain/env.sh
  source toolchain/env.sh "$TOOLCHAIN_BIN"
  export PULUMI_HOME="$work/pulumi-home" PULUMI_BACKEND_URL="file://$work/state"
  # A fresh random passphrase in a file, so it is never on a command line or in a log.
  mkdir -p "$work/state"
  (umask 077 && head -c 32 /dev/urandom | base64 > "$work/passphrase")
  export PULUMI_CONFIG_PASSPHRASE_FILE="$work/passphrase"
  unset PULUMI_CONFIG_PASSPHRASE
  # The Kubernetes provider (4.25, pkg/provider/provider.go Configure) writes the kubeconfig it is
  # given to a new $TMPDIR/kubeconfig* file on every run and never removes it: keep those copies in
  # the work directory, which goes with the run.
  mkdir -p "$work/tmp"
  export TMPDIR="$work/tmp"
  install_plugins "$PULUMI_HOME"
  # Use the installed plugins at their exact pinned versions, not whatever is on PATH.
  export PULUMI_IGNORE_AMBIENT_PLUGINS=true
}
