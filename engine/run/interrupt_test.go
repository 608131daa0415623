package run

import (
	"os"
	"sync"
	"testing"
	"time"
)

type notices struct {
	mu  sync.Mutex
	got []string
}

func (n *notices) add(s string) { n.mu.Lock(); n.got = append(n.got, s); n.mu.Unlock() }
func (n *notices) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.got...)
}

// Issue 11 point 11: a run that ends without a signal prints nothing. The
// old watcher reported the signal context's cancellation, which its own
// deferred stop() caused, so some normal exits printed the stop notice.
func TestNoNoticeWithoutSignal(t *testing.T) {
	var n notices
	for range 2000 {
		in := watch(make(chan os.Signal, 2), func() {}, n.add)
		in.Close()
	}
	if got := n.list(); len(got) != 0 {
		t.Fatalf("notices without a signal: %q", got)
	}
}

func TestFirstSignalStopsSecondAborts(t *testing.T) {
	var n notices
	sigs := make(chan os.Signal, 2)
	released := make(chan struct{})
	var once sync.Once // release runs again in Close, as signal.Stop may
	in := watch(sigs, func() { once.Do(func() { close(released) }) }, n.add)
	defer in.Close()
	sigs <- os.Interrupt
	<-in.Stop.Done()
	if in.Abort.Err() != nil {
		t.Fatal("the first signal aborted")
	}
	sigs <- os.Interrupt
	<-in.Abort.Done()
	select {
	case <-released: // a third signal kills
	case <-time.After(5 * time.Second):
		t.Fatal("the second signal did not restore the default action")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(n.list()) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := n.list(); len(got) != 2 || got[0] != NoticeStop || got[1] != NoticeAbort {
		t.Fatalf("notices %q", got)
	}
}
