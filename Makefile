# lago — build, test and set up. `make help` lists the targets.
#
# libtorch comes from Debian's libtorch-dev (CPU) or from an installed PyTorch
# (CUDA). TORCH=auto picks PyTorch's when `python3 -c 'import torch'` works,
# else the system one; TORCH=system or TORCH=pytorch forces a choice.
# After switching, run `make clean`.

GO      ?= go
BUILD   ?= build
TORCH   ?= auto
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian bookworm packages lago needs. libopenblas0-pthread matters: Debian's
# default reference BLAS makes a PPO-sized train step ~6x slower.
# libgloo-dev: the Gloo headers torch's c10d includes (data parallelism).
APT_PACKAGES := build-essential cmake libtorch-dev libopenblas0-pthread libmujoco-dev libgloo-dev

PYTORCH_PREFIX = $(shell python3 -c 'import torch;print(torch.utils.cmake_prefix_path)' 2>/dev/null)
ifeq ($(TORCH),pytorch)
  CMAKE_TORCH := -DCMAKE_PREFIX_PATH=$(PYTORCH_PREFIX)
else ifeq ($(TORCH),auto)
  CMAKE_TORCH := $(if $(PYTORCH_PREFIX),-DCMAKE_PREFIX_PATH=$(PYTORCH_PREFIX),)
else
  CMAKE_TORCH :=
endif

SHIM := $(BUILD)/lib/liblagotorch.so
GO_SOURCES := $(shell find . -name '*.go' -not -path './$(BUILD)/*' 2>/dev/null) go.mod go.sum

.PHONY: all shim test test-short vet bench setup clean help demo model model-update

# The main job on its embedded defaults: LaGO with PRIOR next to vanilla PPO
# on CLEVR-Robot, one seed each, run side by side with live progress. The
# default prior is the shipped guidance model (models/), scored in-process
# by lago's own engine: no Ollama needed. PRIOR=ollama:NAME asks a model
# pushed with `lago lm push` (or `lago stage1 -push NAME`) instead, and
# PRIOR=scripted:0.9 the scripted prior. DEMO_TEMPLATE is the prompt template
# the model was trained on (clevr-compact-v1 for models/ and lago stage1's
# default); scripted priors ignore it. A language-model prior answers a
# state after its rollout step; DEMO_PRIOR_WAIT (seconds) lets each update
# wait for the rollout's answers, which the config's prior_wait = 0 would
# mask out whenever the scorer lags (measured: coverage 0 on the loaded
# 2-core VM at ~8 states/s; bench/results/stage1-demo.md). DEMO_ARGS adds
# flags to lago compare (e.g. -set num_envs=4).
MODEL         ?= clevr-guidance-s
PRIOR         ?= lm:models/$(MODEL)/model.gguf
DEMO_TEMPLATE ?= clevr-rel-v1
DEMO_PRIOR_WAIT ?= 600
DEMO_ARGS     ?=
DEMO_STEPS    ?= 20480
DEMO_OUT      ?= runs/demo
MODEL_OUT     ?= runs/model-$(MODEL)

all: lago ## build the shim and ./lago

$(BUILD)/CMakeCache.txt: CMakeLists.txt bindings/CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_TORCH)

$(SHIM): $(BUILD)/CMakeCache.txt $(wildcard bindings/shim/*.cpp bindings/shim/*.h bindings/shim/*.hpp) $(wildcard cuda/*.cu cuda/*.h cuda/CMakeLists.txt)
	cmake --build $(BUILD) -j $(JOBS)
	@touch $@

shim: $(SHIM) ## build only the C ABI shim over libtorch

lago: $(SHIM) $(GO_SOURCES)
	$(GO) build -o lago ./cmd/lago

test: $(SHIM) ## run every Go test
	$(GO) test -count=1 -timeout 60m ./...

test-short: $(SHIM) ## the fast tests only (skips learning and long memory tests)
	$(GO) test -count=1 -short ./...

vet: $(SHIM) ## go vet
	$(GO) vet ./...

bench: $(SHIM) ## the Go benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

setup: ## install the Debian packages lago needs (apt-get; only what is missing)
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y $$missing; \
	else echo "all packages present: $(APT_PACKAGES)"; fi
	@command -v $(GO) >/dev/null || { echo "Go >= 1.24 is needed: https://go.dev/dl (Debian's golang is too old)"; exit 1; }
	$(GO) mod download

demo: lago ## LaGO with the shipped model as prior (or PRIOR=ollama:NAME, scripted:0.9) next to vanilla PPO on CLEVR-Robot
	./lago compare -config configs/clevr-lago.toml -priors "$(PRIOR),none" -seeds 1 -steps $(DEMO_STEPS) \
		-set prior_template=$(DEMO_TEMPLATE) -set prior_wait=$(DEMO_PRIOR_WAIT) $(DEMO_ARGS) -out "$(DEMO_OUT)/$$(echo '$(PRIOR)' | tr ':/ ' '--_')"

# The shipped model is regenerated from scratch (its stage1.toml: demos,
# dataset, training on one CPU thread) and must come out bit for bit.
model: lago ## regenerate models/$(MODEL) from scratch on CPU and check it is bit for bit the shipped file
	rm -rf "$(MODEL_OUT)"
	./lago stage1 -config models/$(MODEL)/stage1.toml -out "$(MODEL_OUT)"
	@want=$$(sed -n 's/^  "sha256": "\(.*\)",$$/\1/p' models/$(MODEL)/manifest.json); \
	got=$$(sha256sum "$(MODEL_OUT)/model/model.gguf" | cut -d' ' -f1); \
	if [ "$$want" = "$$got" ]; then echo "bit for bit: $(MODEL_OUT)/model/model.gguf = models/$(MODEL)/model.gguf (sha256 $$got)"; \
	else echo "DIFFERENT: regenerated sha256 $$got, shipped manifest says $$want (make model-update replaces the shipped files)"; exit 1; fi
	@cmp -s "$(MODEL_OUT)/model/manifest.json" models/$(MODEL)/manifest.json && echo "manifest identical" || \
	  echo "note: the manifest's held-out figures differ from the shipped ones (diff $(MODEL_OUT)/model/manifest.json models/$(MODEL)/manifest.json)"

model-update: ## regenerate models/$(MODEL) and replace the shipped model and manifest with the result
	rm -rf "$(MODEL_OUT)"
	$(MAKE) lago
	./lago stage1 -config models/$(MODEL)/stage1.toml -out "$(MODEL_OUT)"
	cp "$(MODEL_OUT)/model/model.gguf" "$(MODEL_OUT)/model/manifest.json" models/$(MODEL)/

clean: ## remove build outputs
	rm -rf $(BUILD) lago

include mk/ollama.mk

help:
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
