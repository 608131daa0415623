package tomlkeys

import "strings"

// Suggest returns the known key the user most likely meant by key, or ""
// if none is convincing: the hint of a "did you mean" error.
func (s *Schema[T]) Suggest(key string) string {
	lower := strings.ToLower(key)
	best, bestDist := "", -1
	for i := range s.fields {
		if d := editDistance(lower, s.fields[i].key); bestDist < 0 || d < bestDist {
			best, bestDist = s.fields[i].key, d
		}
	}
	// Allow about one typo per four characters, and at least two, so that
	// "gama" finds "gamma" but a short unrelated word finds nothing.
	if bestDist <= max(2, len(lower)/4) && bestDist < len(lower) {
		return best
	}
	// A fragment of exactly one key ("lambda" for "gae_lambda") is as
	// good a hint as a typo.
	match := ""
	for i := range s.fields {
		if strings.Contains(s.fields[i].key, lower) {
			if match != "" {
				return ""
			}
			match = s.fields[i].key
		}
	}
	return match
}

// editDistance is the Levenshtein distance between a and b: the fewest
// single-character insertions, deletions and substitutions turning a into b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
