package statebackend

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/keygroup"
)

// A keyed-state snapshot holds the tables and timer queues of one
// operator's backend, laid out key group first:
//
//	magic "FKS1" · uvarint version (1) · uvarint max parallelism
//	uvarint #states · per state: kind byte (1 table, 2 timers) · uvarint len · name
//	uvarint #key groups · per key group, ascending:
//	    uvarint key group · uvarint #blocks
//	    per block: uvarint state index · uvarint #entries · uvarint len · entries
//	CRC-32C (Castagnoli) of all before it, 4 bytes little-endian
//
// A table's entry is its key, namespace and value, each in its codec (the
// descriptor's for user state, codec.Of for the operators' own tables); a
// timer's is its time as a varint, its rank in the queue as a uvarint,
// then its key and namespace. Only key
// groups and states with entries are written. Restoring reads one or more
// snapshots and keeps the key groups of a range, which is how state moves
// when a job is rescaled.

const (
	snapshotMagic   = "FKS1"
	snapshotVersion = 1

	kindTable  byte = 1
	kindTimers byte = 2
)

var (
	// ErrCorruptSnapshot is returned, wrapped, when snapshot bytes cannot
	// be read.
	ErrCorruptSnapshot = errors.New("statebackend: corrupt keyed-state snapshot")
	// ErrNotSnapshottable is returned, wrapped, when a table holds values
	// that have no codec (an operator keeping Go pointers).
	ErrNotSnapshottable = errors.New("statebackend: state cannot be snapshotted")
)

// Snapshotter is a backend that can write a snapshot of its keyed state.
type Snapshotter interface {
	// Snapshot encodes every table and timer queue the backend made, and
	// the restored state no table has claimed yet, and returns the bytes.
	// It runs on the subtask's goroutine; the bytes are the backend's
	// state at the call, and later writes do not change them. now is the
	// processing time, in ms: values of state whose TTL asks for cleanup
	// in full snapshots are left out once expired at now.
	Snapshot(now int64) ([]byte, error)
}

// RestoreHeap returns a heap backend holding the key groups of kgs found
// in snapshots (written by Snapshot with the same max parallelism). The
// state of a table or timer queue is decoded when it is created under the
// name it was written with; a snapshot taken before then carries it on.
// Two snapshots holding the same state in the same key group are an error.
// The backend keeps parts of snapshots until their state is decoded, so
// they must not be changed afterwards.
func RestoreHeap(maxParallelism int, kgs keygroup.Range, snapshots ...[]byte) (Backend, error) {
	b := newHeap(maxParallelism)
	for i, s := range snapshots {
		if err := b.read(s, kgs); err != nil {
			return nil, fmt.Errorf("restoring keyed state from snapshot %d: %w", i, err)
		}
	}
	return b, nil
}

// snapState is a table or timer queue of a backend, typed through closures.
type snapState struct {
	name string
	kind byte
	// encodeErr says why the state's entries cannot be encoded.
	encodeErr error
	// write appends the encoding of every entry to the block of its key
	// group and counts it there. A codec's Append may panic (see
	// codec.EncodeError); the caller recovers.
	write func(now int64, blockOf func(kg int) *block) error
	// read decodes n entries of key group kg from src.
	read func(kg, n int, src []byte) error
	// done, if set, is called once every key group has been read.
	done func()
	len  func() int
	// inDB marks a Pebble backend's table or queue, whose entries an
	// incremental snapshot keeps in the database's files.
	inDB bool
}

// stateID names a table or timer queue of a backend.
type stateID struct {
	kind byte
	name string
}

func (id stateID) String() string { return fmt.Sprintf("%s %q", kindName(id.kind), id.name) }

// pendingState is restored state waiting for its table or queue.
type pendingState struct {
	blocks map[int]block // by key group
}

type block struct {
	n    int
	data []byte
}

// registrar is a backend that snapshots the states made in it.
type registrar interface {
	register(s *snapState) error
	// keyGroups is the backend's max parallelism.
	keyGroups() int
}

// registry holds the tables and timer queues a backend made, and the
// restored state not yet claimed by one, and writes and reads snapshots
// of them through their snapState closures; the heap and Pebble backends
// share it, so both write the same format.
type registry struct {
	maxParallelism int
	// states are the tables and timer queues made, in order, for
	// snapshots; byName finds them by kind and name (a table and a timer
	// queue may share a name).
	states []*snapState
	byName map[stateID]*snapState
	// pending holds restored states no table or queue has claimed yet;
	// a snapshot writes them as they are.
	pending map[stateID]*pendingState
}

func newRegistry(maxParallelism int) registry {
	if maxParallelism <= 0 {
		maxParallelism = keygroup.DefaultMaxParallelism
	}
	return registry{maxParallelism: maxParallelism, byName: map[stateID]*snapState{}, pending: map[stateID]*pendingState{}}
}

func (b *registry) keyGroups() int { return b.maxParallelism }

func (b *registry) register(s *snapState) error {
	id := stateID{s.kind, s.name}
	if _, dup := b.byName[id]; dup {
		return fmt.Errorf("creating %s: the backend already holds one of that name", id)
	}
	b.byName[id] = s
	b.states = append(b.states, s)
	p, ok := b.pending[id]
	if !ok {
		return nil
	}
	delete(b.pending, id)
	if s.encodeErr != nil {
		return fmt.Errorf("restoring %q: %w", s.name, s.encodeErr)
	}
	for _, kg := range sortedKeys(p.blocks) {
		bl := p.blocks[kg]
		if err := s.read(kg, bl.n, bl.data); err != nil {
			return fmt.Errorf("restoring %s %q, key group %d: %w", kindName(s.kind), s.name, kg, err)
		}
	}
	if s.done != nil {
		s.done()
	}
	return nil
}

func kindName(k byte) string {
	if k == kindTimers {
		return "timer queue"
	}
	return "table"
}

func sortedKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Snapshot writes the backend's keyed state (see Snapshotter).
func (b *registry) Snapshot(now int64) ([]byte, error) { return b.snapshot(now, false) }

// snapshot writes the backend's keyed state, but for the states kept in a
// database when skipDB is set.
func (b *registry) snapshot(now int64, skipDB bool) ([]byte, error) {
	type written struct {
		name string
		kind byte
	}
	var states []written
	groups := blockGroups{}
	blockOf := groups.of
	for _, s := range b.states {
		if s.len() == 0 || skipDB && s.inDB {
			continue
		}
		if s.encodeErr != nil {
			return nil, fmt.Errorf("snapshotting %s %q: %w", kindName(s.kind), s.name, s.encodeErr)
		}
		i := len(states)
		states = append(states, written{s.name, s.kind})
		if err := writeState(s, now, func(kg int) *block { return blockOf(kg, i) }); err != nil {
			return nil, fmt.Errorf("snapshotting %s %q: %w", kindName(s.kind), s.name, err)
		}
	}
	pendingIDs := make([]stateID, 0, len(b.pending))
	for id := range b.pending {
		pendingIDs = append(pendingIDs, id)
	}
	slices.SortFunc(pendingIDs, func(a, b stateID) int { return cmp.Or(cmp.Compare(a.kind, b.kind), strings.Compare(a.name, b.name)) })
	for _, id := range pendingIDs {
		p := b.pending[id]
		i := len(states)
		states = append(states, written{id.name, id.kind})
		for kg, bl := range p.blocks {
			*blockOf(kg, i) = bl // the data is never changed, so it is shared
		}
	}

	ids := make([]stateID, len(states))
	for i, s := range states {
		ids[i] = stateID{s.kind, s.name}
	}
	return encodeSnapshot(b.maxParallelism, ids, groups), nil
}

// blockGroups holds a snapshot's blocks: groups[kg][i] is the block of
// the i-th state in key group kg.
type blockGroups map[int]map[int]*block

// of returns the block of state i in key group kg, made if need be.
func (groups blockGroups) of(kg, i int) *block {
	g := groups[kg]
	if g == nil {
		g = map[int]*block{}
		groups[kg] = g
	}
	bl := g[i]
	if bl == nil {
		bl = &block{}
		g[i] = bl
	}
	return bl
}

// encodeSnapshot writes a snapshot of states whose entries are in blocks
// by key group, then index in states.
func encodeSnapshot(maxParallelism int, states []stateID, groups blockGroups) []byte {
	// The blocks hold nearly all of the snapshot: size it once, rather
	// than growing it (and copying what it holds) as they are appended.
	size := len(snapshotMagic) + 4*binary.MaxVarintLen64 + 4
	for _, s := range states {
		size += 1 + binary.MaxVarintLen64 + len(s.name)
	}
	for _, g := range groups {
		size += 2 * binary.MaxVarintLen64
		for _, bl := range g {
			size += 3*binary.MaxVarintLen64 + len(bl.data)
		}
	}
	out := make([]byte, 0, size)
	out = append(out, snapshotMagic...)
	out = binary.AppendUvarint(out, snapshotVersion)
	out = binary.AppendUvarint(out, uint64(maxParallelism))
	out = binary.AppendUvarint(out, uint64(len(states)))
	for _, s := range states {
		out = append(out, s.kind)
		out = binary.AppendUvarint(out, uint64(len(s.name)))
		out = append(out, s.name...)
	}
	out = binary.AppendUvarint(out, uint64(len(groups)))
	for _, kg := range sortedKeys(groups) {
		g := groups[kg]
		out = binary.AppendUvarint(out, uint64(kg))
		out = binary.AppendUvarint(out, uint64(len(g)))
		for _, i := range sortedKeys(g) {
			bl := g[i]
			out = binary.AppendUvarint(out, uint64(i))
			out = binary.AppendUvarint(out, uint64(bl.n))
			out = binary.AppendUvarint(out, uint64(len(bl.data)))
			out = append(out, bl.data...)
		}
	}
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// writeState writes s, turning a codec's panic into an error.
func writeState(s *snapState, now int64, blockOf func(kg int) *block) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = codec.Recovered(r)
		}
	}()
	return s.write(now, blockOf)
}

// reader reads the framing of a snapshot.
type reader struct{ b []byte }

func (r *reader) uvarint(what string) (uint64, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		return 0, fmt.Errorf("%w: reading %s", ErrCorruptSnapshot, what)
	}
	r.b = r.b[n:]
	return v, nil
}

// count reads a number that must be at most max.
func (r *reader) count(what string, max int) (int, error) {
	v, err := r.uvarint(what)
	if err != nil {
		return 0, err
	}
	if v > uint64(max) {
		return 0, fmt.Errorf("%w: %s %d is above %d", ErrCorruptSnapshot, what, v, max)
	}
	return int(v), nil
}

func (r *reader) bytes(what string, n int) ([]byte, error) {
	if n > len(r.b) {
		return nil, fmt.Errorf("%w: %s of %d bytes with %d left", ErrCorruptSnapshot, what, n, len(r.b))
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v, nil
}

// read adds the key groups of kgs in snapshot s to b's pending state.
func (b *registry) read(s []byte, kgs keygroup.Range) error {
	if len(s) < len(snapshotMagic)+4 || string(s[:len(snapshotMagic)]) != snapshotMagic {
		return fmt.Errorf("%w: not a keyed-state snapshot", ErrCorruptSnapshot)
	}
	body := s[:len(s)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(s[len(s)-4:]) {
		return fmt.Errorf("%w: checksum mismatch", ErrCorruptSnapshot)
	}
	r := &reader{b: body[len(snapshotMagic):]}
	v, err := r.uvarint("the version")
	if err != nil {
		return err
	}
	if v != snapshotVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrCorruptSnapshot, v, snapshotVersion)
	}
	mp, err := r.uvarint("the max parallelism")
	if err != nil {
		return err
	}
	if mp != uint64(b.maxParallelism) {
		return fmt.Errorf("the snapshot has max parallelism %d, the backend %d; key groups cannot be mapped", mp, b.maxParallelism)
	}
	nstates, err := r.count("the number of states", len(r.b))
	if err != nil {
		return err
	}
	states := make([]stateID, nstates)
	for i := range states {
		k, err := r.bytes("a state's kind", 1)
		if err != nil {
			return err
		}
		if k[0] != kindTable && k[0] != kindTimers {
			return fmt.Errorf("%w: state kind %d", ErrCorruptSnapshot, k[0])
		}
		n, err := r.count("a state name's length", len(r.b))
		if err != nil {
			return err
		}
		name, err := r.bytes("a state name", n)
		if err != nil {
			return err
		}
		states[i] = stateID{k[0], string(name)}
		if _, ok := b.byName[states[i]]; ok {
			return fmt.Errorf("restoring %s: it was created before the restore", states[i])
		}
	}
	ngroups, err := r.count("the number of key groups", b.maxParallelism)
	if err != nil {
		return err
	}
	last := -1
	for range ngroups {
		kg, err := r.count("a key group", b.maxParallelism-1)
		if err != nil {
			return err
		}
		if kg <= last {
			return fmt.Errorf("%w: key group %d after %d", ErrCorruptSnapshot, kg, last)
		}
		last = kg
		nblocks, err := r.count("the number of blocks", nstates)
		if err != nil {
			return err
		}
		for range nblocks {
			i, err := r.count("a state index", nstates-1)
			if err != nil {
				return err
			}
			n, err := r.count("the number of entries", len(r.b))
			if err != nil {
				return err
			}
			size, err := r.count("a block's length", len(r.b))
			if err != nil {
				return err
			}
			data, err := r.bytes("a block", size)
			if err != nil {
				return err
			}
			if !kgs.Contains(kg) {
				continue
			}
			p := b.pending[states[i]]
			if p == nil {
				p = &pendingState{blocks: map[int]block{}}
				b.pending[states[i]] = p
			}
			if _, dup := p.blocks[kg]; dup {
				return fmt.Errorf("%w: %s has key group %d twice", ErrCorruptSnapshot, states[i], kg)
			}
			p.blocks[kg] = block{n: n, data: data}
		}
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorruptSnapshot, len(r.b))
	}
	return nil
}

// entryCodec encodes values of one part of an entry.
type entryCodec[T any] struct {
	enc func(dst []byte, v T) ([]byte, error)
	dec func(src []byte) (T, int, error)
}

// next decodes a value from the front of *src and advances *src past it.
func (c entryCodec[T]) next(src *[]byte) (T, error) {
	v, m, err := c.dec(*src)
	if err != nil {
		return v, err
	}
	*src = (*src)[m:]
	return v, nil
}

func codecFor[T any](what string) (entryCodec[T], error) {
	c, err := codec.Of[T]()
	if err != nil {
		return entryCodec[T]{}, fmt.Errorf("%w: %s: %w", ErrNotSnapshottable, what, err)
	}
	return wrapCodec(c), nil
}

// wrapCodec returns c's encoding as errors, not panics.
func wrapCodec[T any](c codec.Codec[T]) entryCodec[T] {
	return entryCodec[T]{
		enc: func(dst []byte, v T) ([]byte, error) { return c.Append(dst, v), nil },
		dec: c.Decode,
	}
}

// tableState is how a backend snapshots and restores tab.
func tableState[K, N comparable, V any](spec TableSpec, tab Table[K, N, V]) *snapState {
	s := &snapState{name: spec.Name, kind: kindTable, len: tab.Len}
	kc, err1 := codecFor[K]("keys")
	nc, err2 := codecFor[N]("namespaces")
	vc, err3 := valueCodec[V](spec)
	var filter func(v any, now int64) (any, bool)
	if d := spec.State; d != nil {
		filter = d.SnapshotFilter()
	}
	if err := errors.Join(err1, err2, err3); err != nil {
		s.encodeErr = err
		return s
	}
	s.write = func(now int64, blockOf func(int) *block) error {
		var err error
		for kg := range tab.MaxParallelism() {
			var bl *block
			tab.RangeKeyGroup(kg, func(k K, ns N, v V) bool {
				if filter != nil {
					live, keep := filter(v, now)
					if !keep {
						return true // expired: left out of the snapshot
					}
					v, _ = live.(V)
				}
				if bl == nil {
					bl = blockOf(kg)
				}
				p := &bl.data
				if *p, err = kc.enc(*p, k); err != nil {
					return false
				}
				if *p, err = nc.enc(*p, ns); err != nil {
					return false
				}
				if *p, err = vc.enc(*p, v); err != nil {
					return false
				}
				bl.n++
				return true
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	s.read = func(kg, n int, src []byte) (err error) {
		defer recoverCorrupt(&err)
		for range n {
			k, err := kc.next(&src)
			if err != nil {
				return err
			}
			ns, err := nc.next(&src)
			if err != nil {
				return err
			}
			v, err := vc.next(&src)
			if err != nil {
				return err
			}
			if got := tab.KeyGroupOf(k); got != kg {
				return fmt.Errorf("%w: key %v of key group %d filed under %d", ErrCorruptSnapshot, k, got, kg)
			}
			tab.Put(k, ns, v)
		}
		if len(src) != 0 {
			return fmt.Errorf("%w: %d bytes after the entries", ErrCorruptSnapshot, len(src))
		}
		return nil
	}
	return s
}

// valueCodec returns the codec of a table's values: the descriptor's for
// user state (a value framed by its length), the table's WithCodec, or
// codec.Of[V].
func valueCodec[V any](spec TableSpec) (vc entryCodec[V], err3 error) {
	if d := spec.State; d != nil {
		vc.enc = func(dst []byte, v V) ([]byte, error) { return d.Encode(dst, v) }
		vc.dec = func(src []byte) (V, int, error) {
			// The descriptor decodes a whole value; the block frames it.
			n, m := binary.Uvarint(src)
			var zero V
			if m <= 0 || n > uint64(len(src)-m) {
				return zero, 0, fmt.Errorf("%w: a value's length", ErrCorruptSnapshot)
			}
			x, err := d.Decode(src[m : m+int(n)])
			if err != nil {
				return zero, 0, err
			}
			v, ok := x.(V)
			if !ok {
				return zero, 0, fmt.Errorf("%w: %s decoded a %T", ErrCorruptSnapshot, d, x)
			}
			return v, m + int(n), nil
		}
		enc := vc.enc
		var scratch []byte // the call's encoding, kept for the next call
		vc.enc = func(dst []byte, v V) ([]byte, error) {
			b, err := enc(scratch[:0], v)
			if err != nil {
				return nil, err
			}
			scratch = b
			return append(binary.AppendUvarint(dst, uint64(len(b))), b...), nil
		}
		if err := d.Err(); err != nil {
			err3 = fmt.Errorf("%w: %s: %w", ErrNotSnapshottable, d, err)
		}
	} else if c, ok := spec.Codec.(codec.Codec[V]); ok {
		vc = wrapCodec(c)
	} else if spec.Codec != nil {
		err3 = fmt.Errorf("%w: the table's codec is a %T, not a codec.Codec[%T]", ErrNotSnapshottable, spec.Codec, *new(V))
	} else {
		vc, err3 = codecFor[V]("values")
	}
	return vc, err3
}

// timerState is how a backend snapshots and restores q, whose timers go
// to the key groups of their keys among maxParallelism.
func timerState[K, N comparable](name string, q TimerQueue[K, N], maxParallelism int) *snapState {
	s := &snapState{name: name, kind: kindTimers, len: q.Len}
	kc, err1 := codecFor[K]("keys")
	nc, err2 := codecFor[N]("namespaces")
	hash, err3 := keyHasher[K]()
	if err := errors.Join(err1, err2, err3); err != nil {
		s.encodeErr = err
		return s
	}
	groupOf := func(k K) int { return keygroup.ForHash(hash(k), maxParallelism) }
	s.write = func(_ int64, blockOf func(int) *block) error {
		// Timers in time order and, within a time, in the order they were
		// added (the order heapTimers.Range visits a time's timers in);
		// each is written with its rank, so the restored queue fires
		// timers of the same time in the same order.
		type visited struct {
			t Timer[K, N]
			i int
		}
		var vs []visited
		q.Range(func(t Timer[K, N]) bool { vs = append(vs, visited{t, len(vs)}); return true })
		slices.SortFunc(vs, func(a, b visited) int { return cmp.Or(cmp.Compare(a.t.Time, b.t.Time), cmp.Compare(a.i, b.i)) })
		var err error
		for rank, v := range vs {
			t := v.t
			bl := blockOf(groupOf(t.Key))
			p := &bl.data
			*p = binary.AppendVarint(*p, t.Time)
			*p = binary.AppendUvarint(*p, uint64(rank))
			if *p, err = kc.enc(*p, t.Key); err != nil {
				return err
			}
			if *p, err = nc.enc(*p, t.Namespace); err != nil {
				return err
			}
			bl.n++
		}
		return nil
	}
	type ranked struct {
		rank uint64
		t    Timer[K, N]
	}
	var restored []ranked
	s.read = func(kg, n int, src []byte) (err error) {
		defer recoverCorrupt(&err)
		for range n {
			tm, m := binary.Varint(src)
			if m <= 0 {
				return fmt.Errorf("%w: a timer's time", ErrCorruptSnapshot)
			}
			src = src[m:]
			rank, m := binary.Uvarint(src)
			if m <= 0 {
				return fmt.Errorf("%w: a timer's rank", ErrCorruptSnapshot)
			}
			src = src[m:]
			k, err := kc.next(&src)
			if err != nil {
				return err
			}
			ns, err := nc.next(&src)
			if err != nil {
				return err
			}
			if got := groupOf(k); got != kg {
				return fmt.Errorf("%w: timer key %v of key group %d filed under %d", ErrCorruptSnapshot, k, got, kg)
			}
			restored = append(restored, ranked{rank, Timer[K, N]{Time: tm, Key: k, Namespace: ns}})
		}
		if len(src) != 0 {
			return fmt.Errorf("%w: %d bytes after the timers", ErrCorruptSnapshot, len(src))
		}
		return nil
	}
	s.done = func() {
		slices.SortFunc(restored, func(a, b ranked) int {
			return cmp.Or(cmp.Compare(a.t.Time, b.t.Time), cmp.Compare(a.rank, b.rank))
		})
		for _, r := range restored {
			q.Add(r.t)
		}
		restored = nil
	}
	return s
}

// recoverCorrupt turns a panic of a codec decoding corrupt input into an
// error.
func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: decoding panicked: %v", ErrCorruptSnapshot, r)
	}
}
