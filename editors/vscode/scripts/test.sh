#!/usr/bin/env bash
# Builds the extension and its .vsix, then runs the unit tests and the end-to-end
# tests in a real VS Code (code-server in headless Chromium) against the real
# server and model. Ends with `N passed, N failed`; exits non-zero on a failure.
#
#   editors/vscode/scripts/test.sh [--unit | --e2e] [NAME]
#
# Needs scripts/setup-vscode.sh to have run (it writes the paths this reads) and
# the server built (cargo build --release); AUMATRON_SERVER names another binary.
# Screenshots and the server's log go to $AUMATRON_E2E_ARTIFACTS (default
# editors/vscode/out/e2e); AUMATRON_E2E_KEEP=1 keeps each run's sandbox.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${AUMATRON_VSCODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aumatron-vscode}

if [ ! -f "$cache/env.sh" ]; then
  echo "test.sh: $cache/env.sh is missing: run scripts/setup-vscode.sh first" >&2
  exit 1
fi
# shellcheck source=/dev/null
. "$cache/env.sh"
export PATH="$(dirname "$AUMATRON_E2E_NODE"):$PATH"

export AUMATRON_E2E_SERVER=${AUMATRON_SERVER:-$repo/target/release/aumatron-lsp}
if [ ! -x "$AUMATRON_E2E_SERVER" ]; then
  echo "test.sh: no server at $AUMATRON_E2E_SERVER: run cargo build --release first" >&2
  exit 1
fi
export AUMATRON_MODEL=${AUMATRON_MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/aumatron/models/SmolLM2-135M-Instruct.Q4_1.gguf}
export AUMATRON_E2E_ARTIFACTS=${AUMATRON_E2E_ARTIFACTS:-$here/out/e2e}

cd "$here"
echo "== vscode: typecheck and build"
node node_modules/typescript/bin/tsc --noEmit -p .
node scripts/build.mjs --package >"$here/out.package.log" 2>&1 || { cat "$here/out.package.log"; exit 1; }
mv "$here/out.package.log" "$here/out/package.log"
export AUMATRON_E2E_VSIX="$here/out/aumatron.vsix"
mkdir -p "$AUMATRON_E2E_ARTIFACTS"
echo "== vscode: tests"
node out/test/run.js "$@"
