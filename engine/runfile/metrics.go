package runfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Metrics is one line of metrics.jsonl: the figures of one training
// iteration. Episode statistics are absent (nil) on iterations where no
// episode finished; ExplainedVariance is null when it is undefined (constant
// returns). Extra holds the regulariser's figures (lago_*, prior_*) under
// their own names, written as top-level keys after the fixed ones.
type Metrics struct {
	GlobalStep        int64    `json:"global_step"`
	Iteration         int      `json:"iteration"`
	SPS               float64  `json:"sps"`
	Episodes          int      `json:"episodes"` // finished during the iteration
	PolicyLoss        float64  `json:"policy_loss"`
	ValueLoss         float64  `json:"value_loss"`
	Entropy           float64  `json:"entropy"`
	OldApproxKL       float64  `json:"old_approx_kl"`
	ApproxKL          float64  `json:"approx_kl"`
	ClipFrac          float64  `json:"clipfrac"`
	ExplainedVariance *float64 `json:"explained_variance"`
	LearningRate      float64  `json:"learning_rate"`
	TimeS             float64  `json:"time_s"` // seconds since this process started training
	EpisodicReturn    *float64 `json:"episodic_return,omitempty"`
	EpisodicLength    *float64 `json:"episodic_length,omitempty"`
	EpisodicSuccess   *float64 `json:"episodic_success,omitempty"`

	Extra map[string]float64 `json:"-"`

	values map[string]float64 // every numeric key of a decoded line
}

// plainMetrics is Metrics without its JSON methods.
type plainMetrics Metrics

// Finite returns &x, or nil when x is NaN or ±Inf (which JSON cannot carry).
func Finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// fixedKeys are the JSON names of Metrics' own fields.
var fixedKeys = sync.OnceValue(func() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeOf(Metrics{})
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
})

// MarshalJSON writes the fixed fields, then Extra's keys in sorted order
// (a non-finite one as null). A non-finite fixed figure is an error naming
// it, not the encoder's "unsupported value: NaN".
func (m Metrics) MarshalJSON() ([]byte, error) {
	rv := reflect.ValueOf(m)
	rt := rv.Type()
	for i := range rt.NumField() {
		if f := rv.Field(i); f.Kind() == reflect.Float64 && (math.IsNaN(f.Float()) || math.IsInf(f.Float(), 0)) {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			return nil, fmt.Errorf("runfile: metrics of iteration %d: %s is %v", m.Iteration, name, f.Float())
		}
	}
	js, err := json.Marshal(plainMetrics(m))
	if err != nil {
		return nil, err
	}
	if len(m.Extra) == 0 {
		return js, nil
	}
	keys := make([]string, 0, len(m.Extra))
	for k := range m.Extra {
		if fixedKeys()[k] {
			return nil, fmt.Errorf("runfile: metrics of iteration %d: extra figure %q shadows a fixed one", m.Iteration, k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.Write(js[:len(js)-1]) // without the closing brace
	for _, k := range keys {
		kj, _ := json.Marshal(k)
		b.WriteByte(',')
		b.Write(kj)
		b.WriteByte(':')
		if v := Finite(m.Extra[k]); v != nil {
			vj, _ := json.Marshal(*v)
			b.Write(vj)
		} else {
			b.WriteString("null")
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a line written by MarshalJSON, or by an older or newer
// lago: unknown numeric keys go to Extra, other unknown keys are ignored.
func (m *Metrics) UnmarshalJSON(data []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil { // the literal null decodes without error
		return errors.New("not a JSON object")
	}
	var p plainMetrics
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*m = Metrics(p)
	m.values = make(map[string]float64, len(raw))
	for k, v := range raw {
		f, ok := v.(float64)
		if !ok {
			continue
		}
		m.values[k] = f
		if !fixedKeys()[k] {
			if m.Extra == nil {
				m.Extra = map[string]float64{}
			}
			m.Extra[k] = f
		}
	}
	return nil
}

// Values returns every numeric figure of the line by its key. For a decoded
// line these are exactly the keys it held (a key the iteration did not log
// is absent); for one built in memory, its non-nil fields and Extra.
func (m Metrics) Values() map[string]float64 {
	if m.values != nil {
		return m.values
	}
	js, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	var d Metrics
	if d.UnmarshalJSON(js) != nil {
		return nil
	}
	return d.values
}

// WriteMetrics appends m to w as one line.
func WriteMetrics(w io.Writer, m Metrics) error {
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.Write(append(js, '\n'))
	return err
}

// LineError is a metrics line that does not parse.
type LineError struct {
	Path string
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("runfile: %s:%d: %v", e.Path, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// MetricsLog is metrics.jsonl as read.
type MetricsLog struct {
	Lines []Metrics
	// Raw holds each line's bytes with its newline, parallel to Lines.
	Raw [][]byte
	// Torn is the 1-based number of a last line that was cut short (no
	// newline and not valid JSON, as a process killed mid-write leaves),
	// which is skipped; 0 when there is none.
	Torn int
}

// ParseMetrics reads the contents of a metrics.jsonl file; path names it
// in errors. A torn last line is skipped and reported in Torn; any other
// line that does not parse is a *LineError naming the file and line, so
// that no good line is lost silently around a damaged one. Blank lines are
// skipped.
func ParseMetrics(path string, data []byte) (MetricsLog, error) {
	var log MetricsLog
	r := bufio.NewReader(bytes.NewReader(data))
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			return log, nil
		}
		last := err == io.EOF
		if len(bytes.TrimSpace(line)) == 0 {
			if last {
				return log, nil
			}
			continue
		}
		var m Metrics
		if perr := json.Unmarshal(line, &m); perr != nil {
			if last && line[len(line)-1] != '\n' {
				log.Torn = n
				return log, nil
			}
			return log, &LineError{Path: path, Line: n, Err: perr}
		}
		log.Lines = append(log.Lines, m)
		log.Raw = append(log.Raw, line)
		if last {
			return log, nil
		}
	}
}
