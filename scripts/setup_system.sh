#!/usr/bin/env bash
# System packages fpga-flow uses: the Fashion-MNIST data set (Debian package), Icarus Verilog
# (second RTL simulator), ccache (fast Verilator rebuilds), tclsh (Tcl checks), yosys (synthesis).
# Installs them when run as root; otherwise prints the apt-get command to run.
set -u
PKGS="dataset-fashion-mnist iverilog ccache tcl yosys"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing system packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  # install one by one so one unavailable package does not block the others
  for p in $missing; do
    apt-get install -y -qq "$p" >/dev/null 2>&1 || echo "setup: warning: apt-get install $p failed"
  done
else
  echo "setup: not root; please install these system packages yourself:"
  echo "  sudo apt-get install$missing"
fi
exit 0
