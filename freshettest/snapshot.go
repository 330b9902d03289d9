package freshettest

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/internal/task"
)

// Snapshot is the state of a harness's operators at one moment, as a
// checkpoint holds it (Flink's OperatorSubtaskState per operator): for
// every operator of the chain its keyed state and timers, key group by key
// group, and its operator state (the lists of CheckpointedFunction,
// broadcast state). Taking one runs the operators' checkpoint hooks, such
// as SnapshotState. WithRestore builds a harness from one or more
// snapshots.
//
// A snapshot does not hold the watermark, which starts again from the
// beginning in a restored harness, as after a restart.
type Snapshot struct {
	ops []opSnapshot
}

type opSnapshot struct {
	name           string
	maxParallelism int
	keyed          []byte // a statebackend snapshot
	operator       []byte // a statebackend.OperatorState snapshot, or nil
}

// WithRestore restores the operators' state from snapshots taken of
// harnesses of the same operators, at any parallelism, as a job restored
// from a checkpoint: give the snapshots of all old subtasks, in subtask
// order. The harness keeps the key groups of its subtask (WithSubtask)
// from all of them; operator state is redistributed as Flink does: list
// state (freshet.ListState) is the old lists concatenated in subtask order
// and cut into nearly equal consecutive parts, one per subtask; union list
// state (freshet.UnionListState) is all of it in every subtask; broadcast
// state is the copy of one old subtask. The snapshots and the harness must
// have the same max parallelism.
func WithRestore(snapshots ...*Snapshot) Option {
	return func(c *config) { c.restore = append(c.restore, snapshots...) }
}

// Snapshot takes a snapshot of the operators' state now, running their
// checkpoint hooks (SnapshotState of a freshet.CheckpointedFunction) first,
// as a checkpoint does; later input does not change it. It fails if an
// operator holds state that cannot be encoded (see
// statebackend.ErrNotSnapshottable) or a hook fails.
func (c *core[OUT]) Snapshot() (*Snapshot, error) {
	if c.closed {
		return nil, errors.New("freshettest: harness is closed")
	}
	c.checkpoints++
	snaps, err := c.chain.Snapshot(c.checkpoints, true) // canonical, as a savepoint
	if err != nil {
		return nil, fmt.Errorf("freshettest: taking a snapshot: %w", err)
	}
	byNode := make(map[*graph.Node]task.OperatorSnapshot, len(snaps))
	for _, sn := range snaps {
		byNode[sn.Node] = sn
	}
	s := &Snapshot{}
	for i, n := range c.nodes {
		sn := byNode[n]
		if sn.Keyed == nil {
			return nil, fmt.Errorf("freshettest: snapshotting operator %q: the %s backend takes no snapshots", n.Name, c.backends[i].Name())
		}
		s.ops = append(s.ops, opSnapshot{name: n.Name, maxParallelism: n.MaxParallelism, keyed: sn.Keyed, operator: sn.Operator})
	}
	return s, nil
}

// stateFor makes the state backends and operator state of the operators
// of nodes: empty, or restored from the configured snapshots.
func stateFor(cfg config, nodes []*graph.Node) ([]statebackend.Backend, []*statebackend.OperatorState, error) {
	bs := make([]statebackend.Backend, len(nodes))
	ops := make([]*statebackend.OperatorState, len(nodes))
	for i, n := range nodes {
		if len(cfg.restore) == 0 {
			b, err := cfg.backend.New(n.MaxParallelism)
			if err != nil {
				return nil, nil, fmt.Errorf("freshettest: operator %q: %w", n.Name, err)
			}
			bs[i] = b
			continue
		}
		var parts, opParts [][]byte
		for j, s := range cfg.restore {
			if s == nil || len(s.ops) != len(nodes) {
				return nil, nil, fmt.Errorf("freshettest: WithRestore: snapshot %d is not of a chain of %d operators", j, len(nodes))
			}
			op := s.ops[i]
			if op.name != n.Name {
				return nil, nil, fmt.Errorf("freshettest: WithRestore: snapshot %d holds operator %q where the chain has %q", j, op.name, n.Name)
			}
			if op.maxParallelism != n.MaxParallelism {
				return nil, nil, fmt.Errorf("freshettest: WithRestore: operator %q had max parallelism %d in snapshot %d, now %d",
					n.Name, op.maxParallelism, j, n.MaxParallelism)
			}
			parts = append(parts, op.keyed)
			opParts = append(opParts, op.operator)
		}
		kgs := keygroup.RangeFor(n.MaxParallelism, cfg.parallelism, cfg.subtask)
		b, err := cfg.backend.Restore(n.MaxParallelism, kgs, statebackend.Restore{Snapshots: parts})
		if err != nil {
			return nil, nil, fmt.Errorf("freshettest: WithRestore: operator %q: %w", n.Name, err)
		}
		bs[i] = b
		if ops[i], err = statebackend.RestoreOperatorState(opParts, cfg.parallelism, cfg.subtask); err != nil {
			return nil, nil, fmt.Errorf("freshettest: WithRestore: operator %q: %w", n.Name, err)
		}
	}
	return bs, ops, nil
}

// snapshotMagic starts an encoded Snapshot.
const snapshotMagic = "FTS2"

// MarshalBinary encodes s: per operator its name, max parallelism,
// keyed-state snapshot and operator-state snapshot, each length-prefixed
// (the operator state's length plus one, 0 for none).
func (s *Snapshot) MarshalBinary() ([]byte, error) {
	b := append([]byte(nil), snapshotMagic...)
	b = binary.AppendUvarint(b, uint64(len(s.ops)))
	for _, op := range s.ops {
		b = binary.AppendUvarint(b, uint64(len(op.name)))
		b = append(b, op.name...)
		b = binary.AppendUvarint(b, uint64(op.maxParallelism))
		b = binary.AppendUvarint(b, uint64(len(op.keyed)))
		b = append(b, op.keyed...)
		if op.operator == nil {
			b = binary.AppendUvarint(b, 0)
		} else {
			b = binary.AppendUvarint(b, uint64(len(op.operator))+1)
			b = append(b, op.operator...)
		}
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary encoded. The state is
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
		olen, ok6 := next()
		var operator []byte
		ok7 := true
		if olen > 0 {
			operator, ok7 = take(olen - 1)
		}
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 {
			return bad
		}
		ops = append(ops, opSnapshot{name: string(name), maxParallelism: mp, keyed: keyed, operator: operator})
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
