package prior

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// TestTwoWriterProcessesShareTheLog is the data-parallel case (`lago train
// -nproc 2`: each rank scores its own states into the one cache of the
// machine): two processes append at once, half of their keys the same. The
// log then holds every key once, no damaged record and no torn tail, and
// each process reads every key.
func TestTwoWriterProcessesShareTheLog(t *testing.T) {
	const perWriter, shared = 1500, 500
	if dir := os.Getenv("LAGO_CACHE_RANK_DIR"); dir != "" {
		rank, _ := strconv.Atoi(os.Getenv("LAGO_CACHE_RANK"))
		c, err := OpenCache(dir, 10)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		// Keys [rank·perWriter, …) are this writer's own; [10⁶, 10⁶+shared)
		// both write, interleaved.
		for i := 0; i < perWriter; i++ {
			if err := c.Put(key(rank*perWriter+i), entry(i)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(4)
			}
			if i < shared {
				if err := c.Put(key(1_000_000+i), entry(i)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(4)
				}
			}
		}
		for i := 0; i < 2*perWriter; i++ {
			if _, ok := c.Get(key(i)); !ok && i/perWriter == rank {
				fmt.Fprintf(os.Stderr, "own key %d missing\n", i)
				os.Exit(5)
			}
		}
		c.Close()
		os.Exit(0)
	}
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for rank := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTwoWriterProcessesShareTheLog$")
		cmd.Env = append(os.Environ(), "LAGO_CACHE_RANK_DIR="+dir, "LAGO_CACHE_RANK="+strconv.Itoa(rank))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for rank, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer %d: %v", rank, err)
		}
	}
	info, err := InspectCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := 2*perWriter + shared
	if info.Entries != want || info.Records != want || info.Damaged != 0 || info.TailBytes != 0 {
		t.Fatalf("log after two writers: %d records, %d keys, %d damaged, %d tail bytes; want %d records and keys, no damage",
			info.Records, info.Entries, info.Damaged, info.TailBytes, want)
	}
	c, err := OpenCache(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 2*perWriter; i++ {
		if _, ok := c.Get(key(i)); !ok {
			t.Fatalf("key %d missing after both writers", i)
		}
	}
}
