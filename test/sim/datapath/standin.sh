#!/usr/bin/env bash
# tcpdump, ip, ping, wget, timeout and pkill inside a pod of the simulated cluster: kwok runs
# `kubectl exec` commands on this host, so each of these names in test/sim/bin links here and is
# answered by the simulated datapath, never by the host's own command (nothing is ever sent on a
# network). See test/sim/datapath/README.md.
set -euo pipefail
cmd=$(basename "$0")
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)
command -v node >/dev/null || { echo "simulated $cmd: node is not on PATH" >&2; exit 3; }
# --import resolves tsx from the working directory.
cd "$root"
exec node --import tsx test/sim/datapath/cli.ts "$cmd" "$@"
