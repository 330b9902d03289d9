// Package savepoint reads the state in a savepoint or retained checkpoint
// without running a job — a light form of Flink's State Processor API, for
// debugging and migration.
//
//	sp, err := savepoint.Open(ctx, path) // the folder a savepoint returned
//	if err != nil { … }
//	defer sp.Close()
//	counts, err := savepoint.ValueState[string](ctx, sp, "counter", countDesc)
//	// counts maps every key of operator "counter" to its count
//
// Operators are found by UID (or, for one without, by the id the job logged
// for it, node-<n>). The readers take the same descriptors the job's
// functions use and read the state of every key of every subtask, so the
// parallelism the savepoint was taken at does not matter. They read the
// keyed state of keyed process functions (KeyedProcess, KeyedCoProcess,
// keyed broadcast functions); state with a TTL is read with its values'
// expiry ignored.
package savepoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/freshet-io/freshet/internal/checkpoint/storage"
	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/state"
)

// Savepoint is a completed savepoint or checkpoint opened for reading.
type Savepoint struct {
	st *storage.Storage
	c  *storage.Checkpoint
}

// ErrNoOperator is wrapped by the error of a reader asked for an operator
// the savepoint holds no keyed state of.
var ErrNoOperator = errors.New("freshet: no keyed state of that operator in the savepoint")

// Open opens the savepoint (or completed checkpoint) whose folder is path,
// <location>/<job>/chk-<id>, checking every file's size and checksum.
func Open(ctx context.Context, path string) (*Savepoint, error) {
	st, c, err := storage.OpenCheckpoint(ctx, path)
	if err != nil {
		return nil, err
	}
	return &Savepoint{st: st, c: c}, nil
}

// Close releases the savepoint's storage.
func (s *Savepoint) Close() error { return s.st.Close() }

// ID is the checkpoint id the savepoint was taken as.
func (s *Savepoint) ID() uint64 { return s.c.ID }

// Operator describes an operator whose state the savepoint holds.
type Operator struct {
	ID             string // its UID, or node-<n>
	Parallelism    int    // when the savepoint was taken
	MaxParallelism int    // its number of key groups
	Keyed          bool   // it holds keyed state
}

// Operators lists the operators with state in the savepoint, by id.
func (s *Savepoint) Operators() []Operator {
	byID := map[string]*Operator{}
	for _, f := range s.c.Files {
		id := f.Part.Operator
		if strings.HasPrefix(id, "channels/") || strings.HasPrefix(id, "enumerator/") {
			continue
		}
		o := byID[id]
		if o == nil {
			o = &Operator{ID: id, Parallelism: s.property("parallelism/", id), MaxParallelism: s.property("maxParallelism/", id)}
			byID[id] = o
		}
		if !f.Part.KeyGroups.Empty() {
			o.Keyed = true
		}
	}
	out := make([]Operator, 0, len(byID))
	for _, o := range byID {
		out = append(out, *o)
	}
	slices.SortFunc(out, func(a, b Operator) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s *Savepoint) property(prefix, id string) int {
	n, _ := strconv.Atoi(string(s.c.Properties[prefix+id]))
	return n
}

// keyedBackend restores every key group of operator uid's keyed state.
func (s *Savepoint) keyedBackend(ctx context.Context, uid string) (statebackend.Backend, error) {
	maxPar := s.property("maxParallelism/", uid)
	var snaps [][]byte
	for _, f := range s.c.Files {
		if f.Part.Operator != uid || f.Part.KeyGroups.Empty() || f.Shared {
			continue
		}
		b, err := s.st.ReadFile(ctx, s.c, f)
		if err != nil {
			return nil, err
		}
		snaps = append(snaps, b)
	}
	if len(snaps) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNoOperator, uid)
	}
	if maxPar == 0 {
		maxPar = keygroup.DefaultMaxParallelism
	}
	// A retained incremental checkpoint's part files list database files
	// in the shared folder, which the restore reads through.
	fetch := func(f statebackend.SharedFile, path string) error {
		return s.st.CopyFile(ctx, s.c, storage.File{Name: f.Name, Size: f.Size, CRC32C: f.CRC32C, Shared: true}, path)
	}
	return statebackend.Config{}.Restore(maxPar, keygroup.Range{Start: 0, End: maxPar - 1}, statebackend.Restore{Snapshots: snaps, Fetch: fetch})
}

// read returns the stored value of every key of state d of operator uid.
func read[K comparable](ctx context.Context, s *Savepoint, uid string, d state.Descriptor) (map[K]any, error) {
	if err := d.Err(); err != nil {
		return nil, err
	}
	b, err := s.keyedBackend(ctx, uid)
	if err != nil {
		return nil, err
	}
	t, err := statebackend.NewStateTable[K, struct{}](b, d.Name(), d)
	if err != nil {
		return nil, fmt.Errorf("reading %s of operator %q: %w", d, uid, err)
	}
	out := make(map[K]any, t.Len())
	t.Range(func(k K, _ struct{}, v any) bool {
		out[k] = v
		return true
	})
	return out, nil
}

// ValueState reads value state d of the keyed operator uid: every key's
// value. K is the operator's key type.
func ValueState[K comparable, T any](ctx context.Context, s *Savepoint, uid string, d *state.ValueDescriptor[T]) (map[K]T, error) {
	return typed[K, T](ctx, s, uid, d)
}

// ListState reads list state d of the keyed operator uid: every key's list.
func ListState[K comparable, T any](ctx context.Context, s *Savepoint, uid string, d *state.ListDescriptor[T]) (map[K][]T, error) {
	return typed[K, []T](ctx, s, uid, d)
}

// MapState reads map state d of the keyed operator uid: every key's map.
func MapState[K comparable, MK comparable, V any](ctx context.Context, s *Savepoint, uid string, d *state.MapDescriptor[MK, V]) (map[K]map[MK]V, error) {
	return typed[K, map[MK]V](ctx, s, uid, d)
}

func typed[K comparable, T any](ctx context.Context, s *Savepoint, uid string, d state.Descriptor) (map[K]T, error) {
	raw, err := read[K](ctx, s, uid, d)
	if err != nil {
		return nil, err
	}
	out := make(map[K]T, len(raw))
	for k, v := range raw {
		t, ok := state.Unstamp[T](v)
		if !ok {
			return nil, fmt.Errorf("reading %s of operator %q: a stored %T is not a %T", d, uid, v, *new(T))
		}
		out[k] = t
	}
	return out, nil
}
