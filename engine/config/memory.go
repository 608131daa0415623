package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory sanity check: a run allocates its rollout buffers (num_envs ×
// num_steps samples) and its vector env (num_envs envs) up front, so a
// config that cannot fit is refused before anything starts, instead of
// swapping the machine to a halt (num_envs = 100000 once reached 2.9 GB RSS
// and had to be killed).

// Footprint sizes one sample of a rollout and one env, as far as the config
// alone cannot tell: the env's observation and action sizes and the prior's.
type Footprint struct {
	ObsDim, ActDim int   // float32 values per observation and per action
	PriorActions   int   // actions of a discrete prior stored per sample; 0: no prior
	EnvBytes       int64 // one env's own state; 0: a small pure-Go env (256 bytes)
}

// MinFootprint is the smallest footprint of any env: what validation assumes
// before the env is known.
var MinFootprint = Footprint{ObsDim: 1, ActDim: 1}

// MemoryEstimate is a lower bound, in bytes, of what the rollout buffers
// and the vector env of c hold: it counts only the buffers that scale with
// num_envs × num_steps or with num_envs, not the networks, libtorch's own
// pools or an update's per-minibatch temporaries.
func (c Config) MemoryEstimate(f Footprint) (rollout, envs float64) {
	od, ad := float64(f.ObsDim), float64(f.ActDim)
	// Per sample, the trainer's Go buffers (observation, action, log-prob,
	// value, reward, end flag, advantage, return, shuffle index: 4·od + 4·ad
	// + 29 bytes) and the update's tensor copy of them (4·od + 4·ad + 16).
	perSample := 8*od + 8*ad + 45
	if f.PriorActions > 0 {
		// LaGO: a log-prior row, the state key (32 bytes), known, argmax
		// and entropy.
		perSample += 4*float64(f.PriorActions) + 41
	}
	envBytes := float64(f.EnvBytes)
	if envBytes <= 0 {
		envBytes = 256
	}
	// Per env, the vector env's observation, final observation, action and
	// episode bookkeeping, the trainer's per-step scratch and the
	// normaliser's return, besides the env itself.
	perEnv := 8*od + 12*ad + 64 + envBytes
	n := float64(c.NumEnvs)
	return n * float64(c.NumSteps) * perSample, n * perEnv
}

// availableMemory reports the memory the machine can give a new process
// without swapping (MemAvailable of /proc/meminfo), and false where it
// cannot tell. Tests replace it.
var availableMemory = func() (int64, bool) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	return memAvailable(data)
}

// memAvailable reads MemAvailable (in kB) from the text of /proc/meminfo.
func memAvailable(meminfo []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != "MemAvailable" {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || kb <= 0 {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}

// CheckMemory refuses c when even the lower bound MemoryEstimate(f) exceeds
// the memory available on this machine, naming num_envs and num_steps. A
// config it accepts may still not fit (the bound leaves out what does not
// scale); one it refuses certainly cannot. Where the available memory is
// unknown it accepts.
func (c Config) CheckMemory(f Footprint) error {
	avail, ok := availableMemory()
	if !ok || c.NumEnvs < 1 || c.NumSteps < 1 {
		return nil
	}
	rollout, envs := c.MemoryEstimate(f)
	if need := rollout + envs; need > float64(avail) {
		return fmt.Errorf("config keys num_envs and num_steps: %d envs × %d steps need at least %s (rollout buffers %s, envs %s), more than the %s this machine has available (MemAvailable in /proc/meminfo); lower num_envs or num_steps",
			c.NumEnvs, c.NumSteps, gib(need), gib(rollout), gib(envs), gib(float64(avail)))
	}
	return nil
}

// gib formats a byte count in GiB.
func gib(b float64) string {
	return strconv.FormatFloat(b/(1<<30), 'f', 2, 64) + " GiB"
}
