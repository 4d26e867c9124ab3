#!/usr/bin/env bash
# Build the pinned offline e2e toolchain from the Go module proxy (plus etcd from apt).
#
#   toolchain/build.sh [STEP...]      default: every step, in two lanes side by side (LANES)
#
# Output goes to ${XDG_CACHE_HOME:-~/.cache}/cilium-encryption/toolchain/<hash>/bin, <hash>
# being a short sha256 of pins.env, this script and our stand-in sources.
# Progress goes to stderr; the LAST line of stdout is the bin dir (only on success).
# Each step leaves a .done-STEP marker, so an interrupted build resumes where it stopped,
# and its wall time is appended to timings.tsv next to bin/.
# Everything the build writes that is ours (wrapper go.mod files, main.go, embed files)
# is generated here into the cache dir; nothing is copied into the repo.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=pins.env
. "$HERE/pins.env"
# Keyed by the pins and by everything that decides what gets built (this script and
# our stand-in sources), so changing either builds a fresh bin dir.
KEY=$(cd "$HERE" && cat pins.env build.sh langhost/main.go $(find command -name '*.go' | sort) |
  sha256sum | cut -c1-12)
ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/cilium-encryption/toolchain/$KEY
BIN=$ROOT/bin
WORK=$ROOT/work
ALL_STEPS=(pulumi langhost command random etcd kwok kube k8sprovider helm actionlint charts)

# Static binaries like the upstream releases; GOTOOLCHAIN=local so a pin never makes
# go download a different compiler behind our back. GOMODCACHE/GOCACHE stay default
# so they persist on the machine and make rebuilds cheap.
export CGO_ENABLED=0 GOTOOLCHAIN=local
# The build is bound by the compiler's CPU time, a fifth of which goes to garbage collection at the
# default GOGC: kwok v0.8.0 from an empty GOCACHE took 300 user-s at GOGC=100 and 237 at 400, with
# peak memory 0.95 and 1.03 GB. The binaries are the same either way; GOMEMLIMIT keeps a large link
# from growing without bound while both lanes run.
export GOGC=400 GOMEMLIMIT=6GiB

log() { printf '[build %s] %s\n' "$(date +%T)" "$*" >&2; }

# Reuse a binary from PATH only when its --version output matches the pin exactly.
# usage: reuse NAME EXPECTED_REGEX VERSION_ARGS...
reuse() {
  local name=$1 want=$2; shift 2
  local p; p=$(command -v "$name" 2>/dev/null) || return 1
  # Not from another of our cache dirs: those get pruned, leaving a dangling link.
  [[ $p == "${ROOT%/*}"/* ]] && return 1
  local out; out=$("$p" "$@" 2>&1) || return 1
  # grep a captured string: with pipefail, `cmd | grep -q` can fail on SIGPIPE.
  grep -Eq "$want" <<<"$out" || return 1
  ln -sf "$p" "$BIN/$name"
  echo "reused $p"
}

# Fresh wrapper module dir: go.mod content on stdin.
wrapper() {
  rm -rf "$WORK/$1"
  mkdir -p "$WORK/$1"
  cat >"$WORK/$1/go.mod"
  cd "$WORK/$1"
}

modver() { go list -m -f '{{.Version}}' "$1"; }
moddir() { go list -m -f '{{.Dir}}' "$1"; }

build_pulumi() {
  reuse pulumi "^v$PULUMI_VERSION\$" version && return 0
  rm -f "$BIN/pulumi"
  # pkg/go.mod replaces clipboard with a fork; replaces are not inherited by
  # dependents, so repeat it to build what upstream builds.
  wrapper pulumi <<EOF
module local/toolchain/pulumi

go 1.25.11

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
EOF
  go get -tool "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_PKG_MODVER"
  # sdk must be the same release (upstream uses ../sdk), not whatever MVS picks.
  go get "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION"
  [[ $(modver github.com/pulumi/pulumi/sdk/v3) == "v$PULUMI_VERSION" ]]
  go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    -o "$BIN/" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  # Lets the CLI run pulumi.dynamic providers; a 4-line sh script shipped in the sdk zip.
  install -m 0755 "$(moddir github.com/pulumi/pulumi/sdk/v3)/nodejs/dist/pulumi-resource-pulumi-nodejs" "$BIN/"
  [[ $("$BIN/pulumi" version) == "v$PULUMI_VERSION" ]]
}

build_langhost() {
  # Our stand-in (langhost/main.go): the upstream host module is not on the proxy.
  rm -f "$BIN/pulumi-language-nodejs"
  wrapper langhost <<EOF
module local/toolchain/langhost

go 1.25.11
EOF
  cp "$HERE/langhost/main.go" .
  go get "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION"
  go mod tidy
  go build -trimpath -ldflags "-s -w -X main.version=$PULUMI_VERSION-standin" \
    -o "$BIN/pulumi-language-nodejs" .
}

build_random() {
  rm -f "$BIN/pulumi-resource-random"
  local tf=github.com/terraform-providers/terraform-provider-random
  local bridge=github.com/pulumi/pulumi-terraform-bridge/v3
  # Same replace as upstream: the bridge only compiles against Pulumi's fork.
  wrapper random <<EOF
module local/toolchain/random

go 1.25.11

require $tf/shim v0.0.0

replace $tf/shim => ./shim

replace github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 $RANDOM_TF_SDK_FORK_MODVER

replace github.com/pulumi/pulumi-yaml => ./yamlstub

replace github.com/pulumi/pulumi-dotnet/pulumi-language-dotnet/v3 => github.com/pulumi/pulumi-dotnet/pulumi-language-dotnet/v3 $RANDOM_DOTNET_CODEGEN_MODVER
EOF
  # sum.golang.org, as mirrored here, has no record of some Pulumi module versions
  # (404); their checksums are then taken from the proxy on first download.
  export GONOSUMDB=github.com/pulumi
  # The Terraform provider keeps its code in internal/, importable only from under its
  # own module path, hence a one-function module at that path.
  mkdir shim
  cat >shim/go.mod <<EOF
module $tf/shim

go 1.25.8

require (
	github.com/hashicorp/terraform-plugin-framework $RANDOM_TF_FRAMEWORK_MODVER
	$tf $RANDOM_TF_MODVER
)
EOF
  cat >shim/shim.go <<EOF
// Generated by toolchain/build.sh.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"
	random "$tf/internal/provider"
)

func NewProvider() provider.Provider { return random.New() }
EOF
  # The bridge's doc generator renders examples as YAML through this one function.
  mkdir -p yamlstub/pkg/pulumiyaml/codegen
  printf 'module github.com/pulumi/pulumi-yaml\n\ngo 1.25.0\n' >yamlstub/go.mod
  cat >yamlstub/pkg/pulumiyaml/codegen/stub.go <<'EOF'
// Generated by toolchain/build.sh: stands in for pulumi-yaml's codegen, which the
// Terraform bridge links for docs generation only; serving a provider never calls it.
package codegen

import (
	"errors"

	"github.com/hashicorp/hcl/v2"
	"github.com/pulumi/pulumi/pkg/v3/codegen/pcl"
)

func GenerateProgram(*pcl.Program) (map[string][]byte, hcl.Diagnostics, error) {
	return nil, nil, errors.New("YAML program generation is not built into this provider")
}
EOF
  cat >main.go <<'EOF'
// Generated by toolchain/build.sh: the Terraform random provider served through the
// Pulumi Terraform bridge, tokens from the whole Terraform name (random_bytes ->
// random:index/randomBytes:RandomBytes), as the @pulumi/random SDK expects.
package main

import (
	"context"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

var version string // set with -ldflags -X

func main() {
	info := tfbridge.ProviderInfo{
		P:            pf.ShimProvider(shim.NewProvider()),
		Name:         "random",
		Version:      version,
		MetadataInfo: tfbridge.NewProviderMetadata([]byte("{}")),
	}
	info.MustComputeTokens(tokens.SingleModule("", "index", tokens.MakeStandard("random")))
	schema := []byte(`{"name":"random","version":"` + version + `"}`)
	pf.Main(context.Background(), "random", info, pf.ProviderMetadata{PackageSchema: schema})
}
EOF
  (cd shim && go mod tidy)
  go get "$bridge@$RANDOM_BRIDGE_MODVER" "$tf@$RANDOM_TF_MODVER" \
    "github.com/pulumi/pulumi/pkg/v3@$RANDOM_PULUMI_MODVER" "github.com/pulumi/pulumi/sdk/v3@$RANDOM_PULUMI_MODVER"
  go mod tidy
  # MVS may raise versions through other requirements; the pins must hold exactly.
  [[ $(modver "$tf") == "$RANDOM_TF_MODVER" && $(modver "$bridge") == "$RANDOM_BRIDGE_MODVER" ]]
  go build -trimpath -ldflags "-s -w -X main.version=$RANDOM_PROVIDER_VERSION" \
    -o "$BIN/pulumi-resource-random" .
}

build_command() {
  # Our stand-in (command/): the upstream provider module is not on the proxy.
  rm -f "$BIN/pulumi-resource-command"
  wrapper command <<EOF
module local/toolchain/command

go 1.25.0
EOF
  cp -r "$HERE/command/." .
  go get "github.com/pulumi/pulumi-go-provider@$COMMAND_GO_PROVIDER_MODVER"
  go mod tidy
  go build -trimpath -ldflags "-s -w -X main.version=$COMMAND_PROVIDER_VERSION" \
    -o "$BIN/pulumi-resource-command" .
}

build_etcd() {
  if [[ ! -x /usr/bin/etcd ]]; then
    # A fresh machine has empty apt lists; update only then.
    compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null || apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "etcd-server=$ETCD_DEBIAN_VERSION"
  fi
  ln -sf /usr/bin/etcd "$BIN/etcd"
  grep -q "^etcd Version: ${ETCD_DEBIAN_VERSION%%-*}\$" <<<"$("$BIN/etcd" --version)"
}

build_kwok() {
  reuse kwok "^kwok version v?${KWOK_VERSION#v}" --version && reuse kwokctl "^kwokctl version v?${KWOK_VERSION#v}" --version && return 0
  rm -f "$BIN/kwok" "$BIN/kwokctl"
  # Plain go install works: kwok's go.mod has no replace directives.
  GOBIN=$BIN go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
}

build_kube() {
  local n reused=0
  for n in kube-apiserver kube-controller-manager kube-scheduler; do
    reuse "$n" "Kubernetes $KUBE_VERSION\$" --version && reused=$((reused + 1))
  done
  ((reused == 3)) && return 0
  rm -f "$BIN"/kube-apiserver "$BIN"/kube-controller-manager "$BIN"/kube-scheduler
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local staging=v0.${KUBE_VERSION#v1.}
  # Mirror k8s.io/kubernetes' own go/godebug lines so runtime defaults match upstream.
  local kmod; kmod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | jq -r .GoMod)
  wrapper kube < <(echo 'module local/toolchain/kube'; echo; grep -E '^(go|godebug) ' "$kmod")
  # k8s.io/kubernetes points its staging modules at ./staging/...; those dirs are not
  # in the module zip, so map each to its published release instead.
  local m
  for m in $(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$kmod" | awk '{print $1}'); do
    go mod edit -replace="$m=$m@$staging"
  done
  go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBE_VERSION" \
    "k8s.io/kubernetes/cmd/kube-scheduler@$KUBE_VERSION"
  # Stamp the version like hack/lib/version.sh: unstamped, /version says v0.0.0 and
  # pulumi-kubernetes refuses the cluster (minimum v1.13).
  local ldf="-s -w" kv
  for kv in "gitVersion=$KUBE_VERSION" gitMajor=1 "gitMinor=$minor" gitTreeState=clean \
            "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
    ldf+=" -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
  done
  go build -trimpath -ldflags "$ldf" -o "$BIN/" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
  [[ $("$BIN/kube-apiserver" --version) == "Kubernetes $KUBE_VERSION" ]]
}

build_k8sprovider() {
  rm -f "$BIN/pulumi-resource-kubernetes"
  local mod=github.com/pulumi/pulumi-kubernetes/provider/v4
  wrapper k8sprovider <<EOF
module local/toolchain/k8sprovider

go 1.24.7
EOF
  # sum.golang.org, as mirrored here, has no record of this provider pseudo-version nor
  # of some of its Pulumi dependencies (404); their checksums are then taken from the
  # proxy on first download.
  export GONOSUMDB=github.com/pulumi
  # Upstream builds against ../sdk; the sdk release tag differs from that tree only
  # in version metadata, so requiring it reproduces the replace.
  go get "$mod@$K8S_PROVIDER_MODVER" "github.com/pulumi/pulumi-kubernetes/sdk/v4@$K8S_PROVIDER_SDK_MODVER"
  # The upstream cmd package embeds files that `go generate` makes and git ignores, so
  # it cannot be built from the module zip: make them the same way (version set,
  # minified) and build a main of ours that makes the same Serve call.
  local src; src=$(moddir "$mod")/cmd/pulumi-resource-kubernetes
  jq -c --arg v "$K8S_PROVIDER_VERSION" '.version = $v' "$src/schema.json" >schema-embed.json
  jq -c . "$src/terraform-mapping.json" >terraform-mapping-embed.json
  cat >main.go <<'EOF'
// Generated by toolchain/build.sh: serves the kubernetes provider with the embeds above.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
EOF
  go mod tidy
  go build -trimpath -ldflags "-s -w -X $mod/pkg/version.Version=$K8S_PROVIDER_VERSION" \
    -o "$BIN/pulumi-resource-kubernetes" .
}

build_helm() {
  reuse helm "Version:\"$HELM_VERSION\"" version && return 0
  rm -f "$BIN/helm"
  GOBIN=$BIN go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  grep -qF "Version:\"$HELM_VERSION\"" <<<"$("$BIN/helm" version)"
}

build_actionlint() {
  rm -f "$BIN/actionlint"
  GOBIN=$BIN go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  grep -qF "$ACTIONLINT_VERSION" <<<"$("$BIN/actionlint" --version)"
}

# Cilium's real chart per pinned version, as ROOT/charts/<version>: a link into the module
# cache, where `go mod download` keeps the module read-only and verified against go.sum data.
build_charts() {
  local v dir
  rm -rf "$ROOT/charts"
  mkdir -p "$ROOT/charts"
  for v in $CILIUM_VERSIONS; do
    dir=$(go mod download -json "github.com/cilium/cilium@v$v" | jq -r .Dir)
    grep -qx "version: $v" "$dir/install/kubernetes/cilium/Chart.yaml"
    ln -s "$dir/install/kubernetes/cilium" "$ROOT/charts/$v"
  done
}

# Run one step in a subshell as a plain command (not inside `if`), so set -e is in
# force inside it; an `if build_x` would silently ignore failures in the body.
step() {
  local name=$1 t0=$SECONDS rc=0
  if [[ -e $ROOT/.done-$name ]]; then log "$name: already built"; return 0; fi
  log "$name: building (log: $WORK/$name.log)"
  set +e
  (set -e; cd "$WORK"; build_"$name") >"$WORK/$name.log" 2>&1
  rc=$?
  set -e
  local dt=$((SECONDS - t0))
  if ((rc == 0)); then
    printf '%s\t%s\t%s\n' "$name" "$dt" "$(date -u +%FT%TZ)" >>"$ROOT/timings.tsv"
    touch "$ROOT/.done-$name"
    log "$name: done in ${dt}s"
  else
    log "$name: FAILED after ${dt}s (exit $rc); last lines of $WORK/$name.log:"
    tail -n 25 "$WORK/$name.log" >&2
  fi
}

# Two lanes run side by side, each a fixed sequence of steps. A Go build keeps both cores busy only
# part of the time: module downloads wait on the network, and every binary ends in a link that runs
# on one core. The lanes are balanced by the cold timings in README.md, and the steps that build the
# same Pulumi SDK release share a lane, so the later ones find those packages in the Go build cache.
LANES=("etcd pulumi langhost command kube helm charts" "k8sprovider random kwok actionlint")

# Runs the given steps in order; a lane goes on past a failed step, as the serial build did.
lane() {
  local s
  for s in "$@"; do step "$s"; done
}

main() {
  mkdir -p "$BIN" "$WORK"
  # Two builds of the same pins (CI and a developer, two test runs) must not share
  # wrapper dirs half-way; the second waits, then finds the steps done.
  exec 9>"$ROOT/.lock"
  flock 9
  local steps=("$@") s l want pids=() failed=()
  ((${#steps[@]})) || steps=("${ALL_STEPS[@]}")
  for s in "${steps[@]}"; do
    declare -F "build_$s" >/dev/null || { log "unknown step $s (known: ${ALL_STEPS[*]})"; exit 2; }
  done
  # Each lane keeps its own order and takes only the steps asked for.
  for l in "${LANES[@]}"; do
    want=()
    for s in $l; do [[ " ${steps[*]} " == *" $s "* ]] && want+=("$s"); done
    ((${#want[@]})) || continue
    lane "${want[@]}" &
    pids+=($!)
  done
  for s in "${pids[@]}"; do wait "$s" || true; done
  for s in "${steps[@]}"; do [[ -e $ROOT/.done-$s ]] || failed+=("$s"); done
  log "total ${SECONDS}s wall for: ${steps[*]}"
  if ((${#failed[@]})); then log "failed steps: ${failed[*]}"; exit 1; fi
  echo "$BIN"
}

# Whole body is in functions and this is the last line, so editing the file while a
# long build runs cannot change what the running shell executes.
main "$@"; exit
