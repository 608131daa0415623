package train

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/lm/tokenizer"
)

// writeLines writes a pairs file of the given lines, each ending in "\n".
func writeLines(t *testing.T, lines []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pairs.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func pairLine(p Pair) string { return fmt.Sprintf(`{"prompt": %q, "answer": %q}`, p.Prompt, p.Answer) }

// TestReadCorpusInChunks checks the chunked, parallel ReadCorpus against
// one pair at a time, addTexts against Build over the texts in memory,
// and that of two bad lines in different chunks the error names the first.
func TestReadCorpusInChunks(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // four workers even on a 1-core runner
	pairs, err := LetterAfter(5*chunkLines+7, 4, 12, 3)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	lineOf := map[int]int{} // pair → its line (from 1); every 1000th pair follows a blank line
	for i, p := range pairs {
		if i%1000 == 999 {
			lines = append(lines, "  ")
		}
		lines = append(lines, pairLine(p))
		lineOf[i] = len(lines)
	}
	path := writeLines(t, lines)

	var texts []string
	for _, p := range pairs {
		texts = append(texts, p.Prompt, p.Answer)
	}
	want := tokenizer.Build(texts)
	b := tokenizer.NewBuilder()
	if err := addTexts(b, path); err != nil {
		t.Fatal(err)
	}
	v := b.Vocab()
	if !slices.Equal(v.Tokens, want.Tokens) {
		t.Fatalf("addTexts made %d tokens, Build %d, or another order", v.Len(), want.Len())
	}
	c, err := ReadCorpus(path, v, 64)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != len(pairs) {
		t.Fatalf("%d sequences for %d pairs", c.Len(), len(pairs))
	}
	for i, p := range pairs {
		prompt := v.Encode(p.Prompt)
		var wantToks []int32
		for _, id := range append(prompt, EncodeAnswer(v, p.Answer)...) {
			wantToks = append(wantToks, int32(id))
		}
		toks, answer := c.Seq(i)
		if answer != len(prompt) || !slices.Equal(toks, wantToks) {
			t.Fatalf("pair %d: tokens %v (answer at %d), want %v (at %d)", i, toks, answer, wantToks, len(prompt))
		}
	}
	sel := c.Select([]int{7, 2, 7})
	for k, i := range []int{7, 2, 7} {
		got, ga := sel.Seq(k)
		w, wa := c.Seq(i)
		if ga != wa || !slices.Equal(got, w) {
			t.Fatalf("Select: pair %d is %v (answer at %d), want pair %d's %v (%d)", k, got, ga, i, w, wa)
		}
	}

	long := strings.Repeat(" A", 80)
	first, second := 2*chunkLines+5, 4*chunkLines+1 // in the third chunk, and the fifth
	for _, tc := range []struct {
		name        string
		bad         func(p *Pair) string
		wantInFirst string
	}{
		{"too long", func(p *Pair) string { p.Prompt += long; return pairLine(*p) }, "more than context = 64"},
		{"not JSON", func(p *Pair) string { return "{" + pairLine(*p) }, "invalid character"},
		{"unknown key", func(p *Pair) string { return strings.Replace(pairLine(*p), `"answer"`, `"answers"`, 1) }, "unknown field"},
		{"empty answer", func(p *Pair) string { p.Answer = ""; return pairLine(*p) }, "must both be non-empty"},
	} {
		bad := slices.Clone(lines)
		for _, i := range []int{second, first} {
			p := pairs[i]
			bad[lineOf[i]-1] = tc.bad(&p)
		}
		_, err := ReadCorpus(writeLines(t, bad), v, 64)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("line %d: ", lineOf[first])) || !strings.Contains(err.Error(), tc.wantInFirst) {
			t.Errorf("%s: error %v, want one naming line %d and %q", tc.name, err, lineOf[first], tc.wantInFirst)
		}
	}
	if _, err := ReadCorpus(writeLines(t, []string{"", " "}), v, 64); err == nil || !strings.Contains(err.Error(), "holds no pairs") {
		t.Errorf("blank file: error %v, want one saying it holds no pairs", err)
	}
	if _, err := ReadCorpus(filepath.Join(t.TempDir(), "missing.jsonl"), v, 64); err == nil || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Errorf("missing file: error %v, want one naming it", err)
	}
}
