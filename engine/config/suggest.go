package config

import "strings"

// suggest returns the known key the user most likely meant by key, or ""
// if none is convincing.
func suggest(key string) string {
	lower := strings.ToLower(key)
	best, bestDist := "", -1
	for i := range schema {
		if d := editDistance(lower, schema[i].key); bestDist < 0 || d < bestDist {
			best, bestDist = schema[i].key, d
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
	for i := range schema {
		if strings.Contains(schema[i].key, lower) {
			if match != "" {
				return ""
			}
			match = schema[i].key
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
