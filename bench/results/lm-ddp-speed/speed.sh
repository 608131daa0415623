#!/bin/bash
# Training throughput of the ladder's 431k shape (3 L, d 96) on CLEVR prompts, 300 steps × 32:
# 1 process with torch_threads 1 and 2, and 2 ranks (-nproc 2, torch_threads 1 each).
# data: train-l-a2.jsonl, made by the commands of bench/results/stage1-clevr/README.md ("Symmetric views"); edit the path in the configs.
set -e
L=$(realpath ${LAGO:-./lago})   # run from the repository root
D=$(cd "$(dirname "$0")" && pwd); OUT=${OUT:-/tmp/lm-ddp-speed}; mkdir -p $OUT; cd $OUT
rm -rf sp1 sp2 spd
$L lm train -quiet -config $D/speed-t1.toml -out sp1
$L lm train -quiet -config $D/speed-t2.toml -out sp2
$L lm train -quiet -nproc 2 -config $D/speed-t1.toml -out spd
OUT=$OUT python3 - <<'PY'
import json, os, statistics as st
for d in ['sp1', 'sp2', 'spd']:
    L = [json.loads(l) for l in open(os.environ['OUT'] + '/' + d + '/metrics.jsonl')]
    v = [x['tokens_per_s'] for x in L if x['step'] > 50]
    print(d, 'median tokens/s over steps 51-300:', round(st.median(v)), ' held-out', L[-1].get('heldout_loss'), L[-1].get('heldout_acc'))
PY
