#!/usr/bin/env bash
# Hardware toolchain for the RTL tests (Icarus 11, Verilator 5.006, Yosys 0.23, nextpnr-ice40,
# IceStorm). Debian packages; idempotent. Run as root or with sudo available.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs=(iverilog verilator yosys nextpnr-ice40 fpga-icestorm fpga-icestorm-chipdb)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
for t in iverilog vvp verilator yosys nextpnr-ice40; do command -v "$t" >/dev/null || { echo "missing $t after install"; exit 1; }; done
