#!/usr/bin/env bash
# Sets up this machine, builds aumatron-lsp and explains a sample file with the
# local model, streaming the answer to the terminal. Pass another file to try it.
set -euo pipefail
# A file given is found from where the script was started.
file=examples/word_count.rs
if [ $# -ge 1 ]; then
  file=$(realpath -- "$1")
fi
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked
echo "== aumatron-lsp run explain $file" >&2
target/release/aumatron-lsp run explain "$file"
