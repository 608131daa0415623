package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lago-rl/lago/engine/scenetext"
)

// cmdDemosScenes writes a generic scene-text corpus (engine/scenetext): the
// pretraining data of issue 13 item 6, made without the expert.
func cmdDemosScenes(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demos scenes", stderr)
	n := fs.Int("n", 10000, "scenes to draw (each gives one pair per question kind)")
	held := fs.Int("heldout", 200, "the last this many scenes are held out (heldout.jsonl)")
	seed := fs.Uint64("seed", 1, "seed: scene i is the env's reset under seed+i")
	envID := fs.String("env", "CLEVR-Robot-v0", "CLEVR-Robot relation-level env whose reset draws the scenes: CLEVR-Robot-v0 or CLEVR-Robot-heldout-v0 (its held-out phrasings)")
	tmpl := fs.String("template", "clevr-rel-v1", "prompt template whose view renders the scenes: clevr-rel-v1 or clevr-compact-v1")
	out := fs.String("out", "", "corpus directory to write (required)")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *out == "" {
		return errors.New("-out DIR is required")
	}
	cfg := scenetext.Config{EnvID: *envID, Scenes: *n, HeldoutScenes: *held, Seed: *seed, Template: *tmpl}
	prog := newProgressLine(stderr, *quiet)
	start := time.Now()
	m, err := scenetext.Build(cfg, *out, version, func(done int) {
		if done%100 == 0 {
			prog.status(fmt.Sprintf("demos scenes: scene %d/%d  %.0f scenes/s", done, *n, float64(done)/time.Since(start).Seconds()))
		}
	})
	prog.clear()
	if err != nil {
		return err
	}
	var kinds []string
	for _, k := range scenetext.Kinds {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, m.Counts.ByKind[k]))
	}
	fmt.Fprintf(stdout, "%s: %d scenes (%d held out), template %s; %d train pairs, %d held-out pairs (%s); %.1f s\n",
		*out, cfg.Scenes, cfg.HeldoutScenes, cfg.Template, m.Counts.TrainPairs, m.Counts.HeldoutPairs, strings.Join(kinds, ", "), time.Since(start).Seconds())
	return nil
}
