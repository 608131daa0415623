package run

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/ppo"
)

// A data-parallel run (Options.Group): rank 0 owns the run directory as a
// single process does (lock, config.toml, metrics.jsonl, checkpoints,
// summary.json); the other ranks write nothing there and need nothing from
// it, so they may run on machines that do not share its filesystem. Before
// training, rank 0 sends them the run's config and, on -resume, its
// checkpoint; each iteration the ranks agree whether to stop, so an
// interrupt on any rank checkpoints the whole group at the same iteration.

// startMessage is what rank 0 tells the other ranks before training.
type startMessage struct {
	// Err says why rank 0 could not start (the others then stop too).
	Err        string `json:"err,omitempty"`
	Config     string `json:"config,omitempty"`
	Resume     bool   `json:"resume,omitempty"`
	Checkpoint []byte `json:"checkpoint,omitempty"`
}

// shareStart sends rank 0's start (its config, resume flag, checkpoint, or
// the error that stopped it, prepErr) to every rank and returns what rank
// 0 sent. A rank other than 0 gets an error naming rank 0's failure.
func shareStart(g *torch.Group, msg startMessage, prepErr error) (cfg config.Config, resume bool, ckpt []byte, err error) {
	var mine []byte
	if g.Rank() == 0 {
		if prepErr != nil {
			msg = startMessage{Err: prepErr.Error()}
		}
		if mine, err = json.Marshal(msg); err != nil {
			return cfg, false, nil, err
		}
	}
	data, err := ppo.BroadcastBytes(g, mine)
	if prepErr != nil {
		return cfg, false, nil, prepErr
	}
	if err != nil {
		return cfg, false, nil, fmt.Errorf("run: receiving rank 0's config: %w", err)
	}
	var got startMessage
	if err := json.Unmarshal(data, &got); err != nil {
		return cfg, false, nil, fmt.Errorf("run: rank 0's start message: %w", err)
	}
	if got.Err != "" {
		return cfg, false, nil, fmt.Errorf("run: rank 0 could not start the run: %s", got.Err)
	}
	if cfg, err = config.Parse([]byte(got.Config), "rank 0's config"); err != nil {
		return cfg, false, nil, err
	}
	return cfg, got.Resume, got.Checkpoint, nil
}

var errNoCheckpointSent = errors.New("run: rank 0 resumes but sent no checkpoint")
