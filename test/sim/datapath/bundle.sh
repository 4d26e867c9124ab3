#!/usr/bin/env bash
# Bundles the datapath stand-ins (cli.ts and what it imports) into one CommonJS file, OUT. Each
# command the wire check runs in a pod starts one of them: plain node on a bundle costs a fifth of
# the CPU of node with the tsx loader, and at a thousand nodes that is most of the simulator's time.
#   bash test/sim/datapath/bundle.sh OUT
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: bundle.sh OUT" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
"$root/node_modules/.bin/esbuild" "$root/test/sim/datapath/cli.ts" --bundle --platform=node --format=cjs --log-level=warning --outfile="$1"
