// Package runfile owns lago's files on disk: the names and formats of a run
// directory's files (config.toml, metrics.jsonl, checkpoint.lago,
// summary.json, the lock), the protocol between `lago compare` and its
// `lago train` children (TrainArgs, the progress lines), and the one way
// lago writes a file so that a crash never leaves it torn. It is plain Go
// (no cgo), so that every package can use it.
package runfile

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteAtomic writes path through a temporary file in the same directory:
// write fills it, then it is synced, given mode perm and renamed over path,
// and the directory is synced, so a crash leaves the old file or the new one,
// never a torn one. When path already exists its mode is kept instead of perm.
func WriteAtomic(path string, perm fs.FileMode, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(path); err == nil {
		perm = st.Mode().Perm()
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; outputs are as readable as any file.
	if err := os.Chmod(tmp, perm); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the rename itself durable
		d.Close()
	}
	return nil
}

// WriteFileAtomic is WriteAtomic for data already in memory, with mode 0644
// for a new file.
func WriteFileAtomic(path string, data []byte) error {
	return WriteAtomic(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
