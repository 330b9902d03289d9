package statebackend

// nsMap maps (namespace, key) to values in two levels: a small map of
// namespaces (windows, or the single struct{} namespace of plain keyed
// state) to maps of keys. Consecutive operations usually share the
// namespace, so it is cached, and the inner map hashes only the key — for
// integer and string keys Go's fast map paths.
type nsMap[K, N comparable, V any] struct {
	byNS map[N]map[K]V
	// recent caches the inner maps of the last few namespaces: an element
	// of a sliding window touches several windows in turn.
	recent [nsCache]nsEntry[N, map[K]V]
	next   int
	hit    int // the entry that answered last
	n      int
	// spare is an emptied inner map kept for the next namespace: windows
	// come and go with similar key sets, and a reused map does not grow
	// again from nothing.
	spare map[K]V
}

const nsCache = 16

type nsEntry[N comparable, M any] struct {
	ns  N
	in  M
	set bool
}

func newNSMap[K, N comparable, V any]() nsMap[K, N, V] {
	return nsMap[K, N, V]{byNS: map[N]map[K]V{}}
}

// inner returns the key map of ns, creating it if create is set.
func (m *nsMap[K, N, V]) inner(ns N, create bool) map[K]V {
	if e := &m.recent[m.hit]; e.set && e.ns == ns {
		return e.in
	}
	for i := range m.recent {
		if e := &m.recent[i]; e.set && e.ns == ns {
			m.hit = i
			return e.in
		}
	}
	in, ok := m.byNS[ns]
	if !ok {
		if !create {
			return nil
		}
		if m.spare != nil {
			in, m.spare = m.spare, nil
		} else {
			in = map[K]V{}
		}
		m.byNS[ns] = in
	}
	m.recent[m.next] = nsEntry[N, map[K]V]{ns: ns, in: in, set: true}
	m.hit = m.next
	m.next = (m.next + 1) % nsCache
	return in
}

// forget drops ns from the cache.
func (m *nsMap[K, N, V]) forget(ns N) {
	for i := range m.recent {
		if e := &m.recent[i]; e.set && e.ns == ns {
			*e = nsEntry[N, map[K]V]{}
		}
	}
}

func (m *nsMap[K, N, V]) get(k K, ns N) (V, bool) {
	v, ok := m.inner(ns, false)[k]
	return v, ok
}

func (m *nsMap[K, N, V]) put(k K, ns N, v V) {
	in := m.inner(ns, true)
	if _, ok := in[k]; !ok {
		m.n++
	}
	in[k] = v
}

func (m *nsMap[K, N, V]) delete(k K, ns N) bool {
	in := m.inner(ns, false)
	if in == nil {
		return false
	}
	if _, ok := in[k]; !ok {
		return false
	}
	delete(in, k)
	m.n--
	if len(in) == 0 {
		delete(m.byNS, ns)
		m.spare = in
		m.forget(ns)
	}
	return true
}
