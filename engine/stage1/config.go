// Package stage1 is LaGO's stage 1 as one resumable pipeline (issue 13):
// demonstrations of an env's expert (engine/demos) → the guidance dataset
// with exactly the prompts the language-model prior sends → a llama model
// trained on it (engine/lm/train) and exported to GGUF → the model's
// held-out figures and manifest → optionally, the model pushed to Ollama.
//
// Each step writes its own folder under the output directory and, last, a
// step file (stage1.json) holding the hash of everything that shapes the
// step's output: its config keys and the hash of the step before. A step
// whose folder holds a finished step file with the current hash is skipped;
// one left unfinished (killed) is redone from scratch, except training,
// which resumes from its last checkpoint when its hash matches; a changed
// config redoes the step and every later one.
package stage1

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/lago-rl/lago/engine/demos"
	"github.com/lago-rl/lago/engine/lm/train"
	"github.com/lago-rl/lago/engine/prior"
	"github.com/lago-rl/lago/engine/tomlkeys"
)

// Config is a stage-1 pipeline's settings: one TOML file, flat keys for the
// demonstrations, the dataset and the push, and a [train] table holding
// `lago lm train`'s keys (declared once, in engine/lm/train). Each key here
// is declared once too, by engine/tomlkeys' tags: its doc tag is its
// documentation (`lago stage1 -list`), its default tag its default;
// Validate checks its range.
type Config struct {
	// Demonstrations (lago demos).
	EnvID      string  `toml:"env_id" default:"CLEVR-Robot-v0" doc:"env id; it must have a scripted expert and discrete actions"`
	Episodes   int     `toml:"episodes" default:"1000" doc:"episodes of demonstrations to collect (≥ 2: the split is by episode)"`
	DemosSeed  int64   `toml:"demos_seed" default:"1" doc:"seed of the collection: episode i seeds the env with demos_seed+i"`
	EpsilonMin float64 `toml:"epsilon_min" default:"0" doc:"each episode draws its exploration probability ε uniformly from [epsilon_min, epsilon_max]"`
	EpsilonMax float64 `toml:"epsilon_max" default:"0.5" doc:"see epsilon_min; at each step a random action with probability ε, else the expert's"`
	Best       string  `toml:"best" default:"success" doc:"which actions the expert rates best: success (its action, plus every action succeeding at once when its does) or argmax (its action alone)"`
	MaxSteps   int     `toml:"max_steps" default:"0" doc:"steps per episode at most; 0: the env's time limit"`
	Workers    int     `toml:"workers" default:"1" doc:"episodes collected in parallel; the output does not depend on it (nor does the step's hash)"`

	// The guidance dataset (lago demos dataset).
	Template        string  `toml:"template" default:"clevr-compact-v1" doc:"prompt template version the model is trained on and the prior asks with (the RL config's prior_template): clevr-rel-v1, clevr-compact-v1, clevr-v1 or generic-v1"`
	HeldoutFraction float64 `toml:"heldout_fraction" default:"0.2" doc:"fraction of the episodes held out, in (0, 1)"`
	SplitSeed       int64   `toml:"split_seed" default:"1" doc:"seed of which episodes are held out"`
	// Augment is omitted from a model manifest when 0, so that the manifests
	// of configs from before it stay byte for byte what they were.
	Augment int `json:"Augment,omitempty" toml:"augment" default:"0" doc:"symmetric views added per training state (lago demos dataset -augment; CLEVR-Robot: colours permuted, left and right mirrored); 0: none"`

	// The push (lago lm push).
	Push       string `toml:"push" default:"" doc:"Ollama model name to create from the trained model (-push NAME overrides); empty: no push"`
	OllamaHost string `toml:"ollama_host" default:"" doc:"Ollama server of the push: host[:port] or a URL; empty means $OLLAMA_HOST, else 127.0.0.1:11434"`

	// Train holds lago lm train's keys; data and heldout_data are the
	// dataset step's files and may not be set.
	Train train.Config `toml:"train" doc:"[train] table: the keys of lago lm train -list, except data, heldout_data and heldout_fraction (the pipeline's)"`
}

// Default is the configuration with every key at its default: 1,000
// CLEVR-Robot episodes at ε in [0, 0.5], the compact template, lago lm
// train's defaults but a context of 128 tokens (clevr-compact-v1's
// direction question and answer are 107 tokens on average, 112 at most, in
// the 589-token vocabulary lago lm train builds from 400 episodes' data).
func Default() Config {
	c := schema.Default()
	c.Train = train.Default()
	c.Train.Context = 128
	return c
}

// schema is Config's flat keys; trainSchema the [train] table's, lago lm
// train's own (both from the fields' tags).
var (
	schema      = tomlkeys.MustNew[Config]("stage1")
	trainSchema = tomlkeys.MustNew[train.Config]("stage1")
)

// pipelineOwned are lago lm train's keys the pipeline sets: it trains on
// the dataset step's files, split by episode (heldout_fraction above).
var pipelineOwned = map[string]bool{"data": true, "heldout_data": true, "heldout_fraction": true}

// KeyDoc describes one key for `lago stage1 -list`.
type KeyDoc = tomlkeys.KeyDoc

// Keys lists every key with its default and documentation, in file order;
// the [train] table's keys are listed as train.KEY, with lago lm train's
// defaults.
func Keys() []KeyDoc {
	out := schema.Keys()
	for _, k := range trainSchema.Keys() {
		if pipelineOwned[k.Key] {
			continue
		}
		k.Key = "train." + k.Key
		out = append(out, k)
	}
	return out
}

// Parse reads a TOML config over the defaults; unknown keys, wrong types
// and values out of range are errors naming the key.
func Parse(data []byte, source string) (Config, error) {
	c := Default()
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", source, err)
	}
	var errs []error
	for _, k := range md.Undecoded() {
		errs = append(errs, fmt.Errorf("%s: %w", source, unknownKey(k)))
	}
	for _, k := range []string{"data", "heldout_data", "heldout_fraction"} {
		if md.IsDefined("train", k) {
			errs = append(errs, fmt.Errorf("%s: config key train.%s: set by the pipeline (it trains on the dataset step's files, held out by episode with heldout_fraction); remove it", source, k))
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

// Load reads the TOML config file at path.
func Load(path string) (Config, error) {
	data, err := tomlkeys.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return Parse(data, path)
}

// unknownKey reports a key that is neither one of Config's nor, in the
// [train] table, one of lago lm train's, with the key meant where a typo
// makes it plain.
func unknownKey(k toml.Key) error {
	s := schema.Suggest(k.String())
	if len(k) == 2 && k[0] == "train" {
		if s = trainSchema.Suggest(k[1]); s != "" {
			s = "train." + s
		}
	}
	if s != "" {
		return fmt.Errorf("config key %s: unknown key (did you mean %s?)", k, s)
	}
	return fmt.Errorf("config key %s: unknown key (see lago stage1 -list)", k)
}

// Validate checks every key's range. The [train] table is checked by
// lago lm train's own rules, its data keys filled with placeholders (the
// pipeline sets them).
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config key %s: "+format, append([]any{key}, args...)...))
	}
	if c.EnvID == "" {
		bad("env_id", "empty; name an env with a scripted expert (e.g. CLEVR-Robot-v0)")
	}
	if c.Episodes < 2 {
		bad("episodes", "%d, want ≥ 2 (the held-out split is by episode)", c.Episodes)
	}
	if c.DemosSeed < 0 {
		bad("demos_seed", "%d, want ≥ 0", c.DemosSeed)
	}
	if !(c.EpsilonMin >= 0 && c.EpsilonMin <= 1) {
		bad("epsilon_min", "%v, want a value in [0, 1]", c.EpsilonMin)
	}
	if !(c.EpsilonMax >= c.EpsilonMin && c.EpsilonMax <= 1) {
		bad("epsilon_max", "%v, want a value in [epsilon_min = %v, 1]", c.EpsilonMax, c.EpsilonMin)
	}
	if c.Best != string(demos.BestSuccess) && c.Best != string(demos.BestArgmax) {
		bad("best", "%q, want one of %s, %s", c.Best, demos.BestSuccess, demos.BestArgmax)
	}
	if c.MaxSteps < 0 {
		bad("max_steps", "%d, want ≥ 0", c.MaxSteps)
	}
	if c.Workers < 1 {
		bad("workers", "%d, want ≥ 1", c.Workers)
	}
	if _, err := prior.TemplateByVersion(c.Template); err != nil {
		bad("template", "%v", err)
	}
	if !(c.HeldoutFraction > 0 && c.HeldoutFraction < 1) {
		bad("heldout_fraction", "%v, want a value in (0, 1)", c.HeldoutFraction)
	}
	if c.SplitSeed < 0 {
		bad("split_seed", "%d, want ≥ 0", c.SplitSeed)
	}
	if c.Augment < 0 {
		bad("augment", "%d, want 0 (none) or the number of symmetric views per training state", c.Augment)
	}
	t := c.Train
	t.Data, t.HeldoutData = "-", "-"
	if err := t.Validate(); err != nil {
		errs = append(errs, prefixTrainKeys(err))
	}
	return errors.Join(errs...)
}

// prefixTrainKeys names lm train's keys as they are spelled here.
func prefixTrainKeys(err error) error {
	return errors.New(strings.ReplaceAll(err.Error(), "config key ", "config key train."))
}

// Encode writes c as TOML, every key preceded by its documentation, allowed
// values and default, in the order of Keys.
func (c Config) Encode() []byte {
	var b bytes.Buffer
	b.WriteString("# lago stage1 configuration: every key with the value in effect.\n")
	schema.Encode(&b, c, nil)
	b.WriteString("\n[train]\n")
	trainSchema.Encode(&b, c.Train, func(key string) bool { return pipelineOwned[key] })
	return b.Bytes()
}
