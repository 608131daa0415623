// Package config holds lago's training hyper-parameters.
//
// Each setting is declared once, as a field of [Config] whose struct tags
// give its TOML key, default, allowed values and documentation (the tags of
// engine/tomlkeys). Defaults, validation, command-line overrides (-set
// key=value), the key listing and the written effective config are all
// derived from those tags, so adding a setting means adding one field.
package config

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/lago-rl/lago/engine/tomlkeys"
)

// Config is the complete set of hyper-parameters of a training run. Names
// and defaults follow CleanRL's ppo.py. Each field's doc tag is its
// documentation; `lago config -list` prints them all (see [Keys]).
type Config struct {
	// Experiment.
	ExpName            string `toml:"exp_name" default:"ppo" minlen:"1" doc:"experiment name, used to name run directories"`
	EnvID              string `toml:"env_id" default:"CartPole-v1" minlen:"1" doc:"environment id"`
	Seed               int64  `toml:"seed" default:"1" range:"[0,)" doc:"random seed for environments, network initialisation and sampling"`
	Device             string `toml:"device" default:"auto" enum:"cpu,cuda,auto" doc:"compute device; auto picks cuda when available, else cpu"`
	TorchDeterministic bool   `toml:"torch_deterministic" default:"true" doc:"force deterministic GPU kernels, trading speed for reproducibility"`
	TotalTimesteps     int64  `toml:"total_timesteps" default:"500000" range:"[1,)" doc:"environment steps to train for, summed over all environments"`
	NumEnvs            int    `toml:"num_envs" default:"4" range:"[1,)" doc:"number of parallel environments"`
	NumWorkers         int    `toml:"num_workers" default:"0" range:"[0,)" doc:"goroutines stepping the environments; 0 = one per CPU core"`
	TorchThreads       int    `toml:"torch_threads" default:"0" range:"[0,)" doc:"libtorch intra-op threads; 0 = chosen by network size: 1 when a minibatch's forward pass is under 4M multiply-adds (small MLPs, where one thread is fastest), else one per core"`
	CheckpointEvery    int    `toml:"checkpoint_every" default:"25" range:"[0,)" doc:"save a checkpoint every this many iterations; 0 = only at the end"`

	// Vector env mode (issue 16): how a rollout steps the envs.
	VecMode string `toml:"vec_mode" default:"lockstep" enum:"lockstep,async" doc:"how rollouts step the envs: lockstep (every env steps, then the policy acts on all of them) or async (two halves, double buffered: the policy acts on one half while the workers step the other, and a free worker takes the next env waiting; a prior looks up each half's states as it comes in). Each gives the same run for a seed with any num_workers; with discrete actions the two take the same actions, with outputs equal up to float rounding"`

	// PPO.
	NumSteps       int     `toml:"num_steps" default:"128" range:"[1,)" doc:"steps per environment in each rollout"`
	LearningRate   float64 `toml:"learning_rate" default:"2.5e-4" range:"(0,1]" doc:"Adam learning rate (each Adam step moves a weight by up to about the rate, so above 1 training diverges)"`
	AnnealLR       bool    `toml:"anneal_lr" default:"true" doc:"decay the learning rate linearly to 0 over training"`
	Gamma          float64 `toml:"gamma" default:"0.99" range:"[0,1]" doc:"discount factor"`
	GAELambda      float64 `toml:"gae_lambda" default:"0.95" range:"[0,1]" doc:"lambda of generalised advantage estimation"`
	NumMinibatches int     `toml:"num_minibatches" default:"4" range:"[1,)" doc:"minibatches per update epoch; must divide num_envs * num_steps"`
	UpdateEpochs   int     `toml:"update_epochs" default:"4" range:"[1,)" doc:"optimisation epochs over each rollout"`
	NormAdv        bool    `toml:"norm_adv" default:"true" doc:"normalise advantages within each minibatch"`
	ClipCoef       float64 `toml:"clip_coef" default:"0.2" range:"(0,)" doc:"clipping coefficient of the PPO surrogate objective"`
	ClipVLoss      bool    `toml:"clip_vloss" default:"true" doc:"clip the value loss as the policy loss is clipped"`
	EntCoef        float64 `toml:"ent_coef" default:"0.01" range:"[0,)" doc:"coefficient of the entropy bonus"`
	VFCoef         float64 `toml:"vf_coef" default:"0.5" range:"[0,)" doc:"coefficient of the value loss"`
	MaxGradNorm    float64 `toml:"max_grad_norm" default:"0.5" range:"(0,1e6]" doc:"maximum global gradient norm; 1e6, above any real gradient norm, disables clipping (libtorch takes it as a float32)"`
	TargetKL       float64 `toml:"target_kl" default:"0" range:"[0,)" doc:"stop an update early once the approximate KL exceeds this; 0 disables"`

	// Networks.
	HiddenSizes []int   `toml:"hidden_sizes" default:"64,64" range:"[1,)" minlen:"1" doc:"hidden layer widths of the policy and value networks"`
	Activation  string  `toml:"activation" default:"tanh" enum:"tanh,relu" doc:"activation of the hidden layers"`
	LogStdInit  float64 `toml:"log_std_init" default:"0" range:"[-20,2]" doc:"initial log standard deviation of the Gaussian policy (continuous actions only); SB3's log-std bounds: larger values overflow the log-probabilities"`

	// Normalisation (continuous environments).
	NormObs    bool    `toml:"norm_obs" default:"false" doc:"normalise observations by a running mean and variance"`
	NormReward bool    `toml:"norm_reward" default:"false" doc:"scale rewards by a running estimate of the discounted return's spread"`
	ClipObs    float64 `toml:"clip_obs" default:"10" range:"(0,)" doc:"clip normalised observations to [-clip_obs, clip_obs]"`
	ClipReward float64 `toml:"clip_reward" default:"10" range:"(0,)" doc:"clip normalised rewards to [-clip_reward, clip_reward]"`

	// CLEVR-Robot task levels (issue 14): options of the CLEVR-Robot envs,
	// passed to them through the id that [Config.Env] returns.
	TaskLevel    string `toml:"task_level" default:"relation" enum:"relation,easy,hard,rephrase,mixed" doc:"CLEVR-Robot task: relation (one relation, up to 50 pushes), easy (one push in the named direction), hard (2-3 relations at once, colour order, gathering), rephrase (relation goals in more paraphrases), mixed (a level drawn per episode)"`
	GoalEncoding string `toml:"goal_encoding" default:"onehot" enum:"onehot,text" doc:"CLEVR-Robot goal in the observation: onehot of the goal's balls and relations, or text (a bag of the instruction's words with their positions)"`
	Reward       string `toml:"reward" default:"shaped" enum:"shaped,distance" doc:"CLEVR-Robot reward: shaped (10 per metre of progress to the goal region, +10 on success) or distance (ImagineBench: 10 per metre the source-destination distance shrinks, no success bonus)"`
	Phrasing     string `toml:"phrasing" default:"train" enum:"train,heldout" doc:"CLEVR-Robot instructions: training phrasings, or held-out ones (for evaluation only)"`

	// LaGO: the prior over actions and its weight in the loss.
	Prior             string  `toml:"prior" default:"none" minlen:"1" doc:"prior over actions: none, uniform, scripted:Q, scripted-wrong:Q (Q in [0,1]), ollama:MODEL (a model served by Ollama) or lm:PATH.gguf (a llama GGUF scored in-process by lago's own engine)"`
	Beta              float64 `toml:"beta" default:"0.05" range:"[0,)" doc:"weight of the prior divergence in the loss (at the start of training)"`
	BetaSchedule      string  `toml:"beta_schedule" default:"constant" enum:"constant,linear,exp" doc:"how beta changes: constant, linear decay to beta_final, or exponential decay to beta_final"`
	BetaFinal         float64 `toml:"beta_final" default:"0" range:"[0,)" doc:"beta at the end of its decay (linear and exp schedules)"`
	BetaDecayFraction float64 `toml:"beta_decay_fraction" default:"1" range:"(0,1]" doc:"fraction of training over which beta decays; it stays at beta_final after"`
	KLDirection       string  `toml:"kl_direction" default:"reverse" enum:"reverse,forward" doc:"reverse: KL(policy||prior), mode-seeking, as in KL-regularised RL; forward: KL(prior||policy), cross-entropy to the prior, as in kickstarting"`
	PriorEps          float64 `toml:"prior_eps" default:"0.001" range:"[0,0.5]" doc:"floor on prior probabilities (then renormalised), so no action is impossible under the prior"`
	PriorTemperature  float64 `toml:"prior_temperature" default:"1" range:"[0.01,100]" doc:"prior temperature tau: p is sharpened (<1) or flattened (>1) as p^(1/tau); a sharper tau makes p^(1/tau) underflow to 0"`
	PriorWait         float64 `toml:"prior_wait" default:"0" range:"[0,)" doc:"seconds an update may wait for priors still being scored; 0 masks them out at once"`

	// Stage 1 (issue 13): the prompt template a language-model prior is asked with.
	PriorTemplate string `toml:"prior_template" default:"" doc:"prompt template version of language-model priors: empty for the env's own (clevr-v1 on CLEVR-Robot, metaworld-v1 on MetaWorld-<task>-v3, asking which skill to use now), or clevr-rel-v1 (short prompts, whole centimetres, the named balls' offsets; for models trained by lago demos dataset -template clevr-rel-v1), clevr-compact-v1 (short prompts, 0.02 m grid), clevr-v1, metaworld-v1, generic-v1"`

	// Prior cache keys (issue 13): which engine the Ollama server runs, which
	// its API does not tell (the server's version it does, and is keyed too).
	OllamaNewEngine bool `toml:"ollama_new_engine" default:"false" doc:"set to true when the Ollama server runs with OLLAMA_NEW_ENGINE=1 (its own engine instead of llama.cpp's runner for models such as llama): the two give different log-probabilities for the same GGUF, so the prior cache keys name it; the API cannot report it, and the pinned v0.17.4's default is false"`

	// The Ollama prior service.
	OllamaHost           string  `toml:"ollama_host" default:"" doc:"Ollama server: host[:port] or a URL, read as Ollama reads OLLAMA_HOST (no scheme: port 11434; http://: 80; https://: 443); empty means $OLLAMA_HOST, else 127.0.0.1:11434"`
	OllamaParallel       int     `toml:"ollama_parallel" default:"1" range:"[1,64]" doc:"concurrent requests to Ollama; match the server's OLLAMA_NUM_PARALLEL"`
	OllamaTimeout        float64 `toml:"ollama_timeout" default:"30" range:"(0,)" doc:"seconds before one Ollama request is abandoned"`
	PriorFactorTopK      int     `toml:"prior_factor_topk" default:"2" range:"[1,20]" doc:"factored actions: score the second factor for at most this many first choices (calls per state <= 1 + this)"`
	PriorFallbackSamples int     `toml:"prior_fallback_samples" default:"8" range:"[1,100]" doc:"answers sampled per question when the model gives no log-probabilities"`
	PriorCacheDir        string  `toml:"prior_cache_dir" default:"" doc:"directory of the persistent prior cache; empty means $XDG_CACHE_HOME/lago/prior or ~/.cache/lago/prior. If set and unwritable, training fails; the default, unwritable, gives a warning and a memory-only cache"`
	PriorCacheEntries    int     `toml:"prior_cache_entries" default:"100000" range:"[1,)" doc:"priors kept in memory (the disk cache keeps all)"`
	PriorQueue           int     `toml:"prior_queue" default:"4096" range:"[1,)" doc:"states waiting to be scored at most; more are dropped and asked again later"`
}

// Env returns the id to make the environment with: env_id, followed by
// ":key=value,..." for each CLEVR-Robot task key not at its default (e.g.
// "CLEVR-Robot-v0:task_level=easy"). With every such key at its default it
// is env_id itself, so other envs are unaffected; an env that takes no
// options rejects an id that carries some (engine/env's Make).
func (c Config) Env() string {
	var opts []string
	for _, o := range [...]struct{ key, value string }{
		{"task_level", c.TaskLevel},
		{"goal_encoding", c.GoalEncoding},
		{"reward", c.Reward},
		{"phrasing", c.Phrasing},
	} {
		if o.value != mustLookup(o.key).Default().String() {
			opts = append(opts, o.key+"="+o.value)
		}
	}
	if len(opts) == 0 {
		return c.EnvID
	}
	return c.EnvID + ":" + strings.Join(opts, ",")
}

// CheckTrainable reports the settings that are valid for evaluation but not
// for training: phrasing = heldout, whose instructions are held out of
// training so that evaluating on them tests unseen phrasings. Validate
// accepts them (lago eval uses them); lago train and lago compare call this
// as well.
func (c Config) CheckTrainable() error {
	if c.Phrasing == "heldout" {
		return errors.New(`config key phrasing: heldout is for evaluation only (its phrasings are held out of training); train with phrasing = "train" and evaluate with lago eval -set phrasing=heldout`)
	}
	return nil
}

// schema is Config's settings, from its tags.
var schema = tomlkeys.MustNew[Config]("config")

// mustLookup finds a key this package names itself.
func mustLookup(key string) *tomlkeys.Field {
	f, ok := schema.Lookup(key)
	if !ok {
		panic("config: no key " + key)
	}
	return f
}

// Default returns the configuration with every setting at its default.
func Default() Config { return schema.Default() }

// Parse reads a TOML configuration. Keys absent from data keep their
// defaults. The result is validated; every problem found is reported, one
// per line, each prefixed by source (normally the file name).
func Parse(data []byte, source string) (Config, error) {
	c := Default()
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return Config{}, located(source, syntaxError(err))
	}
	var errs []error
	for _, key := range topLevelKeys(md) {
		f, ok := schema.Lookup(key)
		if !ok {
			_, isTable := raw[key].(map[string]any)
			errs = append(errs, unknownKey(key, isTable))
			continue
		}
		v, err := f.FromTOML(raw[key])
		if err == nil {
			err = f.Check(v)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		schema.Store(&c, f, v)
	}
	// Cross-field checks run only on a cleanly decoded file: after a bad
	// key they would judge its default, not what the user wrote.
	if len(errs) == 0 {
		errs = c.problems()
	}
	if len(errs) > 0 {
		for i := range errs {
			errs[i] = located(source, errs[i])
		}
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// Load reads and parses the TOML configuration file at path.
func Load(path string) (Config, error) {
	data, err := tomlkeys.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return Parse(data, path)
}

// Set applies one command-line override of the form key=value, as given to
// -set. The value is read according to the key's type (an []int is written
// "64,64") and must satisfy the key's own range or choices; checks that
// involve several keys are left to [Config.Validate], since later
// overrides may fix them.
func (c *Config) Set(assignment string) error {
	key, value, ok := strings.Cut(assignment, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return fmt.Errorf("-set %q: expected the form -set key=value, e.g. -set gamma=0.99", assignment)
	}
	f, ok := schema.Lookup(key)
	if !ok {
		return fmt.Errorf("-set %s: %w", assignment, unknownKey(key, false))
	}
	if err := schema.SetText(c, f, value); err != nil {
		return fmt.Errorf("-set %s: %w", assignment, err)
	}
	return nil
}

// Validate checks every setting against its range or choices, and the
// settings against each other. All problems are reported, one per line.
func (c *Config) Validate() error {
	return errors.Join(c.problems()...)
}

// problems lists everything wrong with c; Validate joins them and Parse
// prefixes each with the file name.
func (c *Config) problems() []error {
	errs := schema.Check(c)
	if _, err := ParsePrior(c.Prior); err != nil {
		errs = append(errs, err)
	}
	if c.ExpName != "" { // the empty name is minlen's to report
		if err := CheckExpName(c.ExpName); err != nil {
			errs = append(errs, err)
		}
	}
	// The checks below divide by these keys or multiply them; if any is
	// already reported as out of range, its errors would only be noise.
	if c.NumEnvs < 1 || c.NumSteps < 1 || c.NumMinibatches < 1 {
		return errs
	}
	if c.NumSteps > math.MaxInt/c.NumEnvs {
		return append(errs, fmt.Errorf("num_envs * num_steps = %d * %d overflows; lower num_envs or num_steps", c.NumEnvs, c.NumSteps))
	}
	batch := c.NumEnvs * c.NumSteps
	if batch%c.NumMinibatches != 0 {
		errs = append(errs, fmt.Errorf("num_envs * num_steps = %d * %d = %d is not divisible by num_minibatches = %d; set num_minibatches to a divisor of %d such as %d",
			c.NumEnvs, c.NumSteps, batch, c.NumMinibatches, batch, nearestDivisor(batch, c.NumMinibatches)))
	}
	if c.TotalTimesteps < int64(batch) {
		errs = append(errs, fmt.Errorf("total_timesteps = %d is less than one rollout, num_envs * num_steps = %d * %d = %d, so no update would run; raise total_timesteps or lower num_envs or num_steps",
			c.TotalTimesteps, c.NumEnvs, c.NumSteps, batch))
	}
	// Sizes before the env is known; the trainer checks again with the
	// env's own (ppo.New).
	if err := c.CheckMemory(MinFootprint); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// nearestDivisor returns the divisor of n closest to want, the smaller one
// on a tie. n must be at least 1, so 1 always qualifies.
func nearestDivisor(n, want int) int {
	for d := 0; ; d++ {
		if lo := want - d; lo >= 1 && n%lo == 0 {
			return lo
		}
		if hi := want + d; hi <= n && n%hi == 0 {
			return hi
		}
	}
}

// Derived returns the sizes CleanRL computes from the settings: the rollout
// batch (num_envs * num_steps), the minibatch (batch / num_minibatches) and
// the number of training iterations (total_timesteps / batch, rounded
// down). Call it on a validated Config; sizes that cannot be computed
// because a divisor is not positive are returned as 0.
func (c Config) Derived() (batchSize, minibatchSize, numIterations int) {
	batchSize = c.NumEnvs * c.NumSteps
	if c.NumMinibatches > 0 {
		minibatchSize = batchSize / c.NumMinibatches
	}
	if batchSize > 0 {
		numIterations = int(c.TotalTimesteps / int64(batchSize))
	}
	return batchSize, minibatchSize, numIterations
}

// located prefixes err with the source it came from, if one is known.
func located(source string, err error) error {
	if source == "" {
		return err
	}
	return fmt.Errorf("%s: %w", source, err)
}

// syntaxError rewrites a TOML parse error as "line 3, column 7: ...",
// dropping the library's "toml:" prefix, which says nothing to a user.
func syntaxError(err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("line %d, column %d: %s", pe.Position.Line, pe.Position.Col, pe.Message)
}

// topLevelKeys lists the top-level keys of a decoded document in file
// order. Config is flat, so a table or dotted key is reported under its
// first component.
func topLevelKeys(md toml.MetaData) []string {
	var keys []string
	seen := make(map[string]bool)
	for _, k := range md.Keys() {
		if !seen[k[0]] {
			seen[k[0]] = true
			keys = append(keys, k[0])
		}
	}
	return keys
}

// unknownKey reports a key that is not a setting, suggesting the closest
// known key.
func unknownKey(key string, isTable bool) error {
	if s := schema.Suggest(key); s != "" {
		return fmt.Errorf("unknown key %q (did you mean %q?)", key, s)
	}
	if isTable {
		return fmt.Errorf("unknown key %q: there are no tables; write every key at the top level", key)
	}
	return fmt.Errorf("unknown key %q (lago config -list shows all keys)", key)
}

// CheckExpName accepts an exp_name that is one plain file name: run
// directories are named runs/EXP_NAME-SEED-TIME, so a '/', a "..", an
// absolute path, a space or a control character would put the run
// somewhere else or make an odd name.
func CheckExpName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("config key exp_name: %q %s; use a plain name of letters, digits and . _ - + : = @ (it names the run directory)", name, why)
	}
	if name == "" {
		return bad("is empty")
	}
	if strings.HasPrefix(name, ".") {
		return bad("starts with '.' (a hidden or parent directory)")
	}
	if len(name) > 128 {
		return bad("is longer than 128 bytes")
	}
	for _, r := range name {
		switch {
		case r == '/' || r == '\\':
			return bad("holds a path separator")
		case unicode.IsControl(r) || unicode.IsSpace(r):
			return bad("holds a space or control character")
		case r == utf8.RuneError:
			return bad("is not valid UTF-8")
		case unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-+:=@", r):
		default:
			return bad(fmt.Sprintf("holds %q", r))
		}
	}
	return nil
}
