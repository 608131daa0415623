package prior

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"syscall"

	"github.com/lago-rl/lago/engine/runfile"
)

// The prior cache's log on disk, format 2:
//
//	header:  "lago prior cache v2\n"
//	record:  magic "LPC2" | payload length u32 | payload | CRC-32C u32
//	payload: key [32] | mode u8 | n u16 | n float32
//
// integers little-endian; the CRC covers the length and the payload. A
// reader checks every record and, past a damaged one, resynchronises on the
// next magic that starts a whole record (as LevelDB's log reader skips a bad
// block), so one bad byte costs one record, not the rest of the log. Only
// the bytes after the last whole record (a torn append) are cut, by the next
// writer.
//
// Format 1 (priors.log, lago before format 2) had no header, magic "1CPL"
// and a CRC-32 (IEEE) of the payload only, and its readers stopped at the
// first bad record. Format 2 lives in a file of its own, so an older lago
// sharing the directory never sees (and truncates) a record it cannot
// read. The first open of a directory that holds only priors.log copies its
// whole records into priors-v2.log and leaves priors.log as it was.
const (
	logName   = "priors-v2.log"
	v1LogName = "priors.log"
	logHeader = "lago prior cache v2\n"

	minPayload = 35      // key, mode, count
	maxPayload = 1 << 20 // far above 20×20 actions
	maxRecord  = 8 + maxPayload + 4
)

var (
	magicV2    = []byte("LPC2")
	magicV1    = []byte("1CPL") // the u32 0x4c504331, little-endian
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

func encodeRecord(k Key, e Entry) []byte {
	rec := make([]byte, 0, 8+minPayload+4*len(e.Probs)+4)
	rec = append(rec, magicV2...)
	rec = binary.LittleEndian.AppendUint32(rec, uint32(minPayload+4*len(e.Probs)))
	rec = append(rec, k[:]...)
	rec = append(rec, byte(e.Mode))
	rec = binary.LittleEndian.AppendUint16(rec, uint16(len(e.Probs)))
	for _, p := range e.Probs {
		rec = binary.LittleEndian.AppendUint32(rec, math.Float32bits(p))
	}
	return binary.LittleEndian.AppendUint32(rec, crc32.Checksum(rec[4:], castagnoli))
}

// decodeRecord reads the record of format version at the start of b. n is
// its size; n == 0 means b does not start with a whole, intact record.
func decodeRecord(b []byte, version int) (k Key, e Entry, n int) {
	magic := magicV2
	if version == 1 {
		magic = magicV1
	}
	if len(b) < 8 || !bytes.Equal(b[:4], magic) {
		return k, e, 0
	}
	size := int(binary.LittleEndian.Uint32(b[4:8]))
	if size < minPayload || size > maxPayload || len(b) < 8+size+4 {
		return k, e, 0
	}
	payload := b[8 : 8+size]
	sum := crc32.Checksum(b[4:8+size], castagnoli)
	if version == 1 {
		sum = crc32.ChecksumIEEE(payload)
	}
	if sum != binary.LittleEndian.Uint32(b[8+size:]) {
		return k, e, 0
	}
	count := int(binary.LittleEndian.Uint16(payload[33:35]))
	if minPayload+4*count != size {
		return k, e, 0
	}
	copy(k[:], payload[:32])
	e = Entry{Mode: Mode(payload[32]), Probs: make([]float32, count)}
	for i := range e.Probs {
		e.Probs[i] = math.Float32frombits(binary.LittleEndian.Uint32(payload[35+4*i:]))
	}
	return k, e, 8 + size + 4
}

// readRecord reads the format-2 record at off.
func readRecord(f io.ReaderAt, off int64) (Key, Entry, error) {
	var head [8]byte
	if _, err := f.ReadAt(head[:], off); err != nil {
		return Key{}, Entry{}, err
	}
	size := int(binary.LittleEndian.Uint32(head[4:]))
	if size < minPayload || size > maxPayload {
		return Key{}, Entry{}, errBadRecord
	}
	b := make([]byte, 8+size+4)
	if _, err := f.ReadAt(b, off); err != nil {
		return Key{}, Entry{}, err
	}
	k, e, n := decodeRecord(b, 2)
	if n == 0 {
		return Key{}, Entry{}, errBadRecord
	}
	return k, e, nil
}

var errBadRecord = errors.New("prior cache: damaged record")

// scanResult is what a scan of a log found.
type scanResult struct {
	// end is the offset after the last whole record (or after the header):
	// the bytes from end to the file's size are a torn tail.
	end int64
	// damaged counts the damaged stretches between whole records (each cost
	// at least one record); damagedBytes is their length.
	damaged      int
	damagedBytes int64
	// headerDamaged: the file did not start with the format's header.
	headerDamaged bool
}

// scanLog visits every whole record of the log f (format version) from off
// to size, skipping damaged stretches. It reads in windows, so a long log
// is never held in memory at once.
func scanLog(f io.ReaderAt, off, size int64, version int, visit func(off int64, k Key, e Entry)) (scanResult, error) {
	res := scanResult{end: off}
	magic := magicV2
	if version == 1 {
		magic = magicV1
	}
	buf := make([]byte, 0, min(int64(4*maxRecord), max(size-off, 0)))
	bufOff := off
	pos := off
	badStart := int64(-1)
	for pos < size {
		if pos+maxRecord > bufOff+int64(len(buf)) && bufOff+int64(len(buf)) < size {
			want := min(int64(cap(buf)), size-pos)
			n, err := f.ReadAt(buf[:want], pos)
			if err != nil && !errors.Is(err, io.EOF) {
				return res, err
			}
			buf, bufOff = buf[:n], pos
			if int64(n) < want { // the file shrank meanwhile
				size = pos + int64(n)
				if n == 0 {
					break
				}
			}
		}
		b := buf[pos-bufOff:]
		if k, e, n := decodeRecord(b, version); n > 0 {
			if badStart >= 0 {
				res.damaged++
				res.damagedBytes += pos - badStart
				badStart = -1
			}
			visit(pos, k, e)
			pos += int64(n)
			res.end = pos
			continue
		}
		if badStart < 0 {
			badStart = pos
		}
		// Resynchronise: jump to the next place the magic occurs.
		if i := bytes.Index(b[1:], magic); i >= 0 {
			pos += 1 + int64(i)
		} else if end := bufOff + int64(len(buf)); end >= size {
			pos = size
		} else {
			pos = end - int64(len(magic)) + 1 // the magic may straddle the window's end
		}
	}
	return res, nil
}

// scanFile scans a whole log file: the header (format 2), then the records.
// A damaged header is reported and the records are read anyway; the
// damaged stretch it starts is the header's, not a record's.
func scanFile(f *os.File, version int, visit func(off int64, k Key, e Entry)) (scanResult, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return scanResult{}, 0, err
	}
	size := st.Size()
	start := int64(0)
	headerDamaged := false
	if version == 2 && size > 0 {
		head := make([]byte, min(size, int64(len(logHeader))))
		if _, err := f.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
			return scanResult{}, size, err
		}
		switch {
		case string(head) == logHeader:
			start = int64(len(logHeader))
		case size <= int64(len(logHeader)) && logHeader[:len(head)] == string(head):
			return scanResult{}, size, nil // a torn header: nothing written yet
		default:
			headerDamaged = true
		}
	}
	res, err := scanLog(f, start, size, version, visit)
	if headerDamaged {
		res.headerDamaged = true
		if res.damaged > 0 && res.end > 0 { // the first damaged stretch began at 0
			res.damaged--
		}
	}
	return res, size, err
}

// importV1 copies the whole records of a directory's format-1 log into a
// new format-2 log, once: under the old log's lock, and only if no other
// process did it first. The old log is left as it was.
func importV1(dir string) error {
	old, err := os.Open(filepath.Join(dir, v1LogName))
	if err != nil {
		return fmt.Errorf("prior cache: %w", err)
	}
	defer old.Close()
	if err := syscall.Flock(int(old.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("prior cache: lock %s: %w", old.Name(), err)
	}
	defer syscall.Flock(int(old.Fd()), syscall.LOCK_UN)
	path := filepath.Join(dir, logName)
	if _, err := os.Stat(path); err == nil {
		return nil // another process imported it meanwhile
	}
	var recs [][]byte
	if _, _, err := scanFile(old, 1, func(_ int64, k Key, e Entry) { recs = append(recs, encodeRecord(k, e)) }); err != nil {
		return fmt.Errorf("prior cache: read the format-1 log %s: %w", old.Name(), err)
	}
	err = runfile.WriteAtomic(path, 0o644, func(w io.Writer) error {
		if _, err := io.WriteString(w, logHeader); err != nil {
			return err
		}
		for _, r := range recs {
			if _, err := w.Write(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("prior cache: copy %s into %s: %w", old.Name(), path, err)
	}
	return nil
}

// CacheInfo describes a cache directory as `lago prior stats` reports it.
type CacheInfo struct {
	Dir, Path string
	// Format is 2, or 1 for a directory holding only an older lago's log
	// (the next run that opens the cache copies it into format 2).
	Format  int
	Size    int64
	Records int          // whole records
	Entries int          // distinct keys among them
	ByMode  map[Mode]int // entries by how they were scored
	// Damaged counts the damaged stretches skipped between whole records
	// (each lost at least one record); DamagedBytes is their length.
	Damaged       int
	DamagedBytes  int64
	HeaderDamaged bool
	// TailBytes follow the last whole record: a torn append, which the next
	// writer cuts.
	TailBytes int64
	Usage     Usage
}

// ErrNoCache is InspectCache's answer for a directory without a log.
var ErrNoCache = errors.New("no cache")

// InspectCache reads the cache in dir without changing anything: it creates
// no file or directory, and takes only a shared lock while it reads.
func InspectCache(dir string) (CacheInfo, error) {
	info := CacheInfo{Dir: dir, Format: 2, Path: filepath.Join(dir, logName), ByMode: map[Mode]int{}}
	f, err := os.Open(info.Path)
	if errors.Is(err, os.ErrNotExist) {
		info.Format, info.Path = 1, filepath.Join(dir, v1LogName)
		f, err = os.Open(info.Path)
	}
	if errors.Is(err, os.ErrNotExist) {
		return info, fmt.Errorf("%w at %s", ErrNoCache, dir)
	}
	if err != nil {
		return info, fmt.Errorf("prior cache: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		return info, fmt.Errorf("prior cache: lock %s: %w", info.Path, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	modes := map[Key]Mode{}
	res, size, err := scanFile(f, info.Format, func(_ int64, k Key, e Entry) {
		info.Records++
		modes[k] = e.Mode
	})
	if err != nil {
		return info, fmt.Errorf("prior cache: read %s: %w", info.Path, err)
	}
	for _, m := range modes {
		info.ByMode[m]++
	}
	info.Entries = len(modes)
	info.Size = size
	info.Damaged, info.DamagedBytes, info.HeaderDamaged = res.damaged, res.damagedBytes, res.headerDamaged
	info.TailBytes = size - res.end
	info.Usage, err = ReadUsage(dir)
	return info, err
}
