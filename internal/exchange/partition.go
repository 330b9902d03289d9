package exchange

import (
	"fmt"
	"math/bits"
	"math/rand/v2"

	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/internal/operator"
)

// batchSelector is implemented by partitioners that can choose the targets
// of a run of records in one call: out[i] gets the target of rs[i], as
// Select would have chosen record by record.
type batchSelector[T any] interface {
	selectBatch(rs []operator.Record[T], targets int, out []int32)
}

// RoundRobin sends records to the targets in turn, starting at Next
// (rebalance starts at the sending subtask's index, rescale at 0).
type RoundRobin[T any] struct{ Next int }

// Select implements Partitioner.
func (p *RoundRobin[T]) Select(_ *operator.Record[T], n int) int {
	i := p.Next
	if i >= n || i < 0 {
		i %= n
		if i < 0 {
			i += n
		}
	}
	p.Next = i + 1
	return i
}

func (p *RoundRobin[T]) selectBatch(rs []operator.Record[T], n int, out []int32) {
	for i := range rs {
		out[i] = int32(p.Select(nil, n))
	}
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

	r router // set up on the first Select for its number of targets
}

// Select implements Partitioner.
func (p *KeyGroups[T, K]) Select(r *operator.Record[T], n int) int {
	if p.r.n != n {
		p.r = newRouter(p.MaxParallelism, n)
	}
	return p.r.route(p.Hash(p.Key(r.Value)))
}

func (p *KeyGroups[T, K]) selectBatch(rs []operator.Record[T], n int, out []int32) {
	if p.r.n != n {
		p.r = newRouter(p.MaxParallelism, n)
	}
	out = out[:len(rs)]
	// First the user's functions, then the arithmetic in a loop without calls.
	key, hash := p.Key, p.Hash
	for i := range rs {
		out[i] = hash(key(rs[i].Value))
	}
	p.r.routeAll(out)
}

// router maps a key's hash code to the target owning its key group: it
// computes keygroup.OperatorIndex(keygroup.ForHash(code, maxParallelism),
// maxParallelism, n) with a mask and a shift when the max parallelism is a
// power of two (as the default 128 is), else with multiplications by
// precomputed inverses, instead of two divisions.
type router struct {
	n      int // number of targets; 0 before set up
	maxPar int
	how    routing
	mask   uint32 // maxPar - 1, for pow2
	shift  uint8  // log2(maxPar), for pow2
	groups divisor
}

type routing uint8

const (
	pow2     routing = iota // maxPar is a power of two
	inverses                // kg × n fits 32 bits: multiply by inverses
	divide                  // anything else: divide
)

func newRouter(maxPar, n int) router {
	if maxPar < 1 || n < 1 || maxPar > 1<<31-1 {
		panic(fmt.Sprintf("freshet: key group partitioner for %d targets and max parallelism %d", n, maxPar))
	}
	r := router{n: n, maxPar: maxPar, groups: newDivisor(uint32(maxPar))}
	switch {
	case maxPar&(maxPar-1) == 0 && uint64(maxPar)*uint64(n) <= 1<<32:
		r.how, r.mask, r.shift = pow2, uint32(maxPar-1), uint8(bits.TrailingZeros(uint(maxPar)))
	case uint64(maxPar)*uint64(n) <= 1<<32:
		r.how = inverses
	default:
		r.how = divide
	}
	return r
}

func (r *router) route(code int32) int {
	switch r.how {
	case pow2:
		return int((murmur(code) & r.mask) * uint32(r.n) >> r.shift)
	case inverses:
		return int(fastDiv(r.groups.mod(murmur(code))*uint32(r.n), r.groups.m))
	}
	return keygroup.OperatorIndex(int(r.groups.mod(murmur(code))), r.maxPar, r.n)
}

// routeAll replaces every hash code in codes by its target.
func (r *router) routeAll(codes []int32) {
	un := uint32(r.n)
	switch r.how {
	case pow2:
		mask, shift := r.mask, r.shift
		for i, c := range codes {
			codes[i] = int32((murmur(c) & mask) * un >> shift)
		}
	case inverses:
		g := r.groups
		for i, c := range codes {
			codes[i] = int32(fastDiv(g.mod(murmur(c))*un, g.m))
		}
	default:
		for i, c := range codes {
			codes[i] = int32(r.route(c))
		}
	}
}

// murmur is keygroup.Murmur without branches: the sign of the mixed hash is
// a coin flip, and a branch on it is mispredicted every other record.
func murmur(code int32) uint32 {
	c := bits.RotateLeft32(uint32(code)*0xcc9e2d51, 15) * 0x1b873593
	c = (bits.RotateLeft32(c, 13)*5 + 0xe6546b64) ^ 4
	c = (c ^ c>>16) * 0x85ebca6b
	c = (c ^ c>>13) * 0xc2b2ae35
	return nonNegative(int32(c ^ c>>16))
}

// nonNegative is |h|, and 0 for MinInt32, as keygroup.Murmur maps its result.
func nonNegative(h int32) uint32 {
	m := h >> 31                  // -1 when negative
	a := (h ^ m) - m              // |h|, except that MinInt32 stays MinInt32
	return uint32(a &^ (a >> 31)) // MinInt32 becomes 0
}

// divisor computes x mod d and x / d for 32-bit x by multiplication
// (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019).
type divisor struct {
	d uint32
	m uint64 // ⌈2⁶⁴ / d⌉; 0 when d is 1
}

func newDivisor(d uint32) divisor { return divisor{d: d, m: ^uint64(0)/uint64(d) + 1} }

func (v divisor) mod(x uint32) uint32 {
	hi, _ := bits.Mul64(v.m*uint64(x), uint64(v.d))
	return uint32(hi)
}

// fastDiv returns x / d given m = ⌈2⁶⁴ / d⌉ (m = 0 stands for d = 1).
func fastDiv(x uint32, m uint64) uint32 {
	if m == 0 {
		return x
	}
	hi, _ := bits.Mul64(m, uint64(x))
	return uint32(hi)
}

// Custom sends a record where a user function says, given its key. The
// record writer checks the choice: one out of range fails the subtask with
// a PartitionError.
type Custom[T any, K any] struct {
	Key       func(T) K
	Partition func(key K, n int) int
}

// Select implements Partitioner.
func (p *Custom[T, K]) Select(r *operator.Record[T], n int) int {
	return p.Partition(p.Key(r.Value), n)
}

// PartitionError is a custom partitioner's choice outside [0, targets).
type PartitionError struct {
	Index   int
	Targets int
}

func (e *PartitionError) Error() string {
	return fmt.Sprintf("custom partitioner returned channel %d, want 0 to %d", e.Index, e.Targets-1)
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
