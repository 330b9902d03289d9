// Package statebackend holds keyed state and timers for operators. A
// backend creates typed tables and timer queues; the window operator, the
// interval join, the keyed process functions and user state all keep their
// state here, so a backend that snapshots these (the checkpointing work)
// covers every operator without changing them.
package statebackend

import (
	"container/heap"
	"fmt"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/state"
)

// Backend creates the keyed state of one operator in one subtask.
//
// Go methods cannot have type parameters, so a backend is handed a spec
// whose constructors close over the types: NewTable and NewTimerQueue (the
// generic functions operators call) build the spec, and the backend picks
// how to hold the state. A backend that keeps Go values in memory calls
// spec.InMemory; one that keeps bytes (on disk) builds its own table from
// the spec's codecs, which the checkpointing work adds to the spec.
type Backend interface {
	// Name is the backend's kind, such as "heap".
	Name() string
	// NewTable returns a Table[K, N, V] (as any) for spec.
	NewTable(spec TableSpec) (any, error)
	// NewTimerQueue returns a TimerQueue[K, N] (as any) for spec.
	NewTimerQueue(spec TimerSpec) (any, error)
}

// TableSpec describes a table of an operator.
type TableSpec struct {
	Name string
	// State, for a table of user state, describes it: its kind, the Go
	// type of its values and their codec, which a backend that keeps bytes
	// encodes them with. Nil for the operators' own tables.
	State state.Descriptor
	// Codec, for an operator's own table made with WithCodec, is the
	// codec.Codec[V] of its values; nil means codec.Of[V].
	Codec any
	// InMemory returns the heap form of the table, a Table[K, N, V] whose
	// entries are kept per key group of maxParallelism key groups (0 means
	// keygroup.DefaultMaxParallelism). It fails when K cannot be hashed
	// into key groups.
	InMemory func(maxParallelism int) (any, error)
	// pebble returns the table in a Pebble backend.
	pebble func(b *pebbleBackend) (any, error)
}

// TimerSpec describes a timer queue of an operator.
type TimerSpec struct {
	Name string
	// InMemory returns the heap form of the queue: a TimerQueue[K, N].
	InMemory func() any
	// pebble returns the queue in a Pebble backend.
	pebble func(b *pebbleBackend) (any, error)
}

// Table is keyed state: a value per key and namespace (Flink's state
// table). A namespace is a window for window state, or struct{} for plain
// keyed state.
//
// Entries are laid out key group first: every key belongs to the key group
// the keyed exchange sends it to (keygroup.ForHash of the hash KeyBy uses,
// modulo MaxParallelism), and RangeKeyGroup visits one group, which is
// what a snapshot writes and what rescaling moves between subtasks.
//
// Values are held as given: Get returns the stored value itself, so a
// value holding slices, maps or pointers shares them with the table.
// Operators own their tables and rely on that; user state goes through
// package state, which copies where a caller could alias a stored value.
type Table[K, N comparable, V any] interface {
	Get(k K, ns N) (V, bool)
	Put(k K, ns N, v V)
	// Ref returns a pointer to the value of k and ns, adding a zero value if
	// there is none, so it can be updated in place; existed tells which.
	// The pointer is valid until the table next changes.
	//
	// Ref is a guarantee of the heap backend (values are Go values in its
	// memory) kept for the operators' hot paths (window contents, join
	// buffers); a backend that keeps bytes would return a pointer to a
	// decoded copy and write it back on the next call into the table.
	Ref(k K, ns N) (v *V, existed bool)
	Delete(k K, ns N)
	// Range calls fn for every entry, key group by key group, until it
	// returns false. fn must not change the table.
	Range(fn func(k K, ns N, v V) bool)
	// RangeKeyGroup calls fn for every entry of key group kg until it
	// returns false. fn must not change the table.
	RangeKeyGroup(kg int, fn func(k K, ns N, v V) bool)
	// KeyGroupOf returns the key group of k.
	KeyGroupOf(k K) int
	// MaxParallelism is the number of key groups.
	MaxParallelism() int
	Len() int
}

// Timer is a timer of a key and namespace at a time.
type Timer[K, N comparable] struct {
	Time      int64
	Key       K
	Namespace N
}

// TimerQueue holds timers in time order, at most one per key, namespace
// and time (Flink's deduplicated timer queue).
type TimerQueue[K, N comparable] interface {
	// Add adds t and reports whether it was new.
	Add(t Timer[K, N]) bool
	// Remove removes t and reports whether it was there.
	Remove(t Timer[K, N]) bool
	// Peek returns the earliest timer.
	Peek() (Timer[K, N], bool)
	// Poll removes and returns the earliest timer.
	Poll() (Timer[K, N], bool)
	Len() int
	// Range calls fn for every timer in no particular order.
	Range(fn func(t Timer[K, N]) bool)
}

// NewHeap returns the heap backend: state as Go values in maps, per key
// group of maxParallelism key groups (0 means
// keygroup.DefaultMaxParallelism).
//
// The heap backend is a Snapshotter: it writes every table and timer queue
// it made, key group by key group (see Snapshot).
func NewHeap(maxParallelism int) Backend { return newHeap(maxParallelism) }

func newHeap(maxParallelism int) *heapBackend {
	return &heapBackend{registry: newRegistry(maxParallelism)}
}

// heapBackend keeps state as Go values; its registry snapshots them.
type heapBackend struct {
	registry
}

func (*heapBackend) Name() string { return "heap" }
func (b *heapBackend) NewTable(spec TableSpec) (any, error) {
	return spec.InMemory(b.maxParallelism)
}
func (*heapBackend) NewTimerQueue(spec TimerSpec) (any, error) { return spec.InMemory(), nil }

// ValuesInPlace reports whether b holds values as given, so that a value
// Get returns is the stored one and changing it changes the state (the
// heap backend), or holds copies (the Pebble backend keeps bytes), so a
// changed value must be Put again.
func ValuesInPlace(b Backend) bool {
	_, copies := b.(valueCopier)
	return !copies
}

// valueCopier is a backend whose tables hold encoded copies of values.
type valueCopier interface{ copiesValues() }

// NewTable creates the table name in b. Its keys, namespaces and values
// are snapshotted in their codecs (codec.Of, or WithCodec's for values).
func NewTable[K, N comparable, V any](b Backend, name string, opts ...TableOption[V]) (Table[K, N, V], error) {
	spec := TableSpec{Name: name}
	for _, o := range opts {
		o(&spec)
	}
	return newTable[K, N, V](b, spec)
}

// TableOption configures a table of values of type V.
type TableOption[V any] func(*TableSpec)

// WithCodec encodes the table's values with c, for values codec.Of cannot
// encode (an operator's Go pointers) or should not.
func WithCodec[V any](c codec.Codec[V]) TableOption[V] {
	return func(s *TableSpec) { s.Codec = c }
}

func newTable[K, N comparable, V any](b Backend, spec TableSpec) (Table[K, N, V], error) {
	name := spec.Name
	if b == nil {
		return nil, fmt.Errorf("creating state table %q: no state backend", name)
	}
	spec.InMemory = func(maxParallelism int) (any, error) {
		return newKGTable[K, N, V](maxParallelism)
	}
	spec.pebble = func(b *pebbleBackend) (any, error) { return newPebbleTable[K, N, V](b, spec) }
	t, err := b.NewTable(spec)
	if err != nil {
		return nil, fmt.Errorf("creating state table %q in the %s backend: %w", name, b.Name(), err)
	}
	tab, ok := t.(Table[K, N, V])
	if !ok {
		return nil, fmt.Errorf("creating state table %q: the %s backend returned %T", name, b.Name(), t)
	}
	if r, ok := b.(registrar); ok {
		st := tableState(spec, tab)
		_, st.inDB = any(tab).(dbState)
		if err := r.register(st); err != nil {
			return nil, err
		}
	}
	return tab, nil
}

// NewStateTable creates the table name in b for the user state d: its
// values are of d.Type(), held as any, and d's codec encodes them.
func NewStateTable[K, N comparable](b Backend, name string, d state.Descriptor) (Table[K, N, any], error) {
	return newTable[K, N, any](b, TableSpec{Name: name, State: d})
}

// NewTimerQueue creates the timer queue name in b.
func NewTimerQueue[K, N comparable](b Backend, name string) (TimerQueue[K, N], error) {
	if b == nil {
		return nil, fmt.Errorf("creating timer queue %q: no state backend", name)
	}
	spec := TimerSpec{Name: name, InMemory: func() any {
		return &heapTimers[K, N]{buckets: map[int64]*bucket[K, N]{}}
	}}
	spec.pebble = func(b *pebbleBackend) (any, error) { return newPebbleTimers[K, N](b, spec) }
	q, err := b.NewTimerQueue(spec)
	if err != nil {
		return nil, fmt.Errorf("creating timer queue %q in the %s backend: %w", name, b.Name(), err)
	}
	tq, ok := q.(TimerQueue[K, N])
	if !ok {
		return nil, fmt.Errorf("creating timer queue %q: the %s backend returned %T", name, b.Name(), q)
	}
	if r, ok := b.(registrar); ok {
		st := timerState(name, tq, r.keyGroups())
		_, st.inDB = any(tq).(dbState)
		if err := r.register(st); err != nil {
			return nil, err
		}
	}
	return tq, nil
}

type entryKey[K, N comparable] struct {
	k  K
	ns N
}

// heapTimers keeps timers in buckets per time, with a min-heap of the
// distinct times: many keys share a time (a window's end), so registering
// a timer costs one lookup in its bucket, and the heap stays small.
type heapTimers[K, N comparable] struct {
	times   timeHeap
	buckets map[int64]*bucket[K, N]
	last    *bucket[K, N] // the bucket of the last Add, a cheap cache
	spare   *bucket[K, N] // an emptied bucket kept for reuse
	n       int
}

type bucket[K, N comparable] struct {
	time  int64
	slots []slot[K, N]
	n     int // live timers
	// live indexes slots once the bucket holds more than smallBucket of
	// them; a smaller bucket (a time few timers share, as the interval
	// join's cleanup timers) is searched slot by slot, and costs no map.
	live    nsMap[K, N, int]
	indexed bool
}

// smallBucket is the most timers a bucket searches without an index.
const smallBucket = 8

// find returns the slot of the live timer of k and ns.
func (b *bucket[K, N]) find(k K, ns N) (int, bool) {
	if b.indexed {
		return b.live.get(k, ns)
	}
	e := entryKey[K, N]{k, ns}
	for i := range b.slots {
		if s := &b.slots[i]; !s.dead && s.e == e {
			return i, true
		}
	}
	return 0, false
}

// add appends the timer of k and ns, indexing the bucket once it grows
// past smallBucket.
func (b *bucket[K, N]) add(k K, ns N) {
	b.slots = append(b.slots, slot[K, N]{e: entryKey[K, N]{k, ns}})
	b.n++
	switch {
	case b.indexed:
		b.live.put(k, ns, len(b.slots)-1)
	case len(b.slots) > smallBucket:
		if b.live.byNS == nil {
			b.live = newNSMap[K, N, int]()
		}
		for i, s := range b.slots {
			if !s.dead {
				b.live.put(s.e.k, s.e.ns, i)
			}
		}
		b.indexed = true
	}
}

// remove marks slot i dead.
func (b *bucket[K, N]) remove(i int) {
	s := &b.slots[i]
	s.dead = true
	b.n--
	if b.indexed {
		b.live.delete(s.e.k, s.e.ns)
	}
}

type slot[K, N comparable] struct {
	e    entryKey[K, N]
	dead bool
}

type timeHeap []int64

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *timeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

func (h *heapTimers[K, N]) bucketFor(t int64, create bool) *bucket[K, N] {
	if h.last != nil && h.last.time == t {
		return h.last
	}
	b := h.buckets[t]
	if b == nil && create {
		if h.spare != nil {
			b, h.spare = h.spare, nil
			b.time = t
		} else {
			b = &bucket[K, N]{time: t}
		}
		h.buckets[t] = b
		heap.Push(&h.times, t)
	}
	if b != nil {
		h.last = b
	}
	return b
}

func (h *heapTimers[K, N]) Add(t Timer[K, N]) bool {
	b := h.bucketFor(t.Time, true)
	if _, ok := b.find(t.Key, t.Namespace); ok {
		return false
	}
	b.add(t.Key, t.Namespace)
	h.n++
	return true
}

func (h *heapTimers[K, N]) Remove(t Timer[K, N]) bool {
	b := h.bucketFor(t.Time, false)
	if b == nil {
		return false
	}
	i, ok := b.find(t.Key, t.Namespace)
	if !ok {
		return false
	}
	b.remove(i)
	h.n--
	h.trim(b)
	return true
}

// trim drops dead slots at the end of b and b itself once it is empty.
func (h *heapTimers[K, N]) trim(b *bucket[K, N]) {
	for len(b.slots) > 0 && b.slots[len(b.slots)-1].dead {
		b.slots = b.slots[:len(b.slots)-1]
	}
	if b.n == 0 {
		b.slots = b.slots[:0]
	}
}

// head returns the bucket of the earliest time that has a live timer,
// dropping empty buckets.
func (h *heapTimers[K, N]) head() *bucket[K, N] {
	for len(h.times) > 0 {
		b := h.buckets[h.times[0]]
		if b.n > 0 {
			return b
		}
		heap.Pop(&h.times)
		delete(h.buckets, b.time)
		if h.last == b {
			h.last = nil
		}
		// An index kept for reuse is empty: every timer was removed.
		b.slots, b.indexed = b.slots[:0], false
		h.spare = b
	}
	return nil
}

func (h *heapTimers[K, N]) Peek() (Timer[K, N], bool) {
	b := h.head()
	if b == nil {
		return Timer[K, N]{}, false
	}
	s := b.slots[len(b.slots)-1]
	return Timer[K, N]{Time: b.time, Key: s.e.k, Namespace: s.e.ns}, true
}

func (h *heapTimers[K, N]) Poll() (Timer[K, N], bool) {
	b := h.head()
	if b == nil {
		return Timer[K, N]{}, false
	}
	i := len(b.slots) - 1
	s := b.slots[i]
	b.remove(i)
	b.slots = b.slots[:i]
	h.n--
	h.trim(b)
	return Timer[K, N]{Time: b.time, Key: s.e.k, Namespace: s.e.ns}, true
}

func (h *heapTimers[K, N]) Len() int { return h.n }

func (h *heapTimers[K, N]) Range(fn func(Timer[K, N]) bool) {
	for t, b := range h.buckets {
		for _, s := range b.slots {
			if !s.dead && !fn(Timer[K, N]{Time: t, Key: s.e.k, Namespace: s.e.ns}) {
				return
			}
		}
	}
}
