#!/bin/sh
# Added after button-press-topdown gave 0 success to both arms at 20,000 steps:
# reach, where vanilla PPO is above 0 at this budget (1-seed smoke: 0.125).
# Same settings as run.sh; started once run.sh has finished (argument: its PID).
set -e
cd "$(dirname "$0")/../../.."
while kill -0 "$1" 2>/dev/null; do sleep 10; done
for t in reach; do
  uptime
  nice -n 5 /tmp/mw2/lago-cmp compare -config configs/metaworld-lago.toml -set env_id=MetaWorld-$t-v3 \
    -set torch_threads=1 -set num_workers=1 \
    -priors none,scripted:0.9,uniform -seeds 5 -steps 20000 -jobs 1 \
    -out bench/results/compare-metaworld/$t
  uptime
done
