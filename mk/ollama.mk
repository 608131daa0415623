# Ollama for the LLM prior's integration tests. The Makefile includes it with
#
#   include mk/ollama.mk
#
# ollama       builds the pinned Ollama once per machine into
#              $(LAGO_CACHE)/ollama-v0.17.4 (default ~/.cache/lago), ≈6-9 min.
# test-ollama  runs `go test -tags ollama` on ./engine/prior/... and ./engine/lm/... against a private
#              server: a free loopback port, a temporary model store holding
#              only the tiny random-weight model, stopped by its PID afterwards
#              whether the tests pass or not. The tests find it through
#              LAGO_OLLAMA_HOST (HOST:PORT) and LAGO_OLLAMA_MODEL (tiny).

GO           ?= go
OLLAMA_BUILD := tools/ollama/build.sh
OLLAMA_SERVE := tools/ollama/serve.sh
OLLAMA_TESTS ?= ./engine/prior/... ./engine/lm/...

.PHONY: ollama test-ollama

ollama: ## build the pinned Ollama (v0.17.4) into ~/.cache/lago, once per machine
	@$(OLLAMA_BUILD)

# One shell, so the trap sees every step: the EXIT trap stops the server on
# success, failure and (through the INT/TERM traps) interruption. The state
# directory, with the server log, is kept when something failed.
test-ollama: lago ## the Ollama integration tests, against a private server with the tiny model
	@set -e; \
	bin=$$($(OLLAMA_BUILD)); \
	dir=$$(mktemp -d "$${TMPDIR:-/tmp}/lago-ollama.XXXXXX"); \
	export LAGO_OLLAMA_DIR="$$dir" LAGO_OLLAMA_BIN="$$bin"; \
	trap 'st=$$?; $(OLLAMA_SERVE) stop; \
	      if [ $$st -eq 0 ]; then rm -rf "$$dir"; \
	      else echo "test-ollama: failed; server log: $$dir/ollama.log" >&2; fi; \
	      exit $$st' EXIT; \
	trap 'exit 130' INT TERM; \
	./lago model tiny -out "$$dir/tiny.gguf" >/dev/null; \
	host=$$($(OLLAMA_SERVE) start); \
	echo "test-ollama: ollama serve on $$host (PID $$(cat "$$dir/ollama.pid"))"; \
	$(OLLAMA_SERVE) create tiny "$$dir/tiny.gguf"; \
	LAGO_OLLAMA_HOST=$$host LAGO_OLLAMA_MODEL=tiny \
	  $(GO) test -count=1 -tags ollama $(OLLAMA_TESTS)
