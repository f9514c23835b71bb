#!/usr/bin/env bash
# Runs the speed benchmark (benches/lsp.rs) by hand; it is not part of CI.
#
# It first builds what the benchmark compares against: llama.cpp's own
# `llama-bench`, from the llama.cpp tree vendored in the llama-cpp-python source
# package. The package is fetched with pip when it is not cached, and the tool is
# built once (Release, GGML_NATIVE=ON) under .cache/bench/ and reused afterwards.
# Then it builds the server in release mode and runs `cargo bench --bench lsp`.
#
# Settings, all optional:
#   BENCH_THREADS        threads for both llama.cpp and the server (default: the
#                        number of physical cores)
#   BENCH_JOBS           parallel jobs for the llama-bench build (default: 2)
#   AUMATRON_TEST_MODEL  the GGUF model (default: the one scripts/setup.sh installs)
# Any arguments are passed on to the benchmark binary.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
SDIST_FILE="llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
SDIST_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="$ROOT/.cache/bench"
SOURCE_DIR="$CACHE/llama.cpp-$LLAMA_CPP_PYTHON_VERSION"
BUILD_DIR="$CACHE/build-$LLAMA_CPP_PYTHON_VERSION"
LLAMA_BENCH="$BUILD_DIR/bin/llama-bench"

say() { printf 'bench: %s\n' "$*" >&2; }

physical_cores() {
  local cores
  cores=$(lscpu -p=Core,Socket 2>/dev/null | grep -v '^#' | sort -u | wc -l || true)
  if [ -z "$cores" ] || [ "$cores" -lt 1 ]; then
    cores=$(nproc)
  fi
  echo "$cores"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

fetch_sdist() {
  local target="$CACHE/$SDIST_FILE"
  if [ -f "$target" ] && [ "$(sha256_of "$target")" = "$SDIST_SHA256" ]; then
    return
  fi
  say "fetching llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (source, 77 MB) for llama-bench"
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  # pip prepares the package's metadata, which needs its build backend; letting pip
  # install that in an isolated environment is what makes this work without
  # scikit-build-core being installed here.
  python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" --dest "$tmp"
  local actual
  actual=$(sha256_of "$tmp/$SDIST_FILE")
  if [ "$actual" != "$SDIST_SHA256" ]; then
    say "checksum mismatch for $SDIST_FILE: expected $SDIST_SHA256, got $actual"
    exit 1
  fi
  mkdir -p "$CACHE"
  mv "$tmp/$SDIST_FILE" "$target"
}

unpack_llama_cpp() {
  [ -f "$SOURCE_DIR/tools/llama-bench/llama-bench.cpp" ] && return
  say "unpacking llama.cpp from $SDIST_FILE"
  rm -rf "$SOURCE_DIR" "$SOURCE_DIR.partial"
  mkdir -p "$SOURCE_DIR.partial"
  tar -xzf "$CACHE/$SDIST_FILE" -C "$SOURCE_DIR.partial" --strip-components=3 \
    "llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
  mv "$SOURCE_DIR.partial" "$SOURCE_DIR"
}

build_llama_bench() {
  [ -x "$LLAMA_BENCH" ] && return
  say "building llama-bench (Release, GGML_NATIVE=ON, -j${BENCH_JOBS:-2}); this takes minutes"
  cmake -S "$SOURCE_DIR" -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON \
    -DGGML_OPENMP=ON \
    -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_OPENSSL=OFF \
    >"$CACHE/cmake-configure.log" 2>&1 || {
    say "cmake configure failed; see $CACHE/cmake-configure.log"
    exit 1
  }
  cmake --build "$BUILD_DIR" --target llama-bench -j"${BENCH_JOBS:-2}" \
    >"$CACHE/cmake-build.log" 2>&1 || {
    say "the llama-bench build failed; see $CACHE/cmake-build.log"
    exit 1
  }
}

model_path() {
  if [ -n "${AUMATRON_TEST_MODEL:-}" ]; then
    echo "$AUMATRON_TEST_MODEL"
  else
    echo "${XDG_DATA_HOME:-$HOME/.local/share}/aumatron/models/SmolLM2-135M-Instruct.Q4_1.gguf"
  fi
}

MODEL=$(model_path)
if [ ! -f "$MODEL" ]; then
  say "the model is missing at $MODEL: run scripts/setup.sh (or set AUMATRON_TEST_MODEL)"
  exit 1
fi

mkdir -p "$CACHE"
fetch_sdist
unpack_llama_cpp
build_llama_bench

cd "$ROOT"
say "building aumatron-lsp (release)"
cargo build --release --quiet
say "running the benchmark"
AUMATRON_TEST_MODEL="$MODEL" \
  AUMATRON_BENCH_LLAMA_BENCH="$LLAMA_BENCH" \
  AUMATRON_BENCH_THREADS="${BENCH_THREADS:-$(physical_cores)}" \
  cargo bench --quiet --bench lsp -- "$@"
