package ppo

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/runfile"
)

// A checkpoint file is
//
//	magic (16 bytes) | u64 len | state JSON | u64 len | torch archive | u32 CRC-32 of all before
//
// The torch archive holds the networks' parameters and Adam's state; the
// JSON holds everything Go owns. With both, a resumed run continues exactly
// where the checkpoint was taken (on CPU, bit for bit).
var checkpointMagic = []byte("LAGO-CHECKPOINT1")

// ErrCorruptCheckpoint is wrapped by every error about a damaged checkpoint.
var ErrCorruptCheckpoint = errors.New("corrupt checkpoint")

type checkpointState struct {
	EnvID         string          `json:"env_id"`
	GlobalStep    int64           `json:"global_step"`
	Iteration     int             `json:"iteration"`
	NumIterations int             `json:"num_iterations"`
	Shuffle       []byte          `json:"shuffle_rng"`
	TorchCPURNG   []byte          `json:"torch_cpu_rng"`
	TorchDevRNG   []byte          `json:"torch_device_rng,omitempty"`
	Vec           []byte          `json:"vec"`
	Normalizer    *env.Normalizer `json:"normalizer"`
	Recent        []Episode       `json:"recent_episodes"`
}

// Checkpoint serialises the trainer's whole state. It refuses a trainer
// whose last iteration was aborted (it is mid-iteration) or whose parameters
// are not all finite: such a state must never replace the last good
// checkpoint.
func (t *Trainer) Checkpoint() ([]byte, error) {
	if t.aborted != nil {
		return nil, fmt.Errorf("ppo: not checkpointing: iteration %d was aborted (%v), so the trainer is mid-iteration; the last checkpoint holds the last good state", t.Iteration+1, t.aborted)
	}
	if err := t.checkFinite(); err != nil {
		return nil, fmt.Errorf("ppo: not checkpointing: %w", err)
	}
	st := checkpointState{
		EnvID: t.Cfg.EnvID, GlobalStep: t.GlobalStep, Iteration: t.Iteration,
		NumIterations: t.NumIterations, Normalizer: t.Norm, Recent: t.Recent.Last(len(t.Recent.eps)),
	}
	var err error
	if st.Shuffle, err = t.shuffle.MarshalBinary(); err != nil {
		return nil, err
	}
	if st.TorchCPURNG, err = torch.RNGState(torch.CPU); err != nil {
		return nil, err
	}
	if t.Dev.IsCUDA() {
		if st.TorchDevRNG, err = torch.RNGState(t.Dev); err != nil {
			return nil, err
		}
	}
	if st.Vec, err = t.Vec.MarshalBinary(); err != nil {
		return nil, err
	}
	js, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	nets, err := torch.SaveState(t.Agent.Parameters(), t.Opt)
	if err != nil {
		return nil, err
	}
	return assemble(js, nets), nil
}

// assemble frames the state JSON and the torch archive as a checkpoint file.
func assemble(state, nets []byte) []byte {
	var b bytes.Buffer
	b.Write(checkpointMagic)
	binary.Write(&b, binary.LittleEndian, uint64(len(state)))
	b.Write(state)
	binary.Write(&b, binary.LittleEndian, uint64(len(nets)))
	b.Write(nets)
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(b.Bytes()))
	return b.Bytes()
}

// Restore loads a Checkpoint into a trainer built from the same config.
func (t *Trainer) Restore(data []byte) error {
	st, err := t.restoreNets(data)
	if err != nil {
		return err
	}
	if err := t.shuffle.UnmarshalBinary(st.Shuffle); err != nil {
		return fmt.Errorf("%w: shuffle RNG: %v", ErrCorruptCheckpoint, err)
	}
	if err := torch.SetRNGState(torch.CPU, st.TorchCPURNG); err != nil {
		return err
	}
	if t.Dev.IsCUDA() && len(st.TorchDevRNG) > 0 {
		if err := torch.SetRNGState(t.Dev, st.TorchDevRNG); err != nil {
			return err
		}
	}
	if err := t.Vec.UnmarshalBinary(st.Vec); err != nil {
		return fmt.Errorf("envs: %w", err)
	}
	if st.Normalizer != nil {
		t.Norm = st.Normalizer
	}
	t.GlobalStep, t.Iteration = st.GlobalStep, st.Iteration
	t.Recent = NewEpisodeWindow(len(t.Recent.eps))
	for _, e := range st.Recent {
		t.Recent.Add(e)
	}
	return nil
}

// restoreNets checks that data is a checkpoint of this trainer's config and
// loads its networks and Adam's state; it returns the rest of its state.
func (t *Trainer) restoreNets(data []byte) (checkpointState, error) {
	var st checkpointState
	js, nets, err := splitCheckpoint(data)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(js, &st); err != nil {
		return st, fmt.Errorf("%w: state: %v", ErrCorruptCheckpoint, err)
	}
	if st.EnvID != t.Cfg.EnvID || st.NumIterations != t.NumIterations {
		return st, fmt.Errorf("checkpoint is of %s with %d iterations, the config of %s with %d: resume with the run's own config.toml",
			st.EnvID, st.NumIterations, t.Cfg.EnvID, t.NumIterations)
	}
	if err := torch.LoadState(nets, t.Agent.Parameters(), t.Opt); err != nil {
		return st, fmt.Errorf("networks: %w", err)
	}
	if err := t.checkFinite(); err != nil {
		return st, fmt.Errorf("ppo: cannot resume: %w", err)
	}
	return st, nil
}

// checkFinite reports a parameter holding NaN or ±Inf.
func (t *Trainer) checkFinite() error {
	for i, p := range t.Agent.Parameters() {
		v, err := torch.ToSlice[float32](p)
		if err != nil {
			return err
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("parameter tensor %d of %d (%s) holds %v", i+1, len(t.Agent.Parameters()), t.Agent.parameterName(i), x)
			}
		}
	}
	return nil
}

func splitCheckpoint(data []byte) (state, nets []byte, err error) {
	corrupt := func(why string) ([]byte, []byte, error) {
		return nil, nil, fmt.Errorf("%w: %s", ErrCorruptCheckpoint, why)
	}
	if len(data) < len(checkpointMagic) || !bytes.Equal(data[:len(checkpointMagic)], checkpointMagic) {
		return corrupt("not a lago checkpoint (bad magic)")
	}
	if len(data) < len(checkpointMagic)+4 {
		return corrupt("truncated")
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return corrupt("checksum mismatch (truncated or damaged file)")
	}
	rest := body[len(checkpointMagic):]
	next := func() ([]byte, bool) {
		if len(rest) < 8 {
			return nil, false
		}
		n := binary.LittleEndian.Uint64(rest)
		if uint64(len(rest)-8) < n {
			return nil, false
		}
		part := rest[8 : 8+n]
		rest = rest[8+n:]
		return part, true
	}
	var ok1, ok2 bool
	state, ok1 = next()
	nets, ok2 = next()
	if !ok1 || !ok2 || len(rest) != 0 {
		return corrupt("bad section lengths")
	}
	return state, nets, nil
}

// SaveCheckpoint writes the trainer's checkpoint to path atomically.
func (t *Trainer) SaveCheckpoint(path string) error {
	data, err := t.Checkpoint()
	if err != nil {
		return err
	}
	return runfile.WriteFileAtomic(path, data)
}

// LoadCheckpoint restores the trainer from the file at path.
func (t *Trainer) LoadCheckpoint(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := t.Restore(data); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// CheckpointEpisodes reads the recent episodes (at most the trainer's
// window, newest last) and the global step of a checkpoint file, without
// loading its networks: a finished run's last checkpoint holds the episodes
// its summary's final figures are over.
func CheckpointEpisodes(path string) ([]Episode, int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	js, _, err := splitCheckpoint(data)
	if err != nil {
		return nil, 0, fmt.Errorf("ppo: %s: %w", path, err)
	}
	var st struct {
		GlobalStep int64     `json:"global_step"`
		Recent     []Episode `json:"recent_episodes"`
	}
	if err := json.Unmarshal(js, &st); err != nil {
		return nil, 0, fmt.Errorf("ppo: %s: %w: state: %v", path, ErrCorruptCheckpoint, err)
	}
	return st.Recent, st.GlobalStep, nil
}
