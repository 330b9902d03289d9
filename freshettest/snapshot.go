package freshettest

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/internal/statebackend"
)

// Snapshot is the state of a harness's operators at one moment, as a
// checkpoint holds it (Flink's OperatorSubtaskState per operator): for
// every operator of the chain its keyed state and timers, key group by key
// group. WithRestore builds a harness from one or more snapshots.
//
// A snapshot does not hold what operators keep outside their state
// backend: operator (non-keyed) state and the watermark, which starts
// again from the beginning in a restored harness, as after a restart.
type Snapshot struct {
	ops []opSnapshot
}

type opSnapshot struct {
	name           string
	maxParallelism int
	keyed          []byte // a statebackend snapshot
}

// WithRestore restores the operators' keyed state and timers from
// snapshots taken of harnesses of the same operators, at any parallelism:
// the harness keeps the key groups of its subtask (WithSubtask) from all
// of them, as a job restored at another parallelism does. The snapshots
// and the harness must have the same max parallelism.
func WithRestore(snapshots ...*Snapshot) Option {
	return func(c *config) { c.restore = append(c.restore, snapshots...) }
}

// Snapshot takes a snapshot of the operators' state now; later input does
// not change it. It fails if an operator holds state that cannot be
// encoded (see statebackend.ErrNotSnapshottable).
func (c *core[OUT]) Snapshot() (*Snapshot, error) {
	if c.closed {
		return nil, errors.New("freshettest: harness is closed")
	}
	s := &Snapshot{}
	for i, n := range c.nodes {
		sn, ok := c.backends[i].(statebackend.Snapshotter)
		if !ok {
			return nil, fmt.Errorf("freshettest: snapshotting operator %q: the %s backend takes no snapshots", n.Name, c.backends[i].Name())
		}
		b, err := sn.Snapshot()
		if err != nil {
			return nil, fmt.Errorf("freshettest: snapshotting operator %q: %w", n.Name, err)
		}
		s.ops = append(s.ops, opSnapshot{name: n.Name, maxParallelism: n.MaxParallelism, keyed: b})
	}
	return s, nil
}

// backendsFor makes the state backends of the operators of nodes: empty,
// or restored from the configured snapshots.
func backendsFor(cfg config, nodes []*graph.Node) ([]statebackend.Backend, error) {
	bs := make([]statebackend.Backend, len(nodes))
	for i, n := range nodes {
		if len(cfg.restore) == 0 {
			bs[i] = statebackend.NewHeap(n.MaxParallelism)
			continue
		}
		var parts [][]byte
		for j, s := range cfg.restore {
			if s == nil || len(s.ops) != len(nodes) {
				return nil, fmt.Errorf("freshettest: WithRestore: snapshot %d is not of a chain of %d operators", j, len(nodes))
			}
			op := s.ops[i]
			if op.name != n.Name {
				return nil, fmt.Errorf("freshettest: WithRestore: snapshot %d holds operator %q where the chain has %q", j, op.name, n.Name)
			}
			if op.maxParallelism != n.MaxParallelism {
				return nil, fmt.Errorf("freshettest: WithRestore: operator %q had max parallelism %d in snapshot %d, now %d",
					n.Name, op.maxParallelism, j, n.MaxParallelism)
			}
			parts = append(parts, op.keyed)
		}
		kgs := keygroup.RangeFor(n.MaxParallelism, cfg.parallelism, cfg.subtask)
		b, err := statebackend.RestoreHeap(n.MaxParallelism, kgs, parts...)
		if err != nil {
			return nil, fmt.Errorf("freshettest: WithRestore: operator %q: %w", n.Name, err)
		}
		bs[i] = b
	}
	return bs, nil
}

// snapshotMagic starts an encoded Snapshot.
const snapshotMagic = "FTS1"

// MarshalBinary encodes s: per operator its name, max parallelism and
// keyed-state snapshot, each length-prefixed.
func (s *Snapshot) MarshalBinary() ([]byte, error) {
	b := append([]byte(nil), snapshotMagic...)
	b = binary.AppendUvarint(b, uint64(len(s.ops)))
	for _, op := range s.ops {
		b = binary.AppendUvarint(b, uint64(len(op.name)))
		b = append(b, op.name...)
		b = binary.AppendUvarint(b, uint64(op.maxParallelism))
		b = binary.AppendUvarint(b, uint64(len(op.keyed)))
		b = append(b, op.keyed...)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary encoded. The keyed state is
// checked when a harness is restored from it.
func (s *Snapshot) UnmarshalBinary(b []byte) error {
	bad := fmt.Errorf("freshettest: decoding a snapshot: %w", codec.ErrCorrupt)
	if len(b) < len(snapshotMagic) || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return bad
	}
	b = b[len(snapshotMagic):]
	next := func() (int, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > uint64(len(b)) && v > keygroup.UpperBoundMaxParallelism {
			return 0, false
		}
		b = b[n:]
		return int(v), true
	}
	take := func(n int) ([]byte, bool) {
		if n > len(b) {
			return nil, false
		}
		v := b[:n:n]
		b = b[n:]
		return v, true
	}
	nops, ok := next()
	if !ok {
		return bad
	}
	var ops []opSnapshot
	for range nops {
		nlen, ok1 := next()
		name, ok2 := take(nlen)
		mp, ok3 := next()
		klen, ok4 := next()
		keyed, ok5 := take(klen)
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
			return bad
		}
		ops = append(ops, opSnapshot{name: string(name), maxParallelism: mp, keyed: keyed})
	}
	if len(b) != 0 {
		return bad
	}
	s.ops = ops
	return nil
}

// SubtaskOf returns the subtask, of parallelism, that a keyed exchange
// sends key to with maxParallelism key groups (0 means the default for
// parallelism, as in a job): the harness to feed key to when several
// harnesses play the subtasks of a keyed operator.
func SubtaskOf[K comparable](key K, maxParallelism, parallelism int) (int, error) {
	if maxParallelism == 0 {
		maxParallelism = keygroup.DefaultMaxParallelismFor(parallelism)
	}
	var enc func([]byte, K) []byte
	if c, err := codec.Of[K](); err == nil {
		enc = c.Append
	}
	hash, err := keygroup.Hasher[K](enc)
	if err != nil {
		return 0, fmt.Errorf("freshettest: SubtaskOf: %w", err)
	}
	return keygroup.OperatorIndex(keygroup.ForHash(hash(key), maxParallelism), maxParallelism, parallelism), nil
}
