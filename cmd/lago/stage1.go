package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lago-rl/lago/engine/stage1"
)

func init() {
	register("stage1", "LaGO's stage 1 in one resumable command: demos → dataset → train → GGUF → (push)", cmdStage1)
}

const stage1Usage = `usage: lago stage1 -config X.toml -out DIR [-push NAME] [flags]

Runs demonstrations → guidance dataset → training → GGUF and held-out
figures → (with -push or the push key) the model created on Ollama, each
step in its own folder under DIR. Run it again to resume: a step already
done with the same config is skipped, an interrupted training resumes from
its checkpoint, a changed config redoes the steps it affects. The model and
its manifest end in DIR/model/.
`

func cmdStage1(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("stage1", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, stage1Usage, "\nflags:\n"); fs.PrintDefaults() }
	path := fs.String("config", "", "stage-1 TOML config (keys: lago stage1 -list)")
	out := fs.String("out", "", "output folder (required)")
	push := fs.String("push", "", "Ollama model name to create from the model (overrides the push key)")
	list := fs.Bool("list", false, "print every config key with its default and meaning, then exit")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *list {
		for _, k := range stage1.Keys() {
			fmt.Fprintf(stdout, "%-24s %-18s %s\n", k.Key, k.Default, k.Doc)
		}
		return nil
	}
	if *path == "" || *out == "" {
		return errors.New("-config X.toml and -out DIR are required")
	}
	cfg, err := stage1.Load(*path)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	prog := newProgressLine(stderr, *quiet)
	start := time.Now()
	res, err := stage1.Run(ctx, cfg, *push, stage1.Options{
		Dir: *out, LagoVersion: version, Log: clearingWriter{prog},
		Progress: func(p stage1.Progress) {
			prog.status(fmt.Sprintf("stage1 %d/%d %s: %s", p.Index, p.Steps, p.Step, p.Detail))
		},
	})
	prog.clear()
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(stdout, "interrupted; run the same command again to resume\n")
		return nil
	}
	if err != nil {
		return err
	}
	m := res.Manifest
	h := m.Heldout
	fmt.Fprintf(stdout, "%s: %d weights, %.2f MB, sha256 %s (%.0f s)\n", res.Model, m.Params, float64(m.Bytes)/1e6, m.SHA256, time.Since(start).Seconds())
	fmt.Fprintf(stdout, "held out (%d states): NLL %.4f, agreement with the expert %.4f (exact %.4f, first factor %.4f), text ceiling %.4f\n",
		h.Agreement.States, h.NLL, h.Agreement.Agreement, h.Agreement.Exact, h.Agreement.FirstFactor, h.TextCeiling.Optimum)
	fmt.Fprintf(stdout, "use it: -set prior=lm:%s -set prior_template=%s\n", res.Model, m.Config.Template)
	if res.Pushed != "" {
		fmt.Fprintf(stdout, "pushed: -set prior=ollama:%s -set prior_template=%s\n", res.Pushed, m.Config.Template)
	}
	return nil
}
