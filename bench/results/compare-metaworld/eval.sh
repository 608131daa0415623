#!/bin/sh
# Final-policy success: each run's last checkpoint acting (sampling, as in training)
# for 20 episodes on evaluation seeds apart from training's; writes RUN/eval.json.
# Usage: eval.sh TASK...
set -e
cd "$(dirname "$0")/../../.."
for t in "$@"; do
  for d in bench/results/compare-metaworld/$t/runs/*/seed-*; do
    [ -f "$d/eval.json" ] && continue
    nice -n 5 ./lago eval -run "$d" -episodes 20 -json > "$d/eval.json.tmp" && mv "$d/eval.json.tmp" "$d/eval.json"
  done
done
