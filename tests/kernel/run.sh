#!/usr/bin/env bash
# The Jupyter kernel tests: a Python venv with jupyter_client,
# jupyter_kernel_test and nbclient; the kernelspec `hlab` installed into it,
# pointing at the built binary; then pytest runs the protocol, interrupt and
# security tests and executes examples/*.ipynb headlessly.
#
#   cargo build --release && tests/kernel/run.sh
#
# HLAB_BIN overrides the binary (default: $CARGO_TARGET_DIR or target/, release);
# HLAB_KERNEL_VENV the venv (default: target/kernel-venv, reused when present).
# Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
HLAB="${HLAB_BIN:-$TARGET/release/hlab}"
if [ ! -x "$HLAB" ]; then
    echo "tests/kernel/run.sh: $HLAB not found; run 'cargo build --release' first" >&2
    exit 2
fi
HLAB="$(cd "$(dirname "$HLAB")" && pwd)/$(basename "$HLAB")"
VENV="${HLAB_KERNEL_VENV:-$ROOT/target/kernel-venv}"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$ROOT/tests/kernel/requirements.txt"

# Jupyter looks in JUPYTER_PATH first, so these tests use this kernelspec
# even when another hlab is installed for the user.
"$HLAB" kernel install --prefix "$VENV"
export JUPYTER_PATH="$VENV/share/jupyter"
export JUPYTER_PLATFORM_DIRS=1
RUNTIME="$(mktemp -d)"
trap 'rm -rf "$RUNTIME"' EXIT
export JUPYTER_RUNTIME_DIR="$RUNTIME"
export PYTHONDONTWRITEBYTECODE=1

cd "$ROOT/tests/kernel"
"$VENV/bin/python" -m pytest -p no:cacheprovider -rfE "$@" .
