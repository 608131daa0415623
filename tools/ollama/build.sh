#!/usr/bin/env bash
# Build the pinned Ollama from the Go module proxy and print the binary's path.
#
#   tools/ollama/build.sh            build if missing, print the path
#   OLLAMA_BIN=$(tools/ollama/build.sh)
#
# The binary goes to $LAGO_CACHE/ollama-v$VERSION/ollama (LAGO_CACHE defaults
# to ~/.cache/lago), outside the repository, and is reused when present, so a
# machine builds it once (≈6-9 min on 2 cores, CPU-only).
#
# Why the extra headers: Go module zips drop every vendor/ directory, and
# llama.cpp's vendored headers go with them. Debian packages supply
# nlohmann/json (nlohmann-json3-dev) and stb_image (libstb-dev) at their
# upstream include paths; miniaudio has no Debian package, so
# include/miniaudio/miniaudio.h next to this script is our audio-less
# stand-in (lago never sends audio to the model).
#
# Environment:
#   LAGO_CACHE          cache root (default: $HOME/.cache/lago)
#   LAGO_OLLAMA_JOBS    packages built in parallel (go install -p; default: nproc)
#   LAGO_OLLAMA_REBUILD=1  rebuild even when the binary exists
# Progress goes to stderr; stdout carries only the path.
set -euo pipefail

VERSION=0.17.4
MODULE=github.com/ollama/ollama

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${LAGO_CACHE:-$HOME/.cache/lago}
bindir=$cache/ollama-v$VERSION
bin=$bindir/ollama

log() { printf 'ollama-build: %s\n' "$*" >&2; }

if [[ -x $bin && ${LAGO_OLLAMA_REBUILD:-0} != 1 ]]; then
	printf '%s\n' "$bin"
	exit 0
fi

# Debian packages for the headers the module zip lacks.
packages=(nlohmann-json3-dev libstb-dev)
missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if ((${#missing[@]})); then
	sudo=()
	if [[ $(id -u) != 0 ]]; then
		sudo=(sudo)
	fi
	log "installing ${missing[*]}"
	"${sudo[@]}" apt-get update >&2
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${missing[@]}" >&2
fi

command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
command -v g++ >/dev/null || { log "g++ is needed (apt-get install build-essential)"; exit 1; }

mkdir -p "$bindir"
jobs=${LAGO_OLLAMA_JOBS:-$(nproc 2>/dev/null || echo 2)}
log "building $MODULE@v$VERSION into $bindir (go install -p $jobs; several minutes)"
start=$(date +%s)

# Run outside any module so the repository's go.mod and go.work play no part;
# `go install pkg@version` resolves Ollama's own go.mod and go.sum through the
# module proxy and checks them against the checksum database.
cd "$bindir"
GOBIN=$bindir \
	CGO_ENABLED=1 \
	CGO_CPPFLAGS="-I$here/include ${CGO_CPPFLAGS:-}" \
	go install -p "$jobs" \
	-ldflags "-s -w -X $MODULE/version.Version=$VERSION" \
	"$MODULE@v$VERSION" >&2

[[ -x $bin ]] || { log "go install finished but $bin is missing"; exit 1; }
log "built in $(($(date +%s) - start))s"
printf '%s\n' "$bin"
