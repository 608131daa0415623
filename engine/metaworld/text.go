package metaworld

import (
	"fmt"
	"math"
	"strings"
)

// textGrid is the resolution, in metres, of positions in TextView: a skill
// changes when the hand comes within a few centimetres of a target, so 2 cm
// keeps what matters for choosing a skill while merging states that differ
// by a step or two of motion.
const textGrid = 0.02

// TextView describes the state in four lines: the instruction, then the
// gripper's position and opening, the object's position and the goal's,
// rounded to a 2 cm grid (the opening to 0.1), e.g.
//
//	Task: Push the puck to the goal.
//	Gripper (x right, y forward, z up, metres): (0.00, 0.60, 0.20), open 1.0
//	Puck: (0.04, 0.66, 0.02)
//	Goal: (-0.06, 0.84, 0.02)
//
// It is canonical: states that round to the same text are the same state to
// a language-model prior.
func (e *Env) TextView() string {
	o := Obs(e.obs[:])
	var b strings.Builder
	b.WriteString("Task: ")
	b.WriteString(e.task.Instruction)
	fmt.Fprintf(&b, "\nGripper (x right, y forward, z up, metres): %s, open %.1f", gridPoint(o.Hand()), math.Round(10*o.Opening())/10)
	name := e.task.ObjectName
	fmt.Fprintf(&b, "\n%s%s: %s", strings.ToUpper(name[:1]), name[1:], gridPoint(o.Object()))
	fmt.Fprintf(&b, "\nGoal: %s", gridPoint(o.Goal()))
	return b.String()
}

func gridPoint(p [3]float64) string {
	return fmt.Sprintf("(%s, %s, %s)", gridCoord(p[0]), gridCoord(p[1]), gridCoord(p[2]))
}

// gridCoord rounds v to the text grid and formats it with two decimals,
// never as "-0.00".
func gridCoord(v float64) string {
	cells := math.Round(v / textGrid)
	if cells == 0 {
		return "0.00"
	}
	return fmt.Sprintf("%.2f", cells*textGrid)
}

// ActionNames names the task's skills, its latent actions, in Skills order:
// the choices a language-model prior picks among. (The action space itself
// is continuous.)
func (e *Env) ActionNames() []string {
	names := make([]string, len(e.task.Skills))
	for i, s := range e.task.Skills {
		names[i] = s.Name
	}
	return names
}
