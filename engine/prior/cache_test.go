package prior

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func entry(i int) Entry {
	return Entry{Probs: []float32{float32(i), 0.5, 0.25}, Mode: ModeLogprobs}
}

func key(i int) Key { return MakeKey("digest", "v1", fmt.Sprintf("state %d", i)) }

func TestCachePersistsAcrossOpens(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir, 2) // an LRU of 2: most reads come from disk
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := c.Put(key(i), entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if e, ok := c.Get(key(3)); !ok || e.Probs[0] != 3 {
		t.Fatalf("get from disk behind the LRU: %v %v", e, ok)
	}
	c.Close()
	c, err = OpenCache(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Len() != 10 {
		t.Fatalf("%d entries after reopening, want 10", c.Len())
	}
	for i := 0; i < 10; i++ {
		if e, ok := c.Get(key(i)); !ok || e.Probs[0] != float32(i) || e.Mode != ModeLogprobs {
			t.Fatalf("entry %d after reopening: %v %v", i, e, ok)
		}
	}
	if _, ok := c.Get(key(99)); ok {
		t.Fatal("a key never stored was found")
	}
}

func TestKeysSeparateModelTemplateAndState(t *testing.T) {
	a := MakeKey("m1", "v1", "s")
	for _, b := range []Key{MakeKey("m2", "v1", "s"), MakeKey("m1", "v2", "s"), MakeKey("m1", "v1", "t"), MakeKey("m1v", "1", "s")} {
		if a == b {
			t.Fatal("distinct (model, template, state) triples share a key")
		}
	}
}

func TestTornTailIsSkippedAndCut(t *testing.T) {
	dir := t.TempDir()
	c, _ := OpenCache(dir, 10)
	c.Put(key(1), entry(1))
	c.Put(key(2), entry(2))
	c.Close()
	// A crash mid-append leaves half a record.
	rec := encodeRecord(key(3), entry(3))
	f, _ := os.OpenFile(filepath.Join(dir, logName), os.O_APPEND|os.O_WRONLY, 0)
	f.Write(rec[:len(rec)/2])
	f.Close()

	c, err := OpenCache(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(key(2)); !ok || c.Len() != 2 {
		t.Fatalf("records before the torn tail lost: len %d", c.Len())
	}
	if err := c.Put(key(4), entry(4)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, _ = OpenCache(dir, 10)
	defer c.Close()
	if _, ok := c.Get(key(4)); !ok || c.Len() != 3 {
		t.Fatalf("a record appended after a torn tail is unreadable: len %d", c.Len())
	}
}

func TestTwoProcessesShareTheLog(t *testing.T) {
	dir := t.TempDir()
	a, _ := OpenCache(dir, 10)
	b, _ := OpenCache(dir, 10)
	defer a.Close()
	defer b.Close()
	a.Put(key(1), entry(1))
	if _, ok := b.Get(key(1)); !ok {
		t.Fatal("b does not see what a appended")
	}
	b.Put(key(2), entry(2))
	a.Put(key(2), entry(2)) // already there: not written twice
	if st, _ := os.Stat(a.Path()); st.Size() != int64(len(logHeader))+2*int64(len(encodeRecord(key(1), entry(1)))) {
		t.Fatalf("log of %d bytes: a duplicate was appended", st.Size())
	}
}

// TestCacheSurvivesKill9 appends from a child process and SIGKILLs it
// mid-stream: every record the log then holds is whole and readable.
func TestCacheSurvivesKill9(t *testing.T) {
	if dir := os.Getenv("LAGO_CACHE_WRITER"); dir != "" {
		c, err := OpenCache(dir, 10)
		if err != nil {
			os.Exit(3)
		}
		for i := 0; ; i++ {
			c.Put(key(i), entry(i))
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCacheSurvivesKill9$")
	cmd.Env = append(os.Environ(), "LAGO_CACHE_WRITER="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, logName)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st, err := os.Stat(path); err == nil && st.Size() > 64<<10 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the writer wrote nothing")
		}
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	c, err := OpenCache(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := c.Len()
	if n < 100 {
		t.Fatalf("only %d records survived", n)
	}
	for i := 0; i < n; i++ {
		if e, ok := c.Get(key(i)); !ok || e.Probs[0] != float32(i) {
			t.Fatalf("record %d of %d unreadable after kill -9", i, n)
		}
	}
	t.Logf("%d records intact after SIGKILL (%s)", n, strconv.Itoa(n))
}
