#!/usr/bin/env bash
# The exact commands behind docs/results/: every study into one store, then its report.
# Run from a clean checkout:  bash docs/results/run_studies.sh [STORE_DIR]
# Interrupted? Run it again: each sweep completes only its missing cells.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
STORE=${1:-$PWD/mlruns}
URI="sqlite:///$STORE/mlflow.db"
LOG=docs/results/wall_times.txt
echo "commit $(git rev-parse HEAD)  started $(date -u +%FT%TZ)  $(nproc) cores" >> "$LOG"
for study in protocol paper_table3 depth optimizers full_grid; do
    start=$(date +%s)
    "$PY" -m ablation -cn "$study" tracking.uri="$URI" || true
    end=$(date +%s)
    echo "$study: $((end - start)) s wall ($(date -u +%FT%TZ))" >> "$LOG"
    ref=ghimire2023; [ "$study" = protocol ] && ref=none   # the pilot is no reproduction
    "$PY" -m ablation.report --experiment "$study" --tracking-uri "$URI" --out docs/results \
        --reference "$ref"
done
