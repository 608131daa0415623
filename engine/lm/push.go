package lm

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/ollama/ollama/api"
)

// PushOptions are the Ollama model's settings besides its weights.
type PushOptions struct {
	// NumCtx is the context Ollama allocates (num_ctx); 0 takes the model's
	// own context length, so prompts are never truncated below it.
	NumCtx int
}

// Push uploads the GGUF at path to the Ollama server at host as a blob and
// creates the model name from it, with the raw template lago's prompts
// need ({{ .Prompt }}: the prompt goes to the model as written) and
// num_ctx. It talks to host only.
func Push(ctx context.Context, host *url.URL, path, name string, opt PushOptions, hc *http.Client) error {
	digest, err := fileDigest(path)
	if err != nil {
		return err
	}
	im, err := readShape(path)
	if err != nil {
		return err
	}
	numCtx := opt.NumCtx
	if numCtx == 0 {
		numCtx = im.Context
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	client := api.NewClient(host, hc)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("lm: %w", err)
	}
	defer f.Close()
	if err := client.CreateBlob(ctx, digest, f); err != nil {
		return fmt.Errorf("lm: uploading %s to %s: %w", path, host.Host, err)
	}
	stream := false
	req := &api.CreateRequest{
		Model:      name,
		Stream:     &stream,
		Files:      map[string]string{"model.gguf": digest},
		Template:   "{{ .Prompt }}",
		Parameters: map[string]any{"num_ctx": numCtx},
	}
	if err := client.Create(ctx, req, func(api.ProgressResponse) error { return nil }); err != nil {
		return fmt.Errorf("lm: creating %s on %s: %w", name, host.Host, err)
	}
	return nil
}

// readShape reads a llama GGUF's shape (and checks that lago could load it).
func readShape(path string) (Shape, error) {
	f, err := os.Open(path)
	if err != nil {
		return Shape{}, fmt.Errorf("lm: %w", err)
	}
	defer f.Close()
	h, err := ggufHeader(f, path)
	if err != nil {
		return Shape{}, err
	}
	s, err := shapeOf(h)
	if err != nil {
		return Shape{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
