package clevr

import (
	"fmt"
	"strings"
)

// Level is a task level: how goals are drawn, said and judged.
type Level int

// The levels. LevelMixed is only an option: each of its episodes draws one
// of the other four, and that is the episode's level.
const (
	// LevelRelation is the single-relation task ("push the red ball to
	// the left of the blue ball"), up to 50 pushes.
	LevelRelation Level = iota
	// LevelEasy asks for one push of a named ball in a named direction;
	// the episode ends after that one push.
	LevelEasy
	// LevelHard asks for two or three relations at once, for the balls
	// in colour order from left to right, or for the balls gathered
	// around the green one.
	LevelHard
	// LevelRephrase is the relation task said in a larger set of
	// paraphrases.
	LevelRephrase
	LevelMixed
	numLevels
)

var levelNames = [numLevels]string{"relation", "easy", "hard", "rephrase", "mixed"}

// episodeLevels are the levels an episode can have, in the order a mixed
// episode draws them from.
var episodeLevels = [...]Level{LevelRelation, LevelEasy, LevelHard, LevelRephrase}

// String returns the level's name as the config key task_level spells it.
func (l Level) String() string {
	if l < 0 || l >= numLevels {
		return fmt.Sprintf("Level(%d)", int(l))
	}
	return levelNames[l]
}

// Options select a variant of the environment.
type Options struct {
	// Sparse rewards only success (1), instead of the shaped reward.
	Sparse bool
	// HeldOut draws instructions from the held-out paraphrases.
	HeldOut bool
	// Level is the task level (task_level); the zero value is today's
	// single-relation task.
	Level Level
	// TextGoal puts an encoding of the instruction's words in the
	// observation instead of the goal's one-hots (goal_encoding = text).
	TextGoal bool
	// Distance rewards 10 per metre by which the source-destination
	// distance shrinks, without a success bonus (ImagineBench's reward),
	// instead of the shaped reward (reward = distance).
	Distance bool
}

// ID returns the id the variant is registered under, with the options
// that are not at their defaults after a colon, e.g.
// "CLEVR-Robot-v0:task_level=easy,goal_encoding=text". The held-out
// phrasing is part of the base id (CLEVR-Robot-heldout-v0), as before
// there were options.
func (o Options) ID() string {
	id := "CLEVR-Robot-"
	if o.Sparse {
		id += "sparse-"
	}
	if o.HeldOut {
		id += "heldout-"
	}
	id += "v0"
	var opts []string
	if o.Level != LevelRelation {
		opts = append(opts, "task_level="+o.Level.String())
	}
	if o.TextGoal {
		opts = append(opts, "goal_encoding=text")
	}
	if o.Distance {
		opts = append(opts, "reward=distance")
	}
	if len(opts) > 0 {
		id += ":" + strings.Join(opts, ",")
	}
	return id
}

// optionKeys are the options an id may carry, with their values; the first
// value is the default.
var optionKeys = []struct {
	key    string
	values []string
}{
	{"task_level", levelNames[:]},
	{"goal_encoding", []string{"onehot", "text"}},
	{"reward", []string{"shaped", "distance"}},
	{"phrasing", []string{"train", "heldout"}},
}

// with returns o with the options of an env id applied. An unknown key or
// value is an error listing the allowed ones; so is an option that
// contradicts the base id (a reward on the sparse variant, the training
// phrasing on the held-out one).
func (o Options) with(opts map[string]string) (Options, error) {
	for key, value := range opts {
		k := -1
		for i, ok := range optionKeys {
			if ok.key == key {
				k = i
			}
		}
		if k < 0 {
			keys := make([]string, len(optionKeys))
			for i, ok := range optionKeys {
				keys[i] = ok.key
			}
			return o, fmt.Errorf("clevr: unknown option %q; allowed: %s", key, strings.Join(keys, ", "))
		}
		v := -1
		for i, allowed := range optionKeys[k].values {
			if allowed == value {
				v = i
			}
		}
		if v < 0 {
			return o, fmt.Errorf("clevr: option %s = %q; allowed: %s", key, value, strings.Join(optionKeys[k].values, ", "))
		}
		switch key {
		case "task_level":
			o.Level = Level(v)
		case "goal_encoding":
			o.TextGoal = v == 1
		case "reward":
			if o.Sparse {
				return o, fmt.Errorf("clevr: option reward = %s on the sparse variant, whose reward is 1 on success; use CLEVR-Robot-v0", value)
			}
			o.Distance = v == 1
		case "phrasing":
			if o.HeldOut && v == 0 {
				return o, fmt.Errorf("clevr: option phrasing = train on the held-out variant; use CLEVR-Robot-v0")
			}
			o.HeldOut = o.HeldOut || v == 1
		}
	}
	return o, nil
}
