package prior

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeOllama is an in-process stand-in for Ollama's HTTP API on 127.0.0.1,
// for fault injection. By default it answers the label it likes best (the
// last option of every question) with log-probabilities.
type fakeOllama struct {
	t        *testing.T
	srv      *http.Server
	ln       net.Listener
	addr     string
	requests atomic.Int64
	mu       sync.Mutex
	fault    string        // "", "slow", "500", "reset", "malformed", "nologprobs", "nolabels", "huge", "block"
	release  chan struct{} // closes a "block" fault
	prompts  []string
	version  string    // what GET /api/version answers; "" is the pinned "0.17.4"
	scores   []float64 // when set: the top log-probabilities are label i's scores[i], then " the"'s
}

func newFakeOllama(t *testing.T) *fakeOllama {
	t.Helper()
	f := &fakeOllama{t: t, release: make(chan struct{})}
	f.start("127.0.0.1:0")
	t.Cleanup(f.stop)
	return f
}

func (f *fakeOllama) start(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		f.t.Fatal(err)
	}
	f.ln, f.addr = ln, ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/version", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		v := f.version
		f.mu.Unlock()
		if v == "" {
			v = "0.17.4"
		}
		fmt.Fprintf(w, `{"version":%q}`, v)
	})
	mux.HandleFunc("/api/tags", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"models":[{"name":"tiny:latest","model":"tiny:latest","digest":"sha256:feedface"}]}`)
	})
	mux.HandleFunc("/api/generate", f.generate)
	f.srv = &http.Server{Handler: mux}
	go f.srv.Serve(ln)
}

func (f *fakeOllama) stop() {
	if f.srv != nil {
		f.srv.Close()
		f.srv = nil
	}
}

// restart brings the server back on the same port.
func (f *fakeOllama) restart() {
	f.start(f.addr)
}

func (f *fakeOllama) setFault(s string) {
	f.mu.Lock()
	f.fault = s
	f.mu.Unlock()
}

func (f *fakeOllama) generate(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	var req struct {
		Prompt   string          `json:"prompt"`
		Format   json.RawMessage `json:"format"`
		Logprobs bool            `json:"logprobs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	f.mu.Lock()
	fault, scores := f.fault, f.scores
	f.prompts = append(f.prompts, req.Prompt)
	f.mu.Unlock()
	// The option it favours: the last one listed (its letter precedes ". ").
	best := "A"
	for _, line := range strings.Split(req.Prompt, "\n") {
		if len(line) > 2 && line[1] == '.' && line[2] == ' ' {
			best = line[:1]
		}
	}
	switch fault {
	case "slow": // past the tests' 1 s timeout, even on a loaded machine
		time.Sleep(1500 * time.Millisecond)
	case "block":
		<-f.release
	case "500":
		http.Error(w, `{"error":"model runner crashed"}`, 500)
		return
	case "reset":
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	case "malformed":
		fmt.Fprint(w, `{"model":"tiny","response":"A","logprobs":[{"token":`)
		return
	case "huge":
		fmt.Fprintf(w, `{"model":"tiny","response":"%s","done":true}`, strings.Repeat("x", 4<<20))
		return
	}
	if req.Format != nil { // structured-output fallback
		fmt.Fprintf(w, `{"model":"tiny","response":"{\"answer\":\"%s\"}","done":true}`, best)
		return
	}
	type tok struct {
		Token   string  `json:"token"`
		Logprob float64 `json:"logprob"`
	}
	top := []tok{{" " + best, math.Log(0.7)}, {"▁A", math.Log(0.1)}, {" the", math.Log(0.05)}}
	if scores != nil {
		top = top[:0]
		for i, lp := range scores {
			top = append(top, tok{" " + string(rune('A'+i)), lp})
		}
		top = append(top, tok{" the", math.Log(0.01)})
	}
	if fault == "nolabels" {
		top = []tok{{" the", math.Log(0.5)}, {" ball", math.Log(0.3)}}
	}
	resp := map[string]any{"model": "tiny", "response": " " + best, "done": true}
	if fault != "nologprobs" && req.Logprobs {
		resp["logprobs"] = []map[string]any{{"token": " " + best, "logprob": math.Log(0.7), "top_logprobs": top}}
	}
	json.NewEncoder(w).Encode(resp)
}
