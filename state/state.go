package state

import (
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Store is where a function's keyed state lives; the runtime implements it
// over its state backend. Every Cell it returns reads and writes the state
// of the key (and window) being processed at the time of each call on it,
// so a ValueState, ListState, … made from a store always refers to the
// current key, like a Flink state handle.
type Store interface {
	// Cell returns the storage of the state d describes. A store that
	// cannot serve d — its name was used with a descriptor of another kind
	// or type, or d.Err() is not nil — fails the job with an error wrapping
	// ErrIncompatibleState that names the state, and returns a cell that
	// keeps nothing.
	Cell(d Descriptor) Cell
	// Fail fails the job with err once the current call returns.
	Fail(err error)
	// Now is the current processing time in milliseconds since the
	// epoch, from the operator's processing-time service: the clock state
	// with a TTL expires by.
	Now() int64
}

// Cell is the storage of one piece of state for the current key and
// namespace: a value of the descriptor's Type, as the backend holds it.
// The state types of this package are the only callers a function needs.
type Cell interface {
	// Load returns the stored value and whether there is one.
	Load() (v any, ok bool)
	// Store replaces the stored value; the backend keeps v (or its
	// encoding), and the caller does not change v afterwards.
	Store(v any)
	// Clear removes the stored value.
	Clear()
	// InPlace reports whether a value Load returns may be changed in
	// place before it is written back with Store. The heap backend
	// guarantees it (it holds Go values and takes no snapshot while a
	// function runs), which spares map and list state a copy per write; a
	// backend that returns its own values but must not see them change
	// reports false, and the state types change a copy.
	InPlace() bool
}

func fail(s Store, err error) {
	if err != nil {
		s.Fail(err)
	}
}

// ValueState holds one value per key (Flink's ValueState).
type ValueState[T any] struct {
	s Store
	c Cell
	d *ValueDescriptor[T]
}

// Value returns the value state d describes in s.
func Value[T any](s Store, d *ValueDescriptor[T]) ValueState[T] {
	return ValueState[T]{s: s, c: s.Cell(d), d: d}
}

// Value returns the current key's value and true, or the descriptor's
// default (the zero T unless WithDefault gave one) and false when the key
// has none. The value is the caller's own: if T holds slices, maps or
// pointers it is a copy.
func (s ValueState[T]) Value() (T, bool) {
	if s.d.ttl != nil {
		return s.ttlValue()
	}
	x, ok := s.c.Load()
	v := s.d.def
	if ok {
		v, _ = x.(T)
	}
	c, err := s.d.clone(v)
	fail(s.s, err)
	return c, ok
}

// Update sets the current key's value (a copy of v if T holds slices,
// maps or pointers).
func (s ValueState[T]) Update(v T) {
	c, err := s.d.clone(v)
	if err != nil {
		s.s.Fail(err)
		return
	}
	if s.d.ttl != nil {
		s.c.Store(stamped[T]{c, s.s.Now()})
		return
	}
	s.c.Store(c)
}

// Clear removes the current key's value.
func (s ValueState[T]) Clear() { s.c.Clear() }

// ListState holds a list per key (Flink's ListState).
type ListState[T any] struct {
	s Store
	c Cell
	d *ListDescriptor[T]
}

// List returns the list state d describes in s.
func List[T any](s Store, d *ListDescriptor[T]) ListState[T] {
	return ListState[T]{s: s, c: s.Cell(d), d: d}
}

func (s ListState[T]) load() []T {
	x, _ := s.c.Load()
	l, _ := x.([]T)
	return l
}

// Get returns a copy of the current key's list (nil if it is empty).
func (s ListState[T]) Get() []T {
	if s.d.ttl != nil {
		return s.ttlGet()
	}
	l := s.load()
	if len(l) == 0 {
		return nil
	}
	if !s.d.elem.refs {
		return slices.Clone(l)
	}
	c, err := s.d.clone(l)
	fail(s.s, err)
	return c
}

// Add appends v to the current key's list.
func (s ListState[T]) Add(v T) {
	c, err := s.d.elem.clone(v)
	if err != nil {
		s.s.Fail(err)
		return
	}
	if s.d.ttl != nil {
		s.ttlAdd([]T{c})
		return
	}
	l := s.load()
	if !s.c.InPlace() {
		l = slices.Clip(l) // append copies
	}
	s.c.Store(append(l, c))
}

// AddAll appends vs to the current key's list.
func (s ListState[T]) AddAll(vs []T) {
	if len(vs) == 0 {
		return
	}
	cs, err := s.cloneAll(vs)
	if err != nil {
		s.s.Fail(err)
		return
	}
	if s.d.ttl != nil {
		s.ttlAdd(cs)
		return
	}
	l := s.load()
	if !s.c.InPlace() {
		l = slices.Clip(l)
	}
	s.c.Store(append(l, cs...))
}

// Update replaces the current key's list with a copy of vs; an empty vs
// clears it.
func (s ListState[T]) Update(vs []T) {
	if len(vs) == 0 {
		s.c.Clear()
		return
	}
	cs, err := s.cloneAll(vs)
	if err != nil {
		s.s.Fail(err)
		return
	}
	if s.d.ttl != nil {
		s.c.Store(stampAll(cs, s.s.Now()))
		return
	}
	s.c.Store(slices.Clone(cs))
}

// cloneAll returns vs, or a copy of it when its elements hold references.
func (s ListState[T]) cloneAll(vs []T) ([]T, error) {
	if !s.d.elem.refs {
		return vs, nil
	}
	return s.d.clone(vs)
}

// Clear empties the current key's list.
func (s ListState[T]) Clear() { s.c.Clear() }

// MapState holds a map per key (Flink's MapState).
type MapState[K comparable, V any] struct {
	s Store
	c Cell
	d *MapDescriptor[K, V]
}

// Map returns the map state d describes in s.
func Map[K comparable, V any](s Store, d *MapDescriptor[K, V]) MapState[K, V] {
	return MapState[K, V]{s: s, c: s.Cell(d), d: d}
}

func (s MapState[K, V]) load() map[K]V {
	x, _ := s.c.Load()
	m, _ := x.(map[K]V)
	return m
}

// writable returns the current key's map, ready to be changed and stored
// back: the stored map itself where the backend allows changes in place,
// else a copy.
func (s MapState[K, V]) writable() map[K]V {
	m := s.load()
	if m == nil {
		return map[K]V{}
	}
	if !s.c.InPlace() {
		return maps.Clone(m)
	}
	return m
}

func (s MapState[K, V]) out(v V) V {
	c, err := s.d.val.clone(v)
	fail(s.s, err)
	return c
}

// Get returns the value of k in the current key's map (a copy, if V holds
// slices, maps or pointers).
func (s MapState[K, V]) Get(k K) (V, bool) {
	if s.d.ttl != nil {
		v, ok := s.ttlGet(k)
		if !ok {
			return v, false
		}
		return s.out(v), true
	}
	v, ok := s.load()[k]
	if !ok {
		return v, false
	}
	return s.out(v), true
}

// Put sets k to v in the current key's map and writes the map back.
func (s MapState[K, V]) Put(k K, v V) {
	c, err := s.d.val.clone(v)
	if err != nil {
		s.s.Fail(err)
		return
	}
	if s.d.ttl != nil {
		m := s.ttlWritable()
		m[k] = stamped[V]{c, s.s.Now()}
		s.c.Store(m)
		return
	}
	m := s.writable()
	m[k] = c
	s.c.Store(m)
}

// Remove deletes k from the current key's map; removing the last key
// clears the state.
func (s MapState[K, V]) Remove(k K) {
	if s.d.ttl != nil {
		s.ttlRemove(k)
		return
	}
	m := s.load()
	if _, ok := m[k]; !ok {
		return
	}
	if len(m) == 1 {
		s.c.Clear()
		return
	}
	m = s.writable()
	delete(m, k)
	s.c.Store(m)
}

// Contains reports whether the current key's map has k.
func (s MapState[K, V]) Contains(k K) bool {
	if s.d.ttl != nil {
		_, ok := s.ttlGet(k)
		return ok
	}
	_, ok := s.load()[k]
	return ok
}

// Len is the size of the current key's map. With a TTL it counts the
// entries a read would see, removing the expired ones.
func (s MapState[K, V]) Len() int {
	if s.d.ttl != nil {
		return s.ttlLen()
	}
	return len(s.load())
}

// All iterates over the current key's map, in no particular order, with
// the values as Get returns them. Put and Remove during the iteration
// follow Go's rules for changing a map while ranging over it.
func (s MapState[K, V]) All() iter.Seq2[K, V] {
	if s.d.ttl != nil {
		return s.ttlAll()
	}
	return func(yield func(K, V) bool) {
		for k, v := range s.load() {
			if !yield(k, s.out(v)) {
				return
			}
		}
	}
}

// Clear empties the current key's map.
func (s MapState[K, V]) Clear() { s.c.Clear() }

// ReducingState holds one value per key that combines every value added
// with the descriptor's reduce function (Flink's ReducingState).
type ReducingState[T any] struct {
	s Store
	c Cell
	d *ReducingDescriptor[T]
}

// Reducing returns the reducing state d describes in s.
func Reducing[T any](s Store, d *ReducingDescriptor[T]) ReducingState[T] {
	return ReducingState[T]{s: s, c: s.Cell(d), d: d}
}

// Get returns the current key's reduced value and whether it has one.
func (s ReducingState[T]) Get() (T, bool) {
	var v T
	var ok bool
	if s.d.ttl != nil {
		v, ok = loadStamped[T](s.s, s.c, s.d.ttl, true)
	} else {
		var x any
		x, ok = s.c.Load()
		v, _ = x.(T)
	}
	if !ok {
		return v, false
	}
	c, err := s.d.clone(v)
	fail(s.s, err)
	return c, true
}

// Add combines v into the current key's value: the value becomes v if
// there is none, else reduce(value, v).
func (s ReducingState[T]) Add(v T) {
	c, err := s.d.clone(v)
	if err != nil {
		s.s.Fail(err)
		return
	}
	if s.d.ttl != nil {
		s.ttlAdd(c)
		return
	}
	x, ok := s.c.Load()
	if !ok {
		s.c.Store(c)
		return
	}
	acc, _ := x.(T)
	if !s.c.InPlace() {
		if acc, err = s.d.clone(acc); err != nil {
			s.s.Fail(err)
			return
		}
	}
	s.c.Store(s.d.reduce(acc, c))
}

// Clear removes the current key's value.
func (s ReducingState[T]) Clear() { s.c.Clear() }

// AggregatingState holds an accumulator per key that every value added
// goes into through the descriptor's AggregateFunction (Flink's
// AggregatingState).
type AggregatingState[IN, ACC, OUT any] struct {
	s Store
	c Cell
	d *AggregatingDescriptor[IN, ACC, OUT]
}

// Aggregating returns the aggregating state d describes in s.
func Aggregating[IN, ACC, OUT any](s Store, d *AggregatingDescriptor[IN, ACC, OUT]) AggregatingState[IN, ACC, OUT] {
	return AggregatingState[IN, ACC, OUT]{s: s, c: s.Cell(d), d: d}
}

// Get returns the result of the current key's accumulator and whether
// the key has one.
func (s AggregatingState[IN, ACC, OUT]) Get() (OUT, bool) {
	var acc ACC
	var ok bool
	if s.d.ttl != nil {
		acc, ok = loadStamped[ACC](s.s, s.c, s.d.ttl, true)
	} else {
		var x any
		x, ok = s.c.Load()
		acc, _ = x.(ACC)
	}
	if !ok {
		var zero OUT
		return zero, false
	}
	acc, err := s.d.clone(acc) // GetResult may return part of it
	fail(s.s, err)
	return s.d.agg.GetResult(acc), true
}

// Add adds v to the current key's accumulator, creating it first if the
// key has none.
func (s AggregatingState[IN, ACC, OUT]) Add(v IN) {
	if s.d.ttl != nil {
		s.ttlAdd(v)
		return
	}
	x, ok := s.c.Load()
	var acc ACC
	if !ok {
		acc = s.d.agg.CreateAccumulator()
	} else {
		acc, _ = x.(ACC)
		if !s.c.InPlace() {
			var err error
			if acc, err = s.d.clone(acc); err != nil {
				s.s.Fail(err)
				return
			}
		}
	}
	s.c.Store(s.d.agg.Add(v, acc))
}

// Clear removes the current key's accumulator.
func (s AggregatingState[IN, ACC, OUT]) Clear() { s.c.Clear() }

// compile-time checks that the descriptors are Descriptors.
var (
	_ Descriptor = (*ValueDescriptor[int])(nil)
	_ Descriptor = (*ListDescriptor[int])(nil)
	_ Descriptor = (*MapDescriptor[int, int])(nil)
	_ Descriptor = (*ReducingDescriptor[int])(nil)
	_ Descriptor = (*AggregatingDescriptor[int, int, int])(nil)
)

// Mismatch returns the error a store fails a job with when the state name
// of d was first used with the descriptor prev of another kind or type.
func Mismatch(prev, d Descriptor) error {
	return fmt.Errorf("%w: state %q is used as %s but was declared as %s", ErrIncompatibleState, d.Name(), kindAndTypes(d), kindAndTypes(prev))
}

// kindAndTypes is d's String without its name, such as "MapState[string, int]".
func kindAndTypes(d Descriptor) string {
	return strings.TrimSuffix(d.String(), " "+strconv.Quote(d.Name()))
}

// Compatible reports whether two descriptors of one name describe the
// same state: the same kind with the same types.
func Compatible(a, b Descriptor) bool {
	return a.Kind() == b.Kind() && a.Type() == b.Type() && a.String() == b.String()
}
