#!/usr/bin/env bash
# tcpdump, ip, ping, wget, timeout and pkill inside a pod of the simulated cluster: kwok runs
# `kubectl exec` commands on this host, so each of these names in test/sim/bin links here and is
# answered by the simulated datapath, never by the host's own command (nothing is ever sent on a
# network). See test/sim/datapath/README.md. The datapath runs from the bundle test/sim/sim.sh
# start builds into the simulator's state directory (bundle.sh).
set -euo pipefail
cmd=$(basename "$0")
die() { printf 'simulated %s: %s\n' "$cmd" "$1" >&2; exit 3; }
command -v node >/dev/null || die "node is not on PATH"
[[ -n ${SIM_STATE_DIR:-} ]] || die "SIM_STATE_DIR is not set: is test/sim/sim.sh running for this cluster?"
[[ -f $SIM_STATE_DIR/datapath.cjs ]] || die "$SIM_STATE_DIR/datapath.cjs is missing: test/sim/sim.sh start builds it"
SIM_DATAPATH_BIN=$(dirname "$0") exec node "$SIM_STATE_DIR/datapath.cjs" "$cmd" "$@"
