package main

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"strings"

	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/policy"
	"github.com/lago-rl/lago/engine/runfile"
)

func init() {
	register("env", "inspect an environment: text view (-text), PNG of a state (-render), distinct state keys (-keys N)", cmdEnv)
}

// envAliases are short names for `lago env`.
var envAliases = map[string]string{"clevr": "CLEVR-Robot-v0"}

func cmdEnv(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("env", stderr)
	seed := fs.Uint64("seed", 1, "seed of the environment (and of the random policy)")
	steps := fs.Int("steps", 0, "act this many steps with -policy before showing the state (stops early where the episode ends)")
	policyName := fs.String("policy", "random", "policy for -steps and -keys: random or expert")
	text := fs.Bool("text", false, "print the text view of the state (the default when nothing else is asked)")
	render := fs.String("render", "", "write a top-down PNG of the state to this file")
	keys := fs.Int("keys", 0, "act this many steps, resetting finished episodes, and count the distinct state keys (hashes of the text view) seen")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: lago env NAME [flags]\n\nNAME is an env id (%s) or clevr for CLEVR-Robot-v0.\n", strings.Join(env.IDs(), ", "))
		fs.PrintDefaults()
	}
	// The name may come before the flags (lago env clevr -seed 3) or after.
	names, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fs.Usage()
		return errors.New("no environment named")
	}
	if len(names) > 1 {
		return fmt.Errorf("one environment at a time; got %s", strings.Join(names, ", "))
	}
	name := names[0]
	if *steps < 0 {
		return fmt.Errorf("-steps %d: want 0 or more", *steps)
	}
	if *keys < 0 {
		return fmt.Errorf("-keys %d: want 0 or more (0: do not count keys)", *keys)
	}
	b, err := policy.ParseBuiltin(*policyName)
	if err != nil {
		return err
	}
	if id, ok := envAliases[strings.ToLower(name)]; ok {
		name = id
	}
	e, err := env.Make(name)
	if err != nil {
		return err
	}
	if c, ok := e.(interface{ Close() }); ok {
		defer c.Close()
	}

	if *keys > 0 {
		c, err := policy.CountKeys(e, b, *seed, *keys)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%d steps, %d episodes (%d successes): %d distinct state keys (%.1f%% of steps)\n",
			c.Steps, c.Episodes, c.Successes, c.Keys, 100*float64(c.Keys)/float64(c.Steps))
		return err
	}
	if err := policy.Walk(e, b, *seed, *steps); err != nil {
		return err
	}
	if *render != "" {
		rd, ok := e.(interface{ Render() *image.RGBA })
		if !ok {
			return fmt.Errorf("%s cannot render its states", name)
		}
		if err := writePNG(*render, rd.Render()); err != nil {
			return err
		}
	}
	if *text || *render == "" {
		d, ok := e.(env.Describer)
		if !ok {
			return fmt.Errorf("%s has no text view (it does not implement env.Describer)", name)
		}
		fmt.Fprintln(stdout, d.TextView())
	}
	return nil
}

func writePNG(path string, img image.Image) error {
	return runfile.WriteAtomic(path, 0o644, func(w io.Writer) error {
		if err := png.Encode(w, img); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	})
}
