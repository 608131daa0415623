package demos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	_ "github.com/lago-rl/lago/engine/clevr" // registers CLEVR-Robot
	"github.com/lago-rl/lago/engine/env"
)

const clevrID = "CLEVR-Robot-v0"

func testConfig(episodes, workers int) Config {
	return Config{EnvID: clevrID, Episodes: episodes, Seed: 7, EpsilonMin: 0, EpsilonMax: 0.5,
		Best: BestSuccess, Workers: workers}
}

func collect(t *testing.T, cfg Config) (string, Manifest) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demos")
	m, err := Collect(context.Background(), cfg, "test", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// shared is one small collection that several tests read (collecting costs
// seconds of MuJoCo).
var shared = struct {
	once sync.Once
	dir  string
	m    Manifest
	err  error
}{}

func sharedDemos(t *testing.T) (string, Manifest) {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "lago-demos-test-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = filepath.Join(dir, "demos")
		shared.m, shared.err = Collect(context.Background(), testConfig(10, 1), "test", shared.dir, nil)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.dir, shared.m
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(filepath.Dir(shared.dir))
	}
	os.Exit(code)
}

func TestCollectDeterministicBySeedNotWorkers(t *testing.T) {
	a, _ := collect(t, testConfig(4, 1))
	b, _ := collect(t, testConfig(4, 2))
	other := testConfig(4, 1)
	other.Seed++
	c, _ := collect(t, other)
	for _, f := range []string{EpisodesFile, ManifestFile} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between 1 and 2 workers with the same seed", f)
		}
	}
	x, _ := os.ReadFile(filepath.Join(a, EpisodesFile))
	z, _ := os.ReadFile(filepath.Join(c, EpisodesFile))
	if bytes.Equal(x, z) {
		t.Error("another seed gave the same episodes")
	}
}

func TestCollectContents(t *testing.T) {
	dir, m := sharedDemos(t)
	if m.Counts.Episodes != 10 || !m.Discrete || len(m.Factors) != 2 || m.Config.MaxSteps != 50 {
		t.Fatalf("manifest %+v", m)
	}
	e, err := env.Make(clevrID)
	if err != nil {
		t.Fatal(err)
	}
	act := make([]float32, 1)
	var explored, expert int
	_, err = Read(dir, func(ep Episode) error {
		if ep.Epsilon < 0 || ep.Epsilon > 0.5 || ep.Truncated == ep.Terminated || ep.Success != ep.Terminated {
			t.Errorf("episode %d: ε %v, terminated %v, truncated %v, success %v", ep.Index, ep.Epsilon, ep.Terminated, ep.Truncated, ep.Success)
		}
		for _, s := range ep.Steps {
			// The recorded state is the state: restored, it reads the same
			// text, and its expert gives the recorded action.
			if err := e.UnmarshalBinary(s.State); err != nil {
				t.Fatal(err)
			}
			if got := e.(env.Describer).TextView(); got != s.Text || !strings.Contains(s.Text, s.Instruction) {
				t.Errorf("episode %d step %d: restored text %q, recorded %q (instruction %q)", ep.Index, s.T, got, s.Text, s.Instruction)
			}
			e.(env.Expert).ExpertAction(act)
			if act[0] != s.Expert[0] || s.Best[0] != int(s.Expert[0]) {
				t.Errorf("episode %d step %d: expert %v, recorded %v, best %v", ep.Index, s.T, act[0], s.Expert, s.Best)
			}
			if s.Explored {
				explored++
			} else if s.Taken[0] != s.Expert[0] {
				t.Errorf("episode %d step %d: not explored, but took %v and the expert said %v", ep.Index, s.T, s.Taken, s.Expert)
			} else {
				expert++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if explored == 0 || expert == 0 {
		t.Errorf("%d explored and %d expert steps: want both", explored, expert)
	}
	if m.Counts.BestSize <= m.Counts.Steps {
		t.Errorf("best sets total %d over %d steps: the success rule should find more than the argmax somewhere", m.Counts.BestSize, m.Counts.Steps)
	}
}

// TestBestSetIsEverySucceedingAction checks the success rule against
// stepping every action by hand.
func TestBestSetIsEverySucceedingAction(t *testing.T) {
	dir, _ := sharedDemos(t)
	e, _ := env.Make(clevrID)
	obs := make([]float32, e.ObservationSpace().Dim())
	checked := 0
	Read(dir, func(ep Episode) error {
		s := ep.Steps[len(ep.Steps)-1] // an episode's last state is where pushes succeed
		var want []int
		for a := range 40 {
			e.UnmarshalBinary(s.State)
			if e.Step([]float32{float32(a)}, obs).Success {
				want = append(want, a)
			}
		}
		if !slices.Contains(want, int(s.Expert[0])) {
			return nil // the expert's push does not succeed: argmax only
		}
		got := slices.Sorted(slices.Values(s.Best))
		if !slices.Equal(got, want) {
			t.Errorf("episode %d: best %v, succeeding %v", ep.Index, got, want)
		}
		checked++
		return nil
	})
	if checked == 0 {
		t.Error("no state where the expert's push succeeds was checked")
	}
}

func TestCollectRefusesACompleteDirAndLeavesNothingWhenCancelled(t *testing.T) {
	dir, _ := sharedDemos(t)
	if _, err := Collect(context.Background(), testConfig(1, 1), "test", dir, nil); err == nil || !strings.Contains(err.Error(), "already holds demonstrations") {
		t.Errorf("collecting into a complete directory: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := filepath.Join(t.TempDir(), "cancelled")
	_, err := Collect(ctx, testConfig(50, 1), "test", out, func(p Progress) {
		if p.Episodes == 1 {
			cancel()
		}
	})
	if err == nil {
		t.Fatal("a cancelled collection succeeded")
	}
	left, _ := os.ReadDir(out)
	if len(left) != 0 {
		t.Errorf("a cancelled collection left %v", left)
	}
}

// noExpert is CartPole without its expert.
type noExpert struct{ env.Env }

func init() {
	env.Register("DemosTestNoExpert-v0", func() env.Env { return noExpert{env.NewCartPole()} })
}

// TestContinuousActions: an env with a Box action space gives demos with
// the expert's action and no best set.
func TestContinuousActions(t *testing.T) {
	cfg := Config{EnvID: "Pendulum-v1", Episodes: 2, Seed: 1, EpsilonMax: 0.3, Best: BestArgmax, MaxSteps: 20}
	dir, m := collect(t, cfg)
	if m.Discrete || m.Counts.Steps != 40 || m.Counts.BestSize != 0 {
		t.Fatalf("manifest %+v", m)
	}
	Read(dir, func(ep Episode) error {
		if len(ep.Steps[0].Expert) != 1 || ep.Steps[0].Best != nil || !ep.Truncated {
			t.Errorf("episode %+v", ep.Steps[0])
		}
		return nil
	})
	if _, err := BuildDataset(dir, t.TempDir(), DatasetConfig{Template: "generic-v1", HeldoutFraction: 0.5}, "test"); err == nil || !strings.Contains(err.Error(), "continuous actions") {
		t.Errorf("a dataset of continuous actions: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Best = "top3" }, `best-set rule "top3"; allowed: argmax, success`},
		{func(c *Config) { c.EpsilonMin, c.EpsilonMax = 0.6, 0.2 }, "ε range"},
		{func(c *Config) { c.Episodes = 0 }, "0 episodes"},
		{func(c *Config) { c.EnvID = "Nope-v0" }, `unknown env_id "Nope-v0"`},
		{func(c *Config) { c.EnvID = "DemosTestNoExpert-v0" }, "no scripted expert"},
		{func(c *Config) { c.EnvID = "Pendulum-v1" }, `best-set rule "success" needs discrete actions`},
	} {
		cfg := testConfig(1, 1)
		c.mut(&cfg)
		_, err := Collect(context.Background(), cfg, "test", filepath.Join(t.TempDir(), "x"), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", cfg, err, c.want)
		}
	}
}

// copyDemos copies a demonstrations directory for a test to damage.
func copyDemos(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	os.MkdirAll(dst, 0o755)
	for _, f := range []string{ManifestFile, EpisodesFile} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, f), b, 0o644)
	}
	return dst
}

func TestReadRoundTripAndErrors(t *testing.T) {
	src, m := sharedDemos(t)
	var eps []Episode
	got, err := Read(src, func(ep Episode) error { eps = append(eps, ep); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc([][][]string{got.Factors}, [][][]string{m.Factors}, func(a, b [][]string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) || got.Counts != m.Counts {
		t.Errorf("manifest read back %+v, written %+v", got, m)
	}
	var buf bytes.Buffer
	for _, ep := range eps {
		js, _ := json.Marshal(ep)
		buf.Write(js)
		buf.WriteByte('\n')
	}
	if orig, _ := os.ReadFile(filepath.Join(src, EpisodesFile)); !bytes.Equal(orig, buf.Bytes()) {
		t.Error("episodes read and written again differ from the file")
	}

	edit := func(f string, fn func(string) string) string {
		dir := copyDemos(t, src)
		p := filepath.Join(dir, f)
		b, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(fn(string(b))), 0o644)
		return dir
	}
	lines := func(s string, fn func(i int, l string) string) string {
		ls := strings.Split(s, "\n")
		for i := range ls {
			ls[i] = fn(i+1, ls[i])
		}
		return strings.Join(ls, "\n")
	}
	cases := []struct {
		name string
		dir  string
		want []string
	}{
		{"newer format version", edit(ManifestFile, func(s string) string {
			return strings.Replace(s, `"format_version": 1`, `"format_version": 2`, 1)
		}), []string{ManifestFile, "format version 2", "versions 1 to 1"}},
		{"another format", edit(ManifestFile, func(s string) string {
			return strings.Replace(s, `"lago-demos"`, `"lago-run"`, 1)
		}), []string{ManifestFile, `format "lago-run"`}},
		{"unknown field", edit(EpisodesFile, func(s string) string {
			return lines(s, func(i int, l string) string {
				if i == 3 {
					return strings.Replace(l, `{"episode"`, `{"colour":1,"episode"`, 1)
				}
				return l
			})
		}), []string{EpisodesFile + " line 3", `unknown field "colour"`}},
		{"torn line", edit(EpisodesFile, func(s string) string {
			return lines(s, func(i int, l string) string {
				if i == 2 {
					return l[:len(l)/2]
				}
				return l
			})
		}), []string{EpisodesFile + " line 2"}},
		{"missing episode", edit(EpisodesFile, func(s string) string {
			return lines(s, func(i int, l string) string {
				if i == 5 {
					return "SKIP"
				}
				return l
			})
		}), []string{EpisodesFile + " line 5"}},
		{"counts disagree", edit(ManifestFile, func(s string) string {
			return strings.Replace(s, `"episodes": 10,`, `"episodes": 11,`, 2)
		}), []string{"do not belong together"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "missing episode" { // drop the line rather than leave a bad one
				p := filepath.Join(c.dir, EpisodesFile)
				b, _ := os.ReadFile(p)
				os.WriteFile(p, []byte(strings.Replace(string(b), "SKIP\n", "", 1)), 0o644)
				c.want = []string{EpisodesFile + " line 5", "episode 5 where episode 4 was expected"}
			}
			_, err := Read(c.dir, func(Episode) error { return nil })
			if err == nil {
				t.Fatal("read without error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := Read(t.TempDir(), func(Episode) error { return nil }); err == nil || !strings.Contains(err.Error(), ManifestFile+" is missing") {
		t.Errorf("a directory without a manifest: %v", err)
	}
}
