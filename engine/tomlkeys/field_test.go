package tomlkeys

import (
	"math"
	"strings"
	"testing"
)

// build is New's error for a struct type T.
func build[T any]() error {
	_, err := New[T]()
	return err
}

// Malformed tags are programming errors caught when the package loads; these
// cases make sure each one is caught, with a message naming the field.
func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		new  func() error
		want string
	}{
		{"unsupported type", build[struct {
			A uint `toml:"a" default:"1" doc:"d"`
		}], "field A: unsupported type uint"},
		{"missing toml", build[struct {
			A int `default:"1" doc:"d"`
		}], "field A: missing toml tag"},
		{"quoted key", build[struct {
			A int `toml:"a.b" default:"1" doc:"d"`
		}], `field A: toml key "a.b" may only hold letters, digits, '_' and '-'`},
		{"missing doc", build[struct {
			A int `toml:"a" default:"1"`
		}], "field A: missing doc tag"},
		{"multi-line doc", build[struct {
			A int `toml:"a" default:"1" doc:"one\ntwo"`
		}], "field A: doc tag spans several lines"},
		{"missing default", build[struct {
			A int `toml:"a" doc:"d"`
		}], "field A: missing default tag"},
		{"bad default", build[struct {
			A int `toml:"a" default:"x" doc:"d"`
		}], `field A: default: key "a": expected an integer, got "x"`},
		{"default out of range", build[struct {
			A float64 `toml:"a" default:"2" range:"[0,1]" doc:"d"`
		}], `field A: default: key "a" = 2.0 is out of range [0, 1]`},
		{"default not in enum", build[struct {
			A string `toml:"a" default:"x" enum:"y,z" doc:"d"`
		}], `field A: default: key "a" = "x" must be one of y, z`},
		{"range on string", build[struct {
			A string `toml:"a" default:"x" range:"[0,1]" doc:"d"`
		}], "field A: range tag is only for numeric and []int fields"},
		{"enum on int", build[struct {
			A int `toml:"a" default:"1" enum:"1,2" doc:"d"`
		}], "field A: enum tag is only for string fields"},
		{"empty enum choice", build[struct {
			A string `toml:"a" default:"x" enum:"x,,y" doc:"d"`
		}], `field A: empty choice in enum "x,,y"`},
		{"minlen on bool", build[struct {
			A bool `toml:"a" default:"true" minlen:"1" doc:"d"`
		}], "field A: minlen tag is only for string and []int fields"},
		{"bad minlen", build[struct {
			A []int `toml:"a" default:"1" minlen:"-1" doc:"d"`
		}], `field A: minlen "-1" is not a non-negative integer`},
		{"bad range", build[struct {
			A int `toml:"a" default:"1" range:"[0,1" doc:"d"`
		}], `field A: range "[0,1": must end with ] or )`},
		{"duplicate key", build[struct {
			A int `toml:"a" default:"1" doc:"d"`
			B int `toml:"a" default:"1" doc:"d"`
		}], `field B: duplicate key "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.new()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("New error = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestParseInterval(t *testing.T) {
	tests := []struct {
		tag     string
		printed string // empty: the tag is malformed
		in, out []float64
	}{
		{"[0,1]", "[0, 1]", []float64{0, 0.5, 1}, []float64{-1e-9, 1.0000001}},
		{"(0,1)", "(0, 1)", []float64{1e-300, 0.999}, []float64{0, 1}},
		{"(0,)", "(0, +inf)", []float64{1e-300, 1e300}, []float64{0, -1}},
		{"[1,)", "[1, +inf)", []float64{1, 1e9}, []float64{0.999}},
		{"(,0]", "(-inf, 0]", []float64{-1e300, 0}, []float64{1e-300}},
		{" [ -2.5 , 2.5e1 ] ", "[-2.5, 25]", []float64{-2.5, 25}, []float64{-2.6, 25.1}},
		{"[,1]", "", nil, nil},    // an infinite bound cannot be closed
		{"[0,]", "", nil, nil},    // likewise
		{"[0,inf)", "", nil, nil}, // bounds must be finite; leave it empty
		{"[1,0]", "", nil, nil},
		{"0,1", "", nil, nil},
		{"[0;1]", "", nil, nil},
		{"[a,1]", "", nil, nil},
		{"[]", "", nil, nil},
	}
	for _, tt := range tests {
		iv, err := parseInterval(tt.tag)
		if tt.printed == "" {
			if err == nil {
				t.Errorf("parseInterval(%q) = %v, want error", tt.tag, iv)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseInterval(%q): %v", tt.tag, err)
			continue
		}
		if got := iv.String(); got != tt.printed {
			t.Errorf("parseInterval(%q).String() = %q, want %q", tt.tag, got, tt.printed)
		}
		for _, v := range tt.in {
			if !iv.contains(v) {
				t.Errorf("%s does not contain %g", iv, v)
			}
		}
		for _, v := range tt.out {
			if iv.contains(v) {
				t.Errorf("%s contains %g", iv, v)
			}
		}
	}
}

// suggestSchema holds some of the RL config's keys, whose typos users make.
var suggestSchema = MustNew[struct {
	NumEnvs        int     `toml:"num_envs" default:"4" doc:"d"`
	TotalTimesteps int64   `toml:"total_timesteps" default:"1" doc:"d"`
	NumSteps       int     `toml:"num_steps" default:"1" doc:"d"`
	LearningRate   float64 `toml:"learning_rate" default:"1" doc:"d"`
	Gamma          float64 `toml:"gamma" default:"1" doc:"d"`
	GAELambda      float64 `toml:"gae_lambda" default:"1" doc:"d"`
	UpdateEpochs   int     `toml:"update_epochs" default:"1" doc:"d"`
	HiddenSizes    []int   `toml:"hidden_sizes" default:"64" doc:"d"`
}]("test")

func TestSuggest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"gama", "gamma"},
		{"gamma", "gamma"},
		{"num_env", "num_envs"},
		{"num-envs", "num_envs"},
		{"learningrate", "learning_rate"},
		{"LEARNING_RATE", "learning_rate"},
		{"hidden", "hidden_sizes"},
		{"epochs", "update_epochs"},
		{"steps", ""}, // in both num_steps and total_timesteps
		{"x", ""},
		{"zzzzzz", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := suggestSchema.Suggest(tt.in); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"gama", "gamma", 1},
		{"kitten", "sitting", 3},
		{"é", "e", 1}, // runes, not bytes
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestFormatFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{10, "10.0"},
		{-3, "-3.0"},
		{0.99, "0.99"},
		{2.5e-4, "0.00025"},
		{1e-20, "1e-20"},
		{1e21, "1e+21"},
		{math.NaN(), "nan"},
		{math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"},
	}
	for _, tt := range tests {
		if got := formatFloat(tt.in); got != tt.want {
			t.Errorf("formatFloat(%g) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\t\n\r\b\f", `"\t\n\r\b\f"`},
		{"\a\x00\x7f", `"\u0007\u0000\u007F"`},
		{"é✓", `"é✓"`},
		{"\xff", `"` + "\uFFFD" + `"`},
	}
	for _, tt := range tests {
		if got := quote(tt.in); got != tt.want {
			t.Errorf("quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
