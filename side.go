package freshet

import (
	"fmt"

	"github.com/freshet-io/freshet/internal/graph"
)

// SideOutput returns the side output tag of the operator that produced s
// (Flink's getSideOutput): the values its functions emitted with Output.
// It replaces Flink's removed split/select: emit each kind of value to its
// own tag.
func SideOutput[X, T any](s *Stream[T], tag OutputTag[X]) *Stream[X] {
	n := s.operator("SideOutput")
	if tag.id == "" {
		s.env.fail(fmt.Errorf("%w: operator %q: side output tag has an empty id", ErrInvalidProgram, n.Name))
	}
	typ := graph.TypeOf[X]()
	if n.Side == nil {
		n.Side = map[string]graph.Type{}
	}
	if old, ok := n.Side[tag.id]; ok && old != typ {
		s.env.fail(fmt.Errorf("%w: operator %q: side output %q is used with types %s and %s", ErrInvalidProgram, n.Name, tag.id, old, typ))
	} else if !ok {
		n.Side[tag.id] = typ
	}
	return &Stream[X]{env: s.env, node: n, parts: []part{{node: n, tag: tag.id}}}
}
