package freshet

import (
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
)

// ConnectedStreams are two streams of possibly different types processed
// together by one operator that sees both (Flink's ConnectedStreams). The
// operator's watermark is the minimum of its two inputs'.
type ConnectedStreams[A, B any] struct {
	first  *Stream[A]
	second *Stream[B]
}

// Connect connects two streams for CoMap, CoFlatMap or CoProcess.
func Connect[A, B any](first *Stream[A], second *Stream[B]) *ConnectedStreams[A, B] {
	if first.env != second.env {
		first.env.fail(errDifferentEnvs("Connect"))
	}
	return &ConnectedStreams[A, B]{first: first, second: second}
}

// newTwoInput adds an operator reading both streams of c.
func newTwoInput[A, B, OUT any](c *ConnectedStreams[A, B], name string, newOp func() (operator.Operator, error)) *Stream[OUT] {
	n := &graph.Node{Name: name, Kind: graph.KindTwoInput, In: [2]graph.Type{graph.TypeOf[A](), graph.TypeOf[B]()}, Out: graph.TypeOf[OUT]()}
	n.NewOperator = newOp
	n.Inputs = append(c.first.edges(1), c.second.edges(2)...)
	return newStream[OUT](c.first.env, c.first.env.addNode(n))
}

// CoMap maps the elements of the first input with fn1 and of the second
// with fn2 into one stream.
func CoMap[A, B, OUT any](c *ConnectedStreams[A, B], fn1 func(A) OUT, fn2 func(B) OUT) *Stream[OUT] {
	return newTwoInput[A, B, OUT](c, "CoMap", func() (operator.Operator, error) {
		return &coMapOp[A, B, OUT]{fn1: fn1, fn2: fn2}, nil
	})
}

type coMapOp[A, B, OUT any] struct {
	operator.Base2[OUT]
	fn1 func(A) OUT
	fn2 func(B) OUT
}

func (o *coMapOp[A, B, OUT]) ProcessElement1(r operator.Record[A]) error {
	o.Out.Collect(operator.Record[OUT]{Value: o.fn1(r.Value), Timestamp: r.Timestamp})
	return nil
}

func (o *coMapOp[A, B, OUT]) ProcessElement2(r operator.Record[B]) error {
	o.Out.Collect(operator.Record[OUT]{Value: o.fn2(r.Value), Timestamp: r.Timestamp})
	return nil
}

// CoFlatMap is CoMap where each function emits any number of values.
func CoFlatMap[A, B, OUT any](c *ConnectedStreams[A, B], fn1 func(A, Collector[OUT]), fn2 func(B, Collector[OUT])) *Stream[OUT] {
	return newTwoInput[A, B, OUT](c, "CoFlatMap", func() (operator.Operator, error) {
		return &coFlatMapOp[A, B, OUT]{fn1: fn1, fn2: fn2}, nil
	})
}

type coFlatMapOp[A, B, OUT any] struct {
	operator.Base2[OUT]
	fn1  func(A, Collector[OUT])
	fn2  func(B, Collector[OUT])
	emit operator.Emitter[OUT]
}

func (o *coFlatMapOp[A, B, OUT]) Open(c *operator.Context) error {
	o.emit.Out = o.Out
	return o.Base2.Open(c)
}

func (o *coFlatMapOp[A, B, OUT]) ProcessElement1(r operator.Record[A]) error {
	o.emit.Timestamp = r.Timestamp
	o.fn1(r.Value, &o.emit)
	return nil
}

func (o *coFlatMapOp[A, B, OUT]) ProcessElement2(r operator.Record[B]) error {
	o.emit.Timestamp = r.Timestamp
	o.fn2(r.Value, &o.emit)
	return nil
}

// CoProcessFunction handles the elements of two connected streams with
// access to their context (Flink's CoProcessFunction). Embed BaseFunction
// for Open and Close.
type CoProcessFunction[A, B, OUT any] interface {
	Lifecycle
	ProcessElement1(ctx *Context, v A, out Collector[OUT]) error
	ProcessElement2(ctx *Context, v B, out Collector[OUT]) error
}

// CoProcess applies fn to both inputs of c.
func CoProcess[A, B, OUT any](c *ConnectedStreams[A, B], fn CoProcessFunction[A, B, OUT]) *Stream[OUT] {
	s := newTwoInput[A, B, OUT](c, "CoProcess", func() (operator.Operator, error) {
		return &coProcessOp[A, B, OUT]{fn: fn}, nil
	})
	checkHooksOn(s.node, fn)
	return s
}

type coProcessOp[A, B, OUT any] struct {
	operator.Base2[OUT]
	fn   CoProcessFunction[A, B, OUT]
	ctx  Context
	emit operator.Emitter[OUT]
}

func (o *coProcessOp[A, B, OUT]) Open(c *operator.Context) error {
	_ = o.Base2.Open(c)
	o.ctx.rc.c = c
	o.ctx.sides = o.Side
	o.ctx.timers = unkeyedTimers{c: c, wm: o.CombinedWatermark}
	o.emit.Out = o.Out
	return openFn(o.fn, c)
}

func (o *coProcessOp[A, B, OUT]) ProcessElement1(r operator.Record[A]) error {
	o.ctx.rec, o.emit.Timestamp = r.Timestamp, r.Timestamp
	return o.fn.ProcessElement1(&o.ctx, r.Value, &o.emit)
}

func (o *coProcessOp[A, B, OUT]) ProcessElement2(r operator.Record[B]) error {
	o.ctx.rec, o.emit.Timestamp = r.Timestamp, r.Timestamp
	return o.fn.ProcessElement2(&o.ctx, r.Value, &o.emit)
}

func (o *coProcessOp[A, B, OUT]) Close() error { return o.fn.Close() }
