package ppo

import (
	"fmt"
	"math"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/env"
)

// halfLog2 is ½ log 2π, the Gaussian density's normalising constant.
var halfLog2 = 0.5 * math.Log(2*math.Pi)

// Agent is CleanRL's PPO agent: separate actor and critic MLPs with
// orthogonal initialisation (gain √2 for hidden layers, 0.01 on the policy
// head, 1 on the value head). Discrete actions: a Categorical over the
// actor's logits. Continuous actions: a diagonal Gaussian with the actor's
// output as mean and a state-independent, learned log standard deviation.
type Agent struct {
	Actor, Critic *torch.MLP
	LogStd        *torch.Tensor // [1, ActDim]; continuous actions only
	Discrete      bool
	NumActions    int // discrete: the number of actions
	ActDim        int // continuous: the action's dimension
	Device        torch.Device
}

// NewAgent builds the networks for obsDim observations and the action space.
func NewAgent(obsDim int, act env.Space, hidden []int, activation torch.Activation, logStdInit float64, dev torch.Device) (*Agent, error) {
	a := &Agent{Discrete: act.Kind == env.DiscreteKind, Device: dev}
	outDim := act.N
	if a.Discrete {
		a.NumActions = act.N
	} else {
		a.ActDim = act.Dim()
		outDim = a.ActDim
	}
	sizes := func(out int) []int {
		s := append([]int{obsDim}, hidden...)
		return append(s, out)
	}
	var err error
	if a.Actor, err = torch.NewMLP(sizes(outDim), activation, torch.Sqrt2, 0.01, torch.Float32, dev); err != nil {
		return nil, fmt.Errorf("actor: %w", err)
	}
	if a.Critic, err = torch.NewMLP(sizes(1), activation, torch.Sqrt2, 1, torch.Float32, dev); err != nil {
		a.Free()
		return nil, fmt.Errorf("critic: %w", err)
	}
	if !a.Discrete {
		if a.LogStd, err = torch.Full([]int64{1, int64(a.ActDim)}, logStdInit, torch.Float32, dev); err == nil {
			err = a.LogStd.SetRequiresGrad(true)
		}
		if err != nil {
			a.Free()
			return nil, fmt.Errorf("log_std: %w", err)
		}
	}
	return a, nil
}

// Parameters lists every trained tensor: actor, critic, then log-std.
func (a *Agent) Parameters() []*torch.Tensor {
	ps := append(a.Actor.Parameters(), a.Critic.Parameters()...)
	if a.LogStd != nil {
		ps = append(ps, a.LogStd)
	}
	return ps
}

// parameterName names Parameters()[i] in errors: actor, critic or log_std.
func (a *Agent) parameterName(i int) string {
	if n := len(a.Actor.Parameters()); i < n {
		return "actor"
	} else if i < n+len(a.Critic.Parameters()) {
		return "critic"
	}
	return "log_std"
}

// Free releases the networks.
func (a *Agent) Free() {
	if a.Actor != nil {
		a.Actor.Free()
	}
	if a.Critic != nil {
		a.Critic.Free()
	}
	a.LogStd.Free()
}

// Value is the critic's estimate, [B].
func (a *Agent) Value(s *torch.Scope, obs *torch.Tensor) *torch.Tensor {
	return s.View(a.Critic.Forward(s, obs), -1)
}

// Dist is the policy's distribution over a batch of observations. It is what
// a regulariser sees: for discrete actions LogProbs [B, n] (normalised
// log-probabilities), for continuous ones Mean [B, d] and LogStd [1, d].
type Dist struct {
	Discrete bool
	LogProbs *torch.Tensor
	Mean     *torch.Tensor
	LogStd   *torch.Tensor
}

// Distribution evaluates the actor on obs.
func (a *Agent) Distribution(s *torch.Scope, obs *torch.Tensor) Dist {
	out := a.Actor.Forward(s, obs)
	if a.Discrete {
		return Dist{Discrete: true, LogProbs: s.LogSoftmax(out, -1)}
	}
	return Dist{Mean: out, LogStd: a.LogStd}
}

// LogProb of actions under d: discrete actions are int64 [B], continuous
// ones float32 [B, d]. Returns [B].
func (d Dist) LogProb(s *torch.Scope, actions *torch.Tensor) *torch.Tensor {
	if d.Discrete {
		return s.Squeeze(s.Gather(d.LogProbs, 1, s.Unsqueeze(actions, 1)), 1)
	}
	return s.SumDim(GaussianLogDensity(s, actions, d.Mean, d.LogStd), 1, false)
}

// GaussianLogDensity is the element-wise log-density of a under N(μ, σ²),
// σ = exp(logStd), shapes broadcasting:
//
//	log N(a; μ, σ) = −(a−μ)²/(2σ²) − log σ − ½ log 2π.
//
// The policy's log-probability and LaGO's Monte-Carlo KL both use it.
func GaussianLogDensity(s *torch.Scope, a, mu, logStd *torch.Tensor) *torch.Tensor {
	z := s.Div(s.Sub(a, mu), s.Exp(logStd))
	return s.Sub(s.MulS(s.Square(z), -0.5), s.AddS(logStd, halfLog2))
}

// Entropy per row: [B] for discrete actions; [1] for continuous ones, whose
// state-independent standard deviation gives every row the same entropy.
func (d Dist) Entropy(s *torch.Scope) *torch.Tensor {
	if d.Discrete {
		return s.Neg(s.SumDim(s.Mul(s.Exp(d.LogProbs), d.LogProbs), 1, false))
	}
	// H = Σ_d (½ + ½ log 2π + log σ_d).
	return s.SumDim(s.AddS(d.LogStd, 0.5+halfLog2), 1, false)
}

// Sample draws actions (or takes the mode when deterministic): int64 [B] for
// discrete, float32 [B, d] for continuous.
func (d Dist) Sample(s *torch.Scope, deterministic bool) *torch.Tensor {
	if d.Discrete {
		if deterministic {
			return s.Argmax(d.LogProbs, 1, false)
		}
		return s.Categorical(d.LogProbs)
	}
	if deterministic {
		return d.Mean
	}
	eps := s.Own(torch.Randn(d.Mean.Shape(), torch.Float32, d.Mean.Device()))
	return s.Add(d.Mean, s.Mul(s.Exp(d.LogStd), eps))
}
