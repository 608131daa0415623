// Command lago trains PPO agents, optionally guided by an LLM prior over
// actions (LaGO), and reports on the runs.
//
//	lago version                       versions and the device training will use
//	lago train -config FILE [-out DIR] train (or -resume DIR)
//	lago eval -run DIR -episodes N     evaluate a trained policy
//	lago plot RUNDIR...                learning curves as PNG and SVG
//	lago compare -priors none,scripted:0.9 -seeds 5
//	                                   vanilla PPO against LaGO, side by side
//	lago prior show|warm|stats         the LLM prior: one state, pre-filling, the cache
//	lago env clevr -render out.png     look at an environment
//	lago model tiny -out FILE          a tiny random-weight model for Ollama tests
//	lago lm train|convert|push|check   the language-model engine (stage 1)
//	lago demos [dataset|ceiling|agreement]
//	                                   offline demonstrations and the guidance dataset
//	lago bench [-reference]            the throughput suite, with the PyTorch reference
//	lago config -list                  every configuration key with its default
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	_ "github.com/lago-rl/lago/engine/envs" // every env id resolves in every command
)

// version is lago's own version; release builds set it with -ldflags -X.
var version = "0.1.0-dev"

type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string, stdout, stderr io.Writer) error) {
	commands[name] = command{summary, run}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: lago <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\n`lago <command> -h` describes a command's flags.")
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "lago: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		// A package's errors start with its name, which is often the
		// command's (demos: …): say it once.
		msg := strings.TrimPrefix(err.Error(), args[0]+": ")
		fmt.Fprintf(stderr, "lago %s: %s\n", args[0], msg)
		return 1
	}
	return 0
}

// newFlags makes a command's flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("lago "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (lago plot DIR -out X), which flag.Parse alone would
// take for positional arguments after the first. It returns the positional
// arguments in order; everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
