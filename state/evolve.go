package state

import (
	"encoding/binary"
	"fmt"
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
	if b.ttl != nil {
		return nil, fmt.Errorf("%w: stored as %s, now %s: state with a TTL keeps its layout", codec.ErrIncompatible, old, b.schema)
	}
	dec, err := codec.Migration[S](old)
	if err != nil {
		return nil, err
	}
	return func(src []byte) (any, error) {
		v, n, err := dec(src)
		if err == nil && n != len(src) {
			err = fmt.Errorf("%w: %d bytes left after a value", codec.ErrCorrupt, len(src)-n)
		}
		return v, err
	}, nil
}

// migrated reads a list of the old element layout element by element.
func (d *ListDescriptor[T]) migrated(old string) (func(src []byte) (any, error), error) {
	if d.ttl != nil {
		return nil, fmt.Errorf("%w: stored as %s, now %s: state with a TTL keeps its layout", codec.ErrIncompatible, old, d.schema)
	}
	elem, ok := strings.CutPrefix(old, "[]")
	if !ok {
		return nil, fmt.Errorf("%w: stored as %s, now %s", codec.ErrIncompatible, old, d.schema)
	}
	dec, err := codec.Migration[T](elem)
	if err != nil {
		return nil, err
	}
	return func(src []byte) (any, error) {
		n, k := binary.Uvarint(src)
		if k <= 0 || n > uint64(len(src)) {
			return nil, fmt.Errorf("%w: list length", codec.ErrCorrupt)
		}
		src = src[k:]
		vs := make([]T, 0, n)
		for range n {
			v, m, err := dec(src)
			if err != nil {
				return nil, err
			}
			vs = append(vs, v)
			src = src[m:]
		}
		if len(src) != 0 {
			return nil, fmt.Errorf("%w: %d bytes left after a list", codec.ErrCorrupt, len(src))
		}
		return vs, nil
	}, nil
}
