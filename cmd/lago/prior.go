package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/lago-rl/lago/engine/prior"
)

func init() {
	register("prior", "inspect the prior: show (one state's text, prompt, distribution), warm (pre-fill the cache), stats", cmdPrior)
}

var priorSubcommands = []struct{ name, summary string }{
	{"show", "one state's text view, prompts and prior distribution (asks the model afresh)"},
	{"warm", "pre-fill the prior cache by rolling a random and an expert policy"},
	{"stats", "what the prior cache holds, and any damage in it (read-only)"},
}

func priorUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: lago prior SUBCOMMAND [flags]\n\nsubcommands:")
	for _, s := range priorSubcommands {
		fmt.Fprintf(w, "  %-6s %s\n", s.name, s.summary)
	}
	fmt.Fprintln(w, "\n`lago prior SUBCOMMAND -h` describes its flags.")
}

func cmdPrior(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		priorUsage(stderr)
		return errors.New("no subcommand given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		priorUsage(stdout)
		return nil
	case "show":
		return priorShow(args[1:], stdout, stderr)
	case "warm":
		return priorWarm(args[1:], stdout, stderr)
	case "stats":
		return priorStats(args[1:], stdout, stderr)
	}
	priorUsage(stderr)
	return fmt.Errorf("unknown subcommand %q: want show, warm or stats", args[0])
}

func priorFlags(name string, stderr io.Writer) (*flag.FlagSet, *string, *multiFlag) {
	fs := newFlags("prior "+name, stderr)
	path := fs.String("config", "", "TOML config naming env_id and prior")
	sets := &multiFlag{}
	fs.Var(sets, "set", "override a config key: -set key=value (repeatable)")
	return fs, path, sets
}

func priorShow(args []string, stdout, stderr io.Writer) error {
	fs, path, sets := priorFlags("show", stderr)
	seed := fs.Uint64("seed", 1, "seed of the env whose first state is shown")
	asJSON := fs.Bool("json", false, "print one JSON object")
	top := fs.Int("top", 10, "how many of the most likely actions to list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, *sets)
	if err != nil {
		return err
	}
	x, err := prior.ExplainFirstState(context.Background(), cfg, *seed)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			Env  string `json:"env_id"`
			Seed uint64 `json:"seed"`
			prior.Explanation
		}{cfg.EnvID, *seed, x})
	}
	fmt.Fprintf(stdout, "env %s, seed %d, prior %s\n", cfg.EnvID, *seed, x.Prior)
	if x.TextView != "" {
		fmt.Fprintf(stdout, "\n-- text view --\n%s\n", x.TextView)
	}
	for i, pr := range x.Prompts {
		fmt.Fprintf(stdout, "\n-- prompt %d --\n%s\n", i+1, pr)
	}
	if x.Mode != "" {
		fmt.Fprintf(stdout, "\nscored by %s in %d request(s)\n", x.Mode, x.Calls)
	}
	fmt.Fprintf(stdout, "\n-- most likely actions --\n")
	for _, i := range x.Top(*top) {
		name := fmt.Sprint(i)
		if i < len(x.Actions) {
			name = x.Actions[i]
		}
		fmt.Fprintf(stdout, "%6.3f  %2d  %s\n", x.Probs[i], i, name)
	}
	return nil
}

func priorWarm(args []string, stdout, stderr io.Writer) error {
	fs, path, sets := priorFlags("warm", stderr)
	steps := fs.Int("steps", 10000, "env steps to roll (random policy, plus the expert where the env has one)")
	seed := fs.Uint64("seed", 1, "seed of the envs")
	wait := fs.Duration("wait", 10*time.Minute, "how long to wait at the end for the queue to drain")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, *sets)
	if err != nil {
		return err
	}
	ctx := context.Background()
	p, err := prior.New(ctx, cfg)
	if err != nil {
		return err
	}
	if p != nil {
		defer p.Close()
	}
	opt := prior.WarmOptions{Steps: *steps, Wait: *wait}
	prog := newProgressLine(stderr, false)
	opt.Progress = func(w prior.WarmProgress) {
		prog.status(fmt.Sprintf("warm: step %d/%d  cache %d entries  queue %.0f  hit rate %.2f",
			w.Step, w.Steps, w.Entries, w.QueueDepth, w.HitRate))
	}
	r, err := prior.WarmEnv(ctx, p, cfg, *seed, opt)
	prog.clear()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "warmed %s for %s: %d lookups, %d hits, %d LLM calls; cache %s holds %d entries\n",
		cfg.Prior, cfg.EnvID, r.Usage.Lookups, r.Usage.Hits, r.Usage.Calls, r.CachePath, r.Entries)
	if !r.Drained {
		fmt.Fprintf(stdout, "states were still being scored after -wait %v; run warm again to finish them\n", *wait)
	}
	return nil
}

func priorStats(args []string, stdout, stderr io.Writer) error {
	fs, path, sets := priorFlags("stats", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, *sets)
	if err != nil {
		return err
	}
	dir, _ := prior.CacheDir(cfg)
	c, err := prior.InspectCache(dir)
	if errors.Is(err, prior.ErrNoCache) {
		fmt.Fprintf(stdout, "no cache at %s\n", dir)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cache      %s (format %d)\nentries    %d (logprobs %d, sampled %d, uniform %d) in %d records\ndisk size  %.1f KiB\n",
		c.Path, c.Format, c.Entries, c.ByMode[prior.ModeLogprobs], c.ByMode[prior.ModeSampled], c.ByMode[prior.ModeUniform], c.Records, float64(c.Size)/1024)
	if c.Format == 1 {
		fmt.Fprintln(stdout, "format 1   the next run that opens this cache copies it into the format-2 log and leaves this file as it is")
	}
	if c.Damaged > 0 || c.HeaderDamaged {
		fmt.Fprintf(stdout, "damaged    %d damaged record(s) skipped (%d bytes); every whole record around them is kept\n", c.Damaged, c.DamagedBytes)
		if c.HeaderDamaged {
			fmt.Fprintln(stdout, "damaged    the file header; the records after it are read anyway")
		}
	}
	if c.TailBytes > 0 {
		fmt.Fprintf(stdout, "torn tail  %d bytes after the last whole record (a cut-off append); the next writer cuts them\n", c.TailBytes)
	}
	hit := 0.0
	if c.Usage.Lookups > 0 {
		hit = float64(c.Usage.Hits) / float64(c.Usage.Lookups)
	}
	fmt.Fprintf(stdout, "lookups    %d (hit rate %.3f), LLM calls %d\n", c.Usage.Lookups, hit, c.Usage.Calls)
	return nil
}
