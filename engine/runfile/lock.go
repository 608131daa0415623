package runfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Lock is an exclusive hold on a run directory: one process trains (or
// resumes) a run at a time. It is an flock(2) on the directory's lock file,
// so the kernel releases it when the process dies, however it dies; the
// file stays and holds the last holder's PID.
type Lock struct {
	f       *os.File
	path    string
	created bool // Acquire made the file
}

// ErrLocked is wrapped by Acquire's error when another process holds the lock.
var ErrLocked = errors.New("run directory in use")

// Acquire takes dir's lock without waiting. When another process (or
// another open of the file in this one) holds it, the error names dir and
// the holder's PID. dir must exist.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, LockFile)
	// A lock taken on a file that Discard removed meanwhile (opened before
	// the removal, locked after it) holds nothing: the next process makes
	// a new file. So the lock is only held once the locked file is still
	// the one at path; otherwise it is taken again.
	for range 100 {
		l, err := acquire(dir, path)
		if err != nil || l != nil {
			return l, err
		}
	}
	return nil, fmt.Errorf("runfile: locking %s: %s keeps being replaced", dir, path)
}

// acquire is one try of Acquire: nil, nil when the locked file is no longer
// the one at path.
func acquire(dir, path string) (*Lock, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("runfile: locking %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if data, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(data))); perr == nil {
					holder = fmt.Sprintf("process %d", pid)
				}
			}
			return nil, fmt.Errorf("runfile: %w: %s is held by %s (lock %s); wait for it to finish or stop it", ErrLocked, dir, holder, path)
		}
		return nil, fmt.Errorf("runfile: locking %s: %w", dir, err)
	}
	held, ferr := f.Stat()
	now, perr := os.Stat(path)
	if ferr != nil || perr != nil || !os.SameFile(held, now) {
		f.Close()
		return nil, nil
	}
	// The holder's PID, for the error of whoever comes next.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f, path: path, created: errors.Is(statErr, fs.ErrNotExist)}, nil
}

// Release gives the lock up. The file stays: removing it would let a
// process that opened it before the removal lock a file no one else sees.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Discard gives the lock up like Release and, when Acquire made the lock
// file, removes it first, so that a start that failed in a directory that
// existed leaves it as it found it. Removing the file while it is still
// locked is safe: a process that opened it before and locks it after sees,
// in Acquire, that it is no longer the file at the path.
func (l *Lock) Discard() error {
	if l == nil || l.f == nil {
		return nil
	}
	var err error
	if l.created {
		err = os.Remove(l.path)
	}
	return errors.Join(err, l.Release())
}
