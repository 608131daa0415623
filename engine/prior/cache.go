package prior

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/lago-rl/lago/engine/runfile"
)

// Key identifies a state for one model and prompt template: the SHA-256 of
// (model digest, template version, state text view). Reruns, other seeds and
// other lago processes reuse every answer stored under it.
type Key [32]byte

// MakeKey hashes the three parts, separated so that no two triples collide
// by concatenation.
func MakeKey(modelDigest, templateVersion, textView string) Key {
	h := sha256.New()
	for _, part := range []string{modelDigest, templateVersion, textView} {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	var k Key
	h.Sum(k[:0])
	return k
}

func (k Key) String() string { return hex.EncodeToString(k[:8]) }

// Entry is one cached answer: the distribution over the env's actions and
// how it was obtained.
type Entry struct {
	Probs []float32
	Mode  Mode
}

// Mode says how a distribution was obtained.
type Mode uint8

// The ways a prior is scored.
const (
	ModeLogprobs Mode = iota + 1 // softmax over the labels' log-probabilities
	ModeSampled                  // structured output sampled k times
	ModeUniform                  // the model gave nothing usable; uniform, counted as an error
)

func (m Mode) String() string {
	switch m {
	case ModeLogprobs:
		return "logprobs"
	case ModeSampled:
		return "sampled"
	case ModeUniform:
		return "uniform"
	}
	return fmt.Sprintf("mode(%d)", m)
}

// Cache is the two-tier store of prior answers: a bounded in-memory LRU in
// front of an append-only log on disk (format: cachelog.go).
//
// The log survives kill -9 and damage: each record carries a magic, its
// length and a CRC, is appended with one write(2) under an exclusive flock;
// a reader skips a damaged record and resynchronises on the next whole one,
// and a torn tail (a record cut by a crash) is cut off before the next
// append. Several lago processes on one machine share one log: each appends
// under the lock and picks up the others' records by re-reading the log's
// new tail on a miss.
type Cache struct {
	mu       sync.Mutex
	lru      *list.List // of *lruItem, most recent first
	items    map[Key]*list.Element
	maxLRU   int
	index    map[Key]int64 // key → offset of its record in the log
	f        *os.File      // nil: memory only
	path     string
	scanned  int64 // offset after the last whole record indexed (0: not even the header)
	seenSize int64 // the log's size at the last scan; -1 before the first
	stats    CacheStats
}

type lruItem struct {
	key   Key
	entry Entry
}

// CacheStats count the cache's traffic and the damage its scans found.
type CacheStats struct {
	Hits, Misses, DiskReads, Appends int64
	// Damaged counts the damaged stretches of the log skipped so far (each
	// lost at least one record; the records around it are kept).
	Damaged int64
	// TailBytes follow the last whole record at the last scan: a torn
	// append, cut by the next writer.
	TailBytes int64
}

// OpenCache opens (creating) the log in dir, or a memory-only cache when dir
// is empty. maxEntries bounds the in-memory LRU. A directory holding only a
// format-1 log (priors.log) gets its records copied into a format-2 log.
func OpenCache(dir string, maxEntries int) (*Cache, error) {
	if maxEntries < 1 {
		return nil, fmt.Errorf("config key prior_cache_entries: %d < 1", maxEntries)
	}
	c := &Cache{lru: list.New(), items: map[Key]*list.Element{}, maxLRU: maxEntries, index: map[Key]int64{}, seenSize: -1}
	if dir == "" {
		return c, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("prior cache: %w", err)
	}
	c.path = filepath.Join(dir, logName)
	if _, err := os.Stat(c.path); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, v1LogName)); err == nil {
			if err := importV1(dir); err != nil {
				return nil, err
			}
		}
	}
	f, err := os.OpenFile(c.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("prior cache: %w", err)
	}
	c.f = f
	if err := c.refresh(); err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// Path is the log file ("" for a memory-only cache).
func (c *Cache) Path() string { return c.path }

// Close closes the log.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// Get returns the entry for k, looking in memory, then in the log
// (including what other processes appended since the last look).
func (c *Cache) Get(k Key) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.lru.MoveToFront(el)
		c.stats.Hits++
		return el.Value.(*lruItem).entry, true
	}
	off, ok := c.index[k]
	if !ok && c.f != nil {
		if c.refresh() == nil {
			off, ok = c.index[k]
		}
	}
	if !ok {
		c.stats.Misses++
		return Entry{}, false
	}
	_, e, err := readRecord(c.f, off)
	if err != nil {
		c.stats.Misses++
		return Entry{}, false
	}
	c.stats.Hits++
	c.stats.DiskReads++
	c.remember(k, e)
	return e, true
}

// Put stores e under k in memory and appends it to the log.
func (c *Cache) Put(k Key, e Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remember(k, e)
	if c.f == nil {
		return nil
	}
	if _, ok := c.index[k]; ok {
		return nil
	}
	rec := encodeRecord(k, e)
	if err := syscall.Flock(int(c.f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("prior cache: lock %s: %w", c.path, err)
	}
	defer syscall.Flock(int(c.f.Fd()), syscall.LOCK_UN)
	// Index what others wrote, so our record starts after the last whole
	// one; under the lock, whatever follows it is a torn tail.
	if err := c.refresh(); err != nil {
		return err
	}
	if _, ok := c.index[k]; ok {
		return nil // another process stored it meanwhile
	}
	if c.seenSize > c.scanned {
		if err := c.f.Truncate(c.scanned); err != nil {
			return fmt.Errorf("prior cache: cut the torn tail of %s: %w", c.path, err)
		}
	}
	if c.scanned == 0 { // a new log (or one whose torn header holds no record)
		if _, err := c.f.Write([]byte(logHeader)); err != nil {
			return fmt.Errorf("prior cache: write to %s: %w", c.path, err)
		}
		c.scanned = int64(len(logHeader))
	}
	if _, err := c.f.Write(rec); err != nil {
		c.seenSize = -1 // rescan: the write may have left part of the record
		return fmt.Errorf("prior cache: append to %s: %w", c.path, err)
	}
	c.index[k] = c.scanned
	c.scanned += int64(len(rec))
	c.seenSize = c.scanned
	c.stats.TailBytes = 0
	c.stats.Appends++
	return nil
}

// Len is the number of distinct keys known (on disk, or in memory only).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.index)
	for k := range c.items {
		if _, ok := c.index[k]; !ok {
			n++
		}
	}
	return n
}

// Stats returns the traffic counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

func (c *Cache) remember(k Key, e Entry) {
	if el, ok := c.items[k]; ok {
		el.Value.(*lruItem).entry = e
		c.lru.MoveToFront(el)
		return
	}
	c.items[k] = c.lru.PushFront(&lruItem{k, e})
	for c.lru.Len() > c.maxLRU {
		last := c.lru.Back()
		delete(c.items, last.Value.(*lruItem).key)
		c.lru.Remove(last)
	}
}

// refresh indexes the records appended to the log since the last scan,
// skipping damaged ones. A log whose size did not change is not re-read.
func (c *Cache) refresh() error {
	st, err := c.f.Stat()
	if err != nil {
		return fmt.Errorf("prior cache: %w", err)
	}
	if st.Size() == c.seenSize {
		return nil
	}
	visit := func(off int64, k Key, _ Entry) { c.index[k] = off }
	var res scanResult
	size := st.Size()
	if c.scanned == 0 {
		res, size, err = scanFile(c.f, 2, visit)
	} else {
		res, err = scanLog(c.f, c.scanned, size, 2, visit)
	}
	if err != nil {
		return fmt.Errorf("prior cache: read %s: %w", c.path, err)
	}
	c.scanned, c.seenSize = res.end, size
	c.stats.Damaged += int64(res.damaged)
	if res.headerDamaged {
		c.stats.Damaged++
	}
	c.stats.TailBytes = size - res.end
	return nil
}

// Usage is the cumulative lookup traffic of every process that used a cache
// directory, kept beside the log in usage.json.
type Usage struct {
	Lookups int64 `json:"lookups"`
	Hits    int64 `json:"hits"`
	Calls   int64 `json:"llm_calls"`
}

// AddUsage adds u to the directory's usage.json, under the log's lock.
func (c *Cache) AddUsage(u Usage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	if err := syscall.Flock(int(c.f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("prior cache: lock %s: %w", c.path, err)
	}
	defer syscall.Flock(int(c.f.Fd()), syscall.LOCK_UN)
	dir := filepath.Dir(c.path)
	old, _ := ReadUsage(dir) // a damaged usage.json restarts the count
	old.Lookups += u.Lookups
	old.Hits += u.Hits
	old.Calls += u.Calls
	data, err := json.Marshal(old)
	if err != nil {
		return err
	}
	if err := runfile.WriteFileAtomic(filepath.Join(dir, "usage.json"), data); err != nil {
		return fmt.Errorf("prior cache: %w", err)
	}
	return nil
}

// ReadUsage reads a cache directory's usage.json (zero if absent).
func ReadUsage(dir string) (Usage, error) {
	var u Usage
	data, err := os.ReadFile(filepath.Join(dir, "usage.json"))
	if errors.Is(err, os.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return u, fmt.Errorf("prior cache: %w", err)
	}
	if err := json.Unmarshal(data, &u); err != nil {
		return u, fmt.Errorf("prior cache: %s: %w", filepath.Join(dir, "usage.json"), err)
	}
	return u, nil
}
