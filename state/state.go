// Package state is the keyed state a function keeps between elements:
// values, lists and maps scoped to the current key (and, in windows, the
// current window). The runtime keeps it in a state backend, partitioned by
// key group, so it moves with its keys when a job is rescaled.
//
// Functions get state from the Store their context offers:
//
//	count := state.Value[int](ctx.State(), "count")
//	n, _ := count.Value()
//	count.Update(n + 1)
package state

import (
	"iter"
)

// Store is where a function's keyed state lives. The runtime implements it;
// every Cell it returns reads and writes the state of the key (and window)
// being processed at the time of the call.
type Store interface {
	// Cell returns the state named name.
	Cell(name string) Cell
}

// Cell is one named piece of state for the current key. Values are held as
// given, not copied: do not change a value after storing it.
type Cell interface {
	Load() (v any, ok bool)
	Store(v any)
	Clear()
}

// ValueState holds one value per key (Flink's ValueState).
type ValueState[T any] struct{ c Cell }

// Value returns the ValueState named name in s.
func Value[T any](s Store, name string) ValueState[T] { return ValueState[T]{s.Cell(name)} }

// Value returns the current key's value and whether it has one.
func (s ValueState[T]) Value() (T, bool) {
	v, ok := s.c.Load()
	if !ok {
		var zero T
		return zero, false
	}
	return v.(T), true
}

// Update sets the current key's value.
func (s ValueState[T]) Update(v T) { s.c.Store(v) }

// Clear removes the current key's value.
func (s ValueState[T]) Clear() { s.c.Clear() }

// ListState holds a list per key (Flink's ListState).
type ListState[T any] struct{ c Cell }

// List returns the ListState named name in s.
func List[T any](s Store, name string) ListState[T] { return ListState[T]{s.Cell(name)} }

// Get returns the current key's list (nil if empty). Do not modify it.
func (s ListState[T]) Get() []T {
	v, ok := s.c.Load()
	if !ok {
		return nil
	}
	return v.([]T)
}

// Add appends v to the current key's list.
func (s ListState[T]) Add(v T) { s.c.Store(append(s.Get(), v)) }

// Update replaces the current key's list.
func (s ListState[T]) Update(vs []T) {
	if len(vs) == 0 {
		s.c.Clear()
		return
	}
	s.c.Store(append([]T(nil), vs...))
}

// Clear empties the current key's list.
func (s ListState[T]) Clear() { s.c.Clear() }

// MapState holds a map per key (Flink's MapState).
type MapState[K comparable, V any] struct{ c Cell }

// Map returns the MapState named name in s.
func Map[K comparable, V any](s Store, name string) MapState[K, V] {
	return MapState[K, V]{s.Cell(name)}
}

func (s MapState[K, V]) m() map[K]V {
	v, ok := s.c.Load()
	if !ok {
		return nil
	}
	return v.(map[K]V)
}

// Get returns the value of k in the current key's map.
func (s MapState[K, V]) Get(k K) (V, bool) {
	v, ok := s.m()[k]
	return v, ok
}

// Put sets k to v in the current key's map.
func (s MapState[K, V]) Put(k K, v V) {
	m := s.m()
	if m == nil {
		m = map[K]V{}
		s.c.Store(m)
	}
	m[k] = v
}

// Remove deletes k from the current key's map.
func (s MapState[K, V]) Remove(k K) {
	m := s.m()
	delete(m, k)
	if m != nil && len(m) == 0 {
		s.c.Clear()
	}
}

// Contains reports whether the current key's map has k.
func (s MapState[K, V]) Contains(k K) bool { _, ok := s.m()[k]; return ok }

// Len is the size of the current key's map.
func (s MapState[K, V]) Len() int { return len(s.m()) }

// All iterates over the current key's map, in no particular order.
func (s MapState[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for k, v := range s.m() {
			if !yield(k, v) {
				return
			}
		}
	}
}

// Clear empties the current key's map.
func (s MapState[K, V]) Clear() { s.c.Clear() }
