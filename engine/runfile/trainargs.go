package runfile

import (
	"flag"
	"fmt"
	"strings"
)

// TrainArgs are the flags of `lago train`. The CLI parses them through
// Register and `lago compare` builds its children's command lines with
// Args, so the two cannot disagree on a flag's spelling.
type TrainArgs struct {
	Config       string   // -config: TOML config file; empty: the embedded defaults
	Out          string   // -out: run directory of a new run
	Resume       string   // -resume: run directory to continue
	LogFormat    string   // -log-format: console or json
	Quiet        bool     // -quiet: no progress line
	ProgressJSON bool     // -progress-json: Progress lines on stdout
	Sets         []string // -set key=value, repeatable
}

// Flag names of `lago train`.
const (
	FlagConfig       = "config"
	FlagOut          = "out"
	FlagResume       = "resume"
	FlagLogFormat    = "log-format"
	FlagQuiet        = "quiet"
	FlagProgressJSON = "progress-json"
	FlagSet          = "set"
)

// Register defines the flags of `lago train` on fs, parsing into a.
func (a *TrainArgs) Register(fs *flag.FlagSet) {
	fs.StringVar(&a.Config, FlagConfig, a.Config, "TOML config file (default: the embedded defaults, `lago config -list`)")
	fs.StringVar(&a.Out, FlagOut, a.Out, "run directory (default runs/EXP_NAME-SEED-TIME)")
	fs.StringVar(&a.Resume, FlagResume, a.Resume, "continue the run in this directory from its checkpoint, with its own config.toml")
	if a.LogFormat == "" {
		a.LogFormat = "console"
	}
	fs.StringVar(&a.LogFormat, FlagLogFormat, a.LogFormat, "log format: console or json")
	fs.BoolVar(&a.Quiet, FlagQuiet, a.Quiet, "no progress line")
	fs.BoolVar(&a.ProgressJSON, FlagProgressJSON, a.ProgressJSON, "print progress as JSON lines on stdout (for lago compare)")
	fs.Var((*setList)(&a.Sets), FlagSet, "override a config key: -set key=value (repeatable)")
}

// Args is the command line (after `lago train`) that Register parses back
// into a. Empty fields and false switches are left out.
func (a TrainArgs) Args() []string {
	var args []string
	str := func(name, v string) {
		if v != "" {
			args = append(args, "-"+name, v)
		}
	}
	str(FlagConfig, a.Config)
	str(FlagOut, a.Out)
	str(FlagResume, a.Resume)
	str(FlagLogFormat, a.LogFormat)
	if a.Quiet {
		args = append(args, "-"+FlagQuiet)
	}
	if a.ProgressJSON {
		args = append(args, "-"+FlagProgressJSON)
	}
	for _, s := range a.Sets {
		args = append(args, "-"+FlagSet, s)
	}
	return args
}

// setList collects a repeatable string flag.
type setList []string

func (s *setList) String() string     { return strings.Join(*s, " ") }
func (s *setList) Set(v string) error { *s = append(*s, v); return nil }

// Check reports combinations of train flags that cannot be meant. set is
// the names of the flags given on the command line (flag.FlagSet.Visit),
// which tells an empty -resume "" (an unset shell variable) from no -resume.
func (a TrainArgs) Check(set map[string]bool) error {
	if set[FlagResume] && a.Resume == "" {
		return fmt.Errorf("-%s was given an empty directory (an unset shell variable?); name the run directory to continue", FlagResume)
	}
	if set[FlagOut] && a.Out == "" {
		return fmt.Errorf("-%s was given an empty directory (an unset shell variable?); name a run directory or leave -%s out", FlagOut, FlagOut)
	}
	if a.Resume != "" && (a.Config != "" || len(a.Sets) > 0 || a.Out != "") {
		return fmt.Errorf("-%s takes the run's own config.toml and directory; drop -%s, -%s and -%s", FlagResume, FlagConfig, FlagSet, FlagOut)
	}
	if a.LogFormat != "console" && a.LogFormat != "json" {
		return fmt.Errorf("-%s %q: want console or json", FlagLogFormat, a.LogFormat)
	}
	return nil
}

// TrainCommand is the `lago` subcommand that TrainArgs are the flags of.
const TrainCommand = "train"

// CommandLine is the whole argument list of `lago train` with a's flags.
func (a TrainArgs) CommandLine() []string {
	return append([]string{TrainCommand}, a.Args()...)
}
