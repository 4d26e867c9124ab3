# Shared setup for scripts/test.sh and scripts/demo.sh (sourced).

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS" >&2; }

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
  export TOOLCHAIN_BIN
}

# A throwaway control plane on 127.0.0.1, stopped when this shell exits however it exits.
start_cluster() {
  local work=$1
  step "local control plane"
  export CLUSTER_EXEC_PATH="$PWD/test/e2e/standin" CILIUM_STANDIN_DIR="$work/standin"
  mkdir -p "$CILIUM_STANDIN_DIR"
  trap 'bash toolchain/cluster.sh stop "'"$work"'/cluster" >/dev/null 2>&1 || true; rm -rf "'"$work"'"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  bash toolchain/cluster.sh start "$work/cluster"
}

# Local file backend and passphrase secrets in the work dir; plugins from the toolchain, no downloads.
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
  install_plugins "$PULUMI_HOME"
}
