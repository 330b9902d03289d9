package freshet

import (
	"fmt"
	"log/slog"
	"reflect"

	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/source"
)

// FromSource adds a source to the job. Its enumerator runs once per job on
// the JobManager side; its readers run in every source subtask.
func FromSource[T any, S source.Split](env *Env, src source.Source[T, S], name string) *Stream[T] {
	if src == nil {
		env.fail(fmt.Errorf("%w: FromSource %q: source is nil", ErrInvalidProgram, name))
	}
	n := &graph.Node{Name: name, Kind: graph.KindSource, Out: graph.TypeOf[T]()}
	n.Validate = func() error {
		if err := mistyped(src, "source", reflect.TypeFor[source.SideOutputTypes]()); err != nil {
			return err
		}
		return validateConfig(src, "source", reflect.TypeFor[source.Validator]())
	}
	n.NewOperator = func() (operator.Operator, error) { return &operator.Source[T, S]{Src: src}, nil }
	n.Source = &graph.SourceSpec{
		Bounded: src != nil && src.Boundedness() == source.Bounded,
		NewCoordinator: func(parallelism int, send func(int, []byte), fail func(error), log *slog.Logger, restored []byte) (operator.Coordinator, error) {
			return operator.NewSourceCoordinator(src, parallelism, send, fail, log, restored), nil
		},
	}
	if st, ok := src.(source.SideOutputTypes); ok {
		n.Source.SideTypes = st.SideOutputTypes()
	}
	return newStream[T](env, env.addNode(n))
}

// FromSlice is a bounded stream of values. At parallelism 1 (set it with
// SetParallelism) the values arrive in order; at parallelism n each subtask
// reads a contiguous n-th of them.
func FromSlice[T any](env *Env, values []T) *Stream[T] {
	return FromSource[T, source.SliceSplit](env, source.FromSlice(values), "Collection Source")
}

// FromElements is FromSlice for values listed in the call, read by one
// subtask so they arrive in the order given.
func FromElements[T any](env *Env, values ...T) *Stream[T] {
	return FromSlice(env, values).SetParallelism(1)
}

// validateConfig calls v's Validate method, the one of iface
// (source.Validator, sink.Validator), if it has one, and reports a Validate
// method of another signature, which the runtime would never call.
func validateConfig(v any, what string, iface reflect.Type) error {
	if v == nil {
		return nil
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			return fmt.Errorf("%s configuration: %w", what, err)
		}
		return nil
	}
	return mistyped(v, what, iface)
}

// mistyped reports a v that does not implement the optional interface
// iface but has one of its methods, under another signature: the runtime,
// which finds the interface by a type assertion, would never call it.
func mistyped(v any, what string, iface reflect.Type) error {
	t := reflect.TypeOf(v)
	if t == nil || t.Implements(iface) {
		return nil
	}
	for i := range iface.NumMethod() {
		want := iface.Method(i)
		if m, ok := t.MethodByName(want.Name); ok {
			return fmt.Errorf("%w: %s %s has method %s%s, but %s wants %s%s: it would never be called",
				ErrInvalidProgram, what, t, want.Name, signature(m.Type, true), iface, want.Name, signature(want.Type, false))
		}
	}
	return nil
}
