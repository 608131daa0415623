#!/usr/bin/env bash
# Data-parallel SPS on this machine (issue 17): for CartPole and CLEVR,
# 1 rank × 2 threads vs 2 ranks × 1 thread (and 1 rank with lago's
# automatic threads, and 1 rank with 1 libtorch thread and 2 env workers),
# in alternating rounds; one line per run appended to $OUT/sps.tsv with the
# load average next to it. VARIANTS (space-separated) picks variants.
# Usage, from the repo root:
#   go build -o lago ./cmd/lago && bash bench/ddp_sps.sh [ROUNDS] [OUT]
set -euo pipefail
ROUNDS=${1:-2}
OUT=${2:-bench/results/ddp-sps}
LAGO=${LAGO:-./lago}
mkdir -p "$OUT"
RUNS=$(mktemp -d)
trap 'rm -rf "$RUNS"' EXIT
VARIANTS=${VARIANTS:-1rank-2threads 2ranks-1thread 1rank-auto 1rank-1torch-2env}
[ -s "$OUT/sps.tsv" ] || printf 'env\tvariant\tround\tsteps\twall_s\tsps\tallreduce_ms\tload1\n' > "$OUT/sps.tsv"
declare -A STEPS=([cartpole]=4096 [clevr]=4096)
run() { # env variant round args...
	local env=$1 variant=$2 round=$3; shift 3
	[[ " $VARIANTS " == *" $variant "* ]] || return 0
	local dir="$RUNS/$env-$variant-$round"
	local load; load=$(cut -d' ' -f1 /proc/loadavg)
	"$LAGO" train -quiet -config "configs/$env.toml" -out "$dir" -set device=cpu \
		-set total_timesteps="${STEPS[$env]}" -set checkpoint_every=0 "$@" > "$dir.log" 2>&1
	python3 - "$dir" "$env" "$variant" "$round" "$load" >> "$OUT/sps.tsv" <<'PY'
import json, sys
d, env, variant, rnd, load = sys.argv[1:]
s = json.load(open(d + "/summary.json"))
ms = [json.loads(l).get("dist_allreduce_ms") for l in open(d + "/metrics.jsonl")]
ms = [m for m in ms if m is not None]
ar = "%.2f" % (sum(ms) / len(ms)) if ms else "-"
print(f"{env}\t{variant}\t{rnd}\t{s['global_step']}\t{s['wall_s']:.2f}\t{s['global_step']/s['wall_s']:.0f}\t{ar}\t{load}")
PY
	tail -n 1 "$OUT/sps.tsv"
}
for round in $(seq 1 "$ROUNDS"); do
	for env in cartpole clevr; do
		run "$env" "1rank-2threads" "$round" -set num_workers=2 -set torch_threads=2
		run "$env" "2ranks-1thread" "$round" -nproc 2 -set num_workers=1 -set torch_threads=1
		run "$env" "1rank-auto" "$round"
		run "$env" "1rank-1torch-2env" "$round" -set num_workers=2 -set torch_threads=1
	done
done
