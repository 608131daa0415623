package run

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Interrupts turns Ctrl-C and SIGTERM into the two contexts Train takes: the
// first signal cancels Stop (finish the iteration, write a checkpoint, exit),
// the second cancels Abort (abandon the iteration; the last checkpoint is
// kept). After the second, signals get their default action again, so a
// third kills at once.
type Interrupts struct {
	Stop, Abort context.Context

	sigs      chan os.Signal
	release   func()
	cancel    func() // releases the contexts' resources, after the run
	done      chan struct{}
	exited    chan struct{}
	closeOnce sync.Once
}

// Messages Interrupts passes to its notice function.
const (
	NoticeStop  = "stopping after this iteration to write a checkpoint (Ctrl-C again to abandon the iteration and keep the last checkpoint)"
	NoticeAbort = "abandoning this iteration; the last checkpoint is kept (Ctrl-C again to kill)"
)

// WatchInterrupts starts watching for SIGINT and SIGTERM. notice is called
// (from another goroutine) with NoticeStop or NoticeAbort when a signal
// arrives, and never otherwise. Close it when the run returns.
func WatchInterrupts(notice func(string)) *Interrupts {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	return watch(sigs, func() { signal.Stop(sigs) }, notice)
}

// watch is WatchInterrupts on a given channel; release restores the
// signals' default action.
func watch(sigs chan os.Signal, release func(), notice func(string)) *Interrupts {
	stop, cancelStop := context.WithCancel(context.Background())
	abort, cancelAbort := context.WithCancel(context.Background())
	in := &Interrupts{Stop: stop, Abort: abort, sigs: sigs, done: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(in.exited)
		for n := 0; ; n++ {
			// Only a signal is reported: the end of the run (done) is not
			// one, whatever order the two arrive in.
			select {
			case <-sigs:
			case <-in.done:
				return
			}
			if n == 0 {
				cancelStop()
				notice(NoticeStop)
				continue
			}
			cancelAbort()
			release()
			notice(NoticeAbort)
			<-in.done
			return
		}
	}()
	in.release = release
	in.cancel = func() { cancelStop(); cancelAbort() }
	return in
}

// Close stops watching; no notice comes after it returns. It cancels
// Stop and Abort too (as context.WithCancel's cancel does): check them before
// Close to tell an interrupted run.
func (in *Interrupts) Close() {
	in.closeOnce.Do(func() {
		in.release()
		close(in.done)
		<-in.exited
		in.cancel()
	})
}
