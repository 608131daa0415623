package env

import (
	"fmt"
	"strings"
	"testing"
)

func TestMakeWithOptions(t *testing.T) {
	var got map[string]string
	RegisterOptions("CartPole-v1", func(opts map[string]string) (Env, error) {
		got = opts
		if v, ok := opts["bad"]; ok {
			return nil, fmt.Errorf("option bad=%s: want good", v)
		}
		return NewCartPole(), nil
	})
	if _, err := Make("CartPole-v1:level=easy,encoding=text"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["level"] != "easy" || got["encoding"] != "text" {
		t.Errorf("constructor got options %v, want level=easy and encoding=text", got)
	}
	tests := []struct{ id, want string }{
		{"Pendulum-v1:level=easy", "Pendulum-v1 takes no options"},
		{"CartPole-v1:level", `option "level" is not key=value`},
		{"CartPole-v1:level=", `option "level=" is not key=value`},
		{"CartPole-v1:a=1,a=2", "option a given twice"},
		{"CartPole-v1:bad=1", "option bad=1: want good"},
		{"CartPol-v1:a=1", `unknown env_id "CartPol-v1"`},
	}
	for _, tt := range tests {
		if _, err := Make(tt.id); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Make(%q) error %v, want one containing %q", tt.id, err, tt.want)
		}
	}
}

// leveledCartPole names each episode's level after the count of its resets.
type leveledCartPole struct {
	*CartPole
	resets int
}

func (c *leveledCartPole) Reset(obs []float32)  { c.resets++; c.CartPole.Reset(obs) }
func (c *leveledCartPole) EpisodeLevel() string { return fmt.Sprintf("episode-%d", c.resets) }

func TestVecRecordsEpisodeLevel(t *testing.T) {
	e := &leveledCartPole{CartPole: NewCartPole()}
	v, err := NewVecFrom([]Env{e}, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Reset()
	ended := 0
	for range 500 {
		v.Step([]float32{0}) // always push left: episodes end within tens of steps
		if !v.Terminated[0] && !v.Truncated[0] {
			continue
		}
		ended++
		// The level of the episode that ended, not of the one Reset started.
		if want := fmt.Sprintf("episode-%d", e.resets-1); v.EpisodeLevel[0] != want {
			t.Fatalf("episode %d ended with level %q, want %q", ended, v.EpisodeLevel[0], want)
		}
	}
	if ended < 3 {
		t.Fatalf("only %d episodes ended", ended)
	}
	plain, _ := NewVec("CartPole-v1", 1, 1, 3)
	defer plain.Close()
	plain.Reset()
	for range 100 {
		plain.Step([]float32{0})
		if plain.Terminated[0] && plain.EpisodeLevel[0] != "" {
			t.Fatalf("an env without levels reported level %q", plain.EpisodeLevel[0])
		}
	}
}
