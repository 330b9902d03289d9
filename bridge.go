package freshet

import (
	"errors"
	"fmt"

	"github.com/freshet-io/freshet/internal/bridge"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
)

type graphed interface {
	graphNodes() ([]*graph.Node, *graph.Node)
	plan(name string) (*graph.JobGraph, error)
}

func (s *Stream[T]) plan(name string) (*graph.JobGraph, error) { return s.env.plan(name) }

func (s *Stream[T]) graphNodes() ([]*graph.Node, *graph.Node) {
	if len(s.parts) != 1 {
		return s.env.nodes, nil
	}
	return s.env.nodes, s.parts[0].node
}

func init() {
	bridge.Graph = func(stream any) ([]*graph.Node, *graph.Node, bool) {
		g, ok := stream.(graphed)
		if !ok {
			return nil, nil, false
		}
		nodes, n := g.graphNodes()
		return nodes, n, n != nil
	}
	bridge.StateBackend = func(b any) (statebackend.Config, error) {
		sb, ok := b.(StateBackend)
		if !ok {
			return statebackend.Config{}, fmt.Errorf("freshet: %T is not a StateBackend", b)
		}
		return sb.cfg, sb.err
	}
	bridge.Plan = func(stream any, name string) (*graph.JobGraph, error) {
		g, ok := stream.(graphed)
		if !ok {
			return nil, errors.New("freshet: not a stream")
		}
		return g.plan(name)
	}
}

// OperatorError is how a job or a harness reports a failure inside an
// operator: the operator's name, the subtask and attempt, the cause, and
// for a panic the stack.
type OperatorError = operator.Error
