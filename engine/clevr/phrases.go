package clevr

import (
	"strings"
)

// Instructions of the levels other than relation, each in a training and
// a held-out set (phrasing = train or heldout). The held-out sets share no
// sentence frame and no relation or direction phrase with the training
// sets of any level, so that a policy trained on the training phrasings
// (of every level, under task_level = mixed) meets unseen sentences.
// Placeholders: {src}, {dst} and {ball} for colours, {rel} for a relation
// phrase, {dir} for a direction phrase, {clauses} for a hard goal's
// relations.
var (
	// The rephrase level: the relation level's frames and more.
	rephraseTrainFrames = append(append([]string(nil), trainFrames...),
		"Slide the {src} ball so that it ends up {rel} the {dst} ball",
		"Your task: the {src} ball goes {rel} the {dst} ball",
		"Position the {src} sphere {rel} the {dst} sphere",
		"Roll the {src} ball over to a spot {rel} the {dst} ball",
		"Make the {src} ball lie {rel} the {dst} ball",
		"Could you move the {src} ball {rel} the {dst} ball?",
		"Place the {src} one {rel} the {dst} one",
		"The goal is to have the {src} ball {rel} the {dst} ball",
		"Keep pushing the {src} ball until it is {rel} the {dst} ball",
		"Get the {src} ball to rest {rel} the {dst} ball",
		"Relocate the {src} sphere {rel} the {dst} ball",
		"Set the {src} ball down {rel} the {dst} ball",
	)
	rephraseHeldOutFrames = append(append([]string(nil), heldOutFrames...),
		"Nudge the {src} marble along till it lands {rel} the {dst} marble",
		"We need the {src} orb {rel} the {dst} orb",
		"Steer the {src} sphere into place {rel} the {dst} sphere",
		"Arrange for the {src} ball to stay {rel} the {dst} ball",
		"Kindly bring the {src} ball {rel} the {dst} one",
		"Have the {src} object finish {rel} the {dst} object",
	)
	// Relation phrases of the training sets of the rephrase and hard
	// levels: the relation level's.
	trainRelPhrases = [NumRelations][]string{relPhrases[0][:], relPhrases[1][:], relPhrases[2][:], relPhrases[3][:]}
	// Relation phrases of the held-out sets of the rephrase and hard
	// levels (the training sets use relPhrases).
	heldOutRelPhrases = [NumRelations][]string{
		Left:   {"to the left-hand side of", "leftward of"},
		Right:  {"to the right-hand side of", "rightward of"},
		Front:  {"further forward than", "forward of"},
		Behind: {"further back than", "at the rear of"},
	}

	// The easy level: one push of {ball} towards {dir}.
	easyTrainFrames = []string{
		"Push the {ball} ball {dir}",
		"Move the {ball} ball {dir}",
		"Give the {ball} ball one push {dir}",
		"Nudge the {ball} sphere {dir}",
		"Shift the {ball} ball {dir}, once",
		"Make the {ball} ball roll {dir}",
	}
	easyHeldOutFrames = []string{
		"Tap the {ball} orb so it travels {dir}",
		"One shove {dir} for the {ball} marble",
		"Send the {ball} object {dir}",
	}
	easyTrainDirs = [NumRelations][]string{
		Left:   {"to the left", "leftwards"},
		Right:  {"to the right", "rightwards"},
		Front:  {"forward", "to the front"},
		Behind: {"backward", "to the back"},
	}
	easyHeldOutDirs = [NumRelations][]string{
		Left:   {"towards the left wall"},
		Right:  {"towards the right wall"},
		Front:  {"towards the far wall"},
		Behind: {"towards the near wall"},
	}

	// The hard level's relations: a frame around the clauses.
	hardTrainFrames = []string{
		"Arrange the balls so that {clauses}",
		"Push the balls until {clauses}",
		"Make sure that {clauses}",
		"Rearrange the scene: {clauses}",
	}
	hardHeldOutFrames = []string{
		"I would like a layout where {clauses}",
		"Set things up such that {clauses}",
	}
	hardTrainClause   = "the {src} ball is {rel} the {dst} ball"
	hardHeldOutClause = "the {src} orb sits {rel} the {dst} orb"

	// The hard level's ordered row and gathering. Colours are fixed:
	// red, blue, green, purple, cyan from left to right; around green.
	orderTrainFrames = []string{
		"Line up the balls from left to right in the order red, blue, green, purple, cyan",
		"Arrange the balls in a row from left to right: red, blue, green, purple, cyan",
		"Sort the balls by colour from left to right: red, blue, green, purple and cyan",
	}
	orderHeldOutFrames = []string{
		"Put red, blue, green, purple and cyan in that sequence, going rightwards",
		"Order the orbs west to east as red, blue, green, purple, cyan",
	}
	gatherTrainFrames = []string{
		"Gather the other balls around the green ball",
		"Push every other ball close to the green ball",
		"Bring all the balls together around the green one",
	}
	gatherHeldOutFrames = []string{
		"Cluster the remaining orbs near the green orb",
		"Huddle everything tightly about the green sphere",
	}
)

// phrasings returns the sentence frames and the relation or direction
// phrases per relation that an instruction for t draws from. The relation
// level's phrase follows from its frame (see instruction), so it has none.
func phrasings(t Task, heldOut bool) (frames []string, phrases *[NumRelations][]string) {
	pick := func(train, held []string) []string {
		if heldOut {
			return held
		}
		return train
	}
	rel := &trainRelPhrases
	if heldOut {
		rel = &heldOutRelPhrases
	}
	switch {
	case t.Level == LevelRelation:
		return pick(trainFrames, heldOutFrames), nil
	case t.Level == LevelRephrase:
		return pick(rephraseTrainFrames, rephraseHeldOutFrames), rel
	case t.Kind == KindPush:
		if heldOut {
			return easyHeldOutFrames, &easyHeldOutDirs
		}
		return easyTrainFrames, &easyTrainDirs
	case t.Kind == KindRelations:
		return pick(hardTrainFrames, hardHeldOutFrames), rel
	case t.Kind == KindOrder:
		return pick(orderTrainFrames, orderHeldOutFrames), nil
	default:
		return pick(gatherTrainFrames, gatherHeldOutFrames), nil
	}
}

// numPhrases is how many phrase choices an instruction for t draws from:
// the length of the phrase lists (the same for every relation), or 1.
func numPhrases(t Task, heldOut bool) int {
	_, p := phrasings(t, heldOut)
	if p == nil || t.Level == LevelRelation {
		return 1
	}
	return len(p[0])
}

// taskInstruction renders the instruction for t with frame template and
// phrase choice phrase. A hard goal's k-th relation uses phrase+k, so that
// its relations are said in different words.
func taskInstruction(t Task, heldOut bool, template, phrase int) string {
	frames, phrases := phrasings(t, heldOut)
	if t.Level == LevelRelation {
		return instruction(frames, template, t.Rels[0])
	}
	frame := frames[template]
	switch t.Kind {
	case KindRelations:
		if t.Level == LevelRephrase {
			return strings.NewReplacer(
				"{src}", Colours[t.Rels[0].Src],
				"{dst}", Colours[t.Rels[0].Dst],
				"{rel}", phrases[t.Rels[0].Rel][phrase],
			).Replace(frame)
		}
		clause := hardTrainClause
		if heldOut {
			clause = hardHeldOutClause
		}
		parts := make([]string, t.N)
		for k, g := range t.Rels[:t.N] {
			p := phrases[g.Rel]
			parts[k] = strings.NewReplacer(
				"{src}", Colours[g.Src],
				"{dst}", Colours[g.Dst],
				"{rel}", p[(phrase+k)%len(p)],
			).Replace(clause)
		}
		clauses := parts[0]
		if t.N > 1 {
			clauses = strings.Join(parts[:t.N-1], ", ") + " and " + parts[t.N-1]
		}
		return strings.ReplaceAll(frame, "{clauses}", clauses)
	case KindPush:
		return strings.NewReplacer(
			"{ball}", Colours[t.Ball],
			"{dir}", phrases[t.Dir][phrase],
		).Replace(frame)
	}
	return frame
}
