#!/bin/bash
# After xxl7's training ends: its held-out agreement; at ≥ 0.79 its 5-seed comparison
# row, below it xxl8 (rel/lm-xxl8.toml) as 2 ranks.
set -u
cd /work/main
L=/work/data/s9/lago-chain
while pgrep -f "lm train -nproc 2 -resume /work/data/s9/xxl7" >/dev/null; do sleep 60; done
date
[ -f /work/data/s9/xxl7/model.gguf ] || { echo "no model.gguf: the training was stopped, not finished"; exit 1; }
M=bench/results/stage1-clevr/models-rel
cp /work/data/s9/xxl7/model.gguf $M/xxl7.gguf
$L demos agreement -data /work/data/s2/data-l -model lm:$M/xxl7.gguf > /work/data/s9/xxl7-agreement.txt 2>&1
date
a=$(grep -o 'agreement [0-9.]*' /work/data/s9/xxl7-agreement.txt | head -1 | cut -d' ' -f2)
echo "agreement $a"
if awk -v a="$a" 'BEGIN { exit !(a >= 0.79) }'; then
  $L compare -config configs/clevr-lago.toml -jobs 2 -seeds 5 -set prior_template=clevr-rel-v1 \
    -set prior_cache_dir=/work/data/s2/cache -priors lm:$M/xxl7.gguf -out /work/data/s9/compare-xxl7 > /work/data/s9/xxl7-compare.log 2>&1
else
  $L lm train -nproc 2 -config bench/results/stage1-clevr/rel/lm-xxl8.toml -out /work/data/s9/xxl8 > /work/data/s9/xxl8.log 2>&1
fi
date
