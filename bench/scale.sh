#!/usr/bin/env bash
# Benchmark at fleet scale. For each node count N, a fresh local control plane of N kwok nodes with
# the agent simulator (test/sim), Cilium's real chart of the default minor deployed by this program
# (pulumi up of an IPsec stack, wire check on), then timed:
#   agents    npm run verify -- --stack S --wire-check off   (the agent rounds alone)
#   verify    npm run verify -- --stack S                    (wire check on)
#   drift     npm run drift -- --stack S --verify
#   preview   a no-op pulumi preview, median of SCALE_PREVIEW_RUNS, beside the one-Secret floor of
#             bench/preview.sh on the same control plane
#   rotation  npm run rotate -- --stack S, then pulumi up, whose verification waits until the
#             agents have settled on the new key
# It prints one table (seconds per step, the verifier's peak memory, agent queries, growth between
# sizes) and the CPU seconds each process spent during the two verifier runs.
#   bash bench/scale.sh [NODES...]   (default 10 100 300 1000; each 2..1024)
# Environment: SCALE_TIMEOUT (the stack's verification.timeout, default 30m), SCALE_PREVIEW_RUNS
# (default 5), SCALE_RESULTS (directory for logs and reports, default a new one under $TMPDIR).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# Short, so that the old key's states go soon after a rotation and the verification (which waits
# until the keys in use have settled) ends well within its timeout.
KEY_ROTATION=10s
TIMEOUT=${SCALE_TIMEOUT:-30m}
PREVIEW_RUNS=${SCALE_PREVIEW_RUNS:-5}

now_ms() { date +%s%3N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (b - a) / 1000}'; }
load1() { cut -d' ' -f1 /proc/loadavg; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# A value from a JSON file, by a JavaScript expression on `r`; "-" when absent or unreadable.
json() { node -e 'let v; try { const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); v = ('"$2"'); } catch {} console.log(v ?? "-")' "$1"; }
# cilium-dbg calls the simulator has answered so far (GET /state, test/sim/README.md).
sim_calls() { curl -sf --unix-socket "$SIM_STATE_DIR/sim.sock" -o "$1" http://sim/state && json "$1" r.agentCalls; }
# Prefixes each line with the seconds since T0 (ms), so a log shows where the time went.
stamp() { local t0=$1 line; while IFS= read -r line; do printf '%s %s\n' "$(secs "$t0" "$(now_ms)")" "$line"; done; }

# CPU ticks (user+system) of the processes that serve a `kubectl exec`, by role: the API server
# with etcd; kwok itself; what kwok ran for the execs (its reaped children: the cilium-dbg and
# datapath stand-ins of test/sim/bin); the agent simulator with its API proxy; the controllers.
cpu_ticks() {
  local work=$1 pids=$1/cluster/kwok/clusters/e2e/pids
  ticks() {
    local fields=$1 f
    shift
    for f in "$@"; do sed 's/.*) //' "/proc/$(<"$f")/stat"; done |
      awk -v fields="$fields" '{n = split(fields, k, ","); for (i = 1; i <= n; i++) t += $(k[i] - 2)} END {print t + 0}'
  }
  echo "api $(ticks 14,15 "$pids/kube-apiserver.pid" "$pids/etcd.pid")"
  echo "kwok $(ticks 14,15 "$pids/kwok-controller.pid")"
  echo "standins $(ticks 16,17 "$pids/kwok-controller.pid")"
  echo "sim $(ticks 14,15 "$work/sim/sim.pid" "$work/sim/proxy.pid")"
  echo "ctrl $(ticks 14,15 "$pids/kube-controller-manager.pid" "$pids/kube-scheduler.pid")"
}

# The peak resident memory (VmHWM, kB) of the descendants of ROOT whose command line holds PATTERN,
# read every half second until ROOT ends: the verifier's own process, apart from its kubectl
# children (GNU time reports the largest process of the whole tree).
peak_kb() {
  local root=$1 pattern=$2 max=0 p pp s h
  local -a queue
  while kill -0 "$root" 2>/dev/null; do
    local -A kids=()
    for s in /proc/[0-9]*/stat; do
      # The command name in parentheses may hold spaces (npm sets its title): fields count after it.
      { s=$(<"$s") && p=${s%% *} && s=${s##*) } && read -r _ pp _ <<<"$s" && kids[$pp]+=" $p"; } 2>/dev/null || true
    done
    queue=("$root")
    while ((${#queue[@]})); do
      p=${queue[0]}
      # shellcheck disable=SC2206
      queue=("${queue[@]:1}" ${kids[$p]:-})
      if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF -- "$pattern"; then
        h=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null) || true
        if [[ -n $h ]] && ((h > max)); then max=$h; fi
      fi
    done
    unset kids
    sleep 0.5
  done
  echo "$max"
}

# One verifier run, NAME the prefix of its results: wall time, exit code, the verifier's peak
# memory and the tree's, CPU seconds by process, agent queries (its report and the simulator's
# count), rounds, wire pairs, and when the wire check began (from its stamped progress lines).
run_verifier() {
  local name=$1 t0 pid calls0 calls1 rc=0
  shift
  calls0=$(sim_calls "$logs/$name.state0.json")
  cpu_ticks "$work" >"$logs/$name.cpu0"
  row[${name}_load]=$(load1)
  t0=$(now_ms)
  /usr/bin/time -f '%M %U %S' -o "$logs/$name.time" npm run --silent verify -- --stack "$stack" "$@" \
    --report-file "$logs/$name-report.json" >"$logs/$name.stdout" 2> >(stamp "$t0" >"$logs/$name.stderr") &
  pid=$!
  row[${name}_peak_mb]=$(($(peak_kb "$pid" verifier/main.ts) / 1024))
  wait "$pid" || rc=$?
  row[${name}_s]=$(secs "$t0" "$(now_ms)")
  cpu_ticks "$work" >"$logs/$name.cpu1"
  calls1=$(sim_calls "$logs/$name.state1.json")
  row[${name}_load]+=/$(load1)
  row[${name}_rc]=$rc
  row[${name}_tree_mb]=$(awk 'NF == 3 {printf "%d", $1 / 1024}' "$logs/$name.time")
  # The verifier with its kubectl children: GNU time counts every reaped descendant.
  row[${name}_cpu_verifier]=$(awk 'NF == 3 {printf "%.1f", $2 + $3}' "$logs/$name.time")
  local role a b
  while read -r role a b; do row[${name}_cpu_$role]=$(awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", (b - a) / hz}'); done \
    < <(paste -d' ' "$logs/$name.cpu0" "$logs/$name.cpu1" | awk '{print $1, $2, $4}')
  row[${name}_verdict]=$(json "$logs/$name-report.json" r.verdict)
  row[${name}_queries]=$(json "$logs/$name-report.json" r.stats.agentQueries)
  row[${name}_rounds]=$(json "$logs/$name-report.json" r.stats.rounds)
  row[${name}_pairs]=$(json "$logs/$name-report.json" 'r.wire.captured === undefined ? undefined : r.wire.captured / 2')
  row[${name}_sim_calls]=$((calls1 - calls0))
  sleep 0.2 # the stamped stderr is written by a process of its own
  row[${name}_wire_s]=$(awk -v total="${row[${name}_s]}" '/wire check: [0-9]+ node pair/ {printf "%.1f", total - $1; found = 1; exit} END {if (!found) print "-"}' "$logs/$name.stderr")
}

# One node count, in a process of its own: lib.sh's exit cleanups stop its cluster before the next.
one_size() {
  local n=$1 out=$2 i rc t0
  logs=$3
  local -A row=([nodes]=$n)
  mkdir -p "$logs"
  setup_node >/dev/null 2>&1
  setup_toolchain >/dev/null 2>&1
  work=$(mktemp -d "${TMPDIR:-/tmp}/cilium-encryption-scale.XXXXXX")
  CLUSTER_NODES=$(for ((i = 1; i <= n; i++)); do printf 'node-%04d ' "$i"; done)
  export CLUSTER_NODES
  row[load_start]=$(load1)
  t0=$(now_ms)
  start_cluster "$work" >"$logs/cluster.log" 2>&1 || { tail -n 20 "$logs/cluster.log" >&2; return 1; }
  row[cluster_s]=$(secs "$t0" "$(now_ms)")
  setup_pulumi "$work" >/dev/null 2>&1
  local kubeconfig=$work/cluster/kubeconfig
  stack=scale-$n-$$
  at_exit rm -f "Pulumi.$stack.yaml"
  pulumi stack init "$stack" --secrets-provider passphrase >/dev/null
  cat >>"Pulumi.$stack.yaml" <<YAML
config:
  cilium-encryption:encryption: {type: ipsec, ipsec: {keyId: 1, keyRotationDuration: $KEY_ROTATION}}
  cilium-encryption:cilium: {namespace: kube-system, version: ${CILIUM_DEFAULT_CHART##*/}, chart: {path: $CILIUM_DEFAULT_CHART}}
  cilium-encryption:cluster: {kubeconfig: $kubeconfig}
  cilium-encryption:verification: {timeout: $TIMEOUT, wireCheck: true}
YAML

  step "$n nodes: pulumi up (Cilium's chart, first verification)"
  t0=$(now_ms)
  rc=0
  pulumi up --yes --skip-preview --stack "$stack" >"$logs/deploy.log" 2>&1 || rc=$?
  row[deploy_s]=$(secs "$t0" "$(now_ms)")
  row[deploy_rc]=$rc
  if ((rc != 0)); then
    # A failed verification leaves the release deployed and the Command unrecorded: the next up
    # runs it again. The later steps need a converged stack, so one more try (its time apart).
    echo "$n nodes: pulumi up failed (exit $rc, $logs/deploy.log); once more" >&2
    t0=$(now_ms)
    pulumi up --yes --skip-preview --stack "$stack" >"$logs/deploy-again.log" 2>&1 || { tail -n 30 "$logs/deploy-again.log" >&2; return 1; }
    row[deploy_again_s]=$(secs "$t0" "$(now_ms)")
  fi

  step "$n nodes: npm run verify --wire-check off"
  run_verifier agents --wire-check off
  step "$n nodes: npm run verify (wire check on)"
  run_verifier verify

  step "$n nodes: npm run drift -- --verify"
  rc=0
  t0=$(now_ms)
  npm run --silent drift -- --stack "$stack" --verify >"$logs/drift.stdout" 2>"$logs/drift.stderr" || rc=$?
  row[drift_s]=$(secs "$t0" "$(now_ms)")
  row[drift_rc]=$rc

  step "$n nodes: no-op previews, ours and the one-Secret floor, $PREVIEW_RUNS each"
  local minimal=$work/minimal ours=() floor=()
  mkdir -p "$minimal"
  ln -s "$PWD/node_modules" "$minimal/node_modules"
  cp package.json "$minimal/"
  sed 's/^name: .*/name: minimal-secret/' Pulumi.yaml >"$minimal/Pulumi.yaml"
  cat >"$minimal/index.ts" <<TS
import * as k8s from "@pulumi/kubernetes";
const provider = new k8s.Provider("k8s", { kubeconfig: "$kubeconfig" });
new k8s.core.v1.Secret("one", { metadata: { name: "one", namespace: "default" }, stringData: { a: "b" } }, { provider });
TS
  pulumi stack init floor --cwd "$minimal" >/dev/null
  pulumi up --yes --skip-preview --stack floor --cwd "$minimal" >/dev/null
  preview_ms() {
    local t=$(now_ms)
    pulumi preview --expect-no-changes "$@" >>"$logs/preview.log" 2>&1 || echo "no-op preview $* failed: $logs/preview.log" >&2
    echo $(($(now_ms) - t))
  }
  for ((i = 0; i < PREVIEW_RUNS; i++)); do
    ours+=("$(preview_ms --stack "$stack")")
    floor+=("$(preview_ms --stack floor --cwd "$minimal")")
  done
  row[preview_s]=$(secs 0 "$(median "${ours[@]}")")
  row[floor_s]=$(secs 0 "$(median "${floor[@]}")")

  step "$n nodes: key rotation (keyRotationDuration $KEY_ROTATION) until verified"
  rc=0
  t0=$(now_ms)
  { npm run --silent rotate -- --stack "$stack" && pulumi up --yes --skip-preview --stack "$stack"; } >"$logs/rotation.log" 2>&1 || rc=$?
  row[rotation_s]=$(secs "$t0" "$(now_ms)")
  row[rotation_rc]=$rc
  if ((rc == 0)); then
    pulumi stack output verification --json --show-secrets --stack "$stack" >"$logs/rotation-report.json"
    row[rotation_verdict]=$(json "$logs/rotation-report.json" r.verdict)
    row[rotation_queries]=$(json "$logs/rotation-report.json" r.stats.agentQueries)
    row[rotation_rounds]=$(json "$logs/rotation-report.json" r.stats.rounds)
  fi
  row[load_end]=$(load1)

  local k line=()
  for k in "${!row[@]}"; do line+=("$k=${row[$k]}"); done
  (IFS=$'\t'; echo "${line[*]}") >>"$out"
}

# The tables, from one line of key=value fields per size.
print_table() {
  awk -F'\t' '
    function v(r, k) { return (r SUBSEP k) in x ? x[r, k] : "-" }
    function g(k, r) { return (v(r - 1, k) + 0 > 0 && v(r, k) != "-") ? sprintf("x%.1f", v(r, k) / v(r - 1, k)) : "-" }
    { for (i = 1; i <= NF; i++) { eq = index($i, "="); x[NR, substr($i, 1, eq - 1)] = substr($i, eq + 1) } }
    END {
      print "| nodes | cluster start s | pulumi up s | verify --wire-check off s | verify s (wire check s; pairs) | drift --verify s | no-op preview s / floor s | rotation s | verifier peak MB, wire off / on (largest kubectl child) | agent queries, report / simulator | load 1-min, start / end |"
      print "|---|---|---|---|---|---|---|---|---|---|---|"
      for (r = 1; r <= NR; r++) {
        ratio = v(r, "floor_s") + 0 > 0 ? sprintf("%.2f", v(r, "preview_s") / v(r, "floor_s")) : "-"
        printf "| %s | %s | %s | %s | %s (%s; %s) | %s | %s / %s = %s | %s | %s / %s (%s) | %s / %s | %s / %s |\n", v(r, "nodes"), v(r, "cluster_s"), v(r, "deploy_s") (v(r, "deploy_again_s") == "-" ? "" : " (failed; again " v(r, "deploy_again_s") ")"),
          v(r, "agents_s"), v(r, "verify_s"), v(r, "verify_wire_s"), v(r, "verify_pairs"), v(r, "drift_s"), v(r, "preview_s"), v(r, "floor_s"), ratio,
          v(r, "rotation_s"), v(r, "agents_peak_mb"), v(r, "verify_peak_mb"), v(r, "verify_tree_mb"), v(r, "verify_queries"), v(r, "verify_sim_calls"),
          v(r, "load_start"), v(r, "load_end")
      }
      print ""
      print "| growth | nodes | verify --wire-check off | verify | drift --verify | no-op preview | rotation | verifier peak memory | agent queries |"
      print "|---|---|---|---|---|---|---|---|---|"
      for (r = 2; r <= NR; r++)
        printf "| %s -> %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", v(r - 1, "nodes"), v(r, "nodes"), g("nodes", r), g("agents_s", r), g("verify_s", r),
          g("drift_s", r), g("preview_s", r), g("rotation_s", r), g("verify_peak_mb", r), g("verify_queries", r)
      print ""
      print "CPU seconds during each verifier run, by process (so the machine'"'"'s other load does not count):"
      print ""
      print "| nodes, run | wall s | verifier + its kubectl | kube-apiserver + etcd | kwok | stand-ins kwok ran (cilium-dbg, datapath) | agent simulator + proxy | controllers | total | per node |"
      print "|---|---|---|---|---|---|---|---|---|---|"
      for (r = 1; r <= NR; r++) for (j = 1; j <= 2; j++) {
        p = j == 1 ? "agents" : "verify"
        t = 0
        split("verifier api kwok standins sim ctrl", roles, " ")
        for (k = 1; k <= 6; k++) { c[k] = v(r, p "_cpu_" roles[k]); t += c[k] }
        printf "| %s, %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %.3f |\n", v(r, "nodes"), j == 1 ? "wire check off" : "wire check on", v(r, p "_s"),
          c[1], c[2], c[3], c[4], c[5], c[6], t, t / v(r, "nodes")
      }
      print ""
      for (r = 1; r <= NR; r++)
        printf "%s nodes: verify %s (exit %s), wire check off %s (exit %s, %s queries in %s rounds), drift exit %s, rotation exit %s (%s, %s queries in %s rounds)\n",
          v(r, "nodes"), v(r, "verify_verdict"), v(r, "verify_rc"), v(r, "agents_verdict"), v(r, "agents_rc"), v(r, "agents_queries"), v(r, "agents_rounds"),
          v(r, "drift_rc"), v(r, "rotation_rc"), v(r, "rotation_verdict"), v(r, "rotation_queries"), v(r, "rotation_rounds")
    }' "$1"
}

if [[ ${1:-} == --one-size ]]; then
  one_size "$2" "$3" "$4"
  exit
fi
if [[ ${1:-} == --table ]]; then
  print_table "$2"
  exit
fi

sizes=("$@")
((${#sizes[@]})) || sizes=(10 100 300 1000)
for n in "${sizes[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] && ((n >= 2 && n <= 1024)) || { echo "usage: bash bench/scale.sh [NODES...] (each 2..1024)" >&2; exit 2; }
done
if [[ ! -x /usr/bin/time ]]; then
  step "GNU time (Debian package 'time'), for the verifier's CPU and memory"
  apt-get install -y -qq time >/dev/null
fi
setup_node
setup_toolchain
results=${SCALE_RESULTS:-$(mktemp -d "${TMPDIR:-/tmp}/cilium-encryption-scale-results.XXXXXX")}
mkdir -p "$results"
rows=$results/rows.tsv
: >"$rows"
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "machine: $machine; logs in $results" >&2
for n in "${sizes[@]}"; do
  bash "$0" --one-size "$n" "$rows" "$results/$n" || echo "$n nodes: failed; logs in $results/$n" >&2
done
{
  print_table "$rows"
  cat <<TXT

Machine: $machine. Per size: a fresh cluster of N kwok nodes (IPv4+IPv6) with Cilium ${CILIUM_DEFAULT_CHART##*/}'s chart,
IPsec, wire check on, keyRotationDuration $KEY_ROTATION (short, so that a rotation settles well within the
verification timeout). No-op preview: median of $PREVIEW_RUNS. Logs and reports: $results
TXT
} | tee "$results/table.md"
