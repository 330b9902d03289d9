package freshet

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/state"
	"github.com/freshet-io/freshet/window"
)

// WindowedStream is a keyed stream cut into windows (Flink's
// WindowedStream, or AllWindowedStream when made by WindowAll). Configure
// it with Trigger, Evictor, AllowedLateness and SideOutputLateData, then
// turn it back into a stream with a window function: WindowReduce,
// WindowAggregate, WindowProcess, or the combinations WindowReduceProcess
// and WindowAggregateProcess.
type WindowedStream[T any, K comparable, W window.Window] struct {
	s        *Stream[T]
	key      func(T) K
	all      bool
	assigner window.Assigner[T, W]
	trigger  window.Trigger[T, W]
	evictor  window.Evictor[T, W]
	lateness time.Duration
	lateTag  string
}

// Window groups each key's elements into the windows assigner gives them.
func Window[T any, K comparable, W window.Window](k *KeyedStream[T, K], assigner window.Assigner[T, W]) *WindowedStream[T, K, W] {
	return newWindowed(k.s, k.key, false, assigner)
}

// WindowAll windows a stream that is not keyed. As in Flink, all elements
// go to one subtask: the window operator runs with parallelism 1.
func WindowAll[T any, W window.Window](s *Stream[T], assigner window.Assigner[T, W]) *WindowedStream[T, struct{}, W] {
	return newWindowed(s, func(T) struct{} { return struct{}{} }, true, assigner)
}

func newWindowed[T any, K comparable, W window.Window](s *Stream[T], key func(T) K, all bool, a window.Assigner[T, W]) *WindowedStream[T, K, W] {
	ws := &WindowedStream[T, K, W]{s: s, key: key, all: all, assigner: a}
	if a == nil {
		s.env.fail(fmt.Errorf("%w: Window: the window assigner is nil (did its constructor return an error?)", ErrInvalidProgram))
		return ws
	}
	ws.trigger = a.DefaultTrigger()
	return ws
}

// CountWindow is a tumbling window of size elements per key (Flink's
// countWindow(size)): it fires and purges every size elements.
func CountWindow[T any, K comparable](k *KeyedStream[T, K], size int64) *WindowedStream[T, K, window.GlobalWindow] {
	cw, err := window.CountTumbling[T](size)
	if err != nil {
		k.s.env.fail(fmt.Errorf("%w: CountWindow: %w", ErrInvalidProgram, err))
		return &WindowedStream[T, K, window.GlobalWindow]{s: k.s, key: k.key}
	}
	return Window(k, window.Assigner[T, window.GlobalWindow](cw.Assigner)).Trigger(cw.Trigger)
}

// CountWindowSliding is a window over the last size elements of a key,
// evaluated every slide elements (Flink's countWindow(size, slide)).
func CountWindowSliding[T any, K comparable](k *KeyedStream[T, K], size, slide int64) *WindowedStream[T, K, window.GlobalWindow] {
	cw, err := window.CountSliding[T](size, slide)
	if err != nil {
		k.s.env.fail(fmt.Errorf("%w: CountWindowSliding: %w", ErrInvalidProgram, err))
		return &WindowedStream[T, K, window.GlobalWindow]{s: k.s, key: k.key}
	}
	return Window(k, window.Assigner[T, window.GlobalWindow](cw.Assigner)).Trigger(cw.Trigger).Evictor(cw.Evictor)
}

// CountWindowAll is CountWindow for a stream without keys (Flink's
// countWindowAll): every size elements of the whole stream, on one subtask.
func CountWindowAll[T any](s *Stream[T], size int64) *WindowedStream[T, struct{}, window.GlobalWindow] {
	cw, err := window.CountTumbling[T](size)
	if err != nil {
		s.env.fail(fmt.Errorf("%w: CountWindowAll: %w", ErrInvalidProgram, err))
		return &WindowedStream[T, struct{}, window.GlobalWindow]{s: s, key: func(T) struct{} { return struct{}{} }, all: true}
	}
	return WindowAll(s, window.Assigner[T, window.GlobalWindow](cw.Assigner)).Trigger(cw.Trigger)
}

// CountWindowAllSliding is CountWindowSliding for a stream without keys.
func CountWindowAllSliding[T any](s *Stream[T], size, slide int64) *WindowedStream[T, struct{}, window.GlobalWindow] {
	cw, err := window.CountSliding[T](size, slide)
	if err != nil {
		s.env.fail(fmt.Errorf("%w: CountWindowAllSliding: %w", ErrInvalidProgram, err))
		return &WindowedStream[T, struct{}, window.GlobalWindow]{s: s, key: func(T) struct{} { return struct{}{} }, all: true}
	}
	return WindowAll(s, window.Assigner[T, window.GlobalWindow](cw.Assigner)).Trigger(cw.Trigger).Evictor(cw.Evictor)
}

// Trigger replaces the assigner's default trigger.
func (w *WindowedStream[T, K, W]) Trigger(t window.Trigger[T, W]) *WindowedStream[T, K, W] {
	if t == nil {
		w.s.env.fail(fmt.Errorf("%w: Window: the trigger is nil", ErrInvalidProgram))
		return w
	}
	w.trigger = t
	return w
}

// Evictor removes elements from a window before and/or after the window
// function runs. With an evictor every element is kept until the window
// fires, even for WindowReduce and WindowAggregate, as in Flink.
func (w *WindowedStream[T, K, W]) Evictor(e window.Evictor[T, W]) *WindowedStream[T, K, W] {
	w.evictor = e
	return w
}

// AllowedLateness keeps event-time windows for d after their end: a late
// element within it is added and fires the window again; later ones are
// dropped (or sent to SideOutputLateData). Default 0.
func (w *WindowedStream[T, K, W]) AllowedLateness(d time.Duration) *WindowedStream[T, K, W] {
	if d < 0 || d%time.Millisecond != 0 {
		w.s.env.fail(fmt.Errorf("%w: Window: allowed lateness must be a non-negative whole number of milliseconds, got %s", ErrInvalidProgram, d))
		return w
	}
	w.lateness = d
	return w
}

// SideOutputLateData sends elements that arrive after their windows'
// allowed lateness to the side output tag instead of dropping them.
func (w *WindowedStream[T, K, W]) SideOutputLateData(tag OutputTag[T]) *WindowedStream[T, K, W] {
	if tag.id == "" {
		w.s.env.fail(fmt.Errorf("%w: Window: SideOutputLateData: %w", ErrInvalidProgram, ErrZeroOutputTag))
	}
	w.lateTag = tag.id
	return w
}

// AggregateFunction aggregates a window's elements incrementally (Flink's
// AggregateFunction): one accumulator per window, updated per element and
// merged when session windows merge. It is state.AggregateFunction, so one
// implementation serves WindowAggregate and aggregating state.
type AggregateFunction[IN, ACC, OUT any] = state.AggregateFunction[IN, ACC, OUT]

// WindowContext is what a ProcessWindowFunction sees of its window: the key,
// the window, time, per-window and global keyed state, and side outputs.
type WindowContext[K comparable, W window.Window] struct {
	Context
	op *windowCore[K, W]
}

// Key is the window's key (struct{} for WindowAll).
func (c *WindowContext[K, W]) Key() K { return c.op.scope.Key }

// Window is the window being evaluated.
func (c *WindowContext[K, W]) Window() W { return c.op.scope.Namespace }

// CurrentWatermark is the operator's event time.
func (c *WindowContext[K, W]) CurrentWatermark() int64 { return c.op.timers.Watermark() }

// CurrentProcessingTime is the current processing time.
func (c *WindowContext[K, W]) CurrentProcessingTime() int64 { return c.op.timers.Now() }

// WindowState is keyed state scoped to the key and this window; it is
// cleared when the window is purged at the end of its lifetime.
//
// As in Flink, merging (session) windows have no per-window state: asking for
// it fails the job.
func (c *WindowContext[K, W]) WindowState() state.Store {
	if c.op.merging {
		// The subtask fails once the call returns.
		c.rc.c.Fail(ErrMergingWindowState)
	}
	return c.op.windowState
}

// ErrMergingWindowState fails a window function that asks for per-window
// state of merging windows, whose state could not follow the merges.
var ErrMergingWindowState = errors.New("freshet: per-window state is not allowed with merging windows (sessions); use GlobalState")

// GlobalState is keyed state of the key shared by all its windows.
func (c *WindowContext[K, W]) GlobalState() state.Store { return c.op.globalState }

// ProcessWindowFunction evaluates a window with all its elements (or, after
// a reduce or aggregate, the single pre-aggregated result) and its context
// (Flink's ProcessWindowFunction). Clear is called when a window's state
// goes away at the end of its lifetime, for functions that keep
// per-window state of their own (Flink's clear). Embed BaseWindowFunction
// for Open, Close and Clear that do nothing, or pass a function literal to
// ProcessWindowFunc.
type ProcessWindowFunction[IN any, K comparable, W window.Window, OUT any] interface {
	Lifecycle
	Process(ctx *WindowContext[K, W], elements []IN, out Collector[OUT]) error
	Clear(ctx *WindowContext[K, W]) error
}

// BaseWindowFunction provides the Open, Close and Clear of a
// ProcessWindowFunction, doing nothing. Embed it and define Process.
type BaseWindowFunction[K comparable, W window.Window] struct{ BaseFunction }

// Clear implements ProcessWindowFunction.
func (BaseWindowFunction[K, W]) Clear(*WindowContext[K, W]) error { return nil }

// ProcessAllWindowFunction is ProcessWindowFunction for WindowAll.
type ProcessAllWindowFunction[IN any, W window.Window, OUT any] = ProcessWindowFunction[IN, struct{}, W, OUT]

// ProcessWindowFunc makes a ProcessWindowFunction of f; Go infers the
// types from f.
func ProcessWindowFunc[IN any, K comparable, W window.Window, OUT any](f func(ctx *WindowContext[K, W], elements []IN, out Collector[OUT]) error) ProcessWindowFunction[IN, K, W, OUT] {
	return processWindowFunc[IN, K, W, OUT]{f: f}
}

type processWindowFunc[IN any, K comparable, W window.Window, OUT any] struct {
	BaseWindowFunction[K, W]
	f func(ctx *WindowContext[K, W], elements []IN, out Collector[OUT]) error
}

func (p processWindowFunc[IN, K, W, OUT]) Process(ctx *WindowContext[K, W], elements []IN, out Collector[OUT]) error {
	return p.f(ctx, elements, out)
}

// WindowReduce combines each window's elements with fn as they arrive and
// emits the result when the window fires.
func WindowReduce[T any, K comparable, W window.Window](w *WindowedStream[T, K, W], fn func(a, b T) T) *Stream[T] {
	return WindowReduceProcess(w, fn, passThrough[T, K, W]{})
}

// WindowAggregate aggregates each window incrementally with agg and emits
// agg's result when the window fires.
func WindowAggregate[T any, K comparable, W window.Window, ACC, R any](w *WindowedStream[T, K, W], agg AggregateFunction[T, ACC, R]) *Stream[R] {
	return WindowAggregateProcess(w, agg, passThrough[R, K, W]{})
}

// WindowProcess evaluates each window with all its elements.
func WindowProcess[T any, K comparable, W window.Window, OUT any](w *WindowedStream[T, K, W], fn ProcessWindowFunction[T, K, W, OUT]) *Stream[OUT] {
	return addWindowOp(w, "Window(Process)", fn, windowFuncs[T, []T]{
		add:   func(acc []T, _ bool, v T) []T { return append(acc, v) },
		merge: func(a, b []T) []T { return append(a, b...) },
		value: func(acc []T) []T { return acc },
	})
}

// WindowReduceProcess pre-aggregates each window with reduce and evaluates
// the single result with fn, which also sees the window's context.
func WindowReduceProcess[T any, K comparable, W window.Window, OUT any](w *WindowedStream[T, K, W], reduce func(a, b T) T, fn ProcessWindowFunction[T, K, W, OUT]) *Stream[OUT] {
	if w.evictor != nil {
		return addWindowOp(w, "Window(Reduce)", fn, windowFuncs[T, []T]{
			add:   func(acc []T, _ bool, v T) []T { return append(acc, v) },
			merge: func(a, b []T) []T { return append(a, b...) },
			value: func(acc []T) []T {
				if len(acc) == 0 {
					return nil
				}
				r := acc[0]
				for _, v := range acc[1:] {
					r = reduce(r, v)
				}
				return []T{r}
			},
		})
	}
	return addWindowOp(w, "Window(Reduce)", fn, windowFuncs[T, T]{
		add: func(acc T, has bool, v T) T {
			if !has {
				return v
			}
			return reduce(acc, v)
		},
		merge: reduce,
		value: func(acc T) []T { return []T{acc} },
	})
}

// WindowAggregateProcess pre-aggregates each window with agg and evaluates
// agg's result with fn, which also sees the window's context.
func WindowAggregateProcess[T any, K comparable, W window.Window, ACC, R, OUT any](w *WindowedStream[T, K, W], agg AggregateFunction[T, ACC, R], fn ProcessWindowFunction[R, K, W, OUT]) *Stream[OUT] {
	if w.evictor != nil {
		return addWindowOp(w, "Window(Aggregate)", fn, windowFuncs[T, []T]{
			add:   func(acc []T, _ bool, v T) []T { return append(acc, v) },
			merge: func(a, b []T) []T { return append(a, b...) },
			valueR: func(acc []T) any {
				a := agg.CreateAccumulator()
				for _, v := range acc {
					a = agg.Add(v, a)
				}
				return []R{agg.GetResult(a)}
			},
		})
	}
	return addWindowOp(w, "Window(Aggregate)", fn, windowFuncs[T, ACC]{
		add: func(acc ACC, has bool, v T) ACC {
			if !has {
				acc = agg.CreateAccumulator()
			}
			return agg.Add(v, acc)
		},
		merge:  agg.Merge,
		valueR: func(acc ACC) any { return []R{agg.GetResult(acc)} },
	})
}

// passThrough is the window function of plain reduce and aggregate: it
// emits the pre-aggregated result.
type passThrough[T any, K comparable, W window.Window] struct{ BaseWindowFunction[K, W] }

func (passThrough[T, K, W]) Process(_ *WindowContext[K, W], elements []T, out Collector[T]) error {
	for _, v := range elements {
		out.Collect(v)
	}
	return nil
}

// windowFuncs is how a window's contents accumulate: add an element to the
// accumulator (has says whether one exists), merge two, and turn the
// accumulator into the elements the window function sees (value when they
// are of the input type, valueR for an aggregate's result type).
type windowFuncs[T, ACC any] struct {
	add    func(acc ACC, has bool, v T) ACC
	merge  func(a, b ACC) ACC
	value  func(acc ACC) []T
	valueR func(acc ACC) any
}

func addWindowOp[T any, K comparable, W window.Window, ACC, FIN, OUT any](w *WindowedStream[T, K, W], name string, fn ProcessWindowFunction[FIN, K, W, OUT], f windowFuncs[T, ACC]) *Stream[OUT] {
	if fn == nil {
		w.s.env.fail(fmt.Errorf("%w: %s: the window function is nil", ErrInvalidProgram, name))
	}
	if w.all {
		name = "All" + name
	}
	ws := *w
	n := newOneInput[T, OUT](w.s, name, graph.KindOneInput, func() (operator.Operator, error) {
		return &windowOp[T, K, W, ACC, FIN, OUT]{cfg: ws, fn: fn, f: f}, nil
	})
	n.Keyed = !w.all
	n.NonParallel = w.all
	n.Validate = ws.validate
	checkHooksOn(n, fn)
	if w.lateTag != "" {
		if n.Side == nil {
			n.Side = map[string]graph.Type{}
		}
		n.Side[w.lateTag] = graph.TypeOf[T]()
	}
	if w.all {
		// All elements must reach the single window subtask.
		n.Inputs = w.s.partitioned(graph.PartitionGlobal, nil).edges(1)
	}
	return newStream[OUT](w.s.env, n)
}

// validate reports invalid window parameters when the job is built.
func (w *WindowedStream[T, K, W]) validate() error {
	for _, part := range []any{w.assigner, w.trigger, w.evictor} {
		if v, ok := part.(window.Validator); ok {
			if err := v.Err(); err != nil {
				return err
			}
		}
	}
	if w.assigner != nil && w.trigger != nil {
		return window.CheckTrigger(w.assigner, w.trigger)
	}
	return nil
}

// windowCore is the part of the window operator that the window context
// needs, independent of the element and accumulator types.
type windowCore[K comparable, W window.Window] struct {
	merging     bool
	scope       operator.Scope[K, W]
	timers      *operator.TimerService[K, W]
	windowState *operator.StateStore[K, W]
	globalState *operator.StateStore[K, struct{}]
	globalScope operator.Scope[K, struct{}]
}

// windowOp is Flink's WindowOperator (and EvictingWindowOperator): it
// assigns elements to windows per key, keeps their contents, asks the
// trigger when to fire and purge, and cleans each window up once the
// watermark passes its end plus the allowed lateness.
type windowOp[T any, K comparable, W window.Window, ACC, FIN, OUT any] struct {
	operator.Base[OUT]
	windowCore[K, W]
	cfg      WindowedStream[T, K, W]
	fn       ProcessWindowFunction[FIN, K, W, OUT]
	f        windowFuncs[T, ACC]
	lateness int64
	event    bool

	contents statebackend.Table[K, W, ACC]
	elements statebackend.Table[K, W, []window.TimestampedValue[T]] // with an evictor
	trig     statebackend.Table[K, trigNS[W], int64]
	merging  statebackend.Table[K, struct{}, *window.MergingWindowSet[W]]
	merger   window.WindowMerger[W]
	// inPlace: the backend holds the merging sets themselves, so a set
	// changed in place needs no Put.
	inPlace bool
	// fastEvent: the trigger is the built-in event-time trigger and the
	// windows do not merge, so an element joining a live window before its
	// end needs neither the trigger nor a new cleanup timer.
	fastEvent bool

	tctx   triggerCtx[T, K, W, ACC, FIN, OUT]
	wctx   WindowContext[K, W]
	emit   operator.Emitter[OUT]
	late   operator.Output[T]
	buf    []W
	merged []W
}

type trigNS[W window.Window] struct {
	// Exported for the table's codec.
	Window W
	Name   string
}

func (o *windowOp[T, K, W, ACC, FIN, OUT]) Open(c *operator.Context) error {
	_ = o.Base.Open(c)
	b := c.StateBackend()
	var err error
	if o.contents, err = statebackend.NewTable[K, W, ACC](b, "window-contents"); err != nil {
		return err
	}
	if o.elements, err = statebackend.NewTable[K, W, []window.TimestampedValue[T]](b, "window-elements"); err != nil {
		return err
	}
	if o.trig, err = statebackend.NewTable[K, trigNS[W], int64](b, "trigger-state"); err != nil {
		return err
	}
	var setCodec []statebackend.TableOption[*window.MergingWindowSet[W]]
	if m, ok := o.cfg.assigner.(window.WindowMerger[W]); ok {
		if wc, err := codec.Of[W](); err == nil {
			setCodec = append(setCodec, statebackend.WithCodec[*window.MergingWindowSet[W]](mergingSetCodec[W]{merger: m, w: wc}))
		}
	}
	if o.merging, err = statebackend.NewTable[K, struct{}, *window.MergingWindowSet[W]](b, "merging-windows", setCodec...); err != nil {
		return err
	}
	if o.timers, err = operator.NewTimerService(b, "window-timers", c.Timers, o.onTimer); err != nil {
		return err
	}
	o.windowState = operator.NewStateStore(c, "window/", &o.scope)
	o.globalState = operator.NewStateStore(c, "global/", &o.globalScope)
	o.merger, _ = o.cfg.assigner.(window.WindowMerger[W])
	o.inPlace = statebackend.ValuesInPlace(b)
	o.windowCore.merging = o.merger != nil
	o.fastEvent = o.merger == nil && o.cfg.evictor == nil && window.IsEventTimeTrigger(o.cfg.trigger)
	o.lateness = o.cfg.lateness.Milliseconds()
	o.event = o.cfg.assigner.IsEventTime()
	o.tctx.o = o
	o.wctx = WindowContext[K, W]{Context: Context{rc: RuntimeContext{c: c}, sides: o.Side}, op: &o.windowCore}
	o.wctx.timers = unkeyedTimers{c: c, wm: o.timers.Watermark, err: errWindowTimers}
	o.emit.Out = o.Out
	if o.cfg.lateTag != "" {
		o.late = operator.SideOutput[T](o.Side, o.cfg.lateTag)
	}
	return openFn(o.fn, c)
}

func (o *windowOp[T, K, W, ACC, FIN, OUT]) Close() error { return o.fn.Close() }

// ErrNoTimestamp fails a job when an element without a timestamp reaches an
// operator that works in event time.
var ErrNoTimestamp = operator.ErrNoTimestamp

// errNoTimestamp explains how to give elements timestamps.
func errNoTimestamp(op string) error {
	return fmt.Errorf("%w: %s uses event time; assign timestamps with FromSourceWithWatermarks or AssignTimestampsAndWatermarks", operator.ErrNoTimestamp, op)
}

func (o *windowOp[T, K, W, ACC, FIN, OUT]) ProcessElement(r operator.Record[T]) error {
	if o.event && r.Timestamp == operator.NoTimestamp {
		return errNoTimestamp("this window")
	}
	key := o.cfg.key(r.Value)
	o.scope.Key = key
	o.globalScope.Key = key
	var now int64
	if !o.event {
		now = o.timers.Now()
	}
	ws, err := o.cfg.assigner.AssignWindows(o.buf[:0], r.Value, r.Timestamp, now)
	if err != nil {
		return err
	}
	o.buf = ws
	wm := o.timers.Watermark()
	skipped := true
	var set *window.MergingWindowSet[W]
	if o.merger != nil {
		set, _ = o.merging.Get(key, struct{}{})
		if set == nil {
			set = window.NewMergingWindowSet(o.merger)
			o.merging.Put(key, struct{}{}, set)
		}
	}
	for _, w := range ws {
		stateW := w
		if set != nil {
			actual, err := set.AddWindow(w, o.mergeWindows)
			if err != nil {
				return err
			}
			if window.IsWindowLate(actual, o.lateness, o.event, wm) {
				if err := set.RetireWindow(actual); err != nil {
					return err
				}
				continue
			}
			w = actual
			stateW, _ = set.StateWindow(actual)
		} else if window.IsWindowLate(w, o.lateness, o.event, wm) {
			continue
		}
		skipped = false
		existed := o.addToWindow(key, stateW, r)
		if existed && o.fastEvent && w.MaxTimestamp() > wm {
			// The window's timer (at its end, which is also its cleanup
			// time or before it) was registered with its first element and
			// has not fired: the trigger would only register it again.
			continue
		}
		o.scope.Namespace = w
		res := o.cfg.trigger.OnElement(r.Value, r.Timestamp, w, &o.tctx)
		if err := o.act(res, key, w, stateW); err != nil {
			return err
		}
		o.registerCleanup(key, w)
	}
	if set != nil && set.Len() == 0 {
		// Every window of the element was late and retired: keep no empty
		// set for the key.
		o.merging.Delete(key, struct{}{})
	} else if set != nil && !o.inPlace {
		o.merging.Put(key, struct{}{}, set) // a backend of copies keeps bytes
	}
	if skipped && window.IsElementLate(r.Timestamp, o.lateness, o.event, wm) {
		if o.late != nil {
			o.late.Collect(r)
		}
	}
	return nil
}

// addToWindow adds r to the contents of stateW and reports whether the
// window already had contents.
func (o *windowOp[T, K, W, ACC, FIN, OUT]) addToWindow(key K, stateW W, r operator.Record[T]) bool {
	if o.cfg.evictor != nil {
		els, existed := o.elements.Ref(key, stateW)
		*els = append(*els, window.TimestampedValue[T]{Value: r.Value, Timestamp: r.Timestamp, HasTimestamp: r.HasTimestamp()})
		return existed
	}
	acc, has := o.contents.Ref(key, stateW)
	*acc = o.f.add(*acc, has, r.Value)
	return has
}

// mergeWindows is the MergingWindowSet's callback when windows merge.
func (o *windowOp[T, K, W, ACC, FIN, OUT]) mergeWindows(result W, merged []W, stateResult W, mergedStates []W) error {
	key := o.scope.Key
	if window.IsWindowLate(result, o.lateness, o.event, o.timers.Watermark()) {
		return fmt.Errorf("freshet: the merged window %v is already late; this happens when a session gap grows past the allowed lateness", result)
	}
	if !o.event && result.MaxTimestamp() <= o.timers.Now() {
		return fmt.Errorf("freshet: merging made processing-time window %v end before the current processing time", result)
	}
	o.scope.Namespace = result
	o.merged = merged
	o.cfg.trigger.OnMerge(result, &o.tctx)
	o.merged = nil
	for _, m := range merged {
		o.scope.Namespace = m
		o.cfg.trigger.Clear(m, &o.tctx)
		o.deleteCleanup(key, m)
	}
	for _, ms := range mergedStates {
		if o.cfg.evictor != nil {
			a, _ := o.elements.Get(key, stateResult)
			b, _ := o.elements.Get(key, ms)
			o.elements.Put(key, stateResult, append(a, b...))
			o.elements.Delete(key, ms)
			continue
		}
		b, hasB := o.contents.Get(key, ms)
		if !hasB {
			continue
		}
		if a, hasA := o.contents.Get(key, stateResult); hasA {
			b = o.f.merge(a, b)
		}
		o.contents.Put(key, stateResult, b)
		o.contents.Delete(key, ms)
	}
	return nil
}

// act carries out a trigger's result for window w (contents under stateW).
func (o *windowOp[T, K, W, ACC, FIN, OUT]) act(res window.TriggerResult, key K, w, stateW W) error {
	if res.IsFire() {
		if err := o.fire(key, w, stateW); err != nil {
			return err
		}
	}
	if res.IsPurge() {
		o.contents.Delete(key, stateW)
		o.elements.Delete(key, stateW)
	}
	return nil
}

// fire evaluates window w: the window function gets the contents and emits
// results timestamped with the window's max timestamp.
func (o *windowOp[T, K, W, ACC, FIN, OUT]) fire(key K, w, stateW W) error {
	var elements []FIN
	if o.cfg.evictor != nil {
		els, ok := o.elements.Get(key, stateW)
		if !ok {
			return nil
		}
		ec := evictorCtx{o.timers}
		els = o.cfg.evictor.EvictBefore(els, w, ec)
		values := make([]T, len(els))
		for i, e := range els {
			values[i] = e.Value
		}
		elements = o.finish(values)
		if err := o.apply(key, w, elements); err != nil {
			return err
		}
		els = o.cfg.evictor.EvictAfter(els, w, ec)
		if len(els) == 0 {
			o.elements.Delete(key, stateW)
		} else {
			o.elements.Put(key, stateW, els)
		}
		return nil
	}
	acc, ok := o.contents.Get(key, stateW)
	if !ok {
		return nil
	}
	if o.f.value != nil {
		elements = any(o.f.value(acc)).([]FIN)
	} else {
		elements = o.f.valueR(acc).([]FIN)
	}
	return o.apply(key, w, elements)
}

// finish turns evicted-window values into the window function's input.
func (o *windowOp[T, K, W, ACC, FIN, OUT]) finish(values []T) []FIN {
	if o.f.valueR != nil {
		var zero ACC
		_ = zero
		// With an evictor the accumulator type is []T.
		return o.f.valueR(any(values).(ACC)).([]FIN)
	}
	return any(o.f.value(any(values).(ACC))).([]FIN)
}

func (o *windowOp[T, K, W, ACC, FIN, OUT]) apply(key K, w W, elements []FIN) error {
	o.scope.Key, o.scope.Namespace = key, w
	o.globalScope.Key = key
	ts := w.MaxTimestamp()
	o.emit.Timestamp = ts
	o.wctx.rec = ts
	return o.fn.Process(&o.wctx, elements, &o.emit)
}

func (o *windowOp[T, K, W, ACC, FIN, OUT]) cleanupTime(w W) int64 {
	return window.CleanupTime(w, o.lateness, o.event)
}

func (o *windowOp[T, K, W, ACC, FIN, OUT]) registerCleanup(key K, w W) {
	t := o.cleanupTime(w)
	if t == math.MaxInt64 {
		return // global windows are never cleaned up
	}
	if o.event {
		o.timers.RegisterEventTimer(key, w, t)
	} else {
		o.timers.RegisterProcessingTimer(key, w, t)
	}
}

func (o *windowOp[T, K, W, ACC, FIN, OUT]) deleteCleanup(key K, w W) {
	t := o.cleanupTime(w)
	if t == math.MaxInt64 {
		return
	}
	if o.event {
		o.timers.DeleteEventTimer(key, w, t)
	} else {
		o.timers.DeleteProcessingTimer(key, w, t)
	}
}

func (o *windowOp[T, K, W, ACC, FIN, OUT]) onTimer(d operator.TimeDomain, t statebackend.Timer[K, W]) error {
	key, w := t.Key, t.Namespace
	o.scope.Key, o.scope.Namespace = key, w
	o.globalScope.Key = key
	stateW := w
	var set *window.MergingWindowSet[W]
	if o.merger != nil {
		set, _ = o.merging.Get(key, struct{}{})
		if set == nil {
			return nil
		}
		sw, ok := set.StateWindow(w)
		if !ok {
			// The window was merged away or retired; its timer is stale.
			return nil
		}
		stateW = sw
	}
	// As in Flink, the trigger sees every timer of a live window, empty or
	// not (a purging continuous trigger keeps its schedule); only firing
	// needs contents.
	var res window.TriggerResult
	if d == operator.EventTime {
		res = o.cfg.trigger.OnEventTime(t.Time, w, &o.tctx)
	} else {
		res = o.cfg.trigger.OnProcessingTime(t.Time, w, &o.tctx)
	}
	if err := o.act(res, key, w, stateW); err != nil {
		return err
	}
	if (d == operator.EventTime) == o.event && t.Time == o.cleanupTime(w) {
		return o.clearAll(key, w, stateW, set)
	}
	return nil
}

// clearAll removes everything of window w at the end of its lifetime.
func (o *windowOp[T, K, W, ACC, FIN, OUT]) clearAll(key K, w, stateW W, set *window.MergingWindowSet[W]) error {
	o.contents.Delete(key, stateW)
	o.elements.Delete(key, stateW)
	o.scope.Namespace = w
	o.cfg.trigger.Clear(w, &o.tctx)
	if err := o.fn.Clear(&o.wctx); err != nil {
		return err
	}
	o.windowState.ClearNamespace()
	if set != nil {
		if err := set.RetireWindow(w); err != nil {
			return err
		}
		if set.Len() == 0 {
			o.merging.Delete(key, struct{}{})
		} else if !o.inPlace {
			o.merging.Put(key, struct{}{}, set)
		}
	}
	return nil
}

func (o *windowOp[T, K, W, ACC, FIN, OUT]) ProcessWatermark(wm int64) error {
	if err := o.timers.AdvanceWatermark(wm); err != nil {
		return err
	}
	return o.Base.ProcessWatermark(wm)
}

// triggerCtx is the TriggerContext and MergeContext of the window operator,
// scoped to the operator's current key and window.
type triggerCtx[T any, K comparable, W window.Window, ACC, FIN, OUT any] struct {
	o *windowOp[T, K, W, ACC, FIN, OUT]
}

func (c *triggerCtx[T, K, W, ACC, FIN, OUT]) CurrentWatermark() int64 {
	return c.o.timers.Watermark()
}
func (c *triggerCtx[T, K, W, ACC, FIN, OUT]) CurrentProcessingTime() int64 { return c.o.timers.Now() }
func (c *triggerCtx[T, K, W, ACC, FIN, OUT]) RegisterEventTimeTimer(t int64) {
	c.o.timers.RegisterEventTimer(c.o.scope.Key, c.o.scope.Namespace, t)
}
func (c *triggerCtx[T, K, W, ACC, FIN, OUT]) DeleteEventTimeTimer(t int64) {
	c.o.timers.DeleteEventTimer(c.o.scope.Key, c.o.scope.Namespace, t)
}
func (c *triggerCtx[T, K, W, ACC, FIN, OUT]) RegisterProcessingTimeTimer(t int64) {
	c.o.timers.RegisterProcessingTimer(c.o.scope.Key, c.o.scope.Namespace, t)
}
func (c *triggerCtx[T, K, W, ACC, FIN, OUT]) DeleteProcessingTimeTimer(t int64) {
	c.o.timers.DeleteProcessingTimer(c.o.scope.Key, c.o.scope.Namespace, t)
}
func (c *triggerCtx[T, K, W, ACC, FIN, OUT]) GetState(name string) (int64, bool) {
	return c.o.trig.Get(c.o.scope.Key, trigNS[W]{c.o.scope.Namespace, name})
}
func (c *triggerCtx[T, K, W, ACC, FIN, OUT]) SetState(name string, v int64) {
	c.o.trig.Put(c.o.scope.Key, trigNS[W]{c.o.scope.Namespace, name}, v)
}
func (c *triggerCtx[T, K, W, ACC, FIN, OUT]) ClearState(name string) {
	c.o.trig.Delete(c.o.scope.Key, trigNS[W]{c.o.scope.Namespace, name})
}

// MergeState folds the named state of the merged windows into the current
// window's.
func (c *triggerCtx[T, K, W, ACC, FIN, OUT]) MergeState(name string, reduce func(a, b int64) int64) {
	key, cur := c.o.scope.Key, c.o.scope.Namespace
	acc, have := c.o.trig.Get(key, trigNS[W]{cur, name})
	for _, m := range c.o.merged {
		if m == cur {
			continue
		}
		if v, ok := c.o.trig.Get(key, trigNS[W]{m, name}); ok {
			if have {
				acc = reduce(acc, v)
			} else {
				acc, have = v, true
			}
			c.o.trig.Delete(key, trigNS[W]{m, name})
		}
	}
	if have {
		c.o.trig.Put(key, trigNS[W]{cur, name}, acc)
	}
}

type evictorCtx struct {
	t interface {
		Now() int64
		Watermark() int64
	}
}

func (e evictorCtx) CurrentProcessingTime() int64 { return e.t.Now() }
func (e evictorCtx) CurrentWatermark() int64      { return e.t.Watermark() }

var errWindowTimers = errors.New("freshet: window functions cannot set timers; use a trigger")
