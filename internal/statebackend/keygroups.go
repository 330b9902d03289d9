package statebackend

import (
	"fmt"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/keygroup"
)

// kgTable is the heap backend's table, laid out key group first: one
// slabTable per key group, so that a snapshot can be written, and on
// rescaling split or merged, one key group at a time (Flink's
// StateTable of CopyOnWriteStateMaps per key group). The key group of a
// key is the one the keyed exchange sends it by:
// keygroup.ForHash(hash(key), maxParallelism) with the hash KeyBy uses.
type kgTable[K, N comparable, V any] struct {
	hash   func(K) int32
	groups []*slabTable[K, N, V] // indexed by key group; nil until used
	n      int
	// The key group of the last key looked up: consecutive operations
	// usually share the key (an element's windows, its trigger state).
	last    K
	lastKG  int
	hasLast bool
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
	return &kgTable[K, N, V]{hash: h, groups: make([]*slabTable[K, N, V], maxParallelism)}, nil
}

// keyGroup returns the key group of k.
func (t *kgTable[K, N, V]) keyGroup(k K) int {
	if t.hasLast && t.last == k {
		return t.lastKG
	}
	kg := keygroup.ForHash(t.hash(k), len(t.groups))
	t.last, t.lastKG, t.hasLast = k, kg, true
	return kg
}

func (t *kgTable[K, N, V]) group(k K, create bool) *slabTable[K, N, V] {
	kg := t.keyGroup(k)
	g := t.groups[kg]
	if g == nil && create {
		g = newSlabTable[K, N, V]()
		t.groups[kg] = g
	}
	return g
}

func (t *kgTable[K, N, V]) Get(k K, ns N) (V, bool) {
	if g := t.group(k, false); g != nil {
		return g.Get(k, ns)
	}
	var zero V
	return zero, false
}

func (t *kgTable[K, N, V]) Ref(k K, ns N) (*V, bool) {
	p, existed := t.group(k, true).Ref(k, ns)
	if !existed {
		t.n++
	}
	return p, existed
}

func (t *kgTable[K, N, V]) Put(k K, ns N, v V) {
	p, _ := t.Ref(k, ns)
	*p = v
}

func (t *kgTable[K, N, V]) Delete(k K, ns N) {
	if g := t.group(k, false); g != nil && g.Delete(k, ns) {
		t.n--
	}
}

func (t *kgTable[K, N, V]) Len() int { return t.n }

func (t *kgTable[K, N, V]) MaxParallelism() int { return len(t.groups) }

func (t *kgTable[K, N, V]) KeyGroupOf(k K) int { return t.keyGroup(k) }

func (t *kgTable[K, N, V]) Range(fn func(K, N, V) bool) {
	for _, g := range t.groups {
		if g != nil && !g.Range(fn) {
			return
		}
	}
}

func (t *kgTable[K, N, V]) RangeKeyGroup(kg int, fn func(K, N, V) bool) {
	if kg < 0 || kg >= len(t.groups) || t.groups[kg] == nil {
		return
	}
	t.groups[kg].Range(fn)
}
