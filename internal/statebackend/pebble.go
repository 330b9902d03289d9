package statebackend

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/freshet-io/freshet/internal/keygroup"
)

// PebbleOptions configure the Pebble backend.
type PebbleOptions struct {
	// Dir is the directory the backend's database is made in, in a
	// directory of its own that Close removes; "" means os.TempDir().
	Dir string
	// CacheSize is the size of the block cache in bytes; 0 means
	// DefaultPebbleCacheSize.
	CacheSize int64
	// MemTableSize is the size of a memtable in bytes; 0 means 4 MB (small
	// memtables are searched faster: their skiplists stay in the CPU cache).
	MemTableSize uint64
	// EntryCacheSize bounds the write-back cache of recently used table
	// entries kept in front of the database, in bytes; 0 means
	// DefaultPebbleEntryCacheSize and a negative size none.
	EntryCacheSize int64
	// Incremental makes checkpoints incremental: they upload the
	// database's table files that earlier checkpoints did not, and refer
	// to the others. Savepoints are always canonical.
	Incremental bool
	// LocalRoot is the directory the subtasks of a job keep local copies
	// of their incremental checkpoints in, for recovery without
	// downloading them; "" keeps none. The runtime sets it per job.
	LocalRoot string
	// LocalDir is one operator's directory of local copies, under
	// LocalRoot; the runtime sets it per operator and subtask.
	LocalDir string
}

// DefaultPebbleCacheSize is the block cache of a Pebble backend whose
// options name none.
const DefaultPebbleCacheSize = 64 << 20

// DefaultPebbleEntryCacheSize is the entry cache of a Pebble backend
// whose options name none.
const DefaultPebbleEntryCacheSize = 64 << 20

// The Pebble backend keeps the state of one operator in one subtask as
// bytes in a Pebble database of its own, in a directory that Close
// removes. Checkpoints do not use the database's files: a snapshot writes
// the canonical keyed-state format (see Snapshot), so a job checkpointed
// on one backend restores on the other. The database needs no write-ahead
// log, as a failed subtask restores from its last checkpoint.
//
// Keys are laid out key group first, so that one key group, and a range
// of them, is one contiguous span of the keyspace:
//
//	table entry:  key group (2 bytes, big-endian) · state id (2 bytes) · key · namespace
//	timer:        0xff · state id (2 bytes) · time (8 bytes, big-endian, sign bit flipped) · key group (2 bytes) · key · namespace
//
// with keys and namespaces in codec.Of's encoding (self-delimiting) and a
// table's values in its codec (see valueCodec); timers have empty values
// and sort by time. A table's entry is thus the canonical snapshot's entry
// split in two, and a timer names its key group: a database's files turn
// into a canonical snapshot without the state's types (see
// incremental.go). State ids are given by name and kept in incremental
// snapshots, so the restored files keep their meaning.
//
// Tables read and write through an entry cache (see entryCache) that the
// backend's tables share: recently used entries, kept encoded, whose
// changes reach the database when they are evicted and before anything
// reads the database as a whole (Range, RangeKeyGroup, snapshots).
//
// A table whose keys, namespaces or values have no codec (an operator's Go
// pointers, such as a window operator's merging sets when its windows
// have no codec) is kept on the heap, as the heap backend keeps it, and
// fails a snapshot as there once it holds entries.
type pebbleBackend struct {
	registry
	db      *pebble.DB
	dir     string
	opts    PebbleOptions
	nextID  uint16
	ids     map[stateID]uint16 // by kind and name, restored with the files
	flushes []func()           // write back the tables' pending Refs and cached changes
	// counts of the restored database's entries, for its tables and
	// timer queues when they are made.
	restoredTables map[uint16][]int32 // per key group
	restoredTimers map[uint16]restoredQueue
	inc            incrementalState
	// cache holds recently used entries of the tables in front of the
	// database (see entryCache); nil when the options turn it off.
	cache *entryCache
}

type restoredQueue struct {
	n   int
	low int64
}

const timerPrefix = 0xff

// noSync writes without waiting for the disk: the database is a working
// copy, never read after a crash.
var noSync = pebble.NoSync

// NewPebble returns a Pebble backend with maxParallelism key groups (0
// means keygroup.DefaultMaxParallelism). Close it to remove its files.
func NewPebble(maxParallelism int, opts PebbleOptions) (Backend, error) {
	b, err := newPebble(maxParallelism, opts)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// RestorePebble returns a Pebble backend holding the key groups of kgs
// found in snapshots, as RestoreHeap does: snapshots of either backend
// restore on either.
func RestorePebble(maxParallelism int, kgs keygroup.Range, opts PebbleOptions, snapshots ...[]byte) (Backend, error) {
	return restorePebble(maxParallelism, kgs, opts, Restore{Snapshots: snapshots})
}

// restorePebble restores the key groups of kgs from canonical and
// incremental snapshots: the files of an incremental one of the same key
// groups become the database, others are read as canonical snapshots.
func restorePebble(maxParallelism int, kgs keygroup.Range, opts PebbleOptions, in Restore) (Backend, error) {
	if p := sameRange(kgs, in); p != nil && p.maxParallelism == maxParallelism {
		b, err := restoreIncremental(maxParallelism, opts, p, in)
		if err != nil {
			return nil, fmt.Errorf("restoring keyed state from an incremental snapshot: %w", err)
		}
		return b, nil
	}
	snapshots, err := expand(maxParallelism, kgs, in, opts)
	if err != nil {
		return nil, err
	}
	b, err := newPebble(maxParallelism, opts)
	if err != nil {
		return nil, err
	}
	for i, s := range snapshots {
		if err := b.read(s, kgs); err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("restoring keyed state from snapshot %d: %w", i, err)
		}
	}
	return b, nil
}

func newPebble(maxParallelism int, opts PebbleOptions) (*pebbleBackend, error) {
	reg := newRegistry(maxParallelism)
	if reg.maxParallelism > keygroup.UpperBoundMaxParallelism {
		return nil, fmt.Errorf("max parallelism %d is above %d", reg.maxParallelism, keygroup.UpperBoundMaxParallelism)
	}
	dir, err := os.MkdirTemp(opts.Dir, "freshet-pebble-")
	if err != nil {
		return nil, fmt.Errorf("making the Pebble backend's directory: %w", err)
	}
	return openPebble(reg, dir, opts)
}

// openPebble opens the database in dir, empty or restored, as the
// backend's; on failure it removes dir.
func openPebble(reg registry, dir string, opts PebbleOptions) (*pebbleBackend, error) {
	po, release := pebbleOptions(opts)
	db, err := pebble.Open(dir, po)
	release()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("opening the Pebble backend in %s: %w", dir, err)
	}
	b := &pebbleBackend{registry: reg, db: db, dir: dir, opts: opts, ids: map[stateID]uint16{}}
	size := opts.EntryCacheSize
	if size >= 0 {
		if size == 0 {
			size = DefaultPebbleEntryCacheSize
		}
		b.cache = newEntryCache(db, int(size))
	}
	return b, nil
}

// pebbleOptions are the database options of a backend: the block cache,
// no write-ahead log (a failed subtask restores from its checkpoint),
// small memtables and bloom filters. Call the returned release once the
// database is open (it holds its own reference to the cache).
func pebbleOptions(opts PebbleOptions) (_ *pebble.Options, release func()) {
	size := opts.CacheSize
	if size <= 0 {
		size = DefaultPebbleCacheSize
	}
	cache := pebble.NewCache(size)
	po := &pebble.Options{
		Cache:        cache,
		DisableWAL:   true,
		MemTableSize: opts.MemTableSize,
		Logger:       quietLogger{},
	}
	if po.MemTableSize == 0 {
		po.MemTableSize = 4 << 20
	}
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	if opts.Incremental {
		// Keys are spread over the keyspace by their hash, so every
		// flushed file overlaps the whole base level, and a compaction
		// into a base level that holds everything (Pebble's default for
		// databases under 64 MB) rewrites everything: the next
		// checkpoint then uploads the whole state. A 1 MB base level
		// puts nearly all of the state in a deeper level that
		// compactions touch a file at a time, and more files in L0
		// before compacting leave more checkpoints with only their
		// flushed file to upload; lookups in L0 stay cheap through the
		// bloom filters. BenchmarkIncrementalCheckpoint: 1.6 MB per
		// checkpoint with a 4 MB base level (a subtask's 4 MB of state
		// then sat in it whole), 0.16–0.28 MB with 1 MB, against 5 MB
		// for a full checkpoint.
		po.LBaseMaxBytes = 1 << 20
		po.L0CompactionThreshold = 8
	}
	return po, cache.Unref
}

// quietLogger drops Pebble's informational messages and keeps its errors
// out of the job's output; a fatal error still stops the process, as in
// Pebble's own logger.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

func (*pebbleBackend) Name() string { return "pebble" }

func (*pebbleBackend) copiesValues() {}

// Dir is the directory of the backend's database.
func (b *pebbleBackend) Dir() string { return b.dir }

// Close closes the database and removes its directory. The tables and
// timer queues must not be used afterwards. Local copies of checkpoints
// stay, for the next attempt to recover from.
func (b *pebbleBackend) Close() error {
	if b.db == nil {
		return nil
	}
	err := b.db.Close()
	b.db = nil
	return errors.Join(err, os.RemoveAll(b.dir))
}

func (*pebbleTable[K, N, V]) inDB() {}
func (*pebbleTimers[K, N]) inDB()   {}

// dbState is a table or timer queue kept in a Pebble database.
type dbState interface{ inDB() }

// Snapshot writes the backend's keyed state in the canonical format (see
// Snapshotter); the tables' pending Refs and the entry cache's changes
// are written back first.
func (b *pebbleBackend) Snapshot(now int64) ([]byte, error) {
	for _, f := range b.flushes {
		f()
	}
	return b.registry.Snapshot(now)
}

// idFor returns the id of the table or timer queue of kind and name: the
// one it had in the restored files, or a new one.
func (b *pebbleBackend) idFor(kind byte, name string) (uint16, error) {
	sid := stateID{kind, name}
	if id, ok := b.ids[sid]; ok {
		return id, nil
	}
	for {
		if b.nextID == 0xffff {
			return 0, errors.New("the Pebble backend holds too many tables and timer queues")
		}
		id := b.nextID
		b.nextID++
		if !b.idTaken(id) {
			b.ids[sid] = id
			return id, nil
		}
	}
}

func (b *pebbleBackend) idTaken(id uint16) bool {
	for _, v := range b.ids {
		if v == id {
			return true
		}
	}
	return false
}

func (b *pebbleBackend) NewTable(spec TableSpec) (any, error) {
	if spec.pebble == nil {
		return spec.InMemory(b.maxParallelism)
	}
	return spec.pebble(b)
}

func (b *pebbleBackend) NewTimerQueue(spec TimerSpec) (any, error) {
	if spec.pebble == nil {
		return spec.InMemory(), nil
	}
	return spec.pebble(b)
}

// pebbleTable is a table in a Pebble backend.
type pebbleTable[K, N comparable, V any] struct {
	db     *pebble.DB
	id     uint16
	kc     entryCodec[K]
	nc     entryCodec[N]
	vc     entryCodec[V]
	hash   func(K) int32
	groups int
	mask   int // groups-1 when it is a power of two, else -1
	n      int
	// perGroup counts the entries of each key group, so that ranging
	// skips the empty ones without a seek.
	perGroup []int32

	key []byte // the key of the last access, reused
	kg  int    // the key group of key
	val []byte // an encoding buffer, reused
	// last caches whether the key of the last Get existed, so that a Put
	// or Delete of the same key (the usual read-modify-write) need not
	// look it up again to keep n.
	last       []byte
	lastExists bool
	lastValid  bool

	cache *entryCache // the backend's, or nil

	// ref is the value of the last Ref, at refKey, written back when the
	// table next changes (and before it is read in full).
	ref    V
	refKey []byte
	hasRef bool
}

func newPebbleTable[K, N comparable, V any](b *pebbleBackend, spec TableSpec) (any, error) {
	kc, err1 := codecFor[K]("keys")
	nc, err2 := codecFor[N]("namespaces")
	vc, err3 := valueCodec[V](spec)
	hash, err4 := keyHasher[K]()
	if err4 != nil {
		return nil, err4
	}
	if errors.Join(err1, err2, err3) != nil {
		// Not encodable: kept on the heap (see pebbleBackend).
		return spec.InMemory(b.maxParallelism)
	}
	id, err := b.idFor(kindTable, spec.Name)
	if err != nil {
		return nil, err
	}
	t := &pebbleTable[K, N, V]{db: b.db, id: id, kc: kc, nc: nc, vc: vc, hash: hash, groups: b.maxParallelism, mask: -1,
		perGroup: make([]int32, b.maxParallelism)}
	if bits.OnesCount(uint(t.groups)) == 1 {
		t.mask = t.groups - 1
	}
	if counts, ok := b.restoredTables[id]; ok {
		copy(t.perGroup, counts)
		for _, c := range counts {
			t.n += int(c)
		}
		delete(b.restoredTables, id)
	}
	t.cache = b.cache
	b.flushes = append(b.flushes, t.flush)
	return t, nil
}

func (t *pebbleTable[K, N, V]) KeyGroupOf(k K) int {
	if t.mask >= 0 {
		return int(keygroup.Murmur(t.hash(k))) & t.mask
	}
	return keygroup.ForHash(t.hash(k), t.groups)
}

func (t *pebbleTable[K, N, V]) MaxParallelism() int { return t.groups }

func (t *pebbleTable[K, N, V]) Len() int { return t.n }

// prefix appends the prefix of key group kg to dst.
func (t *pebbleTable[K, N, V]) prefix(dst []byte, kg int) []byte {
	return append(dst, byte(kg>>8), byte(kg), byte(t.id>>8), byte(t.id))
}

// encodeKey sets t.key to the key of k and ns.
func (t *pebbleTable[K, N, V]) encodeKey(k K, ns N) []byte {
	t.kg = t.KeyGroupOf(k)
	b := t.prefix(t.key[:0], t.kg)
	b, err := t.kc.enc(b, k)
	if err == nil {
		b, err = t.nc.enc(b, ns)
	}
	if err != nil {
		panic(fmt.Errorf("encoding a state key: %w", err))
	}
	t.key = b
	return b
}

// lookup reads the value at key into a decoded copy, from the cache or
// the database (then caching it).
func (t *pebbleTable[K, N, V]) lookup(key []byte) (V, bool) {
	var zero V
	if t.cache != nil {
		if raw, ok := t.cache.get(key); ok {
			return t.decode(raw), true
		}
	}
	raw, closer, err := t.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		t.remember(key, false)
		return zero, false
	}
	if err != nil {
		panic(fmt.Errorf("reading state: %w", err))
	}
	v := t.decode(raw)
	if t.cache != nil {
		t.cache.put(key, raw, false)
	}
	_ = closer.Close()
	t.remember(key, true)
	return v, true
}

func (t *pebbleTable[K, N, V]) decode(raw []byte) V {
	v, _, err := t.vc.dec(raw)
	if err != nil {
		panic(fmt.Errorf("decoding state: %w", err))
	}
	return v
}

func (t *pebbleTable[K, N, V]) remember(key []byte, exists bool) {
	t.last = append(t.last[:0], key...)
	t.lastExists, t.lastValid = exists, true
}

// exists reports whether key has a value.
func (t *pebbleTable[K, N, V]) exists(key []byte) bool {
	if t.lastValid && bytes.Equal(t.last, key) {
		return t.lastExists
	}
	if t.cache != nil && t.cache.has(key) {
		return true
	}
	_, closer, err := t.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false
	}
	if err != nil {
		panic(fmt.Errorf("reading state: %w", err))
	}
	_ = closer.Close()
	return true
}

func (t *pebbleTable[K, N, V]) set(key []byte, v V) {
	val, err := t.vc.enc(t.val[:0], v)
	if err != nil {
		panic(fmt.Errorf("encoding state: %w", err))
	}
	t.val = val
	if t.cache != nil {
		t.cache.put(key, val, true)
		return
	}
	if err := t.db.Set(key, val, noSync); err != nil {
		panic(fmt.Errorf("writing state: %w", err))
	}
}

// flush writes the pending Ref's value back, keeping it pending (the
// pointer stays valid until the table changes), and the cache's changes
// to the database, which then holds the whole table.
func (t *pebbleTable[K, N, V]) flush() {
	if t.hasRef {
		t.set(t.refKey, t.ref)
	}
	if t.cache != nil {
		t.cache.writeBack()
	}
}

// settle writes the pending Ref's value back before the table changes.
func (t *pebbleTable[K, N, V]) settle() {
	if t.hasRef {
		t.set(t.refKey, t.ref)
		var zero V
		t.ref, t.hasRef = zero, false
		t.lastValid = false
	}
}

func (t *pebbleTable[K, N, V]) Get(k K, ns N) (V, bool) {
	key := t.encodeKey(k, ns)
	if t.hasRef && bytes.Equal(key, t.refKey) {
		return t.ref, true
	}
	return t.lookup(key)
}

func (t *pebbleTable[K, N, V]) Put(k K, ns N, v V) {
	t.settle()
	key := t.encodeKey(k, ns)
	if !t.exists(key) {
		t.n++
		t.perGroup[t.kg]++
	}
	t.set(key, v)
	t.remember(key, true)
}

func (t *pebbleTable[K, N, V]) Ref(k K, ns N) (*V, bool) {
	t.settle()
	key := t.encodeKey(k, ns)
	v, existed := t.lookup(key)
	if !existed {
		t.n++
		t.perGroup[t.kg]++
	}
	t.ref, t.hasRef = v, true
	t.refKey = append(t.refKey[:0], key...)
	t.remember(key, true)
	return &t.ref, existed
}

func (t *pebbleTable[K, N, V]) Delete(k K, ns N) {
	t.settle()
	key := t.encodeKey(k, ns)
	if !(t.cache != nil && t.cache.remove(key)) && !t.exists(key) {
		return
	}
	if err := t.db.Delete(key, noSync); err != nil {
		panic(fmt.Errorf("deleting state: %w", err))
	}
	t.n--
	t.perGroup[t.kg]--
	t.remember(key, false)
}

func (t *pebbleTable[K, N, V]) Range(fn func(K, N, V) bool) {
	t.flush()
	if t.n == 0 {
		return
	}
	it, err := t.db.NewIter(nil)
	if err != nil {
		panic(fmt.Errorf("reading state: %w", err))
	}
	defer it.Close()
	for kg := range t.groups {
		if t.perGroup[kg] > 0 && !t.rangeGroup(it, kg, fn) {
			return
		}
	}
}

func (t *pebbleTable[K, N, V]) RangeKeyGroup(kg int, fn func(K, N, V) bool) {
	t.flush()
	if kg < 0 || kg >= t.groups || t.perGroup[kg] == 0 {
		return
	}
	lo := t.prefix(nil, kg)
	it, err := t.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		panic(fmt.Errorf("reading state: %w", err))
	}
	defer it.Close()
	t.rangeGroup(it, kg, fn)
}

// rangeGroup calls fn for the entries of key group kg that it finds from
// it, until fn returns false, and reports whether it went through all.
func (t *pebbleTable[K, N, V]) rangeGroup(it *pebble.Iterator, kg int, fn func(K, N, V) bool) bool {
	var pre [4]byte
	p := t.prefix(pre[:0], kg)
	for ok := it.SeekGE(p); ok && bytes.HasPrefix(it.Key(), p); ok = it.Next() {
		src := it.Key()[len(p):]
		k, err := t.kc.next(&src)
		if err != nil {
			panic(fmt.Errorf("decoding a state key: %w", err))
		}
		ns, err := t.nc.next(&src)
		if err != nil {
			panic(fmt.Errorf("decoding a state namespace: %w", err))
		}
		raw, err := it.ValueAndErr()
		if err != nil {
			panic(fmt.Errorf("reading state: %w", err))
		}
		v, _, err := t.vc.dec(raw)
		if err != nil {
			panic(fmt.Errorf("decoding state: %w", err))
		}
		if !fn(k, ns, v) {
			return false
		}
	}
	return true
}

// prefixEnd returns the first key after every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// pebbleTimers is a timer queue in a Pebble backend: keys sorted by time,
// then key and namespace, with empty values. The earliest timer is cached,
// and the queue remembers a time no timer is before, so that finding the
// earliest skips what was polled (deleted keys Pebble still steps over).
type pebbleTimers[K, N comparable] struct {
	db *pebble.DB
	id uint16
	kc entryCodec[K]
	nc entryCodec[N]
	n  int
	// groupOf is the key group of a key, which every timer's key holds.
	groupOf func(K) int

	key []byte
	// low is a time no timer is before.
	low       int64
	head      Timer[K, N]
	headKey   []byte
	headValid bool
}

func newPebbleTimers[K, N comparable](b *pebbleBackend, spec TimerSpec) (any, error) {
	kc, err1 := codecFor[K]("keys")
	nc, err2 := codecFor[N]("namespaces")
	if errors.Join(err1, err2) != nil {
		return spec.InMemory(), nil
	}
	hash, err := keyHasher[K]()
	if err != nil {
		return spec.InMemory(), nil
	}
	id, err := b.idFor(kindTimers, spec.Name)
	if err != nil {
		return nil, err
	}
	groups := b.maxParallelism
	q := &pebbleTimers[K, N]{db: b.db, id: id, kc: kc, nc: nc, low: -1 << 63,
		groupOf: func(k K) int { return keygroup.ForHash(hash(k), groups) }}
	if r, ok := b.restoredTimers[id]; ok {
		q.n, q.low = r.n, r.low
		delete(b.restoredTimers, id)
	}
	return q, nil
}

func (q *pebbleTimers[K, N]) prefix(dst []byte) []byte {
	return append(dst, timerPrefix, byte(q.id>>8), byte(q.id))
}

func appendTime(dst []byte, t int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(t)^(1<<63))
}

func (q *pebbleTimers[K, N]) encode(t Timer[K, N]) []byte {
	b := appendTime(q.prefix(q.key[:0]), t.Time)
	kg := q.groupOf(t.Key)
	b = append(b, byte(kg>>8), byte(kg))
	b, err := q.kc.enc(b, t.Key)
	if err == nil {
		b, err = q.nc.enc(b, t.Namespace)
	}
	if err != nil {
		panic(fmt.Errorf("encoding a timer: %w", err))
	}
	q.key = b
	return b
}

func (q *pebbleTimers[K, N]) decode(key []byte) Timer[K, N] {
	src := key[3:]
	if len(src) < 10 {
		panic(fmt.Errorf("%w: a timer key of %d bytes", ErrCorruptSnapshot, len(key)))
	}
	t := Timer[K, N]{Time: int64(binary.BigEndian.Uint64(src) ^ (1 << 63))}
	src = src[10:]
	var err error
	if t.Key, err = q.kc.next(&src); err == nil {
		t.Namespace, err = q.nc.next(&src)
	}
	if err != nil {
		panic(fmt.Errorf("decoding a timer: %w", err))
	}
	return t
}

func (q *pebbleTimers[K, N]) has(key []byte) bool {
	_, closer, err := q.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false
	}
	if err != nil {
		panic(fmt.Errorf("reading a timer: %w", err))
	}
	_ = closer.Close()
	return true
}

func (q *pebbleTimers[K, N]) Add(t Timer[K, N]) bool {
	key := q.encode(t)
	if q.headValid && bytes.Equal(key, q.headKey) {
		return false
	}
	if q.has(key) {
		return false
	}
	if err := q.db.Set(key, nil, noSync); err != nil {
		panic(fmt.Errorf("writing a timer: %w", err))
	}
	q.n++
	if t.Time < q.low {
		q.low = t.Time
	}
	if q.headValid && bytes.Compare(key, q.headKey) < 0 {
		q.headValid = false
	}
	return true
}

func (q *pebbleTimers[K, N]) Remove(t Timer[K, N]) bool {
	key := q.encode(t)
	if !(q.headValid && bytes.Equal(key, q.headKey)) && !q.has(key) {
		return false
	}
	if err := q.db.Delete(key, noSync); err != nil {
		panic(fmt.Errorf("deleting a timer: %w", err))
	}
	q.n--
	if q.headValid && bytes.Equal(key, q.headKey) {
		q.headValid = false
	}
	return true
}

func (q *pebbleTimers[K, N]) Peek() (Timer[K, N], bool) {
	if q.headValid {
		return q.head, true
	}
	if q.n == 0 {
		return Timer[K, N]{}, false
	}
	lo := appendTime(q.prefix(nil), q.low)
	it, err := q.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(q.prefix(nil))})
	if err != nil {
		panic(fmt.Errorf("reading timers: %w", err))
	}
	defer it.Close()
	if !it.First() {
		return Timer[K, N]{}, false
	}
	q.headKey = append(q.headKey[:0], it.Key()...)
	q.head, q.headValid = q.decode(q.headKey), true
	q.low = q.head.Time
	return q.head, true
}

func (q *pebbleTimers[K, N]) Poll() (Timer[K, N], bool) {
	t, ok := q.Peek()
	if !ok {
		return t, false
	}
	if err := q.db.Delete(q.headKey, noSync); err != nil {
		panic(fmt.Errorf("deleting a timer: %w", err))
	}
	q.n--
	q.headValid = false
	return t, true
}

func (q *pebbleTimers[K, N]) Len() int { return q.n }

// Range visits the timers in time order.
func (q *pebbleTimers[K, N]) Range(fn func(Timer[K, N]) bool) {
	if q.n == 0 {
		return
	}
	lo := q.prefix(nil)
	it, err := q.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		panic(fmt.Errorf("reading timers: %w", err))
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if !fn(q.decode(it.Key())) {
			return
		}
	}
}
