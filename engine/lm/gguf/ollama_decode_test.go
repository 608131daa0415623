package gguf

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/ollama/ollama/fs/ggml"
)

// TestOllamaDecodesOurFile reads a file lago wrote with the GGUF loader that
// Ollama itself runs: it must accept the file and see the same metadata and
// tensor table as lago's reader.
func TestOllamaDecodesOurFile(t *testing.T) {
	data := writeTiny(t, []string{"north", "south"}, 3)
	ours, err := ReadHeader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := ggml.Decode(bytes.NewReader(data), -1)
	if err != nil {
		t.Fatalf("ollama's ggml.Decode rejects our file: %v", err)
	}
	kv := theirs.KV()
	// Ollama's decoder adds general.parameter_count, the number of weights.
	var params uint64
	for _, ti := range ours.Tensors {
		params += ti.Elements()
	}
	if got, _ := kv["general.parameter_count"].(uint64); got != params {
		t.Errorf("ollama counts %d parameters, lago's tensors hold %d", got, params)
	}
	if kv.Len() != len(ours.Metadata)+1 {
		t.Errorf("ollama sees %d metadata keys, lago %d (+1 for the parameter count)", kv.Len(), len(ours.Metadata))
	}
	for _, m := range ours.Metadata {
		if _, ok := kv[m.Key]; !ok {
			t.Errorf("ollama does not see key %q", m.Key)
		}
	}
	if got := kv.Architecture(); got != "llama" {
		t.Errorf("architecture %q, want llama", got)
	}
	tokens, _ := ours.Value("tokenizer.ggml.tokens")
	if got := kv.Strings("tokenizer.ggml.tokens"); !reflect.DeepEqual(got, tokens) {
		t.Errorf("ollama reads %d tokens, lago %d (or they differ)", len(got), len(tokens.([]string)))
	}
	items := theirs.Tensors().Items()
	if len(items) != len(ours.Tensors) {
		t.Fatalf("ollama sees %d tensors, lago %d", len(items), len(ours.Tensors))
	}
	if theirs.Tensors().Offset != uint64(ours.DataOffset) {
		t.Errorf("data offset: ollama %d, lago %d", theirs.Tensors().Offset, ours.DataOffset)
	}
	for i, ti := range items {
		o := ours.Tensors[i]
		if ti.Name != o.Name || !reflect.DeepEqual(ti.Shape, o.Shape) || ti.Kind != uint32(o.Type) || ti.Offset != o.Offset {
			t.Errorf("tensor %d: ollama %s %v kind %d @%d, lago %s %v %v @%d", i, ti.Name, ti.Shape, ti.Kind, ti.Offset, o.Name, o.Shape, o.Type, o.Offset)
		}
	}
}
