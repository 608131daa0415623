package metaworld

import "github.com/lago-rl/lago/engine/env"

// Env declares its task's skills to LaGO's continuous prior.
var _ env.Skilled = (*Env)(nil)

// NumSkills is the number of the task's skills.
func (e *Env) NumSkills() int { return len(e.task.Skills) }

// SkillName is skill z's Name.
func (e *Env) SkillName(z int) string { return e.task.Skills[z].Name }

// SkillAction writes skill z's action at the last observation: the mean of
// its Gaussian.
func (e *Env) SkillAction(z int, action []float32) { e.task.Skills[z].Action(e.obs[:], action) }

// SkillStd is skill z's declared Std.
func (e *Env) SkillStd(z int) float64 { return e.task.Skills[z].Std }
