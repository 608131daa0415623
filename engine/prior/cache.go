package prior

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
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
// front of an append-only log on disk.
//
// The log survives kill -9: each record carries a CRC, is appended with one
// write(2) under an exclusive flock, and a torn tail (a record cut by a
// crash) is skipped when read and cut off before the next append. Several
// lago processes on one machine share one log: each appends under the lock
// and picks up the others' records by re-reading the log's new tail on a miss.
type Cache struct {
	mu      sync.Mutex
	lru     *list.List // of *lruItem, most recent first
	items   map[Key]*list.Element
	maxLRU  int
	index   map[Key]int64 // key → offset of its record in the log
	f       *os.File      // nil: memory only
	path    string
	scanned int64 // log bytes already indexed
	stats   CacheStats
}

type lruItem struct {
	key   Key
	entry Entry
}

// CacheStats count the cache's traffic.
type CacheStats struct {
	Hits, Misses, DiskReads, Appends, TornRecords int64
}

// OpenCache opens (creating) the log in dir, or a memory-only cache when dir
// is empty. maxEntries bounds the in-memory LRU.
func OpenCache(dir string, maxEntries int) (*Cache, error) {
	if maxEntries < 1 {
		return nil, fmt.Errorf("prior cache: in-memory size %d < 1", maxEntries)
	}
	c := &Cache{lru: list.New(), items: map[Key]*list.Element{}, maxLRU: maxEntries, index: map[Key]int64{}}
	if dir == "" {
		return c, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("prior cache directory %s: %w", dir, err)
	}
	c.path = filepath.Join(dir, "priors.log")
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
	_, e, _, err := readRecord(c.f, off)
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
	// Index what others wrote, and cut a torn tail left by a crash, so our
	// record starts at a record boundary.
	if err := c.refresh(); err != nil {
		return err
	}
	if st, err := c.f.Stat(); err == nil && st.Size() > c.scanned {
		if err := c.f.Truncate(c.scanned); err != nil {
			return fmt.Errorf("prior cache: cut torn tail of %s: %w", c.path, err)
		}
	}
	if _, ok := c.index[k]; ok {
		return nil // another process stored it meanwhile
	}
	if _, err := c.f.Write(rec); err != nil {
		return fmt.Errorf("prior cache: append to %s: %w", c.path, err)
	}
	c.index[k] = c.scanned
	c.scanned += int64(len(rec))
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

// refresh indexes the records appended to the log since the last scan. It
// stops at the first torn or corrupt record: with appends serialised by the
// lock, only the tail can be torn.
func (c *Cache) refresh() error {
	for {
		k, _, n, err := readRecord(c.f, c.scanned)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			c.stats.TornRecords++
			return nil
		}
		c.index[k] = c.scanned
		c.scanned += n
	}
}

// A record is: magic u32 | payload length u32 | payload | CRC-32 u32 of the
// payload. Payload: key [32] | mode u8 | n u16 | n float32.
const recordMagic = 0x4c504331 // "LPC1"

func encodeRecord(k Key, e Entry) []byte {
	payload := make([]byte, 0, 35+4*len(e.Probs))
	payload = append(payload, k[:]...)
	payload = append(payload, byte(e.Mode))
	payload = binary.LittleEndian.AppendUint16(payload, uint16(len(e.Probs)))
	for _, p := range e.Probs {
		payload = binary.LittleEndian.AppendUint32(payload, math.Float32bits(p))
	}
	rec := binary.LittleEndian.AppendUint32(nil, recordMagic)
	rec = binary.LittleEndian.AppendUint32(rec, uint32(len(payload)))
	rec = append(rec, payload...)
	return binary.LittleEndian.AppendUint32(rec, crc32.ChecksumIEEE(payload))
}

var errBadRecord = errors.New("bad record")

// readRecord reads the record at off, returning its size. io.EOF means the
// log ends exactly there.
func readRecord(f *os.File, off int64) (Key, Entry, int64, error) {
	var k Key
	var head [8]byte
	n, err := f.ReadAt(head[:], off)
	if n == 0 && errors.Is(err, io.EOF) {
		return k, Entry{}, 0, io.EOF
	}
	if n < len(head) || binary.LittleEndian.Uint32(head[:4]) != recordMagic {
		return k, Entry{}, 0, errBadRecord
	}
	size := binary.LittleEndian.Uint32(head[4:])
	if size < 35 || size > 1<<20 {
		return k, Entry{}, 0, errBadRecord
	}
	body := make([]byte, size+4)
	if n, _ := f.ReadAt(body, off+8); n < len(body) {
		return k, Entry{}, 0, errBadRecord
	}
	payload := body[:size]
	if crc32.ChecksumIEEE(payload) != binary.LittleEndian.Uint32(body[size:]) {
		return k, Entry{}, 0, errBadRecord
	}
	copy(k[:], payload[:32])
	e := Entry{Mode: Mode(payload[32])}
	count := int(binary.LittleEndian.Uint16(payload[33:35]))
	if 35+4*count != int(size) {
		return k, Entry{}, 0, errBadRecord
	}
	e.Probs = make([]float32, count)
	for i := range e.Probs {
		e.Probs[i] = math.Float32frombits(binary.LittleEndian.Uint32(payload[35+4*i:]))
	}
	return k, e, int64(8 + size + 4), nil
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
		return err
	}
	defer syscall.Flock(int(c.f.Fd()), syscall.LOCK_UN)
	path := filepath.Join(filepath.Dir(c.path), "usage.json")
	old, _ := ReadUsage(filepath.Dir(c.path))
	old.Lookups += u.Lookups
	old.Hits += u.Hits
	old.Calls += u.Calls
	data, err := json.Marshal(old)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadUsage reads a cache directory's usage.json (zero if absent).
func ReadUsage(dir string) (Usage, error) {
	var u Usage
	data, err := os.ReadFile(filepath.Join(dir, "usage.json"))
	if errors.Is(err, os.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return u, err
	}
	return u, json.Unmarshal(data, &u)
}

// Census counts a cache's entries by how they were scored.
func (c *Cache) Census() map[Mode]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[Mode]int{}
	if c.f == nil {
		return out
	}
	c.refresh()
	for _, off := range c.index {
		if _, e, _, err := readRecord(c.f, off); err == nil {
			out[e.Mode]++
		}
	}
	return out
}
