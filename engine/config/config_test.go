package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestDefaultMatchesCleanRL(t *testing.T) {
	c := Default()
	want := Config{
		ExpName: "ppo", EnvID: "CartPole-v1", Seed: 1, Device: "auto", TorchDeterministic: true,
		TotalTimesteps: 500000, NumEnvs: 4, NumWorkers: 0, VecMode: "lockstep", TorchThreads: 0, CheckpointEvery: 25,
		NumSteps: 128, LearningRate: 2.5e-4, AnnealLR: true, Gamma: 0.99, GAELambda: 0.95,
		NumMinibatches: 4, UpdateEpochs: 4, NormAdv: true, ClipCoef: 0.2, ClipVLoss: true,
		EntCoef: 0.01, VFCoef: 0.5, MaxGradNorm: 0.5, TargetKL: 0,
		HiddenSizes: []int{64, 64}, Activation: "tanh", LogStdInit: 0,
		NormObs: false, NormReward: false, ClipObs: 10, ClipReward: 10,
		// CLEVR-Robot: today's single-relation task.
		TaskLevel: "relation", GoalEncoding: "onehot", Reward: "shaped", Phrasing: "train",
		// LaGO: vanilla PPO unless a prior is named.
		Prior: "none", Beta: 0.05, BetaSchedule: "constant", BetaFinal: 0, BetaDecayFraction: 1,
		KLDirection: "reverse", PriorEps: 0.001, PriorTemperature: 1, PriorWait: 0,
		OllamaHost: "", OllamaParallel: 1, OllamaTimeout: 30, PriorFactorTopK: 2, PriorFallbackSamples: 8,
		PriorCacheDir: "", PriorCacheEntries: 100000, PriorQueue: 4096,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Default() =\n%+v\nwant\n%+v", c, want)
	}
}

func TestDefaultDoesNotShareSlices(t *testing.T) {
	a := Default()
	a.HiddenSizes[0] = 7
	if b := Default(); b.HiddenSizes[0] != 64 {
		t.Errorf("changing one Default() changed the next: hidden_sizes = %v", b.HiddenSizes)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		input string
		edit  func(*Config) // turns Default() into the expected result
	}{
		{"empty", "", func(*Config) {}},
		{"comments only", "# nothing set\n", func(*Config) {}},
		{"some keys", "gamma = 0.9\nnum_envs = 8\ndevice = \"cpu\"\n", func(c *Config) {
			c.Gamma, c.NumEnvs, c.Device = 0.9, 8, "cpu"
		}},
		{"integer for float", "clip_obs = 5", func(c *Config) { c.ClipObs = 5 }},
		{"int64", "total_timesteps = 10_000_000", func(c *Config) { c.TotalTimesteps = 10_000_000 }},
		{"bool", "anneal_lr = false", func(c *Config) { c.AnnealLR = false }},
		{"int list", "hidden_sizes = [256, 128, 64]", func(c *Config) { c.HiddenSizes = []int{256, 128, 64} }},
		{"negative unbounded float", "log_std_init = -0.5", func(c *Config) { c.LogStdInit = -0.5 }},
		{"range bounds are inclusive", "gamma = 1.0\ngae_lambda = 0", func(c *Config) { c.Gamma, c.GAELambda = 1, 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.input), "x.toml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Default()
			tt.edit(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		// Unknown keys.
		{"typo", "gama = 0.9", `configs/x.toml: unknown key "gama" (did you mean "gamma"?)`},
		{"case", "Learning_Rate = 0.1", `configs/x.toml: unknown key "Learning_Rate" (did you mean "learning_rate"?)`},
		{"fragment", "lambda = 0.9", `configs/x.toml: unknown key "lambda" (did you mean "gae_lambda"?)`},
		{"no suggestion", "zzzzzz = 1", `configs/x.toml: unknown key "zzzzzz" (lago config -list shows all keys)`},
		{"table", "[ppo]\ngamma = 0.9", `configs/x.toml: unknown key "ppo": there are no tables; write every key at the top level`},

		// Wrong types.
		{"string for int", `num_envs = "four"`, `configs/x.toml: key "num_envs": expected an integer, got string "four"`},
		{"float for int", "num_steps = 128.0", `configs/x.toml: key "num_steps": expected an integer, got float 128.0`},
		{"string for int64", `seed = "1"`, `configs/x.toml: key "seed": expected an integer, got string "1"`},
		{"datetime for int64", "seed = 1979-05-27", `configs/x.toml: key "seed": expected an integer, got datetime`},
		{"string for bool", `norm_adv = "yes"`, `configs/x.toml: key "norm_adv": expected a boolean (true or false), got string "yes"`},
		{"int for string", "env_id = 3", `configs/x.toml: key "env_id": expected a string, got integer 3`},
		{"bool for float", "gamma = true", `configs/x.toml: key "gamma": expected a number, got boolean true`},
		{"array for float", "gamma = [0.9]", `configs/x.toml: key "gamma": expected a number, got array`},
		{"scalar for list", "hidden_sizes = 64", `configs/x.toml: key "hidden_sizes": expected an array of integers, got integer 64`},
		{"bad list element", `hidden_sizes = [64, "a"]`, `configs/x.toml: key "hidden_sizes": expected an array of integers, got string "a" at index 1`},
		{"table for string", "device = {name = \"cpu\"}", `configs/x.toml: key "device": expected a string, got table`},

		// Ranges, enums and lengths.
		{"above closed bound", "gamma = 1.5", `configs/x.toml: key "gamma" = 1.5 is out of range [0, 1]`},
		{"below closed bound", "gae_lambda = -0.1", `configs/x.toml: key "gae_lambda" = -0.1 is out of range [0, 1]`},
		{"at open bound", "learning_rate = 0", `configs/x.toml: key "learning_rate" = 0.0 is out of range (0, 1]`},
		{"int below", "num_envs = 0", `configs/x.toml: key "num_envs" = 0 is out of range [1, +inf)`},
		{"int64 below", "seed = -1", `configs/x.toml: key "seed" = -1 is out of range [0, +inf)`},
		{"nan", "ent_coef = nan", `configs/x.toml: key "ent_coef" = nan must be a finite number`},
		{"inf unbounded", "log_std_init = -inf", `configs/x.toml: key "log_std_init" = -inf must be a finite number`},
		{"list element", "hidden_sizes = [64, 0]", `configs/x.toml: key "hidden_sizes" element 1 = 0 is out of range [1, +inf)`},
		{"empty list", "hidden_sizes = []", `configs/x.toml: key "hidden_sizes" = [] must have at least 1 element`},
		{"empty string", `env_id = ""`, `configs/x.toml: key "env_id" = "" must have at least 1 character`},
		{"enum", `device = "gpu"`, `configs/x.toml: key "device" = "gpu" must be one of cpu, cuda, auto`},
		{"enum is case sensitive", `activation = "ReLU"`, `configs/x.toml: key "activation" = "ReLU" must be one of tanh, relu`},

		// Cross-field checks.
		{"not divisible", "num_minibatches = 3",
			`configs/x.toml: num_envs * num_steps = 4 * 128 = 512 is not divisible by num_minibatches = 3; set num_minibatches to a divisor of 512 such as 2`},
		{"too few timesteps", "total_timesteps = 100",
			`configs/x.toml: total_timesteps = 100 is less than one rollout, num_envs * num_steps = 4 * 128 = 512, so no update would run; raise total_timesteps or lower num_envs or num_steps`},
		{"overflow", "num_steps = 9223372036854775807",
			`configs/x.toml: num_envs * num_steps = 4 * 9223372036854775807 overflows; lower num_envs or num_steps`},

		// TOML syntax, with the line kept.
		{"syntax", "gamma = 0.9\nnum_envs = = 4\n", `configs/x.toml: line 2, column 12: expected value but found '=' instead`},
		{"duplicate", "gamma = 0.9\ngamma = 0.8\n", `configs/x.toml: line 2, column 13: Key 'gamma' has already been defined.`},

		// Every problem is reported, in file order, each with the source.
		{"several", "gama = 1\nnum_envs = \"four\"\ngamma = 2\n",
			`configs/x.toml: unknown key "gama" (did you mean "gamma"?)` + "\n" +
				`configs/x.toml: key "num_envs": expected an integer, got string "four"` + "\n" +
				`configs/x.toml: key "gamma" = 2.0 is out of range [0, 1]`},
		{"several cross-field", "num_minibatches = 3\ntotal_timesteps = 100",
			`configs/x.toml: num_envs * num_steps = 4 * 128 = 512 is not divisible by num_minibatches = 3; set num_minibatches to a divisor of 512 such as 2` + "\n" +
				`configs/x.toml: total_timesteps = 100 is less than one rollout, num_envs * num_steps = 4 * 128 = 512, so no update would run; raise total_timesteps or lower num_envs or num_steps`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.input), "configs/x.toml")
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want error %q", c, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestParseWithoutSource(t *testing.T) {
	_, err := Parse([]byte("gamma = 2"), "")
	if want := `key "gamma" = 2.0 is out of range [0, 1]`; err == nil || err.Error() != want {
		t.Errorf("Parse error = %v, want %q", err, want)
	}
}

func TestRoundTrip(t *testing.T) {
	custom := Default()
	// exp_name must be a plain file name; a free-form string key carries the quoting test.
	custom.ExpName = "run_é-1.5+x:y=z@h"
	custom.PriorCacheDir = "quote \" backslash \\ tab \t newline \n bell \a unicode é✓"
	custom.EnvID = "HalfCheetah-v4"
	custom.Seed = 9_007_199_254_740_993 // not representable as a float64
	custom.Device = "cuda"
	custom.TorchDeterministic = false
	custom.TotalTimesteps = 1_000_000
	custom.NumEnvs = 1
	custom.NumSteps = 2048
	custom.NumMinibatches = 32
	custom.LearningRate = 3e-4
	custom.Gamma = 1
	custom.EntCoef = 1e-20
	custom.ClipObs = 1e6
	custom.LogStdInit = -0.5
	custom.TargetKL = 0.015
	custom.HiddenSizes = []int{256, 128, 1}
	custom.Activation = "relu"
	custom.NormObs, custom.NormReward = true, true

	for name, c := range map[string]Config{"default": Default(), "custom": custom} {
		t.Run(name, func(t *testing.T) {
			data, err := c.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := Parse(data, "encoded.toml")
			if err != nil {
				t.Fatalf("Parse(Encode()): %v\n%s", err, data)
			}
			if !reflect.DeepEqual(got, c) {
				t.Errorf("round trip changed the config:\n got %+v\nwant %+v\nTOML:\n%s", got, c, data)
			}
		})
	}
}

func TestEncodeListsEveryKeyWithDoc(t *testing.T) {
	data, err := Default().Encode()
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{
		"\n# discount factor\n# allowed: [0, 1]; default: 0.99\ngamma = 0.99\n",
		"\n# compute device; auto picks cuda when available, else cpu\n# allowed: one of cpu, cuda, auto; default: \"auto\"\ndevice = \"auto\"\n",
		"\n# decay the learning rate linearly to 0 over training\n# default: true\nanneal_lr = true\n",
		"\nhidden_sizes = [64, 64]\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Encode output lacks %q; got:\n%s", want, text)
		}
	}
	for _, k := range Keys() {
		if !strings.Contains(text, "\n"+k.Key+" = ") {
			t.Errorf("Encode output lacks key %q", k.Key)
		}
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	c := Default()
	c.Gamma = 2
	if _, err := c.Encode(); err == nil || !strings.Contains(err.Error(), `key "gamma" = 2.0 is out of range [0, 1]`) {
		t.Errorf("Encode of invalid config: err = %v", err)
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		assignment string
		edit       func(*Config)
	}{
		{"prior_cache_dir=my dir", func(c *Config) { c.PriorCacheDir = "my dir" }},
		{"exp_name=a=b", func(c *Config) { c.ExpName = "a=b" }}, // only the first '=' separates
		{"device=cuda", func(c *Config) { c.Device = "cuda" }},
		{" device = cpu ", func(c *Config) { c.Device = "cpu" }},
		{"anneal_lr=false", func(c *Config) { c.AnnealLR = false }},
		{"norm_obs=true", func(c *Config) { c.NormObs = true }},
		{"num_envs=8", func(c *Config) { c.NumEnvs = 8 }},
		{"total_timesteps=10000000", func(c *Config) { c.TotalTimesteps = 10_000_000 }},
		{"learning_rate=3e-4", func(c *Config) { c.LearningRate = 3e-4 }},
		{"clip_obs=5", func(c *Config) { c.ClipObs = 5 }},
		{"hidden_sizes=128,64", func(c *Config) { c.HiddenSizes = []int{128, 64} }},
		{"hidden_sizes=[32, 32, 32]", func(c *Config) { c.HiddenSizes = []int{32, 32, 32} }},
		{"hidden_sizes=16", func(c *Config) { c.HiddenSizes = []int{16} }},
	}
	for _, tt := range tests {
		t.Run(tt.assignment, func(t *testing.T) {
			c := Default()
			if err := c.Set(tt.assignment); err != nil {
				t.Fatalf("Set: %v", err)
			}
			want := Default()
			tt.edit(&want)
			if !reflect.DeepEqual(c, want) {
				t.Errorf("after Set:\n got %+v\nwant %+v", c, want)
			}
		})
	}
}

func TestSetErrors(t *testing.T) {
	tests := []struct {
		assignment string
		want       string
	}{
		{"gamma", `-set "gamma": expected the form -set key=value, e.g. -set gamma=0.99`},
		{"=0.9", `-set "=0.9": expected the form -set key=value, e.g. -set gamma=0.99`},
		{"gama=0.9", `-set gama=0.9: unknown key "gama" (did you mean "gamma"?)`},
		{"nonsense=1", `-set nonsense=1: unknown key "nonsense" (lago config -list shows all keys)`},
		{"num_envs=four", `-set num_envs=four: key "num_envs": expected an integer, got "four"`},
		{"num_envs=4.0", `-set num_envs=4.0: key "num_envs": expected an integer, got "4.0"`},
		{"seed=x", `-set seed=x: key "seed": expected an integer, got "x"`},
		{"gamma=high", `-set gamma=high: key "gamma": expected a number, got "high"`},
		{"norm_adv=yes", `-set norm_adv=yes: key "norm_adv": expected a boolean (true or false), got "yes"`},
		{"hidden_sizes=64,x", `-set hidden_sizes=64,x: key "hidden_sizes": expected an array of integers, got "64,x"`},
		{"gamma=1.5", `-set gamma=1.5: key "gamma" = 1.5 is out of range [0, 1]`},
		{"max_grad_norm=0", `-set max_grad_norm=0: key "max_grad_norm" = 0.0 is out of range (0, 1e+06]`},
		// Values the config once accepted that made training non-finite
		// (issue 11, point 4): each is refused, naming the key.
		{"prior_temperature=1e-4", `-set prior_temperature=1e-4: key "prior_temperature" = 0.0001 is out of range [0.01, 100]`},
		{"log_std_init=1e10", `-set log_std_init=1e10: key "log_std_init" = 1e+10 is out of range [-20, 2]`},
		{"learning_rate=1e30", `-set learning_rate=1e30: key "learning_rate" = 1e+30 is out of range (0, 1]`},
		{"max_grad_norm=1e300", `-set max_grad_norm=1e300: key "max_grad_norm" = 1e+300 is out of range (0, 1e+06]`},
		// Unknown enum values of LaGO's keys are errors listing the choices,
		// never a silent default.
		{"beta_schedule=cosine", `-set beta_schedule=cosine: key "beta_schedule" = "cosine" must be one of constant, linear, exp`},
		{"kl_direction=both", `-set kl_direction=both: key "kl_direction" = "both" must be one of reverse, forward`},
		{"num_steps=0", `-set num_steps=0: key "num_steps" = 0 is out of range [1, +inf)`},
		{"hidden_sizes=", `-set hidden_sizes=: key "hidden_sizes" = [] must have at least 1 element`},
		{"hidden_sizes=64,-1", `-set hidden_sizes=64,-1: key "hidden_sizes" element 1 = -1 is out of range [1, +inf)`},
		{"device=gpu", `-set device=gpu: key "device" = "gpu" must be one of cpu, cuda, auto`},
		{"vec_mode=envpool", `-set vec_mode=envpool: key "vec_mode" = "envpool" must be one of lockstep, async`},
		{"learning_rate=NaN", `-set learning_rate=NaN: key "learning_rate" = nan must be a finite number`},
	}
	for _, tt := range tests {
		t.Run(tt.assignment, func(t *testing.T) {
			c := Default()
			err := c.Set(tt.assignment)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Set error:\n got %v\nwant %s", err, tt.want)
			}
			if !reflect.DeepEqual(c, Default()) {
				t.Errorf("failed Set changed the config: %+v", c)
			}
		})
	}
}

// Set leaves cross-field checks to Validate, so a sequence of overrides may
// pass through an inconsistent state.
func TestSetThenValidate(t *testing.T) {
	c := Default()
	if err := c.Set("num_minibatches=3"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := c.Validate(); err == nil {
		t.Fatal("Validate accepted 512 steps in 3 minibatches")
	}
	if err := c.Set("num_steps=129"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after fixing: %v", err)
	}
}

func TestValidateDivisibility(t *testing.T) {
	tests := []struct {
		envs, steps, minibatches int
		want                     string // empty: valid
	}{
		{4, 128, 4, ""},
		{1, 1, 1, ""},
		{8, 128, 32, ""},
		{3, 5, 15, ""},
		{4, 128, 3, "num_envs * num_steps = 4 * 128 = 512 is not divisible by num_minibatches = 3; set num_minibatches to a divisor of 512 such as 2"},
		{3, 5, 4, "num_envs * num_steps = 3 * 5 = 15 is not divisible by num_minibatches = 4; set num_minibatches to a divisor of 15 such as 3"},
		{2, 3, 7, "num_envs * num_steps = 2 * 3 = 6 is not divisible by num_minibatches = 7; set num_minibatches to a divisor of 6 such as 6"},
		{1, 7, 5, "num_envs * num_steps = 1 * 7 = 7 is not divisible by num_minibatches = 5; set num_minibatches to a divisor of 7 such as 7"},
	}
	for _, tt := range tests {
		c := Default()
		c.NumEnvs, c.NumSteps, c.NumMinibatches = tt.envs, tt.steps, tt.minibatches
		c.TotalTimesteps = int64(tt.envs * tt.steps)
		err := c.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || err.Error() != tt.want) {
			t.Errorf("envs=%d steps=%d minibatches=%d: Validate() = %v, want %q", tt.envs, tt.steps, tt.minibatches, err, tt.want)
		}
	}
}

func TestValidateVecMode(t *testing.T) {
	tests := []struct {
		mode, prior, want string // want empty: valid
	}{
		{"lockstep", "none", ""},
		{"lockstep", "scripted:0.9", ""},
		{"async", "none", ""},
		{"async", "scripted:0.9", ""},
	}
	for _, tt := range tests {
		c := Default()
		c.VecMode, c.Prior = tt.mode, tt.prior
		err := c.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || err.Error() != tt.want) {
			t.Errorf("vec_mode %s, prior %s: Validate() = %v, want %q", tt.mode, tt.prior, err, tt.want)
		}
	}
}

// Out-of-range inputs to the cross-field checks are reported once, by their
// own range, and do not crash the checks.
func TestValidateZeroDivisor(t *testing.T) {
	c := Default()
	c.NumMinibatches = 0
	c.NumEnvs = 0
	want := `key "num_envs" = 0 is out of range [1, +inf)` + "\n" + `key "num_minibatches" = 0 is out of range [1, +inf)`
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %q", err, want)
	}
}

func TestDerived(t *testing.T) {
	tests := []struct {
		envs, steps, minibatches int
		total                    int64
		batch, minibatch, iters  int
	}{
		{4, 128, 4, 500000, 512, 128, 976}, // CleanRL's CartPole defaults
		{1, 2048, 32, 1000000, 2048, 64, 488},
		{8, 128, 4, 1024, 1024, 256, 1},
		{2, 3, 1, 6, 6, 6, 1},
		{4, 128, 0, 0, 512, 0, 0}, // invalid: no division by zero
	}
	for _, tt := range tests {
		c := Default()
		c.NumEnvs, c.NumSteps, c.NumMinibatches, c.TotalTimesteps = tt.envs, tt.steps, tt.minibatches, tt.total
		b, m, n := c.Derived()
		if b != tt.batch || m != tt.minibatch || n != tt.iters {
			t.Errorf("Derived(envs=%d steps=%d minibatches=%d total=%d) = %d, %d, %d; want %d, %d, %d",
				tt.envs, tt.steps, tt.minibatches, tt.total, b, m, n, tt.batch, tt.minibatch, tt.iters)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(good, []byte("num_envs = 8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("num_envs = 8\ngama = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	c, err := Load(good)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.NumEnvs != 8 {
		t.Errorf("num_envs = %d, want 8", c.NumEnvs)
	}

	_, err = Load(bad)
	if want := bad + `: unknown key "gama" (did you mean "gamma"?)`; err == nil || err.Error() != want {
		t.Errorf("Load(bad) error = %v, want %q", err, want)
	}

	missing := filepath.Join(dir, "missing.toml")
	_, err = Load(missing)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) error = %v, want one wrapping fs.ErrNotExist", err)
	}
	if want := "config file " + missing + ": no such file or directory"; err.Error() != want {
		t.Errorf("Load(missing) error = %q, want %q", err, want)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")

	first := Default()
	first.Gamma = 0.9
	if err := first.WriteFile(path); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	// Overwriting goes through the same temp-and-rename path, replacing the
	// old content rather than appending to or truncating it in place.
	second := Default()
	second.HiddenSizes = []int{32}
	if err := second.WriteFile(path); err != nil {
		t.Fatalf("WriteFile over existing file: %v", err)
	}

	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load written file: %v", err)
	}
	if !reflect.DeepEqual(got, second) {
		t.Errorf("Load(WriteFile(c)) =\n%+v\nwant\n%+v", got, second)
	}
	assertOnlyFiles(t, dir, "config.toml")

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o644 {
		t.Errorf("file mode = %v, want 0644", perm)
	}
}

func TestWriteFileFailures(t *testing.T) {
	dir := t.TempDir()

	invalid := Default()
	invalid.Device = "gpu"
	if err := invalid.WriteFile(filepath.Join(dir, "invalid.toml")); err == nil {
		t.Error("WriteFile wrote an invalid config")
	}

	// A directory in the way makes the final rename fail after the temp
	// file was written; that temp file must be cleaned up.
	blocked := filepath.Join(dir, "blocked.toml")
	if err := os.Mkdir(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blocked, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := Default().WriteFile(blocked)
	if err == nil || !strings.HasPrefix(err.Error(), "writing config "+blocked+": ") {
		t.Errorf("WriteFile onto a directory: err = %v", err)
	}
	assertOnlyFiles(t, dir, "blocked.toml")

	if err := Default().WriteFile(filepath.Join(dir, "no", "such", "dir.toml")); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

// assertOnlyFiles fails unless dir holds exactly the named entries, which
// catches temporary files left behind.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, names) {
		t.Errorf("directory holds %q, want %q", got, names)
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	if n := reflect.TypeFor[Config]().NumField(); len(keys) != n {
		t.Fatalf("Keys() has %d entries, Config has %d fields", len(keys), n)
	}
	byName := make(map[string]KeyDoc)
	for _, k := range keys {
		if k.Key == "" || k.Kind == "" || k.Default == "" || k.Doc == "" {
			t.Errorf("incomplete KeyDoc %+v", k)
		}
		byName[k.Key] = k
	}
	if keys[0].Key != "exp_name" || keys[len(keys)-1].Key != "prior_queue" {
		t.Errorf("Keys() not in declaration order: first %q, last %q", keys[0].Key, keys[len(keys)-1].Key)
	}
	for _, want := range []KeyDoc{
		{Key: "gamma", Kind: "float", Default: "0.99", Allowed: "[0, 1]", Doc: "discount factor"},
		{Key: "device", Kind: "string", Default: `"auto"`, Allowed: "one of cpu, cuda, auto", Doc: "compute device; auto picks cuda when available, else cpu"},
		{Key: "num_envs", Kind: "integer", Default: "4", Allowed: "[1, +inf)", Doc: "number of parallel environments"},
		{Key: "hidden_sizes", Kind: "integer array", Default: "[64, 64]", Allowed: "each [1, +inf); at least 1 element", Doc: "hidden layer widths of the policy and value networks"},
		{Key: "norm_obs", Kind: "boolean", Default: "false", Allowed: "", Doc: "normalise observations by a running mean and variance"},
	} {
		if got := byName[want.Key]; got != want {
			t.Errorf("KeyDoc for %s:\n got %+v\nwant %+v", want.Key, got, want)
		}
	}
}

// exp_name names a directory under runs/; anything but a plain file name
// would write elsewhere (issue 11, point 3).
func TestExpNameMustBeAPlainName(t *testing.T) {
	for _, name := range []string{"../../escape", "sub/dir", "/abs", "a\\b", "new\nline", "tab\there", "my run", ".", "..", ".hidden", "bell\a", strings.Repeat("x", 129)} {
		c := Default()
		c.ExpName = name
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "config key exp_name:") {
			t.Errorf("exp_name %q: %v, want an error naming the key", name, err)
		}
	}
	for _, name := range []string{"ppo", "clevr-lago_2", "scripted:0.9", "ollama:llama3.2:1b", "β=0.1"} {
		c := Default()
		c.ExpName = name
		if err := c.Validate(); err != nil {
			t.Errorf("exp_name %q: %v", name, err)
		}
	}
}
