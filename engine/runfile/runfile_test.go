package runfile

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestMetricsRoundTrip(t *testing.T) {
	ret, ev := 12.5, 0.3
	m := Metrics{GlobalStep: 256, Iteration: 2, SPS: 900, Episodes: 3, PolicyLoss: -0.01,
		ExplainedVariance: &ev, EpisodicReturn: &ret, TimeS: 1.5,
		Extra: map[string]float64{"lago_coverage": 0.75, "prior_errors_http": 2, "lago_kl": math.NaN()}}
	var buf bytes.Buffer
	if err := WriteMetrics(&buf, m); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	for _, want := range []string{`"global_step":256`, `"explained_variance":0.3`, `"episodic_return":12.5`, `"lago_coverage":0.75`, `"lago_kl":null`} {
		if !strings.Contains(line, want) {
			t.Errorf("line lacks %s: %s", want, line)
		}
	}
	if strings.Contains(line, "episodic_success") {
		t.Errorf("absent figure written: %s", line)
	}
	log, err := ParseMetrics("m", buf.Bytes())
	if err != nil || len(log.Lines) != 1 {
		t.Fatalf("ParseMetrics: %v %+v", err, log)
	}
	got := log.Lines[0]
	if got.GlobalStep != 256 || *got.EpisodicReturn != 12.5 || got.Extra["lago_coverage"] != 0.75 || got.Extra["prior_errors_http"] != 2 {
		t.Errorf("decoded %+v", got)
	}
	if _, ok := got.Extra["lago_kl"]; ok {
		t.Errorf("null extra decoded as a value")
	}
	v := got.Values()
	if v["global_step"] != 256 || v["lago_coverage"] != 0.75 {
		t.Errorf("Values %v", v)
	}
	if _, ok := v["episodic_success"]; ok {
		t.Errorf("Values holds a key the line lacks: %v", v)
	}
}

func TestMetricsNonFiniteNamed(t *testing.T) {
	err := WriteMetrics(io.Discard, Metrics{Iteration: 7, PolicyLoss: math.Inf(1)})
	if err == nil || !strings.Contains(err.Error(), "iteration 7: policy_loss is +Inf") {
		t.Fatalf("non-finite loss: %v", err)
	}
}

func TestParseMetricsDamage(t *testing.T) {
	good := `{"global_step":1,"iteration":1}` + "\n"
	cases := []struct {
		name    string
		data    string
		lines   int
		torn    int
		badLine int // 0: no error
	}{
		{"clean", good + good, 2, 0, 0},
		{"torn tail", good + good + `{"iteration":3,"glo`, 2, 3, 0},
		{"blank lines", good + "\n" + good + "\n\n", 2, 0, 0},
		{"damaged middle", good + `{"iteration":2,"gl@bal` + "\n" + good, 1, 0, 2},
		{"null line", good + "null\n" + good, 1, 0, 2},
		{"complete tail without newline", good + `{"iteration":2}`, 2, 0, 0},
	}
	for _, c := range cases {
		log, err := ParseMetrics("metrics.jsonl", []byte(c.data))
		var le *LineError
		if c.badLine > 0 {
			if !errors.As(err, &le) || le.Line != c.badLine || !strings.Contains(err.Error(), "metrics.jsonl:") {
				t.Errorf("%s: error %v, want one naming line %d", c.name, err, c.badLine)
			}
			continue
		}
		if err != nil || len(log.Lines) != c.lines || log.Torn != c.torn || len(log.Raw) != c.lines {
			t.Errorf("%s: %d lines, torn %d, err %v; want %d, %d", c.name, len(log.Lines), log.Torn, err, c.lines, c.torn)
		}
	}
}

func TestProgressRoundTrip(t *testing.T) {
	p := Progress{Step: 512, Total: 1024, Iteration: 4, SPS: 100, Return: 20, Success: 0.5, Episodes: 37, Window: EpisodeWindow}
	var buf bytes.Buffer
	if err := WriteProgress(&buf, p); err != nil {
		t.Fatal(err)
	}
	got, err := ParseProgress(bytes.TrimSpace(buf.Bytes()))
	if err != nil || got != p {
		t.Fatalf("ParseProgress = %+v, %v; want %+v", got, err, p)
	}
	if _, err := ParseProgress([]byte(`{"level":"info"}`)); err == nil {
		t.Fatal("a log line parsed as progress")
	}
}

func TestSummaryModeAndRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cov := 0.5
	s := Summary{ExpName: "x", GlobalStep: 10, FinalEpisodes: 3, EpisodeWindow: EpisodeWindow, PriorCoverage: &cov, WallSeconds: 2}
	if err := WriteSummary(dir, s); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, SummaryFile))
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("summary mode %v, %v; want 0644", st.Mode().Perm(), err)
	}
	got, err := ReadSummary(dir)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("ReadSummary = %+v, %v", got, err)
	}
}

// Two opens of the lock file are two open file descriptions, which flock
// treats as two holders even within one process, as two processes are.
func TestLockExclusive(t *testing.T) {
	dir := t.TempDir()
	first, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "process "+itoa(os.Getpid())) {
		t.Fatalf("second Acquire: %v; want ErrLocked naming %s and pid %d", err, dir, os.Getpid())
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	second, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	second.Release()
}

// Discard removes the lock file only when Acquire made it: a failed start
// leaves a directory as it found it, and a run's own lock file stays.
func TestLockDiscard(t *testing.T) {
	for _, existed := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, LockFile)
		if existed {
			if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		l, err := Acquire(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Discard(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); (err == nil) != existed {
			t.Errorf("lock file existed before: %v; after Discard: %v", existed, err)
		}
		// Released: the next process takes it.
		again, err := Acquire(dir)
		if err != nil {
			t.Fatalf("Acquire after Discard: %v", err)
		}
		again.Release()
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestTrainArgsRoundTrip(t *testing.T) {
	cases := []TrainArgs{
		{Config: "c.toml", Out: "runs/x", LogFormat: "json", Quiet: true, ProgressJSON: true, Sets: []string{"seed=3", "exp_name=a=b"}},
		{Resume: "runs/x", LogFormat: "console"},
	}
	for _, a := range cases {
		var got TrainArgs
		fs := flag.NewFlagSet("train", flag.ContinueOnError)
		got.Register(fs)
		if err := fs.Parse(a.Args()); err != nil {
			t.Fatalf("%v: %v", a.Args(), err)
		}
		if !reflect.DeepEqual(got, a) || fs.NArg() != 0 {
			t.Errorf("Args %q parse back as %+v, want %+v", a.Args(), got, a)
		}
	}
}

func TestTrainArgsCheck(t *testing.T) {
	parse := func(args ...string) (TrainArgs, map[string]bool) {
		var a TrainArgs
		fs := flag.NewFlagSet("train", flag.ContinueOnError)
		a.Register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		return a, set
	}
	cases := []struct {
		args []string
		want string // "" means accepted
	}{
		{nil, ""},
		{[]string{"-resume", "runs/x"}, ""},
		{[]string{"-resume", ""}, "-resume was given an empty directory"},
		{[]string{"-resume="}, "-resume was given an empty directory"},
		{[]string{"-out", ""}, "-out was given an empty directory"},
		{[]string{"-resume", "d", "-set", "seed=2"}, "drop -config, -set and -out"},
		{[]string{"-log-format", "xml"}, "want console or json"},
	}
	for _, c := range cases {
		a, set := parse(c.args...)
		err := a.Check(set)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%q: %v, want %q", c.args, err, c.want)
		}
	}
}
