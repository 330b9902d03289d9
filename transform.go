package freshet

import (
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
)

// Map applies fn to every element (one in, one out). The output keeps the
// input's timestamp.
func Map[IN, OUT any](s *Stream[IN], fn func(IN) OUT) *Stream[OUT] {
	n := newOneInput[IN, OUT](s, "Map", graph.KindOneInput, func() (operator.Operator, error) {
		return &mapOp[IN, OUT]{fn: fn}, nil
	})
	return newStream[OUT](s.env, n)
}

type mapOp[IN, OUT any] struct {
	operator.Base[OUT]
	fn  func(IN) OUT
	buf operator.Buffer[OUT]
}

func (m *mapOp[IN, OUT]) ProcessElement(r operator.Record[IN]) error {
	m.Out.Collect(operator.Record[OUT]{Value: m.fn(r.Value), Timestamp: r.Timestamp})
	return nil
}

func (m *mapOp[IN, OUT]) ProcessBatch(rs []operator.Record[IN]) error {
	out := m.buf.Take(len(rs))
	for i, r := range rs {
		out[i] = operator.Record[OUT]{Value: m.fn(r.Value), Timestamp: r.Timestamp}
	}
	m.buf.Emit(m.Out, out)
	return nil
}

// Filter keeps the elements for which keep returns true.
func (s *Stream[T]) Filter(keep func(T) bool) *Stream[T] {
	n := newOneInput[T, T](s, "Filter", graph.KindOneInput, func() (operator.Operator, error) {
		return &filterOp[T]{keep: keep}, nil
	})
	return newStream[T](s.env, n)
}

type filterOp[T any] struct {
	operator.Base[T]
	keep func(T) bool
	buf  operator.Buffer[T]
}

func (f *filterOp[T]) ProcessElement(r operator.Record[T]) error {
	if f.keep(r.Value) {
		f.Out.Collect(r)
	}
	return nil
}

func (f *filterOp[T]) ProcessBatch(rs []operator.Record[T]) error {
	out := f.buf.Take(len(rs))
	n := 0
	for _, r := range rs {
		if f.keep(r.Value) {
			out[n] = r
			n++
		}
	}
	f.buf.Emit(f.Out, out[:n])
	return nil
}

// FlatMap calls fn for every element; fn emits zero or more values to out.
func FlatMap[IN, OUT any](s *Stream[IN], fn func(v IN, out Collector[OUT])) *Stream[OUT] {
	n := newOneInput[IN, OUT](s, "FlatMap", graph.KindOneInput, func() (operator.Operator, error) {
		return &flatMapOp[IN, OUT]{fn: fn}, nil
	})
	return newStream[OUT](s.env, n)
}

type flatMapOp[IN, OUT any] struct {
	operator.Base[OUT]
	fn   func(IN, Collector[OUT])
	emit operator.Emitter[OUT]
}

func (f *flatMapOp[IN, OUT]) Open(c *operator.Context) error {
	f.emit.Out = f.Out
	return f.Base.Open(c)
}

func (f *flatMapOp[IN, OUT]) ProcessElement(r operator.Record[IN]) error {
	f.emit.Timestamp = r.Timestamp
	f.fn(r.Value, &f.emit)
	return nil
}
