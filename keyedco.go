package freshet

import (
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
	"math"
)

// KeyedConnectedStreams are two keyed streams with keys of the same type,
// processed together by one keyed operator (Flink's ConnectedStreams of two
// KeyedStreams). Elements of either input with equal keys go to the same
// subtask and share that key's state and timers. The operator's watermark
// is the minimum of its two inputs'.
type KeyedConnectedStreams[A, B any, K comparable] struct {
	first  *KeyedStream[A, K]
	second *KeyedStream[B, K]
}

// ConnectKeyed connects two keyed streams for KeyedCoProcess. Each input is
// partitioned by its own key function; both hash their keys into the same
// key groups, so equal keys meet in one subtask.
func ConnectKeyed[A, B any, K comparable](a *KeyedStream[A, K], b *KeyedStream[B, K]) *KeyedConnectedStreams[A, B, K] {
	if a.s.env != b.s.env {
		a.s.env.fail(errDifferentEnvs("ConnectKeyed"))
	}
	return &KeyedConnectedStreams[A, B, K]{first: a, second: b}
}

// KeyedCoProcessFunction handles the elements of two connected keyed
// streams with the current key, keyed state and timers (Flink's
// KeyedCoProcessFunction). State and timers are shared by both inputs: an
// element of either input sees the state of its key. OnTimer receives the
// timers the function sets, as in KeyedProcessFunction; event-time timers
// fire when the minimum of the two inputs' watermarks passes them. A
// function that sets no timers embeds NoTimers.
type KeyedCoProcessFunction[A, B any, K comparable, OUT any] interface {
	Lifecycle
	ProcessElement1(ctx *KeyedContext[K], v A, out Collector[OUT]) error
	ProcessElement2(ctx *KeyedContext[K], v B, out Collector[OUT]) error
	OnTimer(ctx *KeyedContext[K], ts int64, out Collector[OUT]) error
}

// KeyedCoProcess applies fn to both inputs of c.
func KeyedCoProcess[A, B any, K comparable, OUT any](c *KeyedConnectedStreams[A, B, K], fn KeyedCoProcessFunction[A, B, K, OUT]) *Stream[OUT] {
	key1, key2 := c.first.key, c.second.key
	s := newTwoInput[A, B, OUT](&ConnectedStreams[A, B]{first: c.first.s, second: c.second.s}, "KeyedCoProcess", func() (operator.Operator, error) {
		return &keyedCoProcessOp[A, B, K, OUT]{key1: key1, key2: key2, fn: fn}, nil
	})
	s.node.Keyed = true
	checkHooksOn(s.node, fn)
	return s
}

// twoInputs is what the two-input operators of this file and broadcast.go
// share: their outputs and the combined watermark of both inputs.
//
// The Base is a named field, not embedded, so that its ProcessWatermark,
// which forwards the operator's own watermark, is not among the two-input
// operator's methods.
type twoInputs[OUT any] struct {
	base operator.Base[OUT]
	wms  operator.TwoWatermarks
}

// Setup implements operator.Setup.
func (t *twoInputs[OUT]) Setup(main any, side map[string]any) error { return t.base.Setup(main, side) }

func (t *twoInputs[OUT]) open(c *operator.Context) {
	_ = t.base.Open(c)
	t.wms = operator.NewTwoWatermarks()
}

// Finish implements operator.Operator.
func (t *twoInputs[OUT]) Finish() error { return nil }

// combine takes input's watermark and returns the operator's new
// watermark, the minimum of both inputs', when it advanced.
func (t *twoInputs[OUT]) combine(input int, wm int64) (int64, bool) {
	return t.wms.Advance(input, wm)
}

type keyedCoProcessOp[A, B any, K comparable, OUT any] struct {
	twoInputs[OUT]
	key1  func(A) K
	key2  func(B) K
	fn    KeyedCoProcessFunction[A, B, K, OUT]
	ctx   KeyedContext[K]
	keyed *keyedRuntime[K]
	emit  operator.Emitter[OUT]
}

func (o *keyedCoProcessOp[A, B, K, OUT]) Open(c *operator.Context) error {
	o.open(c)
	k, err := newKeyedRuntime[K](c, o.fn, o.onTimer)
	if err != nil {
		return err
	}
	o.keyed = k
	o.ctx = KeyedContext[K]{Context: Context{rc: RuntimeContext{c: c}, sides: o.base.Side, timers: k}, keyed: k}
	o.emit.Out = o.base.Out
	return openFn(o.fn, c)
}

func (o *keyedCoProcessOp[A, B, K, OUT]) ProcessElement1(r operator.Record[A]) error {
	o.keyed.scope.Key = o.key1(r.Value)
	o.ctx.rec, o.emit.Timestamp = r.Timestamp, r.Timestamp
	return o.fn.ProcessElement1(&o.ctx, r.Value, &o.emit)
}

func (o *keyedCoProcessOp[A, B, K, OUT]) ProcessElement2(r operator.Record[B]) error {
	o.keyed.scope.Key = o.key2(r.Value)
	o.ctx.rec, o.emit.Timestamp = r.Timestamp, r.Timestamp
	return o.fn.ProcessElement2(&o.ctx, r.Value, &o.emit)
}

func (o *keyedCoProcessOp[A, B, K, OUT]) onTimer(d TimeDomain, t statebackend.Timer[K, struct{}]) error {
	ts := int64(operator.NoTimestamp)
	if d == EventTime {
		ts = t.Time
	}
	o.ctx.rec, o.emit.Timestamp = ts, ts
	return o.fn.OnTimer(&o.ctx, t.Time, &o.emit)
}

func (o *keyedCoProcessOp[A, B, K, OUT]) ProcessWatermark1(wm int64) error { return o.watermark(1, wm) }
func (o *keyedCoProcessOp[A, B, K, OUT]) ProcessWatermark2(wm int64) error { return o.watermark(2, wm) }

// ProcessInputStatus implements operator.InputStatus: an idle input no
// longer holds the operator's event time back.
func (o *keyedCoProcessOp[A, B, K, OUT]) ProcessInputStatus(input int, idle bool) error {
	o.wms.SetIdle(input, idle)
	return o.watermark(input, math.MinInt64)
}

// watermark fires the event-time timers the combined watermark has passed,
// then forwards it.
func (o *keyedCoProcessOp[A, B, K, OUT]) watermark(input int, wm int64) error {
	m, ok := o.combine(input, wm)
	if !ok {
		return nil
	}
	if err := o.keyed.timers.AdvanceWatermark(m); err != nil {
		return err
	}
	return o.base.ProcessWatermark(m)
}

func (o *keyedCoProcessOp[A, B, K, OUT]) Close() error { return o.fn.Close() }
