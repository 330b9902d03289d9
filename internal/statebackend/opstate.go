package statebackend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/checkpoint/redistribute"
)

// Distribution says how a piece of operator state is split among the
// subtasks of a job restored at another parallelism (see package
// redistribute).
type Distribution uint8

// The distributions, as Flink names its operator state.
const (
	// SplitEven is list state: the old lists, concatenated, are cut into
	// nearly equal parts.
	SplitEven Distribution = iota + 1
	// Union is union list state: every subtask gets every element.
	Union
	// Broadcast is broadcast state: every subtask holds the same copy.
	Broadcast
)

func (d Distribution) String() string {
	switch d {
	case SplitEven:
		return "list"
	case Union:
		return "union list"
	case Broadcast:
		return "broadcast"
	}
	return fmt.Sprintf("Distribution(%d)", uint8(d))
}

// OperatorState is the operator state of one operator in one subtask
// (Flink's OperatorStateBackend): named lists of values that are not tied to
// a key. Each list is snapshotted element by element, so a restore at
// another parallelism can redistribute it. It is for the subtask's
// goroutine only.
type OperatorState struct {
	lists map[string]opList
	// restored holds what a restore gave this subtask, by name, until a
	// list of that name is created and decodes it.
	restored    map[string]restoredList
	wasRestored bool
}

type restoredList struct {
	dist  Distribution
	elems [][]byte
}

// opList is a typed list seen without its type.
type opList interface {
	distribution() Distribution
	elemType() reflect.Type
	encode(dst [][]byte) ([][]byte, error)
}

// NewOperatorState returns an empty operator state.
func NewOperatorState() *OperatorState {
	return &OperatorState{lists: map[string]opList{}}
}

// IsRestored reports whether the state was restored from a snapshot (it may
// still be empty for this subtask).
func (s *OperatorState) IsRestored() bool { return s.wasRestored }

// Empty reports whether there is nothing to snapshot.
func (s *OperatorState) Empty() bool { return len(s.lists) == 0 && len(s.restored) == 0 }

// OpList is one named list of operator state. Values is the list: the
// operator reads and replaces it freely between snapshots.
type OpList[T any] struct {
	Values []T
	dist   Distribution
	codec  codec.Codec[T]
}

func (l *OpList[T]) distribution() Distribution { return l.dist }
func (l *OpList[T]) elemType() reflect.Type     { return reflect.TypeFor[T]() }

func (l *OpList[T]) encode(dst [][]byte) (_ [][]byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = codec.Recovered(r)
		}
	}()
	for _, v := range l.Values {
		dst = append(dst, l.codec.Append(nil, v))
	}
	return dst, nil
}

// ErrOperatorStateType is wrapped by the error of GetList when a name is
// used with another element type or distribution than before (in this run
// or in the snapshot restored).
var ErrOperatorStateType = errors.New("freshet: operator state used with another type or distribution")

// GetList returns the list name of s with distribution d, creating it, and
// filling it from a restored snapshot, the first time. c encodes its
// elements; nil means codec.Of[T].
func GetList[T any](s *OperatorState, name string, d Distribution, c codec.Codec[T]) (*OpList[T], error) {
	if l, ok := s.lists[name]; ok {
		tl, ok := l.(*OpList[T])
		if !ok || tl.dist != d {
			return nil, fmt.Errorf("%w: %q is a %s of %s, asked for a %s of %s", ErrOperatorStateType, name,
				l.distribution(), l.elemType(), d, reflect.TypeFor[T]())
		}
		return tl, nil
	}
	if c == nil {
		var err error
		if c, err = codec.Of[T](); err != nil {
			return nil, fmt.Errorf("operator state %q: %w", name, err)
		}
	}
	l := &OpList[T]{dist: d, codec: c}
	if r, ok := s.restored[name]; ok {
		if r.dist != d {
			return nil, fmt.Errorf("%w: %q was snapshotted as %s, asked for as %s", ErrOperatorStateType, name, r.dist, d)
		}
		l.Values = make([]T, 0, len(r.elems))
		for i, b := range r.elems {
			v, n, err := c.Decode(b)
			if err == nil && n != len(b) {
				err = fmt.Errorf("%d trailing bytes: %w", len(b)-n, codec.ErrCorrupt)
			}
			if err != nil {
				return nil, fmt.Errorf("restoring operator state %q element %d as %s: %w", name, i, reflect.TypeFor[T](), err)
			}
			l.Values = append(l.Values, v)
		}
		delete(s.restored, name)
	}
	s.lists[name] = l
	return l, nil
}

// The snapshot layout of an operator state:
//
//	magic   4 bytes "FOPS"
//	version uvarint (1)
//	count   uvarint, then per list, sorted by name:
//	  name    uvarint length + bytes
//	  dist    1 byte
//	  n       uvarint, then n elements of uvarint length + bytes
const opStateMagic = "FOPS"

const opStateVersion = 1

// Snapshot encodes every list, and restored lists no one asked for yet (so
// state survives a run that did not touch it).
func (s *OperatorState) Snapshot() ([]byte, error) {
	all := make(map[string]restoredList, len(s.lists)+len(s.restored))
	for name, r := range s.restored {
		all[name] = r
	}
	for name, l := range s.lists {
		elems, err := l.encode(nil)
		if err != nil {
			return nil, fmt.Errorf("snapshotting operator state %q: %w", name, err)
		}
		all[name] = restoredList{dist: l.distribution(), elems: elems}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.Sort(names)
	b := append([]byte(nil), opStateMagic...)
	b = binary.AppendUvarint(b, opStateVersion)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, name := range names {
		r := all[name]
		b = appendBytes(b, []byte(name))
		b = append(b, byte(r.dist))
		b = binary.AppendUvarint(b, uint64(len(r.elems)))
		for _, e := range r.elems {
			b = appendBytes(b, e)
		}
	}
	return b, nil
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func decodeOperatorState(b []byte) (map[string]restoredList, error) {
	if len(b) < len(opStateMagic) || string(b[:len(opStateMagic)]) != opStateMagic {
		return nil, fmt.Errorf("operator state: bad magic: %w", codec.ErrCorrupt)
	}
	b = b[len(opStateMagic):]
	next := func() (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, fmt.Errorf("operator state: truncated: %w", codec.ErrCorrupt)
		}
		b = b[n:]
		return v, nil
	}
	bytesOf := func() ([]byte, error) {
		n, err := next()
		if err != nil {
			return nil, err
		}
		if n > uint64(len(b)) {
			return nil, fmt.Errorf("operator state: truncated: %w", codec.ErrCorrupt)
		}
		v := b[:n:n]
		b = b[n:]
		return v, nil
	}
	version, err := next()
	if err != nil {
		return nil, err
	}
	if version != opStateVersion {
		return nil, fmt.Errorf("operator state: unsupported version %d", version)
	}
	count, err := next()
	if err != nil {
		return nil, err
	}
	out := map[string]restoredList{}
	for range count {
		name, err := bytesOf()
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("operator state: truncated: %w", codec.ErrCorrupt)
		}
		d := Distribution(b[0])
		b = b[1:]
		if d < SplitEven || d > Broadcast {
			return nil, fmt.Errorf("operator state %q: unknown distribution %d: %w", name, d, codec.ErrCorrupt)
		}
		n, err := next()
		if err != nil {
			return nil, err
		}
		if n > uint64(len(b)) {
			return nil, fmt.Errorf("operator state: truncated: %w", codec.ErrCorrupt)
		}
		elems := make([][]byte, 0, n)
		for range n {
			e, err := bytesOf()
			if err != nil {
				return nil, err
			}
			elems = append(elems, e)
		}
		out[string(name)] = restoredList{dist: d, elems: elems}
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("operator state: %d trailing bytes: %w", len(b), codec.ErrCorrupt)
	}
	return out, nil
}

// RestoreOperatorState returns the operator state of subtask of n new
// subtasks, from old[i], the snapshot of old subtask i (nil for a subtask
// that had none, such as one that had finished), redistributed as each
// list's Distribution says.
func RestoreOperatorState(old [][]byte, n, subtask int) (*OperatorState, error) {
	decoded := make([]map[string]restoredList, len(old))
	names := map[string]Distribution{}
	for i, b := range old {
		if b == nil {
			continue
		}
		m, err := decodeOperatorState(b)
		if err != nil {
			return nil, fmt.Errorf("old subtask %d: %w", i, err)
		}
		decoded[i] = m
		for name, r := range m {
			if d, ok := names[name]; ok && d != r.dist {
				return nil, fmt.Errorf("operator state %q is %s in one subtask and %s in another: %w", name, d, r.dist, codec.ErrCorrupt)
			}
			names[name] = r.dist
		}
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	slices.Sort(sorted)
	s := NewOperatorState()
	s.wasRestored = true
	s.restored = map[string]restoredList{}
	start := 0
	for _, name := range sorted {
		d := names[name]
		lists := make([][][]byte, len(old))
		for i, m := range decoded {
			lists[i] = m[name].elems
		}
		var mine [][]byte
		switch d {
		case SplitEven:
			var parts [][][]byte
			parts, start = redistribute.Even(lists, n, start)
			mine = parts[subtask]
		case Union:
			mine = redistribute.Union(lists, n)[subtask]
		case Broadcast:
			// Every old subtask held the same copy; one that had none
			// (finished, or never made the list) is passed over.
			from := redistribute.Broadcast(len(old), n)[subtask]
			for k := range old {
				i := (from + k) % len(old)
				if _, ok := decoded[i][name]; ok {
					mine = lists[i]
					break
				}
			}
		}
		s.restored[name] = restoredList{dist: d, elems: mine}
	}
	return s, nil
}
