package prior

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// clevrEntry is an entry the size of a CLEVR prior (40 actions): 207-byte
// records, as in issue 11's report.
func clevrEntry(i int) Entry {
	p := make([]float32, 40)
	for j := range p {
		p[j] = float32(i*40 + j)
	}
	return Entry{Probs: p, Mode: ModeLogprobs}
}

// writeLog writes n CLEVR-sized records through the cache and returns the
// log's bytes.
func writeLog(t *testing.T, dir string, n int) []byte {
	t.Helper()
	c, err := OpenCache(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := c.Put(key(i), clevrEntry(i)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	data, err := os.ReadFile(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	if want := len(logHeader) + n*207; len(data) != want {
		t.Fatalf("log of %d bytes, want %d (207-byte records)", len(data), want)
	}
	return data
}

// readable counts the records 0..n-1 a fresh cache reads back intact.
func readable(t *testing.T, dir string, n int) int {
	t.Helper()
	c, err := OpenCache(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good := 0
	for i := 0; i < n; i++ {
		if e, ok := c.Get(key(i)); ok && e.Probs[0] == float32(i*40) {
			good++
		}
	}
	return good
}

// TestDamagedRecordDoesNotLoseTheRest is issue 11's repro: 146 entries, one
// byte flipped in record 51. Before format 2 the reader stopped there (50
// entries, no warning) and the next writer truncated the log to 51 records.
func TestDamagedRecordDoesNotLoseTheRest(t *testing.T) {
	dir := t.TempDir()
	data := writeLog(t, dir, 146)
	data[len(logHeader)+50*207+60] ^= 255
	path := filepath.Join(dir, logName)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := InspectCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info.Records != 145 || info.Entries != 145 || info.Damaged != 1 || info.TailBytes != 0 {
		t.Fatalf("stats: %d records, %d entries, %d damaged, tail %d; want 145, 145, 1 damaged, no tail",
			info.Records, info.Entries, info.Damaged, info.TailBytes)
	}
	c, err := OpenCache(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 145 || c.Stats().Damaged != 1 {
		t.Fatalf("cache: %d entries, %d damaged; want 145 and 1", c.Len(), c.Stats().Damaged)
	}
	// The next writer appends after the last whole record: nothing is cut.
	if err := c.Put(key(1000), clevrEntry(1000)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	st, _ := os.Stat(path)
	if st.Size() != int64(len(data)+207) {
		t.Fatalf("log of %d bytes after one append to %d: the writer cut records", st.Size(), len(data))
	}
	if got := readable(t, dir, 146); got != 145 {
		t.Fatalf("%d of the 145 good records readable after the next write", got)
	}
}

// TestRandomCorruptionKeepsGoodRecords is issue 11's acceptance test: a
// single flipped byte at each of 100 random offsets of a 1000-record log
// costs at most the record it hits (two where it straddles a boundary) and
// is reported.
func TestRandomCorruptionKeepsGoodRecords(t *testing.T) {
	dir := t.TempDir()
	pristine := writeLog(t, dir, 1000)
	path := filepath.Join(dir, logName)
	r := rand.New(rand.NewPCG(11, 1))
	rec0 := len(logHeader) + 500*207
	// The header, a record's magic, length, payload and CRC, the last byte
	// of the log; then 100 random offsets.
	offsets := []int{0, len(logHeader) - 1, rec0, rec0 + 5, rec0 + 40, rec0 + 206, len(pristine) - 1}
	for len(offsets) < 107 {
		offsets = append(offsets, r.IntN(len(pristine)))
	}
	fewest := 1000
	for _, off := range offsets {
		data := bytes.Clone(pristine)
		data[off] ^= byte(1 + r.IntN(255))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		info, err := InspectCache(dir)
		if err != nil {
			t.Fatal(err)
		}
		reported := info.Damaged
		if info.HeaderDamaged {
			reported++
		}
		if info.TailBytes > 0 {
			reported++ // the last record, damaged: a tail the next writer cuts
		}
		if info.Records < 998 || reported < 1 {
			t.Fatalf("byte %d flipped: %d records readable, %d damaged reported (header %v, tail %d)",
				off, info.Records, info.Damaged, info.HeaderDamaged, info.TailBytes)
		}
		if got := readable(t, dir, 1000); got != info.Records {
			t.Fatalf("byte %d flipped: the cache reads %d records, stats %d", off, got, info.Records)
		}
		fewest = min(fewest, info.Records)
	}
	t.Logf("%d single-byte corruptions of a 1000-record log: at least %d records readable in each, the damage reported in each", len(offsets), fewest)
}

// TestTornTailIsCutButNotMidFileDamage: a crash mid-append leaves half a
// record after the damaged one; only that half is cut.
func TestTornTailIsCutButNotMidFileDamage(t *testing.T) {
	dir := t.TempDir()
	data := writeLog(t, dir, 20)
	data[len(logHeader)+5*207+100] ^= 1
	rec := encodeRecord(key(20), clevrEntry(20))
	data = append(data, rec[:len(rec)/2]...)
	os.WriteFile(filepath.Join(dir, logName), data, 0o644)
	c, err := OpenCache(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Damaged != 1 || s.TailBytes != int64(len(rec)/2) {
		t.Fatalf("stats %+v; want 1 damaged, a %d-byte tail", s, len(rec)/2)
	}
	if err := c.Put(key(21), clevrEntry(21)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	st, _ := os.Stat(filepath.Join(dir, logName))
	if want := int64(len(logHeader) + 21*207); st.Size() != want {
		t.Fatalf("log of %d bytes, want %d: header, 20 records (one damaged, kept) and the new one", st.Size(), want)
	}
	if got := readable(t, dir, 22); got != 20 { // 19 good + key 21; key 5 damaged, key 20 torn
		t.Fatalf("%d records readable, want 20", got)
	}
}

// encodeV1Record writes a record as lago before format 2 did.
func encodeV1Record(k Key, e Entry) []byte {
	payload := append([]byte(nil), k[:]...)
	payload = append(payload, byte(e.Mode))
	payload = binary.LittleEndian.AppendUint16(payload, uint16(len(e.Probs)))
	for _, p := range e.Probs {
		payload = binary.LittleEndian.AppendUint32(payload, math.Float32bits(p))
	}
	rec := binary.LittleEndian.AppendUint32(nil, 0x4c504331)
	rec = binary.LittleEndian.AppendUint32(rec, uint32(len(payload)))
	rec = append(rec, payload...)
	return binary.LittleEndian.AppendUint32(rec, crc32.ChecksumIEEE(payload))
}

// TestFormat1LogIsCopied: a directory holding an older lago's priors.log
// (with a damaged record in it) is read once into the format-2 log; the old
// file stays as it was, and stats reads it without copying.
func TestFormat1LogIsCopied(t *testing.T) {
	dir := t.TempDir()
	var old []byte
	for i := 0; i < 30; i++ {
		old = append(old, encodeV1Record(key(i), clevrEntry(i))...)
	}
	old[10*207+50] ^= 255
	v1 := filepath.Join(dir, v1LogName)
	os.WriteFile(v1, old, 0o644)

	info, err := InspectCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != 1 || info.Records != 29 || info.Damaged != 1 {
		t.Fatalf("stats of a format-1 log: %+v", info)
	}
	if _, err := os.Stat(filepath.Join(dir, logName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("stats wrote a format-2 log")
	}
	if got := readable(t, dir, 30); got != 29 {
		t.Fatalf("%d of 29 good format-1 records read after the copy", got)
	}
	if now, _ := os.ReadFile(v1); !bytes.Equal(now, old) {
		t.Fatal("the format-1 log was changed")
	}
	if info, _ := InspectCache(dir); info.Format != 2 || info.Records != 29 {
		t.Fatalf("after the copy: format %d, %d records", info.Format, info.Records)
	}
}

// TestInspectCacheIsReadOnly: stats on a fresh machine creates nothing.
func TestInspectCacheIsReadOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lago", "prior")
	if _, err := InspectCache(dir); !errors.Is(err, ErrNoCache) {
		t.Fatalf("missing cache: %v, want ErrNoCache", err)
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("InspectCache created the cache directory")
	}
}

// TestLongLogIsScannedInWindows: a log longer than the scan window, with
// damage on both sides of a window's edge, loses only the damaged records.
func TestLongLogIsScannedInWindows(t *testing.T) {
	dir := t.TempDir()
	n := 4*maxRecord/207 + 200
	data := writeLog(t, dir, n)
	for _, rec := range []int{3, 4*maxRecord/207 - 1, 4*maxRecord/207 + 1, n - 10} {
		data[len(logHeader)+rec*207+30] ^= 255
	}
	os.WriteFile(filepath.Join(dir, logName), data, 0o644)
	info, err := InspectCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info.Records != n-4 || info.Damaged != 4 {
		t.Fatalf("%d records, %d damaged; want %d and 4", info.Records, info.Damaged, n-4)
	}
}

// TestFormat1CopiedOnceUnderConcurrentOpens: processes opening a format-1
// directory at once copy it once between them.
func TestFormat1CopiedOnceUnderConcurrentOpens(t *testing.T) {
	dir := t.TempDir()
	var old []byte
	for i := 0; i < 50; i++ {
		old = append(old, encodeV1Record(key(i), clevrEntry(i))...)
	}
	os.WriteFile(filepath.Join(dir, v1LogName), old, 0o644)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			c, err := OpenCache(dir, 10)
			if err == nil {
				if c.Len() != 50 {
					err = fmt.Errorf("%d entries, want 50", c.Len())
				}
				c.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st, _ := os.Stat(filepath.Join(dir, logName))
	if want := int64(len(logHeader) + 50*207); st.Size() != want {
		t.Fatalf("format-2 log of %d bytes, want %d: copied more than once", st.Size(), want)
	}
}
