package train

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/lm/tokenizer"
)

// TestEncodeInRanges checks the range-split Encode against one pair at a
// time, and that of two pairs too long for the context, in different
// ranges, the error names the first.
func TestEncodeInRanges(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // four ranges even on a 1-core runner
	pairs, err := LetterAfter(5*encodeChunk+7, 4, 12, 3)
	if err != nil {
		t.Fatal(err)
	}
	v := tokenizer.Build(Texts(pairs))
	got, err := Encode(v, pairs, 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(pairs) {
		t.Fatalf("%d sequences for %d pairs", len(got), len(pairs))
	}
	for i, p := range pairs {
		want := append(v.Encode(p.Prompt), EncodeAnswer(v, p.Answer)...)
		if got[i].AnswerStart != len(v.Encode(p.Prompt)) || fmt.Sprint(got[i].Tokens) != fmt.Sprint(want) {
			t.Fatalf("pair %d: tokens %v (answer at %d), want %v", i, got[i].Tokens, got[i].AnswerStart, want)
		}
	}

	long := strings.Repeat(" A", 80)
	bad := append([]Pair(nil), pairs...)
	first, second := 2*encodeChunk+5, 4*encodeChunk+1 // the third range, and the fifth
	bad[second].Prompt += long
	bad[first].Prompt += long
	_, err = Encode(v, bad, 64)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pair %d ", first)) {
		t.Fatalf("error %v, want one naming pair %d", err, first)
	}
}
