package lm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// TestPushTalksOllamaAPI checks the two requests `lago lm push` makes
// against a stand-in server: the blob under its SHA-256, then a create
// request naming it, with the raw template and num_ctx.
func TestPushTalksOllamaAPI(t *testing.T) {
	m, v := testModel(t)
	defer m.Free()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := Export(path, m, v, "push-test", F16); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	var blob []byte
	var create map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/blobs/"+digest:
			blob, _ = io.ReadAll(r.Body)
			w.WriteHeader(http.StatusCreated)
		case r.Method == http.MethodPost && r.URL.Path == "/api/create":
			json.NewDecoder(r.Body).Decode(&create)
			w.Write([]byte(`{"status":"success"}` + "\n"))
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	host, _ := url.Parse(srv.URL)
	if err := Push(context.Background(), host, path, "lago-test", PushOptions{}, srv.Client()); err != nil {
		t.Fatal(err)
	}
	if string(blob) != string(data) {
		t.Errorf("blob of %d bytes uploaded, the file has %d", len(blob), len(data))
	}
	files, _ := create["files"].(map[string]any)
	params, _ := create["parameters"].(map[string]any)
	if create["model"] != "lago-test" || files["model.gguf"] != digest || create["template"] != "{{ .Prompt }}" || params["num_ctx"] != float64(exportShape.Context) {
		t.Errorf("create request %v", create)
	}
}
