#!/usr/bin/env bash
# Sets up this machine (system packages, the model) and runs every check and test:
# formatting, clippy with warnings denied, unit tests and the end-to-end tests
# with the real model. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
if command -v rustup >/dev/null; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --release --all-targets --locked -- -D warnings
echo "== cargo test"
# The end-to-end tests each run the model on every core, so they run one at a time:
# two models spinning on the same cores slow each other down many times over.
cargo test --release --locked -- --test-threads=1
echo "== neovim plugin"; scripts/setup-nvim.sh >/dev/null && editors/nvim/tests/run.sh
scripts/setup-vscode.sh && editors/vscode/scripts/test.sh # the VS Code extension, in code-server
