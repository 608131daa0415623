package run

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LaunchOptions configure Launch.
type LaunchOptions struct {
	// Exe is the program every rank runs (`lago`), Args its arguments
	// (`train ...` without -nproc); Launch adds each rank's place.
	Exe  string
	Args []string
	// NProc ranks are started on this machine.
	NProc int
	// Stdout and Stderr receive the ranks' output, each line prefixed by
	// "[rank R] ", except rank 0's stdout when RawRank0Stdout is set (its
	// JSON progress lines, for lago compare).
	Stdout, Stderr io.Writer
	RawRank0Stdout bool
	// Grace is how long the other ranks get, after one fails, to report it
	// themselves before they are killed (0: 3 s).
	Grace time.Duration
}

// Launch runs NProc ranks of `lago train` on this machine, as torchrun's
// --standalone does: child processes of the same program, meeting through
// a FileStore in a fresh temporary directory (nothing listens beyond the
// Gloo transport on 127.0.0.1), each given -rank, -world-size, -local-rank
// and -dist-store, and LOCAL_WORLD_SIZE in its environment. Each rank runs in its own process group; a
// cancelled ctx (Ctrl-C, SIGTERM) is passed to every rank as SIGINT, and a
// second cancellation of abort as a second SIGINT, so the group stops
// together as one process would. When a rank fails the others are killed
// after Grace, and the error names the rank that failed first.
func Launch(ctx, abort context.Context, o LaunchOptions) error {
	if o.NProc < 1 {
		return fmt.Errorf("run: -nproc %d: want at least 1", o.NProc)
	}
	grace := o.Grace
	if grace == 0 {
		grace = 3 * time.Second
	}
	dir, err := os.MkdirTemp("", "lago-ranks-")
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer os.RemoveAll(dir)
	store := filepath.Join(dir, "store")

	type exit struct {
		rank int
		err  error
	}
	exits := make(chan exit, o.NProc)
	cmds := make([]*exec.Cmd, o.NProc)
	stdoutW, stderrW := &lockedWriter{w: o.Stdout}, &lockedWriter{w: o.Stderr}
	for r := range o.NProc {
		args := append(append([]string(nil), o.Args...), "-dist-store", store,
			"-rank", strconv.Itoa(r), "-world-size", strconv.Itoa(o.NProc), "-local-rank", strconv.Itoa(r))
		cmd := exec.Command(o.Exe, args...)
		cmd.Env = append(os.Environ(), "LOCAL_WORLD_SIZE="+strconv.Itoa(o.NProc))
		cmd.SysProcAttr = rankProcAttr()
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return fmt.Errorf("run: %w", err)
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return fmt.Errorf("run: %w", err)
		}
		if err := cmd.Start(); err != nil {
			for _, c := range cmds[:r] {
				c.Process.Kill()
			}
			return fmt.Errorf("run: starting rank %d: %w", r, err)
		}
		cmds[r] = cmd
		prefix := fmt.Sprintf("[rank %d] ", r)
		go func() {
			var outputs sync.WaitGroup
			outputs.Add(2)
			go func() {
				defer outputs.Done()
				if r == 0 && o.RawRank0Stdout {
					prefixLines(stdoutW, stdout, "")
					return
				}
				prefixLines(stdoutW, stdout, prefix)
			}()
			go func() {
				defer outputs.Done()
				prefixLines(stderrW, stderr, prefix)
			}()
			outputs.Wait() // Wait closes the pipes: read them to the end first
			exits <- exit{r, cmd.Wait()}
		}()
	}

	exited := make([]bool, o.NProc)
	signal := func(s os.Signal) {
		for r, c := range cmds {
			if !exited[r] {
				c.Process.Signal(s)
			}
		}
	}
	var first *exit
	var kill <-chan time.Time
	stopCh, abortCh := ctx.Done(), abort.Done()
	for left := o.NProc; left > 0; {
		select {
		case <-stopCh:
			stopCh = nil
			signal(os.Interrupt)
		case <-abortCh:
			abortCh = nil
			signal(os.Interrupt)
		case <-kill:
			signal(os.Kill)
		case e := <-exits:
			left--
			exited[e.rank] = true
			if e.err != nil && first == nil {
				first = &e
				kill = time.After(grace)
			}
		}
	}
	if first != nil {
		var ee *exec.ExitError
		how := first.err.Error()
		if errors.As(first.err, &ee) {
			how = ee.ProcessState.String()
		}
		return fmt.Errorf("run: rank %d of %d failed (%s); the other ranks were stopped", first.rank, o.NProc, how)
	}
	return nil
}

// prefixLines copies r to w line by line, each line prefixed, so that
// ranks' lines do not interleave mid-line.
func prefixLines(w io.Writer, r io.Reader, prefix string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// A progress line redrawn with \r shows its latest state.
		line := sc.Text()
		if i := strings.LastIndexByte(line, '\r'); i >= 0 {
			line = line[i+1:]
		}
		fmt.Fprintf(w, "%s%s\n", prefix, line)
	}
}

// lockedWriter serialises the ranks' lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
