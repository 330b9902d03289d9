package freshet

import (
	"fmt"
	"reflect"

	"github.com/freshet-io/freshet/internal/graph"
)

// SideOutput returns the side output tag of the operator that produced s
// (Flink's getSideOutput): the values its functions emitted with Output.
// It replaces Flink's removed split/select: emit each kind of value to its
// own tag.
//
// As in Flink, one operator's tag id carries one type: reading the same id
// of an operator with tags of two types is an invalid program, and a
// function emitting to a read tag id a value of another type fails the
// job with ErrOutputTagType. Different operators may use one id with
// different types. Reading the zero OutputTag is an invalid program.
//
// On a source's stream, it reads what the source's readers emit to side
// outputs (source.SideOutput), such as the records a connector could not
// decode. A source that declares its side outputs' types
// (source.SideOutputTypes) makes reading one with another type an invalid
// program.
func SideOutput[X, T any](s *Stream[T], tag OutputTag[X]) *Stream[X] {
	n := s.operator("SideOutput")
	typ := graph.TypeOf[X]()
	if n.Side == nil {
		n.Side = map[string]graph.Type{}
	}
	if tag.id == "" {
		s.env.fail(fmt.Errorf("%w: operator %q: reading a side output: %w", ErrInvalidProgram, n.Name, ErrZeroOutputTag))
	} else if want, ok := sourceSideType(n, tag.id); ok && want != reflect.TypeFor[X]() {
		s.env.fail(fmt.Errorf("%w: source %q: side output %q carries %s, read as %s", ErrInvalidProgram, n.Name, tag.id, want, reflect.TypeFor[X]()))
	} else if old, ok := n.Side[tag.id]; ok && old != typ {
		s.env.fail(fmt.Errorf("%w: operator %q: side output %q is used with types %s and %s", ErrInvalidProgram, n.Name, tag.id, old, typ))
	} else if !ok {
		n.Side[tag.id] = typ
	}
	return &Stream[X]{env: s.env, node: n, parts: []part{{node: n, tag: tag.id}}}
}

// sourceSideType is the type a source node declares for its side output id.
func sourceSideType(n *graph.Node, id string) (reflect.Type, bool) {
	if n.Source == nil {
		return nil, false
	}
	t, ok := n.Source.SideTypes[id]
	return t, ok
}
