#!/bin/sh
# The Meta-World comparison: vanilla PPO vs LaGO (scripted:0.9) vs LaGO (uniform),
# 3 tasks x 5 seeds x 20,000 env steps, one run at a time, niced, one libtorch
# thread and one env worker per run (shared 2-vCPU VM at load ~20: two OpenMP
# threads per run made each op wait for a descheduled thread).
set -e
cd "$(dirname "$0")/../../.."
for t in drawer-close button-press-topdown push; do
  uptime
  nice -n 5 /tmp/mw2/lago-cmp compare -config configs/metaworld-lago.toml -set env_id=MetaWorld-$t-v3 \
    -set torch_threads=1 -set num_workers=1 \
    -priors none,scripted:0.9,uniform -seeds 5 -steps 20000 -jobs 1 \
    -out bench/results/compare-metaworld/$t
  uptime
done
