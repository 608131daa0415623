// Package train trains lago's llama models on (prompt, answer) pairs: the
// loss is on the answer tokens only; AdamW with linear warm-up and cosine
// decay, gradient clipping, right-padded minibatches with an attention
// mask; a held-out split evaluated for loss and top-1 answer accuracy;
// atomic checkpoints and resume; metrics as JSON lines.
//
// Determinism: the data split, the batch order and the initial weights
// depend on the seed only, and Run keeps all of a run's libtorch calls on
// one OS thread, so on CPU two runs with the same config and seed — and a
// run resumed from a checkpoint — give the same weights bit for bit.
package train

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/lago-rl/lago/engine/lm"
	"github.com/lago-rl/lago/engine/tomlkeys"
)

// Config is a training run's settings, one flat TOML file like the RL
// config. Each key is declared once here, by engine/tomlkeys' tags: its doc
// tag is its documentation (`lago lm train -list`), its default tag its
// default; Validate checks its range.
type Config struct {
	// Data.
	Data            string  `toml:"data" default:"" doc:"JSON-lines file of {\"prompt\": ..., \"answer\": ...} pairs (required)"`
	HeldoutFraction float64 `toml:"heldout_fraction" default:"0.1" doc:"fraction of the pairs held out for evaluation, in (0, 0.5]; unused with heldout_data"`
	HeldoutData     string  `toml:"heldout_data" default:"" doc:"JSON-lines file of held-out pairs (e.g. lago demos dataset's heldout.jsonl, split by episode); then every pair of data trains; empty: hold out heldout_fraction of data's pairs at random"`
	Init            string  `toml:"init" default:"" doc:"GGUF llama model to continue training (its shape and vocabulary win over the shape keys, except a larger context); empty: a new model"`

	// Run.
	Seed         int64  `toml:"seed" default:"1" doc:"seed of the weights, the held-out split and the batch order"`
	Device       string `toml:"device" default:"cpu" doc:"cpu, cuda or auto"`
	TorchThreads int    `toml:"torch_threads" default:"1" doc:"libtorch intra-op threads of the run; 0 = libtorch's default (one per core)"`
	Name         string `toml:"name" default:"lago-lm" doc:"the model's general.name in the exported GGUF"`
	Export       string `toml:"export" default:"f32" doc:"tensor type of the exported model.gguf: f32, f16 or q8_0"`

	// Model shape (a new model only; context also with init).
	Layers   int     `toml:"layers" default:"2" doc:"transformer blocks"`
	Dim      int     `toml:"dim" default:"64" doc:"embedding width"`
	Heads    int     `toml:"heads" default:"4" doc:"attention heads (must divide dim; dim/heads even)"`
	KVHeads  int     `toml:"kv_heads" default:"2" doc:"key/value heads (must divide heads; fewer is grouped-query attention)"`
	FFN      int     `toml:"ffn" default:"192" doc:"SwiGLU hidden width"`
	Context  int     `toml:"context" default:"64" doc:"longest prompt + answer in tokens; with init, the larger of this and the model's own context"`
	RopeBase float64 `toml:"rope_base" default:"10000" doc:"rotary embedding base (llama.rope.freq_base)"`
	NormEps  float64 `toml:"norm_eps" default:"1e-5" doc:"RMSNorm epsilon (stored as float32)"`

	// Optimisation.
	Steps           int     `toml:"steps" default:"2000" doc:"optimiser steps"`
	BatchSize       int     `toml:"batch_size" default:"32" doc:"pairs per minibatch"`
	LearningRate    float64 `toml:"learning_rate" default:"3e-3" doc:"peak AdamW learning rate"`
	WarmupSteps     int     `toml:"warmup_steps" default:"100" doc:"steps of linear warm-up from 0 to learning_rate"`
	LRFinalFraction float64 `toml:"lr_final_fraction" default:"0.1" doc:"cosine decay ends at learning_rate times this"`
	WeightDecay     float64 `toml:"weight_decay" default:"0.1" doc:"AdamW decoupled weight decay of the weight matrices (not the norms)"`
	Beta1           float64 `toml:"beta1" default:"0.9" doc:"AdamW beta1"`
	Beta2           float64 `toml:"beta2" default:"0.95" doc:"AdamW beta2"`
	AdamEps         float64 `toml:"adam_eps" default:"1e-8" doc:"AdamW epsilon"`
	MaxGradNorm     float64 `toml:"max_grad_norm" default:"1" doc:"clip the global gradient norm to this; 0 = no clipping"`
	EMADecay        float64 `toml:"ema_decay" default:"0" doc:"keep an exponential moving average of the weights, ema = d·ema + (1 − d)·weights after every step (d warmed up as min(ema_decay, (1 + step)/(10 + step))); the held-out evaluation and model.gguf then use it; 0 = off, the last step's weights"`

	// Evaluation and checkpoints.
	EvalEvery       int `toml:"eval_every" default:"200" doc:"evaluate the held-out split every this many steps (and at the end)"`
	CheckpointEvery int `toml:"checkpoint_every" default:"500" doc:"write a checkpoint every this many steps (and at the end); 0 = only at the end"`
}

// Default is the configuration with every key at its default: a 2-layer,
// 64-wide model (~0.1 M weights besides the vocabulary), the shape the CPU
// budget in the issue calls cheap. One libtorch thread by default: a run
// stays on one OS thread (see Run), and on the shared 2-core machine two
// OpenMP threads made each step up to 14× slower there (each parallel op
// waits at a barrier for a descheduled thread); raise it on a quiet machine.
func Default() Config { return schema.Default() }

// schema is Config's keys, from its tags.
var schema = tomlkeys.MustNew[Config]("train")

// KeyDoc describes one key for `lago lm train -list`.
type KeyDoc = tomlkeys.KeyDoc

// Keys lists every key with its default and documentation, in file order.
func Keys() []KeyDoc { return schema.Keys() }

// Parse reads a TOML config over the defaults; unknown keys and wrong types
// are errors naming the key, then Validate runs.
func Parse(data []byte, source string) (Config, error) {
	c, err := ParseUnvalidated(data, source)
	if err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

// ParseUnvalidated is Parse without the range checks, for a file that
// -set overrides will complete.
func ParseUnvalidated(data []byte, source string) (Config, error) {
	c := Default()
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", source, err)
	}
	var errs []error
	for _, k := range md.Undecoded() {
		errs = append(errs, fmt.Errorf("%s: %w", source, unknownKey(k.String())))
	}
	return c, errors.Join(errs...)
}

// Load reads the TOML config file at path.
func Load(path string) (Config, error) {
	data, err := tomlkeys.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return Parse(data, path)
}

// Set applies one -set key=value override (strings need no quotes).
func (c *Config) Set(assignment string) error {
	key, value, ok := strings.Cut(assignment, "=")
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	if !ok || key == "" {
		return fmt.Errorf("-set %q: expected key=value", assignment)
	}
	f, ok := schema.Lookup(key)
	if !ok {
		return unknownKey(key)
	}
	if err := schema.SetText(c, f, value); err != nil {
		return fmt.Errorf("config key %s: %w", key, err)
	}
	return nil
}

// unknownKey reports a key that is not one of Config's, with the key meant
// where a typo makes it plain.
func unknownKey(key string) error {
	if s := schema.Suggest(key); s != "" {
		return fmt.Errorf("config key %s: unknown key (did you mean %s?)", key, s)
	}
	return fmt.Errorf("config key %s: unknown key (see lago lm train -list)", key)
}

// Validate checks every key's range and the keys against each other.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config key %s: "+format, append([]any{key}, args...)...))
	}
	if c.Data == "" {
		bad("data", "required: a JSON-lines file of prompt/answer pairs")
	}
	if c.HeldoutData == "" && !(c.HeldoutFraction > 0 && c.HeldoutFraction <= 0.5) {
		bad("heldout_fraction", "%v, want a value in (0, 0.5]", c.HeldoutFraction)
	}
	if c.Seed < 0 {
		bad("seed", "%d, want ≥ 0", c.Seed)
	}
	if c.Device != "cpu" && c.Device != "cuda" && c.Device != "auto" {
		bad("device", "%q, want one of cpu, cuda, auto", c.Device)
	}
	if c.TorchThreads < 0 {
		bad("torch_threads", "%d, want ≥ 0", c.TorchThreads)
	}
	if _, err := lm.ParseFileType(c.Export); err != nil {
		bad("export", "%q, want one of f32, f16, q8_0", c.Export)
	}
	for _, k := range []struct {
		key string
		v   int
	}{{"layers", c.Layers}, {"dim", c.Dim}, {"heads", c.Heads}, {"kv_heads", c.KVHeads}, {"ffn", c.FFN}, {"context", c.Context}, {"steps", c.Steps}, {"batch_size", c.BatchSize}, {"eval_every", c.EvalEvery}} {
		if k.v < 1 {
			bad(k.key, "%d, want ≥ 1", k.v)
		}
	}
	if c.Heads >= 1 && c.Dim >= 1 && (c.Dim%c.Heads != 0 || (c.Dim/c.Heads)%2 != 0) {
		bad("heads", "%d must divide dim = %d into heads of even width", c.Heads, c.Dim)
	}
	if c.KVHeads >= 1 && c.Heads >= 1 && c.Heads%c.KVHeads != 0 {
		bad("kv_heads", "%d must divide heads = %d", c.KVHeads, c.Heads)
	}
	if !(c.RopeBase > 1) {
		bad("rope_base", "%v, want > 1", c.RopeBase)
	}
	if !(c.NormEps > 0 && c.NormEps < 1) {
		bad("norm_eps", "%v, want a value in (0, 1)", c.NormEps)
	}
	if !(c.LearningRate > 0) {
		bad("learning_rate", "%v, want > 0", c.LearningRate)
	}
	if c.WarmupSteps < 0 || c.WarmupSteps >= c.Steps {
		bad("warmup_steps", "%d, want 0 ≤ warmup_steps < steps = %d", c.WarmupSteps, c.Steps)
	}
	if !(c.LRFinalFraction >= 0 && c.LRFinalFraction <= 1) {
		bad("lr_final_fraction", "%v, want a value in [0, 1]", c.LRFinalFraction)
	}
	if !(c.WeightDecay >= 0) {
		bad("weight_decay", "%v, want ≥ 0", c.WeightDecay)
	}
	for _, k := range []struct {
		key string
		v   float64
	}{{"beta1", c.Beta1}, {"beta2", c.Beta2}} {
		if !(k.v >= 0 && k.v < 1) {
			bad(k.key, "%v, want a value in [0, 1)", k.v)
		}
	}
	if !(c.AdamEps > 0) {
		bad("adam_eps", "%v, want > 0", c.AdamEps)
	}
	if !(c.MaxGradNorm >= 0) {
		bad("max_grad_norm", "%v, want ≥ 0", c.MaxGradNorm)
	}
	if !(c.EMADecay >= 0 && c.EMADecay < 1) {
		bad("ema_decay", "%v, want a value in [0, 1) (0 = off; 0.999 averages over ~1,000 steps)", c.EMADecay)
	}
	if c.CheckpointEvery < 0 {
		bad("checkpoint_every", "%d, want ≥ 0", c.CheckpointEvery)
	}
	return errors.Join(errs...)
}

// Shape is the model shape the shape keys describe, for a vocabulary of n.
func (c Config) Shape(vocab int) lm.Shape {
	return lm.Shape{Vocab: vocab, Dim: c.Dim, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads,
		FFN: c.FFN, Context: c.Context, RopeBase: c.RopeBase, NormEps: float32(c.NormEps)}
}

// Encode writes c as TOML, every key preceded by its documentation, allowed
// values and default.
func (c Config) Encode() []byte {
	var b bytes.Buffer
	b.WriteString("# lago lm train configuration: every key with the value in effect.\n")
	schema.Encode(&b, c, nil)
	return b.Bytes()
}
