package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/lago-rl/lago/engine/bench"
	"github.com/lago-rl/lago/engine/runfile"
)

func init() {
	register("bench", "run the throughput suite (update, rollouts, training, priors), optionally against PyTorch", cmdBench)
}

func cmdBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	filter := fs.String("filter", "", "run only the measurements whose name matches this regular expression ("+strings.Join(bench.Names(), ", ")+")")
	duration := fs.Duration("duration", 3*time.Second, "time per measurement, after warm-up")
	rounds := fs.Int("rounds", 1, "repeat each measurement this many times, alternating its variants (lago and the reference; per-core, lockstep and async), and keep each one's best")
	reference := fs.Bool("reference", false, "also run bench/reference/ppo_update.py (python3 with torch) on the update rows and report lago/reference")
	python := fs.String("python", "", "python with torch for -reference (default: python3, then /usr/bin/python3)")
	script := fs.String("script", filepath.Join("bench", "reference", "ppo_update.py"), "the reference script")
	configs := fs.String("configs", "configs", "directory of the shipped configs whose shapes are measured")
	out := fs.String("out", filepath.Join("bench", "results"), "directory for bench-<host>-<date>.json; empty: write none")
	ollamaHost := fs.String("ollama-host", "", "with -ollama-model: also measure an Ollama prior on this host")
	ollamaModel := fs.String("ollama-model", "", "the Ollama model of the prior row")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opt := bench.Options{
		ConfigDir: *configs, Duration: *duration, Rounds: *rounds, Reference: *reference, Python: *python, Script: *script,
		OllamaHost: *ollamaHost, OllamaModel: *ollamaModel,
	}
	if *filter != "" {
		re, err := regexp.Compile(*filter)
		if err != nil {
			return fmt.Errorf("-filter: %w", err)
		}
		opt.Filter = re
	}
	if *reference {
		if _, err := os.Stat(*script); err != nil {
			return fmt.Errorf("-reference: %w (run lago bench from the repository root, or pass -script)", err)
		}
	}
	start := time.Now()
	if !*quiet {
		opt.Progress = func(i, n int, name string) {
			fmt.Fprintf(stderr, "bench %d/%d %s (%s elapsed)\n", i, n, name, time.Since(start).Round(time.Second))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, opt)
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		host := rep.Host
		if host == "" {
			host = "unknown"
		}
		path := filepath.Join(*out, fmt.Sprintf("bench-%s-%s.json", host, rep.Date.Format("20060102-150405")))
		if err := runfile.WriteFileAtomic(path, append(js, '\n')); err != nil {
			return err
		}
		if !*quiet {
			fmt.Fprintf(stderr, "wrote %s\n", path)
		}
	}
	if *asJSON {
		_, err := fmt.Fprintf(stdout, "%s\n", js)
		return err
	}
	return rep.WriteTable(stdout)
}
