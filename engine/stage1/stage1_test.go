package stage1

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/lago-rl/lago/engine/envs" // CLEVR-Robot-v0
)

// tinyConfig is a pipeline that runs in seconds: 6 episodes, a 1-layer
// model of width 16, 12 training steps.
func tinyConfig(t *testing.T) Config {
	t.Helper()
	c, err := Parse([]byte(`
episodes = 6
epsilon_max = 0.3
[train]
layers = 1
dim = 16
heads = 2
kv_heads = 1
ffn = 32
steps = 12
warmup_steps = 2
batch_size = 8
eval_every = 6
checkpoint_every = 4
`), "tiny.toml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func runTiny(t *testing.T, ctx context.Context, c Config, dir string) (Result, string, error) {
	t.Helper()
	var log bytes.Buffer
	res, err := Run(ctx, c, "", Options{Dir: dir, LagoVersion: "test", Log: &log})
	return res, log.String(), err
}

func TestPipelineRunsSkipsAndRedoes(t *testing.T) {
	c := tinyConfig(t)
	dir := t.TempDir()
	res, log, err := runTiny(t, context.Background(), c, dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	m := res.Manifest
	sum, err := FileSHA256(res.Model)
	if err != nil {
		t.Fatal(err)
	}
	if m.SHA256 != sum || m.Bytes == 0 || m.Params == 0 {
		t.Errorf("manifest sha256 %s bytes %d params %d; the file's sha256 is %s", m.SHA256, m.Bytes, m.Params, sum)
	}
	if m.Heldout.Agreement.States == 0 || m.Heldout.Agreement.States != m.Dataset.HeldoutStates {
		t.Errorf("agreement over %d states, the dataset holds out %d", m.Heldout.Agreement.States, m.Dataset.HeldoutStates)
	}
	if !(m.Heldout.NLL > 0) || m.Known.Text == "" || len(m.Known.Best) == 0 {
		t.Errorf("held-out NLL %v, known state %+v", m.Heldout.NLL, m.Known)
	}
	if len(res.Skipped) != 0 {
		t.Errorf("a fresh run skipped %v", res.Skipped)
	}

	// The same config again: every step is skipped, the manifest is the same.
	res2, log, err := runTiny(t, context.Background(), c, dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if want := []string{StepDemos, StepDataset, StepTrain, StepModel}; !slices.Equal(res2.Skipped, want) {
		t.Errorf("rerun skipped %v, want %v\n%s", res2.Skipped, want, log)
	}
	if res2.Manifest.SHA256 != m.SHA256 {
		t.Errorf("rerun's manifest names %s, first run %s", res2.Manifest.SHA256, m.SHA256)
	}

	// With a push, the steps are still skipped (the push is not part of
	// their hashes) and the model is created on the server.
	var created string
	var blob int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/blobs/sha256:"+m.SHA256:
			b, _ := io.ReadAll(r.Body)
			blob = len(b)
			w.WriteHeader(http.StatusCreated)
		case r.Method == http.MethodPost && r.URL.Path == "/api/create":
			var req struct{ Model string }
			json.NewDecoder(r.Body).Decode(&req)
			created = req.Model
			w.Write([]byte(`{"status":"success"}` + "\n"))
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	pc := c
	pc.OllamaHost = srv.URL
	res4, err := Run(context.Background(), pc, "lago-tiny", Options{Dir: dir, LagoVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res4.Skipped) != 4 || res4.Pushed != "lago-tiny" || created != "lago-tiny" || int64(blob) != m.Bytes {
		t.Errorf("push: skipped %v, pushed %q, server created %q from a blob of %d bytes (the model has %d)", res4.Skipped, res4.Pushed, created, blob, m.Bytes)
	}

	// A changed training key redoes training and the model, not the data.
	c.Train.Steps = 14
	res3, log, err := runTiny(t, context.Background(), c, dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if want := []string{StepDemos, StepDataset}; !slices.Equal(res3.Skipped, want) {
		t.Errorf("after changing train.steps, skipped %v, want %v\n%s", res3.Skipped, want, log)
	}
	if !strings.Contains(log, "config changed") {
		t.Errorf("log does not say the config changed:\n%s", log)
	}
	if res3.Manifest.SHA256 == m.SHA256 {
		t.Error("more training steps gave the same model")
	}

	// Symmetric views redo the dataset and what follows, not the demos.
	c.Augment = 1
	res5, log, err := runTiny(t, context.Background(), c, dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if want := []string{StepDemos}; !slices.Equal(res5.Skipped, want) {
		t.Errorf("after changing augment, skipped %v, want %v\n%s", res5.Skipped, want, log)
	}
	if d := res5.Manifest.Dataset; d.AugmentedStates == 0 || d.TrainPairs != 2*res3.Manifest.Dataset.TrainPairs {
		t.Errorf("augment 1: dataset %+v; without: %+v", d, res3.Manifest.Dataset)
	}
}

// A pipeline killed during training resumes from the checkpoint and ends
// with the very model an uninterrupted run makes; a fresh folder makes it
// bit for bit too.
func TestPipelineResumesKilledTrainingBitForBit(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the tiny pipeline three times (about half a minute on a loaded 2-core machine); run without -short")
	}
	c := tinyConfig(t)
	whole, log, err := runTiny(t, context.Background(), c, t.TempDir())
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err = Run(ctx, c, "", Options{Dir: dir, LagoVersion: "test", Progress: func(p Progress) {
		if p.Step == StepTrain && strings.HasPrefix(p.Detail, "step 6/") {
			cancel()
		}
	}})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, StepModel)); err == nil {
		t.Fatal("the model step ran although training was interrupted")
	}
	res, log, err := runTiny(t, context.Background(), c, dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if !strings.Contains(log, "resuming the unfinished training") {
		t.Errorf("the rerun did not resume training:\n%s", log)
	}
	if res.Manifest.SHA256 != whole.Manifest.SHA256 {
		t.Errorf("resumed model %s, uninterrupted %s", res.Manifest.SHA256, whole.Manifest.SHA256)
	}
}

func TestPipelineRefusesForeignFolders(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, StepDemos), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, StepDemos, "mine.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := runTiny(t, context.Background(), tinyConfig(t), dir)
	if err == nil || !strings.Contains(err.Error(), "not made by lago stage1") {
		t.Fatalf("err = %v, want a refusal naming the folder", err)
	}
	if _, err := os.Stat(filepath.Join(dir, StepDemos, "mine.txt")); err != nil {
		t.Errorf("the foreign file is gone: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ toml, want string }{
		{`episodes = 1`, "config key episodes: 1, want ≥ 2"},
		{`best = "all"`, `config key best: "all", want one of success, argmax`},
		{`template = "clevr-v9"`, "config key template:"},
		{`epsilon_min = 0.6`, "config key epsilon_max: 0.5, want a value in [epsilon_min = 0.6, 1]"},
		{`heldout_fraction = 1`, "config key heldout_fraction: 1, want a value in (0, 1)"},
		{`augment = -2`, "config key augment: -2, want 0 (none)"},
		{`episodez = 3`, "config key episodez: unknown key (did you mean episodes?)"},
		{`zzzz = 3`, "config key zzzz: unknown key (see lago stage1 -list)"},
		{"[train]\ndata = \"x.jsonl\"", "config key train.data: set by the pipeline"},
		{"[train]\nheads = 3", "config key train.heads: 3 must divide dim"},
		{"[train]\nlayerz = 3", "config key train.layerz: unknown key (did you mean train.layers?)"},
	} {
		_, err := Parse([]byte(tc.toml), "x.toml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to contain %q", tc.toml, err, tc.want)
		}
	}
}

// Encode writes a file Parse reads back to the same config.
func TestEncodeRoundTrip(t *testing.T) {
	c := tinyConfig(t)
	c.Push = "lago-clevr-x"
	back, err := Parse(c.Encode(), "encoded")
	if err != nil {
		t.Fatal(err)
	}
	if back != c {
		t.Errorf("round trip changed the config:\n%+v\n%+v", back, c)
	}
}
