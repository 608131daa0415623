#!/usr/bin/env bash
# Run a private Ollama server on a free loopback port, for tests.
#
#   tools/ollama/serve.sh start          start it; prints HOST:PORT
#   tools/ollama/serve.sh create NAME GGUF
#                                        load GGUF as model NAME (raw prompts)
#   tools/ollama/serve.sh host           print HOST:PORT of the running server
#   tools/ollama/serve.sh stop           stop it (by its PID) and its runners
#
# Typical use:
#   export LAGO_OLLAMA_DIR=$(mktemp -d)
#   host=$(tools/ollama/serve.sh start)
#   tools/ollama/serve.sh create tiny tiny.gguf
#   LAGO_OLLAMA_HOST=$host LAGO_OLLAMA_MODEL=tiny go test -tags ollama ./engine/prior/...
#   tools/ollama/serve.sh stop
#
# Environment:
#   LAGO_OLLAMA_DIR   state directory (default: ${TMPDIR:-/tmp}/lago-ollama-$UID).
#                     It holds ollama.pid, ollama.host, ollama.log, the model
#                     store (models/) and the server's HOME (home/).
#   LAGO_OLLAMA_BIN   the ollama binary (default: what build.sh prints, which
#                     builds the pinned version on first use)
#   LAGO_OLLAMA_PORT  port to listen on (default 0: the kernel picks a free
#                     one and the log tells which, so two servers never race
#                     for a port)
#   LAGO_OLLAMA_START_TIMEOUT  seconds to wait for /api/version (default 60)
#
# The server runs with, unless already set in the environment:
#   OLLAMA_HOST=127.0.0.1:$LAGO_OLLAMA_PORT  loopback only
#   OLLAMA_MODELS=$LAGO_OLLAMA_DIR/models    never the user's model store
#   HOME=$LAGO_OLLAMA_DIR/home               Ollama writes a key pair to ~/.ollama
#   OLLAMA_NOPRUNE=1       no blob pruning at start-up
#   OLLAMA_NO_CLOUD=1      no cloud models, nothing leaves the machine
#   OLLAMA_KEEP_ALIVE=-1   keep a loaded model until stop, so only the
#                          first request pays the load
#   OLLAMA_NUM_PARALLEL=1  one sequence slot: every request sees the same
#                          cache state, so identical requests answer identically
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${LAGO_OLLAMA_DIR:-${TMPDIR:-/tmp}/lago-ollama-$(id -u)}
pidfile=$dir/ollama.pid
hostfile=$dir/ollama.host
logfile=$dir/ollama.log

die() {
	printf 'serve.sh: %s\n' "$*" >&2
	exit 1
}

ollama_bin() {
	if [[ -n ${LAGO_OLLAMA_BIN:-} ]]; then
		printf '%s\n' "$LAGO_OLLAMA_BIN"
	else
		"$here/build.sh"
	fi
}

running_pid() {
	[[ -f $pidfile ]] || return 1
	local pid
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	printf '%s\n' "$pid"
}

# api_ok HOST:PORT — whether GET /api/version answers 200. Bash's /dev/tcp
# keeps the script free of curl and wget.
api_ok() {
	local host=${1%:*} port=${1##*:} status
	exec 3<>"/dev/tcp/$host/$port" 2>/dev/null || return 1
	printf 'GET /api/version HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" >&3
	IFS= read -r -t 5 status <&3 || status=
	exec 3<&-
	[[ $status == "HTTP/1."?" 200"* ]]
}

cmd_start() {
	if pid=$(running_pid); then
		die "already running (PID $pid, $(<"$hostfile")); stop it first"
	fi
	local bin
	bin=$(ollama_bin)
	[[ -x $bin ]] || die "no ollama binary at $bin"
	mkdir -p "$dir/models" "$dir/home"
	rm -f "$hostfile"
	: >"$logfile"

	local port=${LAGO_OLLAMA_PORT:-0}
	# setsid gives the server its own process group, so stop can also reach
	# runner processes the server failed to reap, by the server's PID.
	OLLAMA_HOST=${OLLAMA_HOST:-127.0.0.1:$port} \
		OLLAMA_MODELS=${OLLAMA_MODELS:-$dir/models} \
		HOME=$dir/home \
		OLLAMA_NOPRUNE=${OLLAMA_NOPRUNE:-1} \
		OLLAMA_NO_CLOUD=${OLLAMA_NO_CLOUD:-1} \
		OLLAMA_KEEP_ALIVE=${OLLAMA_KEEP_ALIVE:--1} \
		OLLAMA_NUM_PARALLEL=${OLLAMA_NUM_PARALLEL:-1} \
		setsid "$bin" serve </dev/null >>"$logfile" 2>&1 &
	local pid=$!
	printf '%s\n' "$pid" >"$pidfile"

	local timeout=${LAGO_OLLAMA_START_TIMEOUT:-60} host=
	local deadline=$((SECONDS + timeout))
	while ((SECONDS < deadline)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$pidfile"
			tail -n 20 "$logfile" >&2
			die "ollama serve exited; log: $logfile"
		fi
		if [[ -z $host ]]; then
			# "Listening on 127.0.0.1:41023 (version 0.17.4)"
			host=$(sed -n 's/.*Listening on \([0-9.]*:[0-9]*\).*/\1/p' "$logfile" | head -n 1)
		fi
		if [[ -n $host ]] && api_ok "$host"; then
			printf '%s\n' "$host" >"$hostfile"
			printf '%s\n' "$host"
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$logfile" >&2
	cmd_stop >&2 || true
	die "no answer from /api/version within ${timeout}s; log: $logfile"
}

cmd_host() {
	running_pid >/dev/null || die "not running (state in $dir)"
	cat "$hostfile"
}

cmd_create() {
	(($# == 2)) || die "usage: serve.sh create NAME GGUF"
	local name=$1 gguf
	gguf=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
	[[ -f $gguf ]] || die "no file $2"
	local host
	host=$(cmd_host)
	local mf=$dir/modelfiles/$name/Modelfile
	mkdir -p "$(dirname "$mf")"
	# The bare template passes prompts through untouched, as raw requests do,
	# so tests see the same tokens whether or not they set raw.
	cat >"$mf" <<-EOF
		FROM $gguf
		TEMPLATE "{{ .Prompt }}"
	EOF
	# The client draws progress bars with terminal escapes; keep them out of
	# test logs unless something went wrong.
	local out
	if ! out=$(OLLAMA_HOST=$host HOME=$dir/home "$(ollama_bin)" create "$name" -f "$mf" 2>&1); then
		printf '%s\n' "$out" >&2
		die "ollama create $name failed"
	fi
	echo "serve.sh: created model $name from $gguf" >&2
}

cmd_stop() {
	local pid
	if ! pid=$(running_pid); then
		rm -f "$pidfile" "$hostfile"
		echo "serve.sh: not running" >&2
		return 0
	fi
	# SIGTERM lets the server unload its models and stop its runners.
	kill -TERM "$pid" 2>/dev/null || true
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "serve.sh: PID $pid ignored SIGTERM for 10s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	# Anything left in the server's process group (its PID, from setsid) is
	# an orphaned runner.
	if kill -0 -- "-$pid" 2>/dev/null; then
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile" "$hostfile"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
host) cmd_host ;;
create)
	shift
	cmd_create "$@"
	;;
*) die "usage: serve.sh start|stop|host|create NAME GGUF (see the comment at the top)" ;;
esac
