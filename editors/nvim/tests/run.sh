#!/usr/bin/env bash
# Runs the Neovim plugin's end-to-end tests: the real nvim (scripts/setup-nvim.sh),
# the real server (target/release/aumatron-lsp, built by cargo) and the real model,
# in throw-away XDG folders with a keyring service of its own, and the loopback fake
# of the cloud providers. Prints `N passed, N failed`; exits non-zero on a failure.
#
#   editors/nvim/tests/run.sh [name-filter]
#
# AUMATRON_NVIM and AUMATRON_LSP_BIN override the nvim and server binaries.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

repo="$(cd "$here/../../.." && pwd)"
cd "$repo"

nvim="${AUMATRON_NVIM:-$(scripts/setup-nvim.sh)}"
export AUMATRON_NVIM="$nvim"

server="${AUMATRON_LSP_BIN:-$repo/target/release/aumatron-lsp}"
[ -x "$server" ] || { echo "run.sh: no server at $server; run cargo build --release" >&2; exit 1; }

# The model is looked up before the XDG folders are replaced.
model="${AUMATRON_MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/aumatron/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
[ -f "$model" ] || { echo "run.sh: no model at $model; run scripts/setup.sh" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/aumatron-nvim-test.XXXXXX")"
fake_pid=""
cleanup() {
  if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null || true; fi
  # The tests remove the keys they set; this catches a test that failed half-way.
  for provider in openai anthropic; do
    "$server" key remove "$provider" >/dev/null 2>&1 </dev/null || true
  done
  if [ "${AUMATRON_KEEP_TEST_DIR:-}" = 1 ]; then echo "run.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

mkdir -p "$work"/{config,data,cache,state,files}
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data"
export XDG_CACHE_HOME="$work/cache" XDG_STATE_HOME="$work/state"
export AUMATRON_MODEL="$model"
export AUMATRON_KEYRING_SERVICE="aumatron-nvim-test-$$-$RANDOM"
export AUMATRON_LOG="${AUMATRON_LOG:-info,llama-cpp-2=warn}" AUMATRON_LOG_FILE="$work/server.log"
export AUMATRON_NVIM="$nvim" AUMATRON_LSP_BIN="$server"
export AUMATRON_NVIM_PLUGIN="$repo/editors/nvim" AUMATRON_REPO="$repo"
export AUMATRON_TEST_DIR="$work/files"

# The fake cloud prints its address on its first line.
coproc FAKE { exec python3 "$repo/tests/fake_cloud.py" --port 0; }
fake_pid=$FAKE_PID
read -r -t 20 line <&"${FAKE[0]}" || { echo "run.sh: the fake cloud did not start" >&2; exit 1; }
export AUMATRON_FAKE_CLOUD="${line#listening on }"

status=0
"$nvim" --headless -u NONE -i NONE -n -l "$here/run.lua" "$@" || status=$?
if [ "$status" -ne 0 ] && [ -f "$work/server.log" ]; then
  echo "--- last lines of the server log" >&2
  tail -n 40 "$work/server.log" >&2
fi
exit "$status"
