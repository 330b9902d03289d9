package statebackend

import (
	"fmt"
	"math/bits"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/keygroup"
)

// kgTable is the heap backend's table, laid out key group first: every
// entry (key, namespace, value) lives in the slots of its key group, so a
// snapshot can be written, and on rescaling split or merged, one key group
// at a time (Flink's StateTable of state maps per key group). The key
// group of a key is the one the keyed exchange sends it by:
// keygroup.ForHash(hash(key), maxParallelism) with the hash KeyBy uses.
//
// Lookups go through an index per namespace from key to slot, so an access
// costs one hash lookup of the key, as in a plain map; the key group is
// computed only when a key first enters a namespace. Consecutive
// operations usually share the namespace (a window), so the index of the
// last few namespaces is cached.
type kgTable[K, N comparable, V any] struct {
	hash   func(K) int32
	mask   int                // maxParallelism-1 when it is a power of two, else -1
	groups []kgGroup[K, N, V] // by key group; a zero group is empty

	byNS   map[N]*nsIndex[K]
	recent [nsCache]nsEntry[N, *nsIndex[K]]
	next   int
	hit    int
	n      int
	spare  *nsIndex[K] // an emptied index kept for the next namespace
}

// nsIndex maps the keys of one namespace to their slots.
type nsIndex[K comparable] struct{ idx map[K]slotRef }

// slotRef is where an entry lives: a key group and a slot in it.
type slotRef struct{ kg, i int32 }

// kgGroup holds the entries of one key group in slots; freed slots are
// reused. Values are apart from their keys and namespaces, so the values
// an operator updates per element sit densely in memory.
type kgGroup[K, N comparable, V any] struct {
	vals  []V
	slots []kgSlot[K, N]
	free  []int32
	n     int
}

type kgSlot[K, N comparable] struct {
	k    K
	ns   N
	live bool
}

// keyHasher returns the 32-bit hash of keys of type K that KeyBy uses to
// partition them: Java's hashCode for strings and numbers, the hash of the
// key's encoding otherwise.
func keyHasher[K comparable]() (func(K) int32, error) {
	var enc func([]byte, K) []byte
	if c, err := codec.Of[K](); err == nil {
		enc = c.Append
	}
	return keygroup.Hasher[K](enc)
}

func newKGTable[K, N comparable, V any](maxParallelism int) (*kgTable[K, N, V], error) {
	if maxParallelism <= 0 {
		maxParallelism = keygroup.DefaultMaxParallelism
	}
	if maxParallelism > keygroup.UpperBoundMaxParallelism {
		return nil, fmt.Errorf("max parallelism %d is above %d", maxParallelism, keygroup.UpperBoundMaxParallelism)
	}
	h, err := keyHasher[K]()
	if err != nil {
		return nil, err
	}
	t := &kgTable[K, N, V]{hash: h, mask: -1, groups: make([]kgGroup[K, N, V], maxParallelism), byNS: map[N]*nsIndex[K]{}}
	if bits.OnesCount(uint(maxParallelism)) == 1 {
		t.mask = maxParallelism - 1
	}
	return t, nil
}

// keyGroup returns the key group of k: keygroup.ForHash, with a mask for
// the usual power-of-two max parallelism (Murmur is never negative).
func (t *kgTable[K, N, V]) keyGroup(k K) int {
	if t.mask >= 0 {
		return int(keygroup.Murmur(t.hash(k))) & t.mask
	}
	return keygroup.ForHash(t.hash(k), len(t.groups))
}

func (t *kgTable[K, N, V]) index(ns N, create bool) *nsIndex[K] {
	if e := &t.recent[t.hit]; e.set && e.ns == ns {
		return e.in
	}
	for i := range t.recent {
		if e := &t.recent[i]; e.set && e.ns == ns {
			t.hit = i
			return e.in
		}
	}
	x, ok := t.byNS[ns]
	if !ok {
		if !create {
			return nil
		}
		if t.spare != nil {
			x, t.spare = t.spare, nil
		} else {
			x = &nsIndex[K]{idx: map[K]slotRef{}}
		}
		t.byNS[ns] = x
	}
	t.recent[t.next] = nsEntry[N, *nsIndex[K]]{ns: ns, in: x, set: true}
	t.hit = t.next
	t.next = (t.next + 1) % nsCache
	return x
}

func (t *kgTable[K, N, V]) Get(k K, ns N) (V, bool) {
	if x := t.index(ns, false); x != nil {
		if r, ok := x.idx[k]; ok {
			return t.groups[r.kg].vals[r.i], true
		}
	}
	var zero V
	return zero, false
}

func (t *kgTable[K, N, V]) Ref(k K, ns N) (*V, bool) {
	x := t.index(ns, true)
	if r, ok := x.idx[k]; ok {
		return &t.groups[r.kg].vals[r.i], true
	}
	kg := t.keyGroup(k)
	g := &t.groups[kg]
	var i int32
	if n := len(g.free); n > 0 {
		i = g.free[n-1]
		g.free = g.free[:n-1]
	} else {
		var zero V
		g.vals = append(g.vals, zero)
		g.slots = append(g.slots, kgSlot[K, N]{})
		i = int32(len(g.slots) - 1)
	}
	g.slots[i] = kgSlot[K, N]{k: k, ns: ns, live: true}
	g.n++
	x.idx[k] = slotRef{kg: int32(kg), i: i}
	t.n++
	return &g.vals[i], false
}

func (t *kgTable[K, N, V]) Put(k K, ns N, v V) {
	p, _ := t.Ref(k, ns)
	*p = v
}

func (t *kgTable[K, N, V]) Delete(k K, ns N) {
	x := t.index(ns, false)
	if x == nil {
		return
	}
	r, ok := x.idx[k]
	if !ok {
		return
	}
	delete(x.idx, k)
	g := &t.groups[r.kg]
	var zero V
	g.vals[r.i], g.slots[r.i] = zero, kgSlot[K, N]{}
	g.n--
	t.n--
	if g.n == 0 {
		g.vals, g.slots, g.free = g.vals[:0], g.slots[:0], g.free[:0]
	} else if int(r.i) == len(g.slots)-1 {
		g.vals, g.slots = g.vals[:r.i], g.slots[:r.i]
	} else {
		g.free = append(g.free, r.i)
	}
	if len(x.idx) == 0 {
		delete(t.byNS, ns)
		for j := range t.recent {
			if e := &t.recent[j]; e.set && e.ns == ns {
				*e = nsEntry[N, *nsIndex[K]]{}
			}
		}
		t.spare = x
	}
}

func (t *kgTable[K, N, V]) Len() int { return t.n }

func (t *kgTable[K, N, V]) MaxParallelism() int { return len(t.groups) }

func (t *kgTable[K, N, V]) KeyGroupOf(k K) int { return t.keyGroup(k) }

func (t *kgTable[K, N, V]) Range(fn func(K, N, V) bool) {
	for i := range t.groups {
		if !t.groups[i].rangeSlots(fn) {
			return
		}
	}
}

func (t *kgTable[K, N, V]) RangeKeyGroup(kg int, fn func(K, N, V) bool) {
	if kg < 0 || kg >= len(t.groups) {
		return
	}
	t.groups[kg].rangeSlots(fn)
}

// rangeSlots calls fn for the group's entries until it returns false, and
// reports whether it went through all of them.
func (g *kgGroup[K, N, V]) rangeSlots(fn func(K, N, V) bool) bool {
	for i := range g.slots {
		if s := &g.slots[i]; s.live && !fn(s.k, s.ns, g.vals[i]) {
			return false
		}
	}
	return true
}
