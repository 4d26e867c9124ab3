# Source me (bash):  . toolchain/env.sh [BIN_DIR]
#
# Puts the offline toolchain first on PATH and switches Pulumi to offline behaviour.
# BIN_DIR defaults to $TOOLCHAIN_BIN, else to what build.sh prints (instant once built).
# Pass BIN_DIR explicitly from scripts that have positional args of their own: a sourced
# file sees the caller's "$1".
#
# Defines:
#   install_plugins [PULUMI_HOME]
#       installs the built resource providers into PULUMI_HOME (default $PULUMI_HOME) at
#       the pinned versions, from files, with no network; the engine's plugin cache then
#       matches the versions the npm packages ask for exactly.
#
# No `set -euo pipefail` here: this runs in the caller's shell and would change its
# options. The function runs its body in a subshell with those options instead.

_toolchain_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLCHAIN_BIN=${1:-${TOOLCHAIN_BIN:-$("$_toolchain_dir/build.sh" | tail -n 1)}}
if [ ! -x "$TOOLCHAIN_BIN/pulumi" ]; then
  echo "toolchain/env.sh: no toolchain at '$TOOLCHAIN_BIN' (run toolchain/build.sh)" >&2
  return 1
fi
export TOOLCHAIN_BIN
case ":$PATH:" in *":$TOOLCHAIN_BIN:"*) ;; *) export PATH="$TOOLCHAIN_BIN:$PATH" ;; esac

# No update check, and a missing plugin is an error instead of a download attempt.
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# Providers come from PULUMI_HOME (install_plugins) at the exact pinned versions, not
# from PATH: the engine would take a PATH copy whatever version the SDK asks for and
# warn "using pulumi-resource-X from $PATH" on every use. The CLI's own plugins
# (language host, pulumi-resource-pulumi-nodejs) sit next to it and are unaffected.
export PULUMI_IGNORE_AMBIENT_PLUGINS=true

install_plugins() (
  set -euo pipefail
  export PULUMI_HOME=${1:-${PULUMI_HOME:?set PULUMI_HOME or pass it}}
  # shellcheck source=pins.env
  . "$_toolchain_dir/pins.env"
  local p name ver
  for p in "kubernetes $K8S_PROVIDER_VERSION" "random $RANDOM_PROVIDER_VERSION" "command $COMMAND_PROVIDER_VERSION"; do
    read -r name ver <<<"$p"
    pulumi plugin install resource "$name" "$ver" --file "$TOOLCHAIN_BIN/pulumi-resource-$name"
  done
)
