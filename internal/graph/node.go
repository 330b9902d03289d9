// Package graph turns the transformations a program declares into the plan
// the runtime executes: the logical graph of Nodes (one per transformation,
// with typed glue for its element types), and the JobGraph of Vertices, each
// a chain of nodes fused where the connection is forward and the parallelism
// equal, as Flink chains tasks.
package graph

import (
	"fmt"
	"log/slog"
	"reflect"

	"github.com/freshet-io/freshet/internal/operator"
)

// Kind is the shape of a node.
type Kind uint8

// Node kinds.
const (
	KindSource Kind = iota
	KindOneInput
	KindTwoInput
	KindSink
)

func (k Kind) String() string {
	switch k {
	case KindSource:
		return "source"
	case KindOneInput:
		return "operator"
	case KindTwoInput:
		return "two-input operator"
	case KindSink:
		return "sink"
	}
	return "unknown"
}

// Chaining is a node's chaining strategy.
type Chaining uint8

const (
	// ChainAlways chains the node to its predecessor where possible.
	ChainAlways Chaining = iota
	// ChainHead starts a new chain at the node; later nodes may chain to it.
	ChainHead
	// ChainNever keeps the node alone in its chain.
	ChainNever
)

// PartitionKind names how an edge distributes records.
type PartitionKind uint8

// Partitioning kinds.
const (
	PartitionDefault PartitionKind = iota // forward if parallelism is equal, else rebalance
	PartitionForward
	PartitionRebalance
	PartitionRescale
	PartitionShuffle
	PartitionBroadcast
	PartitionGlobal
	PartitionKeyGroups
	PartitionCustom
)

var partitionNames = [...]string{"DEFAULT", "FORWARD", "REBALANCE", "RESCALE", "SHUFFLE", "BROADCAST", "GLOBAL", "HASH", "CUSTOM"}

func (p PartitionKind) String() string { return partitionNames[p] }

// Pointwise reports whether an edge of this kind connects subtasks pointwise.
func (p PartitionKind) Pointwise() bool { return p == PartitionForward || p == PartitionRescale }

// Partitioning is how an edge distributes records.
type Partitioning struct {
	Kind PartitionKind
	// New returns a fresh exchange.Partitioner[T] for one writer of the
	// upstream subtask; only for KeyGroups, Custom (and set by the runtime for others).
	New func(subtask, maxParallelism int) any
}

// Edge connects the output of one node (its main output, or a side output
// when Tag is set) to an input of another.
type Edge struct {
	From  *Node
	To    *Node
	Tag   string // side output id, or "" for the main output
	Part  Partitioning
	Input int // 1, or 2 for the second input of a two-input node
}

// Node is one transformation of the program.
type Node struct {
	ID             int
	Name           string
	UID            string
	Kind           Kind
	Parallelism    int // 0: the environment's default
	MaxParallelism int // 0: the environment's default
	// MaxParallelismSet records that the program set the max parallelism
	// (on the operator or the environment) rather than leaving it to the
	// default; Build sets it.
	MaxParallelismSet bool
	NonParallel       bool
	Chaining          Chaining
	SlotSharingGroup  string
	Keyed             bool

	Inputs  []*Edge
	Outputs []*Edge // set when the job graph is built

	// Out is the type of the main output; In the types of the inputs.
	Out  Type
	In   [2]Type
	Side map[string]Type

	// NewOperator creates a fresh operator instance for one subtask.
	NewOperator func() (operator.Operator, error)
	// Source is set for source nodes.
	Source *SourceSpec
	// Validate, if set, checks the operator's parameters when the job is
	// built; its error is reported naming the operator.
	Validate func() error
}

// SourceSpec is what the runtime needs to coordinate a source's splits.
type SourceSpec struct {
	Bounded bool
	// NewCoordinator creates the split enumerator side of the source for one
	// job run; send delivers an encoded event to a reader subtask, fail fails
	// the job, and log (carrying the job's and the operator's attributes)
	// receives the coordinator's logs; restored, when not nil, is the
	// enumerator's state from a checkpoint.
	NewCoordinator func(parallelism int, send func(subtask int, event []byte), fail func(error), log *slog.Logger, restored []byte) (operator.Coordinator, error)
	// SideTypes are the types of the side outputs the source declares
	// (source.SideOutputTypes), by tag id; nil if it declares none.
	SideTypes map[string]reflect.Type
}

// StateID identifies the node's state in checkpoints: its UID, or one
// derived from its position in the program, which is stable as long as the
// program is.
func (n *Node) StateID() string {
	if n.UID != "" {
		return n.UID
	}
	return fmt.Sprintf("node-%d", n.ID)
}

// String is the node's name for messages.
func (n *Node) String() string { return n.Name }
