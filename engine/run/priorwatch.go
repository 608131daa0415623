package run

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/ppo"
	"github.com/lago-rl/lago/engine/prior"
)

// Keys of the regulariser's metrics that priorWatch reads.
const (
	coverageKey     = "lago_coverage" // share of samples the prior answered for
	errorsKeyPrefix = "prior_errors_" // + the error kind: failed lookups this iteration
)

// warnEvery is the least time between two prior warnings.
const warnEvery = 30 * time.Second

// coverageDrop is how far below its best the prior's coverage must fall
// to be worth a warning: coverage wanders by a few percent as the policy
// visits new states, and a failing server takes it down by far more.
const coverageDrop = 0.2

// priorWatch makes prior failures during training visible: after each
// iteration it looks at the regulariser's figures and, at most every
// warnEvery, warns on the console when the prior's lookups failed or its
// coverage fell, naming the server and the error kinds. It also keeps the
// mean coverage for the summary.
type priorWatch struct {
	log   zerolog.Logger
	where string // "prior ollama:M at http://host:port", for messages
	now   func() time.Time

	lastWarn time.Time
	errs     map[string]float64 // failed lookups by kind since the last warning
	best     float64            // best coverage of the run so far
	cov      float64            // latest coverage
	covSum   float64
	covN     int
}

func newPriorWatch(cfg config.Config, reg ppo.Regularizer, log zerolog.Logger) *priorWatch {
	w := &priorWatch{log: log, now: time.Now, errs: map[string]float64{}, where: "prior " + cfg.Prior}
	if spec, err := config.ParsePrior(cfg.Prior); err == nil && spec.Kind == "ollama" {
		if u, err := prior.ResolveHost(cfg.OllamaHost); err == nil {
			w.where += " at " + u.String()
		}
	}
	if reg != nil && cfg.Prior == "none" {
		w.where = "regularizer " + reg.Name()
	}
	return w
}

// observeLogged takes the figures of an iteration logged before a resume:
// they count towards the mean coverage but warn of nothing.
func (w *priorWatch) observeLogged(reg map[string]float64) {
	if c, ok := reg[coverageKey]; ok {
		w.covSum += c
		w.covN++
		w.best = max(w.best, c)
	}
}

// observe takes one iteration's figures and warns if they call for it.
func (w *priorWatch) observe(reg map[string]float64) {
	for k, v := range reg {
		if kind, ok := strings.CutPrefix(k, errorsKeyPrefix); ok && v > 0 {
			w.errs[kind] += v
		}
	}
	fell := false
	if c, ok := reg[coverageKey]; ok {
		w.cov = c
		w.covSum += c
		w.covN++
		fell = c < w.best-coverageDrop
		w.best = max(w.best, c)
	}
	if len(w.errs) == 0 && !fell {
		return
	}
	now := w.now()
	if !w.lastWarn.IsZero() && now.Sub(w.lastWarn) < warnEvery {
		return
	}
	w.lastWarn = now
	ev := w.log.Warn()
	var msg string
	if len(w.errs) > 0 {
		kinds := make([]string, 0, len(w.errs))
		total := 0.0
		for k, v := range w.errs {
			kinds = append(kinds, fmt.Sprintf("%s: %.0f", k, v))
			total += v
		}
		sort.Strings(kinds)
		msg = fmt.Sprintf("%s: %.0f failed lookups (%s) since the last warning", w.where, total, strings.Join(kinds, ", "))
		clear(w.errs)
	} else {
		msg = fmt.Sprintf("%s: coverage fell to %.2f (best %.2f)", w.where, w.cov, w.best)
	}
	if w.covN > 0 {
		ev = ev.Float64("coverage", w.cov)
	}
	ev.Msg(msg + "; training continues with the states the prior still covers")
}

// coverage is the mean coverage over the run's iterations, or nil when the
// regulariser reports none (no prior).
func (w *priorWatch) coverage() *float64 {
	if w.covN == 0 {
		return nil
	}
	c := w.covSum / float64(w.covN)
	return &c
}
