package config

import (
	"strings"
	"testing"
)

func TestEnvCarriesCLEVRTaskKeys(t *testing.T) {
	tests := []struct {
		sets []string
		want string
	}{
		{nil, "CLEVR-Robot-v0"},
		{[]string{"task_level=relation", "goal_encoding=onehot", "reward=shaped", "phrasing=train"}, "CLEVR-Robot-v0"},
		{[]string{"task_level=easy"}, "CLEVR-Robot-v0:task_level=easy"},
		{[]string{"phrasing=heldout", "reward=distance", "goal_encoding=text", "task_level=mixed"},
			"CLEVR-Robot-v0:task_level=mixed,goal_encoding=text,reward=distance,phrasing=heldout"},
	}
	for _, tt := range tests {
		c := Default()
		c.EnvID = "CLEVR-Robot-v0"
		for _, s := range tt.sets {
			if err := c.Set(s); err != nil {
				t.Fatal(err)
			}
		}
		if got := c.Env(); got != tt.want {
			t.Errorf("sets %v: Env() = %q, want %q", tt.sets, got, tt.want)
		}
	}
	if got := Default().Env(); got != "CartPole-v1" {
		t.Errorf("default Env() = %q, want env_id alone", got)
	}
}

func TestCLEVRTaskKeysRejectUnknownValues(t *testing.T) {
	for key, allowed := range map[string]string{
		"task_level":    "relation, easy, hard, rephrase, mixed",
		"goal_encoding": "onehot, text",
		"reward":        "shaped, distance",
		"phrasing":      "train, heldout",
	} {
		c := Default()
		err := c.Set(key + "=bogus")
		if err == nil {
			t.Errorf("%s=bogus accepted", key)
			continue
		}
		for _, v := range strings.Split(allowed, ", ") {
			if !strings.Contains(err.Error(), v) {
				t.Errorf("%s=bogus: error %q does not list %q", key, err, v)
			}
		}
		if _, err := Parse([]byte(key+` = "bogus"`), "x.toml"); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s = bogus in a file: error %v, want one naming the key", key, err)
		}
	}
}

// phrasing = heldout validates (lago eval uses it) but is refused for
// training; every other CLEVR key value trains.
func TestHeldOutPhrasingIsNotTrainable(t *testing.T) {
	c := Default()
	c.EnvID = "CLEVR-Robot-v0"
	if err := c.CheckTrainable(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, s := range []string{"task_level=mixed", "goal_encoding=text", "reward=distance", "phrasing=train"} {
		if err := c.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CheckTrainable(); err != nil {
		t.Fatalf("training phrasings: %v", err)
	}
	if err := c.Set("phrasing=heldout"); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("phrasing=heldout must validate for evaluation: %v", err)
	}
	err := c.CheckTrainable()
	if err == nil {
		t.Fatal("phrasing=heldout is trainable")
	}
	for _, want := range []string{"config key phrasing", "lago eval -set phrasing=heldout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
