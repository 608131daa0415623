package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/lm"
)

func writePairs(t testing.TB, pairs []Pair) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, p := range pairs {
		enc.Encode(p)
	}
	path := filepath.Join(t.TempDir(), "pairs.jsonl")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// letterConfig is the learning test's setting: 4-letter lists over 9
// letters (9,072 distinct pairs; n of them drawn, a tenth held out), a
// 2-layer model — an induction-style lookup needs two layers: one to tag
// each letter with its predecessor, one to match the query against the tags.
// Weight decay 0.1 matters: at 0.01 the model memorises its training pairs
// (train loss 0.05, held-out accuracy 0.94 after 1500 steps).
func letterConfig(t testing.TB, n int) Config {
	pairs, err := LetterAfter(n, 4, 9, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.Data = writePairs(t, pairs)
	c.Dim, c.Heads, c.KVHeads, c.FFN, c.Layers = 64, 4, 2, 128, 2
	c.Context = 24
	c.BatchSize = 64
	c.Steps = 1200
	c.WarmupSteps = 50
	c.LearningRate = 1e-2
	c.WeightDecay = 0.1
	c.EvalEvery = 100
	c.CheckpointEvery = 0
	return c
}

// TestLearnsLetterAfter is the acceptance test of the engine: a small model
// learns a mapping that needs attention over the prompt to ≥ 99% held-out
// accuracy within a fixed step budget.
func TestLearnsLetterAfter(t *testing.T) {
	if testing.Short() {
		t.Skip("learning test (≈1 min on 2 quiet cores, ≈2 min busy) skipped in -short mode")
	}
	c := letterConfig(t, 8000)
	tr, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	dir := t.TempDir()
	start := time.Now()
	res, err := tr.Run(context.Background(), Options{Dir: dir, Progress: func(p Progress) {
		if p.Step%100 == 0 {
			t.Logf("step %d loss %.4f heldout loss %.4f acc %.4f (%.0f tokens/s)", p.Step, p.Loss, p.HeldoutLoss, p.HeldoutAcc, p.TokensPerS)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d steps in %v: held-out loss %.4f, accuracy %.4f", res.Steps, time.Since(start).Round(time.Second), res.HeldoutLoss, res.HeldoutAcc)
	if res.HeldoutAcc < 0.99 {
		t.Errorf("held-out accuracy %.4f after %d steps, want ≥ 0.99", res.HeldoutAcc, res.Steps)
	}
}

func smallConfig(t testing.TB) Config {
	pairs, err := LetterAfter(300, 4, 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.Data = writePairs(t, pairs)
	c.TorchThreads = 1
	c.Dim, c.Heads, c.KVHeads, c.FFN, c.Layers, c.Context = 16, 2, 1, 32, 1, 24
	c.BatchSize, c.Steps, c.WarmupSteps, c.EvalEvery, c.CheckpointEvery = 8, 12, 3, 4, 0
	return c
}

func weightsOf(t *testing.T, tr *Trainer) [][]float32 {
	t.Helper()
	w, err := tr.Model().Weights()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestResumeIsBitExact: stopping after 5 steps, checkpointing and resuming
// gives the same weights, moving average, metrics and model as an
// uninterrupted run.
func TestResumeIsBitExact(t *testing.T) {
	for _, ema := range []float64{0, 0.9} {
		t.Run(fmt.Sprintf("ema_decay=%v", ema), func(t *testing.T) { testResume(t, ema) })
	}
}

func testResume(t *testing.T, ema float64) {
	c := smallConfig(t)
	c.EMADecay = ema
	straight, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer straight.Free()
	dirA := t.TempDir()
	if _, err := straight.Run(context.Background(), Options{Dir: dirA}); err != nil {
		t.Fatal(err)
	}

	dirB := t.TempDir()
	first, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	_, err = first.Run(ctx, Options{Dir: dirB, Progress: func(p Progress) {
		if steps++; steps == 5 {
			cancel()
		}
	}})
	first.Free()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	// The interrupted run's checkpoint exports as the model of step 5.
	mid := filepath.Join(t.TempDir(), "mid.gguf")
	if step, err := ExportCheckpoint(dirB, mid, ""); err != nil || step != 5 {
		t.Fatalf("ExportCheckpoint of the interrupted run: step %d, %v; want step 5", step, err)
	}
	rc, err := ResumeConfig(dirB)
	if err != nil {
		t.Fatal(err)
	}
	other := rc
	other.EMADecay = 0.5 - ema // on when it was off, off when on
	if _, err := New(other, Options{Dir: dirB, Resume: true}); err == nil || !strings.Contains(err.Error(), "config key ema_decay") {
		t.Errorf("resuming with ema_decay %v a run started with %v: error %v, want one naming ema_decay", other.EMADecay, ema, err)
	}
	resumed, err := New(rc, Options{Dir: dirB, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Free()
	if resumed.step != 5 {
		t.Fatalf("resumed at step %d, want 5", resumed.step)
	}
	if _, err := resumed.Run(context.Background(), Options{Dir: dirB, Resume: true}); err != nil {
		t.Fatal(err)
	}
	a, b := weightsOf(t, straight), weightsOf(t, resumed)
	if ema > 0 {
		ea, eb := emaOf(t, straight), emaOf(t, resumed)
		a, b = append(a, ea...), append(b, eb...)
	}
	for i := range a {
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				t.Fatalf("parameter %d[%d]: %g straight, %g resumed", i, j, a[i][j], b[i][j])
			}
		}
	}
	ma, _ := os.ReadFile(filepath.Join(dirA, MetricsFile))
	mb, _ := os.ReadFile(filepath.Join(dirB, MetricsFile))
	strip := func(data []byte) []Metrics {
		var out []Metrics
		for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			var m Metrics
			json.Unmarshal(line, &m)
			m.TokensPerS = 0 // wall-clock
			out = append(out, m)
		}
		return out
	}
	if sa, sb := strip(ma), strip(mb); len(sa) != 12 || !reflect.DeepEqual(sa, sb) {
		t.Errorf("metrics differ: %d lines straight, %d resumed", len(sa), len(sb))
	}
	ga, _ := os.ReadFile(filepath.Join(dirA, ModelFile))
	gb, _ := os.ReadFile(filepath.Join(dirB, ModelFile))
	if len(ga) == 0 || !bytes.Equal(ga, gb) {
		t.Errorf("model.gguf differs: %d bytes straight, %d resumed", len(ga), len(gb))
	}
	for _, f := range []string{ConfigFile, CheckpointFile, ModelFile} {
		if _, err := os.Stat(filepath.Join(dirB, f)); err != nil {
			t.Errorf("run directory lacks %s", f)
		}
	}
	// The last checkpoint exports as the run's own model.gguf, byte for byte
	// (the average, with ema_decay), and the mid-run one as another model.
	last := filepath.Join(t.TempDir(), "last.gguf")
	if step, err := ExportCheckpoint(dirA, last, ""); err != nil || step != c.Steps {
		t.Fatalf("ExportCheckpoint: step %d, %v; want step %d", step, err, c.Steps)
	}
	if ge, _ := os.ReadFile(last); !bytes.Equal(ga, ge) {
		t.Errorf("the last checkpoint exported as %d bytes unlike model.gguf's %d", len(ge), len(ga))
	}
	if gm, _ := os.ReadFile(mid); len(gm) != len(ga) || bytes.Equal(gm, ga) {
		t.Errorf("the step-5 export (%d bytes) should differ from model.gguf (%d bytes) in its weights only", len(gm), len(ga))
	}
	if _, err := ExportCheckpoint(t.TempDir(), last, ""); err == nil || !strings.Contains(err.Error(), CheckpointFile) {
		t.Errorf("exporting a directory without a checkpoint: %v, want an error naming %s", err, CheckpointFile)
	}
}

func emaOf(t *testing.T, tr *Trainer) [][]float32 {
	t.Helper()
	w, err := tr.ema.Weights()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestEMAFollowsTheWeights checks the moving average step by step against
// a float64 one of the weights after each step, with the warmed-up decay,
// and that the evaluation and the export use it.
func TestEMAFollowsTheWeights(t *testing.T) {
	c := smallConfig(t)
	c.EMADecay = 0.5 // reached at step 9: both the warm-up and the cap are exercised
	tr, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	var want [][]float64
	for _, p := range weightsOf(t, tr) { // the average starts at the initial weights
		want = append(want, f64(p))
	}
	for step := 1; step <= c.Steps; step++ {
		if _, _, _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
		d := min(c.EMADecay, (1+float64(step-1))/(10+float64(step-1)))
		for i, p := range weightsOf(t, tr) {
			for j, v := range p {
				want[i][j] = d*want[i][j] + (1-d)*float64(v)
			}
		}
		for i, e := range emaOf(t, tr) {
			for j, v := range e {
				if math.Abs(float64(v)-want[i][j]) > 1e-6*(1+math.Abs(want[i][j])) {
					t.Fatalf("step %d (decay %v): average %d[%d] = %.9g, want %.9g", step, d, i, j, v, want[i][j])
				}
			}
		}
	}
	if tr.exported() != tr.ema {
		t.Fatal("with ema_decay the run exports the last weights, not the average")
	}
	el, ea, err := tr.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	ll, la, err := Evaluate(tr.model, tr.rope, tr.heldout, 32, tr.device)
	if err != nil {
		t.Fatal(err)
	}
	al, aa, err := Evaluate(tr.ema, tr.rope, tr.heldout, 32, tr.device)
	if err != nil {
		t.Fatal(err)
	}
	if el != al || ea != aa || el == ll {
		t.Errorf("Evaluate gives %v/%v; the average %v/%v, the last weights %v/%v", el, ea, al, aa, ll, la)
	}
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func TestLRSchedule(t *testing.T) {
	c := Default()
	c.Steps, c.WarmupSteps, c.LearningRate, c.LRFinalFraction = 11, 2, 1, 0.1
	want := map[int]float64{0: 0.5, 1: 1, 2: 1, 11 - 1: 0.1}
	for step, w := range want {
		if got := c.LR(step); math.Abs(got-w) > 1e-12 {
			t.Errorf("LR(%d) = %g, want %g", step, got, w)
		}
	}
	if mid := c.LR(2 + 4); math.Abs(mid-0.55) > 1e-12 {
		t.Errorf("LR at half the decay = %g, want 0.55", mid)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct{ toml, want string }{
		{`data = "x"` + "\ndimm = 3", "config key dimm: unknown key (did you mean dim?)"},
		{`data = "x"` + "\nzzzz = 3", "config key zzzz: unknown key (see lago lm train -list)"},
		{`data = "x"` + "\nheads = 3", "config key heads: 3 must divide dim = 64"},
		{`data = "x"` + "\nexport = \"q4\"", "config key export"},
		{`dim = 64`, "config key data: required"},
		{`data = "x"` + "\nwarmup_steps = 5000", "config key warmup_steps"},
		{`data = "x"` + "\nema_decay = 1", "config key ema_decay: 1, want a value in [0, 1)"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.toml), "x.toml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.toml, err, c.want)
		}
	}
	cfg := Default()
	if err := cfg.Set("dim=128"); err != nil || cfg.Dim != 128 {
		t.Errorf("-set dim=128: %v, dim %d", err, cfg.Dim)
	}
	for _, c := range []struct{ set, want string }{
		{"dim=x", `config key dim: key "dim": expected an integer, got "x"`},
		{"stepz=3", "config key stepz: unknown key (did you mean steps?)"},
		{"dim", `-set "dim": expected key=value`},
	} {
		if err := cfg.Set(c.set); err == nil || err.Error() != c.want {
			t.Errorf("-set %s: error %v, want %q", c.set, err, c.want)
		}
	}
	// The written config reads back as itself.
	cfg.Data = "d.jsonl"
	back, err := Parse(cfg.Encode(), "enc")
	if err != nil || !reflect.DeepEqual(back, cfg) {
		t.Errorf("encode/parse round trip: %v\n%+v\n%+v", err, back, cfg)
	}
}

// TestSameSeedSameRun: two runs of one config give bit-identical weights.
// Before Run kept to one OS thread, runs diverged in the last bits within
// the first steps: torch_threads reached only the OS thread that set it.
func TestSameSeedSameRun(t *testing.T) {
	c := letterConfig(t, 2000)
	c.Steps, c.WarmupSteps, c.EvalEvery = 30, 10, 10
	var weights [2][][]float32
	for i := range weights {
		tr, err := New(c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Run(context.Background(), Options{Dir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		weights[i] = weightsOf(t, tr)
		tr.Free()
	}
	for p := range weights[0] {
		for j := range weights[0][p] {
			if weights[0][p][j] != weights[1][p][j] {
				t.Fatalf("parameter %d[%d]: %g and %g", p, j, weights[0][p][j], weights[1][p][j])
			}
		}
	}
}

// TestHeldoutDataFile: with heldout_data the held-out set is that file's
// pairs (a split made elsewhere, by episode) and every pair of data trains;
// a missing file names the key.
func TestHeldoutDataFile(t *testing.T) {
	pairs, err := LetterAfter(300, 4, 9, 3)
	if err != nil {
		t.Fatal(err)
	}
	c := smallConfig(t)
	c.Data = writePairs(t, pairs[:250])
	c.HeldoutData = writePairs(t, pairs[250:])
	c.HeldoutFraction = 0 // unused with heldout_data
	tr, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, h := tr.Sizes()
	tr.Free()
	if n != 250 || h != 50 {
		t.Fatalf("sizes train %d, held out %d; want 250 and 50", n, h)
	}
	c.HeldoutData = filepath.Join(t.TempDir(), "missing.jsonl")
	if _, err := New(c, Options{}); err == nil || !strings.Contains(err.Error(), "config key heldout_data") {
		t.Fatalf("missing held-out file: %v; want an error naming heldout_data", err)
	}
	c.HeldoutData = ""
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "heldout_fraction") {
		t.Fatalf("no held-out file and fraction 0: %v; want an error naming heldout_fraction", err)
	}
}

// TestInitTakesALargerContext: a model continued with init keeps its shape,
// but a larger context key wins (RoPE learns no positions), so it can be
// taught longer prompts than it was made for; a smaller key never cuts.
func TestInitTakesALargerContext(t *testing.T) {
	c := smallConfig(t)
	c.Context = 12 // 4-letter lists are 11 tokens
	dir := t.TempDir()
	tr, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background(), Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	tr.Free()

	longer, err := LetterAfter(300, 7, 8, 4) // the same words, 14 tokens
	if err != nil {
		t.Fatal(err)
	}
	cont := smallConfig(t)
	cont.Init = filepath.Join(dir, ModelFile)
	cont.Data = writePairs(t, longer)
	cont.Dim, cont.Layers = 32, 3 // shape keys lose to the model's
	cont.Context = 10
	if _, err := New(cont, Options{}); err == nil || !strings.Contains(err.Error(), "more than context = 12") {
		t.Fatalf("a smaller context key: %v; want the model's 12 kept and the long pairs refused", err)
	}
	cont.Context = 16
	tr, err = New(cont, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	out := t.TempDir()
	if _, err := tr.Run(context.Background(), Options{Dir: out}); err != nil {
		t.Fatal(err)
	}
	im, err := lm.Import(filepath.Join(out, ModelFile), torch.Float32, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Model.Free()
	if s := im.Model.Shape; s.Context != 16 || s.Dim != 16 || s.Layers != 1 {
		t.Fatalf("continued model's shape %+v; want the first model's with context 16", s)
	}
}

// TestNotFiniteStopsTheRun: a learning rate that blows the weights up
// makes a step's loss or gradient norm NaN or infinite; the run stops with
// an error that says so and names the last checkpoint, which holds the
// last finite step (the bad step is never applied or saved).
func TestNotFiniteStopsTheRun(t *testing.T) {
	c := smallConfig(t)
	c.LearningRate, c.WarmupSteps, c.CheckpointEvery, c.Steps = 1e30, 0, 1, 20
	dir := t.TempDir()
	tr, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	_, err = tr.Run(context.Background(), Options{Dir: dir})
	if !errors.Is(err, ErrNotFinite) {
		t.Fatalf("run with learning_rate 1e30: %v; want ErrNotFinite", err)
	}
	meta, _, cerr := readCheckpoint(filepath.Join(dir, CheckpointFile))
	if cerr != nil {
		t.Fatal(cerr)
	}
	want := fmt.Sprintf("train: step %d (learning rate ", meta.Step+1)
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("the checkpoint of step %d is kept: -resume %s", meta.Step, dir)) {
		t.Fatalf("error %q; want it to start %q and name the checkpoint of step %d", err, want, meta.Step)
	}
}
