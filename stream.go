package freshet

import (
	"fmt"

	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
)

// Stream is a stream of elements of type T (Flink's DataStream). Methods that
// keep the element type are methods; operations that change it are package
// functions (Map, FlatMap, Process, KeyBy, …), because Go methods cannot take
// type parameters.
type Stream[T any] struct {
	env *Env
	// node is the operator that produces the stream; nil for a union.
	node  *graph.Node
	parts []part
}

// part is one upstream of a stream: an operator's main or side output with
// the partitioning the consumer should read it with.
type part struct {
	node *graph.Node
	tag  string
	kind graph.PartitionKind
	new  func(subtask, maxParallelism int) any
}

func newStream[T any](env *Env, n *graph.Node) *Stream[T] {
	return &Stream[T]{env: env, node: n, parts: []part{{node: n}}}
}

// Env returns the environment the stream belongs to.
func (s *Stream[T]) Env() *Env { return s.env }

// edges returns the edges a consumer of s reads, into its given input.
func (s *Stream[T]) edges(input int) []*graph.Edge {
	out := make([]*graph.Edge, len(s.parts))
	for i, p := range s.parts {
		out[i] = &graph.Edge{From: p.node, Tag: p.tag, Part: graph.Partitioning{Kind: p.kind, New: p.new}, Input: input}
	}
	return out
}

// operator returns the node the settings methods apply to, recording an
// error when s is not the output of one operator.
func (s *Stream[T]) operator(what string) *graph.Node {
	if s.node == nil || len(s.parts) != 1 || s.parts[0].tag != "" || s.parts[0].kind != graph.PartitionDefault {
		s.env.fail(fmt.Errorf("%w: %s applies to an operator, not to a union, partitioning or side output", ErrInvalidProgram, what))
		return &graph.Node{}
	}
	return s.node
}

// Name sets the operator's name, shown in plans, errors and metrics.
func (s *Stream[T]) Name(name string) *Stream[T] {
	s.operator("Name").Name = name
	return s
}

// UID sets the operator's stable identifier, by which its state is matched
// when a job is restored from a savepoint. UIDs must be unique in a job.
func (s *Stream[T]) UID(uid string) *Stream[T] {
	s.operator("UID").UID = uid
	return s
}

// SetParallelism sets the number of parallel subtasks of the operator.
func (s *Stream[T]) SetParallelism(n int) *Stream[T] {
	op := s.operator("SetParallelism")
	op.Parallelism = n
	if n < 1 {
		s.env.fail(fmt.Errorf("%w: operator %q: parallelism must be at least 1, got %d", ErrInvalidProgram, op.Name, n))
	}
	return s
}

// SetMaxParallelism sets the operator's maximum parallelism, the number of
// key groups its keyed state is split into (between 1 and 32768).
func (s *Stream[T]) SetMaxParallelism(n int) *Stream[T] {
	op := s.operator("SetMaxParallelism")
	op.MaxParallelism = n
	if n < 1 {
		s.env.fail(fmt.Errorf("%w: operator %q: max parallelism must be between 1 and 32768, got %d", ErrInvalidProgram, op.Name, n))
	}
	return s
}

// DisableChaining keeps the operator out of any chain.
func (s *Stream[T]) DisableChaining() *Stream[T] {
	s.operator("DisableChaining").Chaining = graph.ChainNever
	return s
}

// StartNewChain begins a new chain at the operator.
func (s *Stream[T]) StartNewChain() *Stream[T] {
	s.operator("StartNewChain").Chaining = graph.ChainHead
	return s
}

// SlotSharingGroup puts the operator in a slot sharing group; operators of
// different groups never share a slot (default group "default").
func (s *Stream[T]) SlotSharingGroup(name string) *Stream[T] {
	op := s.operator("SlotSharingGroup")
	if name == "default" {
		name = ""
	}
	op.SlotSharingGroup = name
	return s
}

func (s *Stream[T]) partitioned(kind graph.PartitionKind, newPart func(int, int) any) *Stream[T] {
	out := &Stream[T]{env: s.env, parts: make([]part, len(s.parts))}
	for i, p := range s.parts {
		p.kind, p.new = kind, newPart
		out.parts[i] = p
	}
	return out
}

// Forward sends each record to the downstream subtask of the same index; the
// downstream operator must have the same parallelism.
func (s *Stream[T]) Forward() *Stream[T] { return s.partitioned(graph.PartitionForward, nil) }

// Rebalance distributes records round-robin over all downstream subtasks.
func (s *Stream[T]) Rebalance() *Stream[T] { return s.partitioned(graph.PartitionRebalance, nil) }

// Rescale distributes records round-robin over a subset of downstream
// subtasks: with parallelism 2 upstream and 4 downstream each upstream
// subtask feeds two; with 4 upstream and 2 downstream two feed each.
func (s *Stream[T]) Rescale() *Stream[T] { return s.partitioned(graph.PartitionRescale, nil) }

// Shuffle sends each record to a uniformly random downstream subtask.
func (s *Stream[T]) Shuffle() *Stream[T] { return s.partitioned(graph.PartitionShuffle, nil) }

// Broadcast sends every record to every downstream subtask.
func (s *Stream[T]) Broadcast() *Stream[T] { return s.partitioned(graph.PartitionBroadcast, nil) }

// Global sends every record to the first downstream subtask.
func (s *Stream[T]) Global() *Stream[T] { return s.partitioned(graph.PartitionGlobal, nil) }

// Union merges s with other streams of the same type. No order between the
// inputs is kept.
func (s *Stream[T]) Union(others ...*Stream[T]) *Stream[T] {
	out := &Stream[T]{env: s.env, parts: append([]part(nil), s.parts...)}
	for _, o := range others {
		if o.env != s.env {
			s.env.fail(errDifferentEnvs("Union"))
			continue
		}
		out.parts = append(out.parts, o.parts...)
	}
	return out
}

func errDifferentEnvs(op string) error {
	return fmt.Errorf("%w: %s of streams from different environments", ErrInvalidProgram, op)
}

// PartitionCustom sends each element to the subtask partition chooses for
// its key, among n downstream subtasks. A choice outside [0, n) fails the job.
func PartitionCustom[T, K any](s *Stream[T], partition func(key K, n int) int, key func(T) K) *Stream[T] {
	return s.partitioned(graph.PartitionCustom, func(int, int) any {
		return &exchange.Custom[T, K]{Key: key, Partition: partition}
	})
}

// newOneInput adds an operator reading s.
func newOneInput[IN, OUT any](s *Stream[IN], name string, kind graph.Kind, newOp func() (operator.Operator, error)) *graph.Node {
	n := &graph.Node{Name: name, Kind: kind, In: [2]graph.Type{graph.TypeOf[IN]()}}
	if kind != graph.KindSink {
		n.Out = graph.TypeOf[OUT]()
	}
	n.NewOperator = newOp
	n.Inputs = s.edges(1)
	return s.env.addNode(n)
}
