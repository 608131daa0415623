package prior

import (
	"strings"
	"testing"

	"github.com/ollama/ollama/envconfig"
)

// TestResolveHostAsOllama feeds the inputs of Ollama's own TestHost
// (envconfig/config_test.go, v0.17.4) through $OLLAMA_HOST and checks that
// lago resolves each as Ollama does, except the invalid ports, which lago
// refuses where Ollama falls back to a default.
func TestResolveHostAsOllama(t *testing.T) {
	cases := map[string]struct {
		value, expect string
	}{
		"empty":               {"", "http://127.0.0.1:11434"},
		"only address":        {"1.2.3.4", "http://1.2.3.4:11434"},
		"only port":           {":1234", "http://:1234"},
		"address and port":    {"1.2.3.4:1234", "http://1.2.3.4:1234"},
		"hostname":            {"example.com", "http://example.com:11434"},
		"hostname and port":   {"example.com:1234", "http://example.com:1234"},
		"zero port":           {":0", "http://:0"},
		"too large port":      {":66000", ""},
		"too small port":      {":-1", ""},
		"ipv6 localhost":      {"[::1]", "http://[::1]:11434"},
		"ipv6 world open":     {"[::]", "http://[::]:11434"},
		"ipv6 no brackets":    {"::1", "http://[::1]:11434"},
		"ipv6 + port":         {"[::1]:1337", "http://[::1]:1337"},
		"extra space":         {" 1.2.3.4 ", "http://1.2.3.4:11434"},
		"extra quotes":        {"\"1.2.3.4\"", "http://1.2.3.4:11434"},
		"extra space+quotes":  {" \" 1.2.3.4 \" ", "http://1.2.3.4:11434"},
		"extra single quotes": {"'1.2.3.4'", "http://1.2.3.4:11434"},
		"http":                {"http://1.2.3.4", "http://1.2.3.4:80"},
		"http port":           {"http://1.2.3.4:4321", "http://1.2.3.4:4321"},
		"https":               {"https://1.2.3.4", "https://1.2.3.4:443"},
		"https port":          {"https://1.2.3.4:4321", "https://1.2.3.4:4321"},
		"proxy path":          {"https://example.com/ollama", "https://example.com:443/ollama"},
		"ollama.com":          {"ollama.com", "https://ollama.com:443"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("OLLAMA_HOST", c.value)
			u, err := ResolveHost("")
			if c.expect == "" {
				if err == nil || !strings.Contains(err.Error(), "$OLLAMA_HOST") || !strings.Contains(err.Error(), "port") {
					t.Fatalf("ResolveHost(%q) = %v, %v; want an error naming $OLLAMA_HOST and the port", c.value, u, err)
				}
				return
			}
			if err != nil || u.String() != c.expect {
				t.Fatalf("ResolveHost(%q) = %v, %v; want %s", c.value, u, err, c.expect)
			}
			if o := envconfig.Host(); o.String() != u.String() {
				t.Fatalf("%q: lago resolves %s, Ollama %s", c.value, u, o)
			}
			// The config key reads the same way, and wins over the variable.
			t.Setenv("OLLAMA_HOST", "10.9.8.7:1")
			if k, err := ResolveHost(c.value); c.value != "" && (err != nil || k.String() != c.expect) {
				t.Fatalf("ollama_host = %q: %v, %v; want %s", c.value, k, err, c.expect)
			}
		})
	}
	t.Run("other scheme", func(t *testing.T) {
		if _, err := ResolveHost("tcp://1.2.3.4"); err == nil || !strings.Contains(err.Error(), "config key ollama_host") {
			t.Fatalf("tcp:// accepted: %v", err)
		}
	})
}
