package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/lago-rl/lago/engine/lm/gguf"
	"github.com/lago-rl/lago/engine/runfile"
)

func init() {
	register("model", "write a model for the LLM prior (tiny: a random-weight llama for tests)", cmdModel)
}

const modelUsage = `usage: lago model tiny -out FILE [-seed S] [-labels L1,L2,...]

tiny writes a GGUF llama model of random weights (~0.8 MB) that Ollama can
serve: load it with a Modelfile holding
    FROM ./tiny.gguf
    TEMPLATE "{{ .Prompt }}"
Its answers mean nothing, but they come back in milliseconds, the same for
the same seed, through the API a real model uses. Its vocabulary has the
letters A-Z, the digits 0-9 and common prompt words as single tokens, bare
and after a space, plus any -labels.`

func cmdModel(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, modelUsage)
		if len(args) == 0 {
			return errors.New("no model kind given")
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "tiny":
		return cmdModelTiny(args[1:], stdout, stderr)
	}
	fmt.Fprintln(stderr, modelUsage)
	return fmt.Errorf("unknown model kind %q", args[0])
}

func cmdModelTiny(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("model tiny", stderr)
	out := fs.String("out", "", "output GGUF file (required)")
	seed := fs.Uint64("seed", 1, "seed of the random weights")
	labels := fs.String("labels", "", "comma-separated extra labels to make single tokens")
	fs.Usage = func() {
		fmt.Fprint(stderr, modelUsage+"\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return errors.New("-out is required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var extra []string
	if *labels != "" {
		extra = strings.Split(*labels, ",")
	}
	// Atomic: a failed or interrupted write never leaves a truncated model
	// where Ollama or a cached path check would take it for a good one.
	if err := runfile.WriteAtomic(*out, 0o644, func(w io.Writer) error {
		return gguf.WriteTinyLlama(w, extra, *seed)
	}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, *out)
	return nil
}
