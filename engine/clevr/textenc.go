package clevr

import (
	"slices"
	"strings"
)

// The text goal encoding (goal_encoding = text) is a bag of the
// instruction's words over a fixed vocabulary: the words of every training
// phrasing of every level. Each vocabulary word has two features, how often
// it occurs (at most maxWordCount) and its mean position in the sentence
// (0 first, 1 last), so that "red ... left of ... blue" and "blue ... left
// of ... red" differ. Every other word, such as those only the held-out
// phrasings use, counts towards one unknown-word slot. No model is
// downloaded: the encoding is a function of the words alone, and
// phrasings matter, since a policy must learn which words carry the goal.
//
// A bag cannot say which colour goes with which relation in a hard goal of
// several relations; it gives their words and rough positions. The
// one-hot encoding gives the hard goals exactly.

// maxWordCount caps a word's count feature.
const maxWordCount = 8

// vocabulary lists the words of the training phrasings, sorted; a word's
// index is its slot.
var vocabulary = func() []string {
	var texts []string
	texts = append(texts, rephraseTrainFrames...) // includes the relation level's
	texts = append(texts, easyTrainFrames...)
	texts = append(texts, hardTrainFrames...)
	texts = append(texts, hardTrainClause, "and")
	texts = append(texts, orderTrainFrames...)
	texts = append(texts, gatherTrainFrames...)
	texts = append(texts, Colours[:]...)
	for r := range NumRelations {
		texts = append(texts, relPhrases[r][:]...)
		texts = append(texts, easyTrainDirs[r]...)
	}
	var words []string
	for _, t := range texts {
		words = append(words, tokenize(t)...)
	}
	slices.Sort(words)
	return slices.Compact(words)
}()

// textDim is the length of the text encoding: two features per vocabulary
// word and two for the unknown words.
var textDim = 2 * (len(vocabulary) + 1)

// tokenize lowercases s and splits it into runs of letters; placeholders
// such as {src} are dropped.
func tokenize(s string) []string {
	var words []string
	for _, f := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r < 'a' || r > 'z' && r != '{' && r != '}' }) {
		if !strings.ContainsAny(f, "{}") {
			words = append(words, f)
		}
	}
	return words
}

// encodeText writes the text encoding of sentence into enc [textDim].
func encodeText(enc []float32, sentence string) {
	clear(enc)
	words := tokenize(sentence)
	unknown := len(vocabulary)
	for i, w := range words {
		slot, ok := slices.BinarySearch(vocabulary, w)
		if !ok {
			slot = unknown
		}
		pos := float32(0)
		if len(words) > 1 {
			pos = float32(i) / float32(len(words)-1)
		}
		enc[2*slot]++
		enc[2*slot+1] += pos
	}
	for slot := 0; slot < len(enc); slot += 2 {
		if n := enc[slot]; n > 0 {
			enc[slot+1] /= n
			enc[slot] = min(n, maxWordCount)
		}
	}
}
