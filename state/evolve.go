package state

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"

	"github.com/freshet-io/freshet/codec"
)

// State evolution: a snapshot records the layout of every state's values
// (SchemaOf), and a restore reads it with the descriptor the job has now
// (Migrate), as Flink checks serializer compatibility: the same layout
// reads as is; a struct that added or dropped fields (at any depth) is
// read with the old layout and converted field by field; anything else is
// incompatible.

// evolvable is implemented by every descriptor of this package.
type evolvable interface {
	schemaOf() string
	migrated(old string) (func(src []byte) (any, error), error)
}

// SchemaOf returns the layout of the values d stores, or "" when it has
// no derived one (a codec given with WithCodec, map state): such state is
// read as is.
func SchemaOf(d Descriptor) string {
	if e, ok := d.(evolvable); ok {
		return e.schemaOf()
	}
	return ""
}

// Migrate returns the descriptor a restore reads state d with, whose
// values were stored with layout old (what SchemaOf returned then): d
// itself when the layout is the same (or unknown), else one that reads the
// old layout into d's types. An incompatible change is an error wrapping
// ErrIncompatibleState and codec.ErrIncompatible that names the state and
// what changed.
func Migrate(d Descriptor, old string) (Descriptor, error) {
	e, ok := d.(evolvable)
	if !ok || old == "" || e.schemaOf() == "" || old == e.schemaOf() {
		return d, nil
	}
	dec, err := e.migrated(old)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrIncompatibleState, d, err)
	}
	return migrating{Descriptor: d, dec: dec}, nil
}

// migrating is a descriptor that decodes values of an older layout.
type migrating struct {
	Descriptor
	dec func(src []byte) (any, error)
}

func (m migrating) Decode(src []byte) (any, error) { return m.dec(src) }

func (b *base[S]) schemaOf() string { return b.schema }

func (b *base[S]) migrated(old string) (func(src []byte) (any, error), error) {
	dec, err := codec.Migration[S](old)
	if err != nil {
		return nil, err
	}
	ttl := b.ttl != nil
	return func(src []byte) (any, error) {
		v, ts, n, err := decodeMaybeStamped(dec, src, ttl)
		if err == nil && n != len(src) {
			err = fmt.Errorf("%w: %d bytes left after a value", codec.ErrCorrupt, len(src)-n)
		}
		if err != nil {
			return nil, err
		}
		if ttl {
			return stamped[S]{V: v, TS: ts}, nil
		}
		return v, nil
	}, nil
}

// decodeMaybeStamped decodes a value with dec, after the 8-byte
// last-access time state with a TTL stores before it.
func decodeMaybeStamped[T any](dec func([]byte) (T, int, error), src []byte, stampedForm bool) (T, int64, int, error) {
	var ts int64
	off := 0
	if stampedForm {
		if len(src) < 8 {
			var zero T
			return zero, 0, 0, fmt.Errorf("%w: TTL timestamp", codec.ErrCorrupt)
		}
		ts, off = int64(binary.BigEndian.Uint64(src)), 8
	}
	v, n, err := dec(src[off:])
	return v, ts, off + n, err
}

// migrated reads a map whose values have an older layout; its keys must
// keep theirs.
func (d *MapDescriptor[K, V]) migrated(old string) (func(src []byte) (any, error), error) {
	keys := "map[" + codec.Schema(reflect.TypeFor[K]()) + "]"
	valOld, ok := strings.CutPrefix(old, keys)
	if !ok {
		return nil, fmt.Errorf("%w: stored as %s, now %s: the keys changed", codec.ErrIncompatible, old, d.schema)
	}
	dec, err := codec.Migration[V](valOld)
	if err != nil {
		return nil, err
	}
	kc, err := codec.Of[K]()
	if err != nil {
		return nil, err
	}
	ttl := d.ttl != nil
	return func(src []byte) (any, error) {
		n, k := binary.Uvarint(src)
		if k <= 0 || n > uint64(len(src)) {
			return nil, fmt.Errorf("%w: map length", codec.ErrCorrupt)
		}
		src = src[k:]
		plain := make(map[K]V, n)
		stampedMap := make(map[K]stamped[V], n)
		for range n {
			key, a, err := kc.Decode(src)
			if err != nil {
				return nil, err
			}
			src = src[a:]
			v, ts, b, err := decodeMaybeStamped(dec, src, ttl)
			if err != nil {
				return nil, err
			}
			src = src[b:]
			plain[key], stampedMap[key] = v, stamped[V]{V: v, TS: ts}
		}
		if len(src) != 0 {
			return nil, fmt.Errorf("%w: %d bytes left after a map", codec.ErrCorrupt, len(src))
		}
		if ttl {
			return stampedMap, nil
		}
		return plain, nil
	}, nil
}

// migrated reads a list of the old element layout element by element.
func (d *ListDescriptor[T]) migrated(old string) (func(src []byte) (any, error), error) {
	elem, ok := strings.CutPrefix(old, "[]")
	if !ok {
		return nil, fmt.Errorf("%w: stored as %s, now %s", codec.ErrIncompatible, old, d.schema)
	}
	dec, err := codec.Migration[T](elem)
	if err != nil {
		return nil, err
	}
	ttl := d.ttl != nil
	return func(src []byte) (any, error) {
		n, k := binary.Uvarint(src)
		if k <= 0 || n > uint64(len(src)) {
			return nil, fmt.Errorf("%w: list length", codec.ErrCorrupt)
		}
		src = src[k:]
		vs := make([]T, 0, n)
		var svs []stamped[T]
		for range n {
			v, ts, m, err := decodeMaybeStamped(dec, src, ttl)
			if err != nil {
				return nil, err
			}
			if ttl {
				svs = append(svs, stamped[T]{V: v, TS: ts})
			} else {
				vs = append(vs, v)
			}
			src = src[m:]
		}
		if len(src) != 0 {
			return nil, fmt.Errorf("%w: %d bytes left after a list", codec.ErrCorrupt, len(src))
		}
		if ttl {
			return svs, nil
		}
		return vs, nil
	}, nil
}
