package statebackend

// slabTable holds the entries of one key group of a heap table: per
// namespace, a map from key to
// an index into a slab of values. An update finds its value with one hash
// lookup and changes it in place, in memory shared with the namespace's
// other values; a namespace's slab is dropped with its last key.
type slabTable[K, N comparable, V any] struct {
	byNS   map[N]*slab[K, V]
	recent [nsCache]nsEntry[N, *slab[K, V]] // slabs of recent namespaces
	next   int
	hit    int
	n      int
	spare  *slab[K, V]
}

type slab[K comparable, V any] struct {
	idx  map[K]int32
	vals []V
	free []int32
}

func newSlabTable[K, N comparable, V any]() *slabTable[K, N, V] {
	return &slabTable[K, N, V]{byNS: map[N]*slab[K, V]{}}
}

func (t *slabTable[K, N, V]) slabOf(ns N, create bool) *slab[K, V] {
	if e := &t.recent[t.hit]; e.set && e.ns == ns {
		return e.in
	}
	for i := range t.recent {
		if e := &t.recent[i]; e.set && e.ns == ns {
			t.hit = i
			return e.in
		}
	}
	s, ok := t.byNS[ns]
	if !ok {
		if !create {
			return nil
		}
		if t.spare != nil {
			s, t.spare = t.spare, nil
		} else {
			s = &slab[K, V]{idx: map[K]int32{}}
		}
		t.byNS[ns] = s
	}
	t.recent[t.next] = nsEntry[N, *slab[K, V]]{ns: ns, in: s, set: true}
	t.hit = t.next
	t.next = (t.next + 1) % nsCache
	return s
}

func (t *slabTable[K, N, V]) Get(k K, ns N) (V, bool) {
	if s := t.slabOf(ns, false); s != nil {
		if i, ok := s.idx[k]; ok {
			return s.vals[i], true
		}
	}
	var zero V
	return zero, false
}

func (t *slabTable[K, N, V]) Ref(k K, ns N) (*V, bool) {
	s := t.slabOf(ns, true)
	if i, ok := s.idx[k]; ok {
		return &s.vals[i], true
	}
	var i int32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		var zero V
		s.vals = append(s.vals, zero)
		i = int32(len(s.vals) - 1)
	}
	s.idx[k] = i
	t.n++
	return &s.vals[i], false
}

func (t *slabTable[K, N, V]) Put(k K, ns N, v V) {
	p, _ := t.Ref(k, ns)
	*p = v
}

// Delete removes the entry of k and ns and reports whether there was one.
func (t *slabTable[K, N, V]) Delete(k K, ns N) bool {
	s := t.slabOf(ns, false)
	if s == nil {
		return false
	}
	i, ok := s.idx[k]
	if !ok {
		return false
	}
	delete(s.idx, k)
	var zero V
	s.vals[i] = zero
	t.n--
	if len(s.idx) == 0 {
		delete(t.byNS, ns)
		for j := range t.recent {
			if e := &t.recent[j]; e.set && e.ns == ns {
				*e = nsEntry[N, *slab[K, V]]{}
			}
		}
		s.vals, s.free = s.vals[:0], s.free[:0]
		t.spare = s
		return true
	}
	s.free = append(s.free, i)
	return true
}

func (t *slabTable[K, N, V]) Len() int { return t.n }

// Range calls fn for every entry until it returns false, and reports
// whether it went through all of them.
func (t *slabTable[K, N, V]) Range(fn func(K, N, V) bool) bool {
	for ns, s := range t.byNS {
		for k, i := range s.idx {
			if !fn(k, ns, s.vals[i]) {
				return false
			}
		}
	}
	return true
}
