#!/usr/bin/env bash
# Sets up this machine, builds aumatron-lsp and explains a sample file with the
# local model, streaming the answer to the terminal. Pass another file to try it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked
file="${1:-examples/word_count.rs}"
echo "== aumatron-lsp run explain $file" >&2
target/release/aumatron-lsp run explain "$file"
