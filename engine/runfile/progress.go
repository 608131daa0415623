package runfile

import (
	"encoding/json"
	"errors"
	"io"
)

// Progress is one progress line, as `lago train -progress-json` prints it
// on stdout and `lago compare` reads it from each child.
type Progress struct {
	Step      int64   `json:"step"`
	Total     int64   `json:"total"`
	Iteration int     `json:"iteration"`
	SPS       float64 `json:"sps"`
	ETASecs   float64 `json:"eta_s"`
	// Return and Success average the last Episodes finished episodes, at
	// most Window (EpisodeWindow) of them; Episodes is 0 before the first.
	Return   float64 `json:"return"`
	Success  float64 `json:"success"`
	Episodes int     `json:"episodes"`
	Window   int     `json:"window"`
}

// WriteProgress prints p as one JSON line.
func WriteProgress(w io.Writer, p Progress) error {
	js, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = w.Write(append(js, '\n'))
	return err
}

// ParseProgress reads one line WriteProgress printed. A line that is not a
// progress line (Total ≤ 0) is an error, so that stray output is ignored.
func ParseProgress(line []byte) (Progress, error) {
	var p Progress
	if err := json.Unmarshal(line, &p); err != nil {
		return p, err
	}
	if p.Total <= 0 {
		return p, errors.New("runfile: not a progress line (no total)")
	}
	return p, nil
}
