package clevr

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// textGrid is the resolution, in metres, of the positions in TextView. A
// push moves a ball about three cells and the success radius is about four,
// so the grid keeps what matters for choosing a push while merging states
// that differ by less than a centimetre or two of play.
const textGrid = 0.1

// TextView describes the state in two lines: the instruction, then the
// balls' positions rounded to a 0.1 m grid, e.g.
//
//	Task: Push the red ball to the left of the blue ball.
//	Balls (x right, y forward, metres): red (0.3, -0.1), blue (-0.2, 0.4), ...
//
// It is canonical: states whose balls round to the same grid cells under the
// same instruction have the same text, and so share the LLM prior's cache
// entries.
func (e *Env) TextView() string {
	var b strings.Builder
	b.WriteString("Task: ")
	b.WriteString(e.Instruction())
	if !strings.HasSuffix(b.String(), "?") {
		b.WriteByte('.')
	}
	b.WriteString("\nBalls (x right, y forward, metres):")
	for i, p := range e.Positions() {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s (%s, %s)", Colours[i], gridCoord(p[0]), gridCoord(p[1]))
	}
	return b.String()
}

// gridCoord rounds v to the text grid and formats it with one decimal,
// never as "-0.0".
func gridCoord(v float64) string {
	cells := int(math.Round(v / textGrid))
	return fmt.Sprintf("%.1f", float64(cells)*textGrid)
}

// actionNames is built once: ActionNames is called per state by the prior.
var actionNames = func() []string {
	names := make([]string, 0, NumActions)
	for _, c := range Colours {
		for _, d := range DirNames {
			names = append(names, "push the "+c+" ball "+d)
		}
	}
	return names
}()

// ActionNames names the 40 actions, "push the red ball right" to "push the
// cyan ball backward-left", in action order. The slice is shared: do not
// modify it.
func (e *Env) ActionNames() []string { return actionNames }

// ActionFactors returns the ball colours and the direction words: action =
// ball*8 + direction.
func (e *Env) ActionFactors() [][]string {
	return [][]string{slices.Clone(Colours[:]), slices.Clone(DirNames[:])}
}
