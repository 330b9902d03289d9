// Package statebackend holds keyed state and timers for operators. A
// backend creates typed tables and timer queues; the window operator, the
// interval join, the keyed process functions and user state all keep their
// state here, so a backend that snapshots these (the checkpointing work)
// covers every operator without changing them.
package statebackend

import (
	"container/heap"
	"fmt"
)

// Backend creates the keyed state of one operator in one subtask.
type Backend interface {
	// Name is the backend's kind, such as "heap".
	Name() string
	// heap reports that the backend keeps state as Go values in memory;
	// other kinds come with the checkpointing work.
	heap() bool
}

// Table is keyed state: a value per key and namespace (Flink's state
// table). A namespace is a window for window state, or struct{} for plain
// keyed state.
type Table[K, N comparable, V any] interface {
	Get(k K, ns N) (V, bool)
	Put(k K, ns N, v V)
	Delete(k K, ns N)
	// Range calls fn for every entry until it returns false. fn must not
	// change the table.
	Range(fn func(k K, ns N, v V) bool)
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

// NewHeap returns the heap backend: state as Go values in maps.
func NewHeap() Backend { return heapBackend{} }

type heapBackend struct{}

func (heapBackend) Name() string { return "heap" }
func (heapBackend) heap() bool   { return true }

// NewTable creates the table name in b.
func NewTable[K, N comparable, V any](b Backend, name string) (Table[K, N, V], error) {
	if b == nil || !b.heap() {
		return nil, fmt.Errorf("state backend %v cannot hold table %q", b, name)
	}
	return &heapTable[K, N, V]{m: map[entryKey[K, N]]V{}}, nil
}

// NewTimerQueue creates the timer queue name in b.
func NewTimerQueue[K, N comparable](b Backend, name string) (TimerQueue[K, N], error) {
	if b == nil || !b.heap() {
		return nil, fmt.Errorf("state backend %v cannot hold timers %q", b, name)
	}
	return &heapTimers[K, N]{index: map[Timer[K, N]]int{}}, nil
}

type entryKey[K, N comparable] struct {
	k  K
	ns N
}

type heapTable[K, N comparable, V any] struct {
	m map[entryKey[K, N]]V
}

func (t *heapTable[K, N, V]) Get(k K, ns N) (V, bool) {
	v, ok := t.m[entryKey[K, N]{k, ns}]
	return v, ok
}
func (t *heapTable[K, N, V]) Put(k K, ns N, v V) { t.m[entryKey[K, N]{k, ns}] = v }
func (t *heapTable[K, N, V]) Delete(k K, ns N)   { delete(t.m, entryKey[K, N]{k, ns}) }
func (t *heapTable[K, N, V]) Len() int           { return len(t.m) }
func (t *heapTable[K, N, V]) Range(fn func(K, N, V) bool) {
	for e, v := range t.m {
		if !fn(e.k, e.ns, v) {
			return
		}
	}
}

// heapTimers is a binary heap with an index for deduplication and removal.
type heapTimers[K, N comparable] struct {
	items []Timer[K, N]
	index map[Timer[K, N]]int
}

func (h *heapTimers[K, N]) Len() int           { return len(h.items) }
func (h *heapTimers[K, N]) Less(i, j int) bool { return h.items[i].Time < h.items[j].Time }
func (h *heapTimers[K, N]) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.index[h.items[i]] = i
	h.index[h.items[j]] = j
}
func (h *heapTimers[K, N]) Push(x any) {
	t := x.(Timer[K, N])
	h.index[t] = len(h.items)
	h.items = append(h.items, t)
}
func (h *heapTimers[K, N]) Pop() any {
	t := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	delete(h.index, t)
	return t
}

func (h *heapTimers[K, N]) Add(t Timer[K, N]) bool {
	if _, ok := h.index[t]; ok {
		return false
	}
	heap.Push(h, t)
	return true
}

func (h *heapTimers[K, N]) Remove(t Timer[K, N]) bool {
	i, ok := h.index[t]
	if !ok {
		return false
	}
	heap.Remove(h, i)
	return true
}

func (h *heapTimers[K, N]) Peek() (Timer[K, N], bool) {
	if len(h.items) == 0 {
		return Timer[K, N]{}, false
	}
	return h.items[0], true
}

func (h *heapTimers[K, N]) Poll() (Timer[K, N], bool) {
	if len(h.items) == 0 {
		return Timer[K, N]{}, false
	}
	return heap.Pop(h).(Timer[K, N]), true
}

func (h *heapTimers[K, N]) Range(fn func(Timer[K, N]) bool) {
	for _, t := range h.items {
		if !fn(t) {
			return
		}
	}
}
