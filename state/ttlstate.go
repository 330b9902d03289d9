package state

import (
	"iter"
	"maps"
	"slices"
)

// The read and write paths of state with a TTL. The state types call
// them when their descriptor has one, so state without a TTL pays one
// nil check. Expiry follows Flink's TTL state decorators: a read of an
// expired value removes it (cleanup on access) and, with
// NeverReturnExpired, sees nothing; with OnReadAndWrite a read of a live
// value renews its last-access time.

// loadStamped returns the value of a cell of stamped[T] as TTL lets it be
// seen. A read (read true) removes an expired value and, with
// OnReadAndWrite, renews a live one. A read before a write (read false,
// as Reducing.Add reads the value it reduces into) sees an expired value
// as a read would but leaves the cell to the write, as Flink's TTL reduce
// and aggregate functions do.
func loadStamped[T any](s Store, c Cell, t *ttlConfig, read bool) (T, bool) {
	x, ok := c.Load()
	if !ok {
		var zero T
		return zero, false
	}
	st, _ := x.(stamped[T])
	now := s.Now()
	if t.expired(st.TS, now) {
		if read {
			c.Clear()
		}
		if t.Visibility == NeverReturnExpired {
			var zero T
			return zero, false
		}
		return st.V, true
	}
	if read && t.Update == OnReadAndWrite {
		c.Store(stamped[T]{st.V, now})
	}
	return st.V, true
}

func (s ValueState[T]) ttlValue() (T, bool) {
	v, ok := loadStamped[T](s.s, s.c, s.d.ttl, true)
	if !ok {
		v = s.d.def
	}
	c, err := s.d.clone(v)
	fail(s.s, err)
	return c, ok
}

// stampAll returns vs stamped with the access time now, in a new slice.
func stampAll[T any](vs []T, now int64) []stamped[T] {
	l := make([]stamped[T], len(vs))
	for i, v := range vs {
		l[i] = stamped[T]{v, now}
	}
	return l
}

func (s ListState[T]) ttlLoad() []stamped[T] {
	x, _ := s.c.Load()
	l, _ := x.([]stamped[T])
	return l
}

// ttlGet returns the elements a read sees and removes the expired ones
// from the list; with OnReadAndWrite it renews the elements it returns.
func (s ListState[T]) ttlGet() []T {
	l := s.ttlLoad()
	if len(l) == 0 {
		return nil
	}
	t, now := s.d.ttl, s.s.Now()
	live, changed := liveElems(t, l, now)
	out := l // what the read returns
	if t.Visibility == NeverReturnExpired {
		out = live
	}
	vs := make([]T, len(out))
	for i, e := range out {
		vs[i] = e.V
	}
	if t.Update == OnReadAndWrite && len(live) > 0 {
		if !changed && !s.c.InPlace() {
			live = slices.Clone(live)
		}
		for i := range live {
			live[i].TS = now
		}
		changed = true
	}
	switch {
	case len(live) == 0:
		s.c.Clear()
	case changed:
		s.c.Store(live)
	}
	if len(vs) == 0 {
		return nil
	}
	if s.d.elem.refs {
		cs, err := s.d.clone(vs)
		fail(s.s, err)
		return cs
	}
	return vs
}

// ttlAdd appends vs, already the state's own copies, stamped now.
func (s ListState[T]) ttlAdd(vs []T) {
	l := s.ttlLoad()
	if !s.c.InPlace() {
		l = slices.Clip(l)
	}
	now := s.s.Now()
	for _, v := range vs {
		l = append(l, stamped[T]{v, now})
	}
	s.c.Store(l)
}

func (s MapState[K, V]) ttlLoad() map[K]stamped[V] {
	x, _ := s.c.Load()
	m, _ := x.(map[K]stamped[V])
	return m
}

// ttlWritable is writable for the stamped map of a state with a TTL.
func (s MapState[K, V]) ttlWritable() map[K]stamped[V] {
	m := s.ttlLoad()
	if m == nil {
		return map[K]stamped[V]{}
	}
	if !s.c.InPlace() {
		return maps.Clone(m)
	}
	return m
}

// ttlGet returns the value of k as a read sees it, removing the entry if
// it has expired and renewing it with OnReadAndWrite. The value is the
// stored one, not a copy.
func (s MapState[K, V]) ttlGet(k K) (V, bool) {
	e, ok := s.ttlLoad()[k]
	if !ok {
		return e.V, false
	}
	t, now := s.d.ttl, s.s.Now()
	if t.expired(e.TS, now) {
		s.ttlRemove(k)
		if t.Visibility == NeverReturnExpired {
			var zero V
			return zero, false
		}
		return e.V, true
	}
	if t.Update == OnReadAndWrite {
		m := s.ttlWritable()
		m[k] = stamped[V]{e.V, now}
		s.c.Store(m)
	}
	return e.V, true
}

func (s MapState[K, V]) ttlRemove(k K) {
	m := s.ttlLoad()
	if _, ok := m[k]; !ok {
		return
	}
	if len(m) == 1 {
		s.c.Clear()
		return
	}
	m = s.ttlWritable()
	delete(m, k)
	s.c.Store(m)
}

// ttlSweep removes the expired entries of the map and returns what is
// left (nil if nothing).
func (s MapState[K, V]) ttlSweep() map[K]stamped[V] {
	m := s.ttlLoad()
	x, keep, changed := expireMap[K, V](s.d.ttl)(m, s.s.Now())
	switch {
	case !keep:
		if m != nil {
			s.c.Clear()
		}
		return nil
	case changed:
		s.c.Store(x)
	}
	return x.(map[K]stamped[V])
}

func (s MapState[K, V]) ttlLen() int {
	if s.d.ttl.Visibility == ReturnExpiredIfNotCleanedUp {
		n := len(s.ttlLoad()) // counts what a read would return
		s.ttlSweep()
		return n
	}
	return len(s.ttlSweep())
}

// ttlAll iterates over the entries a read sees: with NeverReturnExpired
// the live ones, else all stored. It first removes the expired entries
// and, with OnReadAndWrite, renews every live entry, in one write, so
// Put and Remove during the iteration are not overwritten after it.
func (s MapState[K, V]) ttlAll() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		t := s.d.ttl
		seen := s.ttlLoad()
		if t.Visibility == ReturnExpiredIfNotCleanedUp && len(seen) > 0 {
			seen = maps.Clone(seen) // the sweep may change the stored map
		}
		live := s.ttlSweep()
		if t.Visibility == NeverReturnExpired {
			seen = live
		}
		if t.Update == OnReadAndWrite && len(live) > 0 {
			renewed, now := s.ttlWritable(), s.s.Now()
			for k, e := range renewed {
				renewed[k] = stamped[V]{e.V, now}
			}
			s.c.Store(renewed)
		}
		for k, e := range seen {
			if !yield(k, s.out(e.V)) {
				return
			}
		}
	}
}

// ttlAdd reduces v, the state's own copy, into the live value.
func (s ReducingState[T]) ttlAdd(v T) {
	acc, ok := loadStamped[T](s.s, s.c, s.d.ttl, false)
	if ok {
		if !s.c.InPlace() {
			var err error
			if acc, err = s.d.clone(acc); err != nil {
				s.s.Fail(err)
				return
			}
		}
		v = s.d.reduce(acc, v)
	}
	s.c.Store(stamped[T]{v, s.s.Now()})
}

// ttlAdd adds v to the live accumulator, or to a new one.
func (s AggregatingState[IN, ACC, OUT]) ttlAdd(v IN) {
	acc, ok := loadStamped[ACC](s.s, s.c, s.d.ttl, false)
	if !ok {
		acc = s.d.agg.CreateAccumulator()
	} else if !s.c.InPlace() {
		var err error
		if acc, err = s.d.clone(acc); err != nil {
			s.s.Fail(err)
			return
		}
	}
	s.c.Store(stamped[ACC]{s.d.agg.Add(v, acc), s.s.Now()})
}
