#!/bin/bash
# One seed of the served row (ollama:lago-clevr-m) on its own private pinned Ollama,
# state dir $STATE/ollama-seed-K; several of these ran side by side, one Ollama each
# (OLLAMA_NUM_PARALLEL=1 stays). Usage: rel/served-seed.sh K [STATE]
set -e
K=$1 STATE=${2:-/work/data/s3}
cd "$(dirname "$0")/../../../.."
export LAGO_OLLAMA_DIR=$STATE/ollama-seed-$K LAGO_OLLAMA_BIN=$(tools/ollama/build.sh)
mkdir -p $LAGO_OLLAMA_DIR
host=$(tools/ollama/serve.sh start)
echo "ollama on $host"
trap 'tools/ollama/serve.sh stop' EXIT
./lago lm push -host $host -model bench/results/stage1-clevr/models-rel/m.gguf -name lago-clevr-m
./lago compare -config configs/clevr-lago.toml -jobs 1 -seeds 1 -set seed=$K -set prior_template=clevr-rel-v1 \
  -set prior_cache_dir=/work/data/s2/cache -set ollama_host=$host \
  -priors ollama:lago-clevr-m -out bench/results/stage1-clevr/compare2
