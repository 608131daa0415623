package ppo

// EpisodeWindow keeps the statistics of the last few finished episodes.
type EpisodeWindow struct {
	eps  []Episode
	next int
	full bool
}

// NewEpisodeWindow keeps the last n episodes.
func NewEpisodeWindow(n int) *EpisodeWindow { return &EpisodeWindow{eps: make([]Episode, n)} }

// Add records a finished episode.
func (w *EpisodeWindow) Add(e Episode) {
	w.eps[w.next] = e
	w.next = (w.next + 1) % len(w.eps)
	if w.next == 0 {
		w.full = true
	}
}

// Last returns up to k most recent episodes, newest last.
func (w *EpisodeWindow) Last(k int) []Episode {
	n := w.next
	if w.full {
		n = len(w.eps)
	}
	k = min(k, n)
	out := make([]Episode, 0, k)
	for i := k; i > 0; i-- {
		out = append(out, w.eps[(w.next-i+len(w.eps))%len(w.eps)])
	}
	return out
}

// Mean returns the mean return, length and success rate of up to k recent
// episodes, and how many there were.
func (w *EpisodeWindow) Mean(k int) (ret, length, success float64, n int) {
	eps := w.Last(k)
	for _, e := range eps {
		ret += e.Return
		length += float64(e.Length)
		if e.Success {
			success++
		}
	}
	if n = len(eps); n > 0 {
		ret /= float64(n)
		length /= float64(n)
		success /= float64(n)
	}
	return ret, length, success, n
}

// SuccessByLevel returns the success rate and the number of episodes of
// each task level among episodes (env.Leveled); nil maps when none has a
// level.
func SuccessByLevel(episodes []Episode) (map[string]float64, map[string]int) {
	var succ map[string]float64
	var n map[string]int
	for _, e := range episodes {
		if e.Level == "" {
			continue
		}
		if n == nil {
			succ, n = map[string]float64{}, map[string]int{}
		}
		n[e.Level]++
		if e.Success {
			succ[e.Level]++
		}
	}
	for l := range n {
		succ[l] /= float64(n[l])
	}
	return succ, n
}
