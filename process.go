package freshet

import (
	"errors"
	"fmt"
	"math"

	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/state"
)

// TimeDomain says whether a timer fired on event time or processing time.
type TimeDomain = operator.TimeDomain

// The time domains of timers.
const (
	EventTime      = operator.EventTime
	ProcessingTime = operator.ProcessingTime
)

// TimerService tells a function the current time and, on keyed streams,
// sets timers for the current key (Flink's TimerService). Timers are
// deduplicated: one per key and time. An event-time timer fires when the
// watermark reaches its time, a processing-time timer when the clock does.
type TimerService interface {
	CurrentProcessingTime() int64
	// CurrentWatermark is the operator's event time: MinInt64 before the
	// first watermark.
	CurrentWatermark() int64
	RegisterEventTimeTimer(ts int64)
	RegisterProcessingTimeTimer(ts int64)
	DeleteEventTimeTimer(ts int64)
	DeleteProcessingTimeTimer(ts int64)
}

// ErrTimersNeedKeys fails a job whose function sets a timer on a stream
// that is not keyed, as Flink does.
var ErrTimersNeedKeys = fmt.Errorf("freshet: setting timers is only supported on keyed streams; use KeyBy before the process function")

// Context is the context of a process function call: the element's
// timestamp, the time, side outputs and where the function runs.
type Context struct {
	rc     RuntimeContext
	rec    int64
	sides  map[string]any
	timers TimerService
}

func (c *Context) side() map[string]any { return c.sides }
func (c *Context) timestamp() int64     { return c.rec }

// Timestamp returns the element's event-time timestamp (in OnTimer, the
// timer's time for event-time timers), if it has one.
func (c *Context) Timestamp() (int64, bool) { return c.rec, c.rec != operator.NoTimestamp }

// Runtime tells where the function runs.
func (c *Context) Runtime() *RuntimeContext { return &c.rc }

// TimerService returns the current time and, on keyed streams, timers.
func (c *Context) TimerService() TimerService { return c.timers }

// ProcessFunction handles each element with access to its context and can
// emit any number of values and side outputs (Flink's ProcessFunction).
// Implement it with a struct that embeds BaseFunction, or pass a function
// literal to ProcessFunc:
//
//	type tagger struct{ freshet.BaseFunction }
//
//	func (tagger) ProcessElement(ctx *freshet.Context, v string, out freshet.Collector[string]) error { … }
//
//	var _ freshet.ProcessFunction[string, string] = tagger{} // checked at compile time
type ProcessFunction[IN, OUT any] interface {
	Lifecycle
	ProcessElement(ctx *Context, v IN, out Collector[OUT]) error
}

// ProcessFunc makes a ProcessFunction of f; Go infers the types from f.
func ProcessFunc[IN, OUT any](f func(ctx *Context, v IN, out Collector[OUT]) error) ProcessFunction[IN, OUT] {
	return processFunc[IN, OUT]{f: f}
}

type processFunc[IN, OUT any] struct {
	BaseFunction
	f func(ctx *Context, v IN, out Collector[OUT]) error
}

func (p processFunc[IN, OUT]) ProcessElement(ctx *Context, v IN, out Collector[OUT]) error {
	return p.f(ctx, v, out)
}

// Process applies a ProcessFunction to every element.
func Process[IN, OUT any](s *Stream[IN], fn ProcessFunction[IN, OUT]) *Stream[OUT] {
	n := newOneInput[IN, OUT](s, "Process", graph.KindOneInput, func() (operator.Operator, error) {
		return &processOp[IN, OUT]{fn: fn}, nil
	})
	checkHooksOn(n, fn)
	return newStream[OUT](s.env, n)
}

// unkeyedTimers is the TimerService of functions that have the time but
// no current key to set timers for: setting one fails the job with err
// (ErrTimersNeedKeys when nil).
type unkeyedTimers struct {
	c   *operator.Context
	wm  func() int64
	err error
}

func (u unkeyedTimers) CurrentProcessingTime() int64 { return u.c.Timers.Now() }
func (u unkeyedTimers) CurrentWatermark() int64      { return u.wm() }
func (u unkeyedTimers) fail() {
	if u.err == nil {
		u.c.Fail(ErrTimersNeedKeys)
		return
	}
	u.c.Fail(u.err)
}
func (u unkeyedTimers) RegisterEventTimeTimer(int64)      { u.fail() }
func (u unkeyedTimers) RegisterProcessingTimeTimer(int64) { u.fail() }
func (u unkeyedTimers) DeleteEventTimeTimer(int64)        { u.fail() }
func (u unkeyedTimers) DeleteProcessingTimeTimer(int64)   { u.fail() }

type processOp[IN, OUT any] struct {
	operator.Base[OUT]
	fn   ProcessFunction[IN, OUT]
	ctx  Context
	wm   int64
	emit operator.Emitter[OUT]
}

func (p *processOp[IN, OUT]) Open(c *operator.Context) error {
	_ = p.Base.Open(c)
	p.wm = math.MinInt64
	p.ctx = Context{rc: RuntimeContext{c: c}, sides: p.Side, timers: unkeyedTimers{c: c, wm: func() int64 { return p.wm }}}
	p.emit.Out = p.Out
	return openFn(p.fn, c)
}

func (p *processOp[IN, OUT]) ProcessElement(r operator.Record[IN]) error {
	p.ctx.rec = r.Timestamp
	p.emit.Timestamp = r.Timestamp
	return p.fn.ProcessElement(&p.ctx, r.Value, &p.emit)
}

func (p *processOp[IN, OUT]) ProcessWatermark(wm int64) error {
	p.wm = wm
	return p.Base.ProcessWatermark(wm)
}

func (p *processOp[IN, OUT]) Close() error { return p.fn.Close() }

// KeyedContext is the context of a keyed process function call: Context
// plus the current key, keyed state and timers.
type KeyedContext[K comparable] struct {
	Context
	keyed *keyedRuntime[K]
}

// CurrentKey is the key of the element being processed (or of the timer
// firing).
func (c *KeyedContext[K]) CurrentKey() K { return c.keyed.scope.Key }

// State is the keyed state of the current key: get a piece of it with
// its descriptor, as in state.Value(ctx.State(), count).
func (c *KeyedContext[K]) State() state.Store { return c.keyed.store }

// TimeDomain is the domain of the timer firing; it is meaningful in OnTimer.
func (c *KeyedContext[K]) TimeDomain() TimeDomain { return c.keyed.domain }

// keyedRuntime is what every keyed function operator keeps: the key scope,
// state, and timers.
type keyedRuntime[K comparable] struct {
	scope  operator.Scope[K, struct{}]
	store  *operator.StateStore[K, struct{}]
	timers *operator.TimerService[K, struct{}]
	domain TimeDomain
	// refuse, when set, fails a timer registration: the function cannot
	// receive timers.
	refuse error
	fail   func(error)
}

func newKeyedRuntime[K comparable](c *operator.Context, fn any, onTimer func(d TimeDomain, t statebackend.Timer[K, struct{}]) error) (*keyedRuntime[K], error) {
	k := &keyedRuntime[K]{fail: c.Fail}
	if _, ok := fn.(noTimers); ok {
		k.refuse = fmt.Errorf("%w (function %T in operator %q)", ErrNoTimerHandler, fn, c.TaskName)
	}
	b := c.StateBackend()
	k.store = operator.NewStateStore(c, "", &k.scope)
	ts, err := operator.NewTimerService(b, "timers", c.Timers, func(d TimeDomain, t statebackend.Timer[K, struct{}]) error {
		k.scope.Key = t.Key
		k.domain = d
		return onTimer(d, t)
	})
	if err != nil {
		return nil, err
	}
	k.timers = ts
	return k, nil
}

func (k *keyedRuntime[K]) CurrentProcessingTime() int64 { return k.timers.Now() }
func (k *keyedRuntime[K]) CurrentWatermark() int64      { return k.timers.Watermark() }
func (k *keyedRuntime[K]) RegisterEventTimeTimer(ts int64) {
	if k.refuse != nil {
		k.fail(k.refuse)
		return
	}
	k.timers.RegisterEventTimer(k.scope.Key, struct{}{}, ts)
}
func (k *keyedRuntime[K]) RegisterProcessingTimeTimer(ts int64) {
	if k.refuse != nil {
		k.fail(k.refuse)
		return
	}
	k.timers.RegisterProcessingTimer(k.scope.Key, struct{}{}, ts)
}
func (k *keyedRuntime[K]) DeleteEventTimeTimer(ts int64) {
	k.timers.DeleteEventTimer(k.scope.Key, struct{}{}, ts)
}
func (k *keyedRuntime[K]) DeleteProcessingTimeTimer(ts int64) {
	k.timers.DeleteProcessingTimer(k.scope.Key, struct{}{}, ts)
}

// KeyedProcessFunction handles each element of a keyed stream with its key,
// keyed state and timers (Flink's KeyedProcessFunction). OnTimer is called
// when a timer the function set fires, with the timer's key current,
// ctx.TimeDomain telling which clock fired and, for event time, the output
// timestamped at the timer's time.
//
// A function that sets no timers embeds NoTimers, which provides OnTimer
// (and Open and Close); setting a timer in it fails the job at once. One
// that sets timers defines OnTimer itself; if its signature is off, the type
// does not satisfy the interface and the program does not compile:
//
//	type alerts struct{ freshet.BaseFunction }
//
//	func (alerts) ProcessElement(ctx *freshet.KeyedContext[string], r Reading, out freshet.Collector[Alert]) error { … }
//	func (alerts) OnTimer(ctx *freshet.KeyedContext[string], ts int64, out freshet.Collector[Alert]) error { … }
//
//	var _ freshet.KeyedProcessFunction[Reading, string, Alert] = alerts{} // checked at compile time
//
// Function literals become keyed process functions with KeyedProcessFunc
// and KeyedProcessFuncWithTimers.
type KeyedProcessFunction[IN any, K comparable, OUT any] interface {
	Lifecycle
	ProcessElement(ctx *KeyedContext[K], v IN, out Collector[OUT]) error
	OnTimer(ctx *KeyedContext[K], ts int64, out Collector[OUT]) error
}

// NoTimers is embedded in keyed functions (KeyedProcessFunction,
// KeyedCoProcessFunction) that set no timers: it provides an OnTimer that is
// never called, and Open and Close that do nothing. Setting a timer in a
// function that embeds it fails the job at the first registration with
// ErrNoTimerHandler — define OnTimer and drop NoTimers instead.
type NoTimers[K comparable, OUT any] struct{ BaseFunction }

// OnTimer implements KeyedProcessFunction; it is never called, as setting a
// timer fails first.
func (NoTimers[K, OUT]) OnTimer(*KeyedContext[K], int64, Collector[OUT]) error {
	return ErrNoTimerHandler
}

func (NoTimers[K, OUT]) setsNoTimers() {}

// noTimers is implemented by functions that embed NoTimers (or are made by
// KeyedProcessFunc): the runtime refuses their timers.
type noTimers interface{ setsNoTimers() }

// ErrNoTimerHandler fails a job whose keyed function sets a timer although
// it cannot receive one: it embeds NoTimers (or was made by
// KeyedProcessFunc) instead of defining OnTimer.
var ErrNoTimerHandler = errors.New("freshet: the function sets a timer but has no OnTimer to receive it: define OnTimer instead of embedding NoTimers, or use KeyedProcessFuncWithTimers")

// KeyedProcessFunc makes a KeyedProcessFunction that sets no timers of f;
// Go infers the types from f. Setting a timer in f fails the job with
// ErrNoTimerHandler: use KeyedProcessFuncWithTimers for that.
func KeyedProcessFunc[IN any, K comparable, OUT any](f func(ctx *KeyedContext[K], v IN, out Collector[OUT]) error) KeyedProcessFunction[IN, K, OUT] {
	return keyedProcessFunc[IN, K, OUT]{f: f}
}

type keyedProcessFunc[IN any, K comparable, OUT any] struct {
	NoTimers[K, OUT]
	f func(ctx *KeyedContext[K], v IN, out Collector[OUT]) error
}

func (p keyedProcessFunc[IN, K, OUT]) ProcessElement(ctx *KeyedContext[K], v IN, out Collector[OUT]) error {
	return p.f(ctx, v, out)
}

// KeyedProcessFuncWithTimers makes a KeyedProcessFunction of f, which
// handles elements, and onTimer, which handles the timers f sets.
func KeyedProcessFuncWithTimers[IN any, K comparable, OUT any](f func(ctx *KeyedContext[K], v IN, out Collector[OUT]) error, onTimer func(ctx *KeyedContext[K], ts int64, out Collector[OUT]) error) KeyedProcessFunction[IN, K, OUT] {
	return keyedProcessTimerFunc[IN, K, OUT]{f: f, onTimer: onTimer}
}

type keyedProcessTimerFunc[IN any, K comparable, OUT any] struct {
	BaseFunction
	f       func(ctx *KeyedContext[K], v IN, out Collector[OUT]) error
	onTimer func(ctx *KeyedContext[K], ts int64, out Collector[OUT]) error
}

func (p keyedProcessTimerFunc[IN, K, OUT]) ProcessElement(ctx *KeyedContext[K], v IN, out Collector[OUT]) error {
	return p.f(ctx, v, out)
}

func (p keyedProcessTimerFunc[IN, K, OUT]) OnTimer(ctx *KeyedContext[K], ts int64, out Collector[OUT]) error {
	return p.onTimer(ctx, ts, out)
}

// KeyedProcess applies fn to every element of a keyed stream.
func KeyedProcess[T any, K comparable, OUT any](k *KeyedStream[T, K], fn KeyedProcessFunction[T, K, OUT]) *Stream[OUT] {
	n := keyedNode[T, K, OUT](k, "KeyedProcess", func() (operator.Operator, error) {
		return &keyedProcessOp[T, K, OUT]{key: k.key, fn: fn}, nil
	})
	checkHooksOn(n, fn)
	return newStream[OUT](k.s.env, n)
}

type keyedProcessOp[T any, K comparable, OUT any] struct {
	operator.Base[OUT]
	key   func(T) K
	fn    KeyedProcessFunction[T, K, OUT]
	ctx   KeyedContext[K]
	keyed *keyedRuntime[K]
	emit  operator.Emitter[OUT]
}

func (p *keyedProcessOp[T, K, OUT]) Open(c *operator.Context) error {
	_ = p.Base.Open(c)
	k, err := newKeyedRuntime[K](c, p.fn, p.onTimer)
	if err != nil {
		return err
	}
	p.keyed = k
	p.ctx = KeyedContext[K]{Context: Context{rc: RuntimeContext{c: c}, sides: p.Side, timers: k}, keyed: k}
	p.emit.Out = p.Out
	return openFn(p.fn, c)
}

func (p *keyedProcessOp[T, K, OUT]) ProcessElement(r operator.Record[T]) error {
	p.keyed.scope.Key = p.key(r.Value)
	p.ctx.rec = r.Timestamp
	p.emit.Timestamp = r.Timestamp
	return p.fn.ProcessElement(&p.ctx, r.Value, &p.emit)
}

func (p *keyedProcessOp[T, K, OUT]) onTimer(d TimeDomain, t statebackend.Timer[K, struct{}]) error {
	ts := int64(operator.NoTimestamp)
	if d == EventTime {
		ts = t.Time
	}
	p.ctx.rec, p.emit.Timestamp = ts, ts
	return p.fn.OnTimer(&p.ctx, t.Time, &p.emit)
}

func (p *keyedProcessOp[T, K, OUT]) ProcessWatermark(wm int64) error {
	if err := p.keyed.timers.AdvanceWatermark(wm); err != nil {
		return err
	}
	return p.Base.ProcessWatermark(wm)
}

func (p *keyedProcessOp[T, K, OUT]) Close() error { return p.fn.Close() }
