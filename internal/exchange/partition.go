package exchange

import (
	"fmt"
	"math/rand/v2"

	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/internal/operator"
)

// RoundRobin sends records to the targets in turn, starting at Next
// (rebalance starts at the sending subtask's index, rescale at 0).
type RoundRobin[T any] struct{ Next int }

// Select implements Partitioner.
func (p *RoundRobin[T]) Select(_ *operator.Record[T], n int) int {
	i := p.Next % n
	p.Next = i + 1
	return i
}

// Random sends each record to a uniformly random target (shuffle).
type Random[T any] struct{ R *rand.Rand }

// Select implements Partitioner.
func (p *Random[T]) Select(_ *operator.Record[T], n int) int { return p.R.IntN(n) }

// First sends every record to the first target (global).
type First[T any] struct{}

// Select implements Partitioner.
func (First[T]) Select(*operator.Record[T], int) int { return 0 }

// KeyGroups sends a record to the subtask owning its key's key group.
type KeyGroups[T any, K comparable] struct {
	Key            func(T) K
	Hash           func(K) int32
	MaxParallelism int
}

// Select implements Partitioner.
func (p *KeyGroups[T, K]) Select(r *operator.Record[T], n int) int {
	kg := keygroup.ForHash(p.Hash(p.Key(r.Value)), p.MaxParallelism)
	return keygroup.OperatorIndex(kg, p.MaxParallelism, n)
}

// Custom sends a record where a user function says, given its key.
type Custom[T any, K any] struct {
	Key       func(T) K
	Partition func(key K, n int) int
	Name      string
}

// Select implements Partitioner.
func (p *Custom[T, K]) Select(r *operator.Record[T], n int) int {
	i := p.Partition(p.Key(r.Value), n)
	if i < 0 || i >= n {
		operator.Fail(&PartitionError{Partitioner: p.Name, Index: i, Targets: n})
	}
	return i
}

// PartitionError is a custom partitioner's choice outside [0, targets).
type PartitionError struct {
	Partitioner string
	Index       int
	Targets     int
}

func (e *PartitionError) Error() string {
	return fmt.Sprintf("custom partitioner %s returned channel %d, want 0 to %d", e.Partitioner, e.Index, e.Targets-1)
}

// Pointwise returns, for a forward or rescale edge between an upstream of
// parallelism up and a downstream of parallelism down, the downstream
// subtasks that upstream subtask i sends to, as Flink connects pointwise edges:
// equal parallelism pairs subtasks one to one, a growing edge gives each
// upstream subtask a contiguous block of downstream subtasks, a shrinking
// edge gives each downstream subtask a contiguous block of upstream ones.
func Pointwise(up, down, i int) []int {
	switch {
	case up == down:
		return []int{i}
	case up < down:
		start := (i*down + up - 1) / up
		end := ((i+1)*down + up - 1) / up
		out := make([]int, 0, end-start)
		for j := start; j < end; j++ {
			out = append(out, j)
		}
		return out
	default:
		for j := 0; j < down; j++ {
			start := j * up / down
			end := (j + 1) * up / down
			if i >= start && i < end {
				return []int{j}
			}
		}
		return nil
	}
}

// PointwiseSources returns the upstream subtasks that downstream subtask j
// reads on a pointwise edge: the inverse of Pointwise.
func PointwiseSources(up, down, j int) []int {
	var out []int
	for i := 0; i < up; i++ {
		for _, t := range Pointwise(up, down, i) {
			if t == j {
				out = append(out, i)
			}
		}
	}
	return out
}
