#!/usr/bin/env bash
# Regenerate the committed RTL of the synthetic model and fail on any byte difference.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -- emit --synthetic --imgsz 32 --parallel 4 --out generated/synthetic-32-p4
cargo run --release --quiet -- emit --synthetic --imgsz 32 --arch folded --out generated/synthetic-32-folded
git status --porcelain -- generated/
git diff --exit-code -- generated/
test -z "$(git status --porcelain -- generated/)"
