package freshet

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/btree"

	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/window"
)

// This file holds the joins of two keyed streams:
//
//   - the interval join (Flink's KeyedStream.intervalJoin): IntervalJoin,
//     then Between (and optionally LowerBoundExclusive, UpperBoundExclusive,
//     SideOutputLeftLateData, SideOutputRightLateData), then IntervalJoinProcess
//     or IntervalJoinApply;
//   - the window join and coGroup (Flink's stream.join(other) and
//     stream.coGroup(other) with where/equalTo/window): CoWindow, then
//     optionally Trigger, Evictor and AllowedLateness, then WindowJoin,
//     WindowFlatJoin or WindowCoGroup.
//
// Both sides are keyed with KeyBy, each by its own key function returning the
// same key type; elements of the two sides join when their keys are equal.

// ---------------------------------------------------------------------------
// Interval join

// IntervalJoinBuilder is an interval join of two keyed streams being
// configured (Flink's IntervalJoin and IntervalJoined). Set the bounds with
// Between, then build the join with IntervalJoinProcess or
// IntervalJoinApply. Its methods change and return the builder.
type IntervalJoinBuilder[A, B any, K comparable] struct {
	left      *KeyedStream[A, K]
	right     *KeyedStream[B, K]
	bounded   bool
	lower     time.Duration
	upper     time.Duration
	lowerExcl bool
	upperExcl bool
	leftLate  string
	rightLate string
}

// IntervalJoin joins the elements of two keyed streams of the same key type
// whose timestamps lie within an interval of each other (Flink's
// KeyedStream.intervalJoin): a left element a and a right element b of the
// same key join when
//
//	a.ts + lower <= b.ts <= a.ts + upper
//
// with lower and upper set by Between. The join is an inner join in event
// time: every element must carry a timestamp (an element without one fails
// the job with ErrNoTimestamp), and elements older than the operator's
// watermark when they arrive are late and dropped (or sent to the side
// outputs SideOutputLeftLateData and SideOutputRightLateData name).
func IntervalJoin[A, B any, K comparable](left *KeyedStream[A, K], right *KeyedStream[B, K]) *IntervalJoinBuilder[A, B, K] {
	return &IntervalJoinBuilder[A, B, K]{left: left, right: right}
}

// Between sets the interval relative to each left element's timestamp in
// which right elements join it: [a.ts + lower, a.ts + upper], both bounds
// inclusive unless LowerBoundExclusive or UpperBoundExclusive says
// otherwise. Either bound may be negative. lower must not be greater than
// upper ("lowerBound <= upperBound must be fulfilled", as in Flink) and both
// must be whole milliseconds; otherwise the job fails to build with
// ErrInvalidProgram naming the operator.
func (j *IntervalJoinBuilder[A, B, K]) Between(lower, upper time.Duration) *IntervalJoinBuilder[A, B, K] {
	j.bounded, j.lower, j.upper = true, lower, upper
	return j
}

// LowerBoundExclusive excludes the lower bound: right elements join when
// a.ts + lower < b.ts (the bound moves up by one millisecond, as in Flink).
func (j *IntervalJoinBuilder[A, B, K]) LowerBoundExclusive() *IntervalJoinBuilder[A, B, K] {
	j.lowerExcl = true
	return j
}

// UpperBoundExclusive excludes the upper bound: right elements join when
// b.ts < a.ts + upper (the bound moves down by one millisecond, as in Flink).
func (j *IntervalJoinBuilder[A, B, K]) UpperBoundExclusive() *IntervalJoinBuilder[A, B, K] {
	j.upperExcl = true
	return j
}

// SideOutputLeftLateData sends left elements that arrive late (their
// timestamp below the operator's watermark) to the side output tag instead
// of dropping them; read it with SideOutput on the join's result.
func (j *IntervalJoinBuilder[A, B, K]) SideOutputLeftLateData(tag OutputTag[A]) *IntervalJoinBuilder[A, B, K] {
	if tag.id == "" {
		j.left.s.env.fail(fmt.Errorf("%w: IntervalJoin: SideOutputLeftLateData: %w", ErrInvalidProgram, ErrZeroOutputTag))
	}
	j.leftLate = tag.id
	return j
}

// SideOutputRightLateData is SideOutputLeftLateData for right elements.
func (j *IntervalJoinBuilder[A, B, K]) SideOutputRightLateData(tag OutputTag[B]) *IntervalJoinBuilder[A, B, K] {
	if tag.id == "" {
		j.left.s.env.fail(fmt.Errorf("%w: IntervalJoin: SideOutputRightLateData: %w", ErrInvalidProgram, ErrZeroOutputTag))
	}
	j.rightLate = tag.id
	return j
}

// bounds checks the interval and returns it in milliseconds, both bounds
// inclusive.
func (j *IntervalJoinBuilder[A, B, K]) bounds() (lower, upper int64, err error) {
	if !j.bounded {
		return 0, 0, errors.New("interval join: the bounds are not set; call Between")
	}
	if j.lower%time.Millisecond != 0 || j.upper%time.Millisecond != 0 {
		return 0, 0, fmt.Errorf("interval join: the bounds must be whole milliseconds, got lower bound %s and upper bound %s", j.lower, j.upper)
	}
	if j.lower > j.upper {
		return 0, 0, fmt.Errorf("interval join: lowerBound <= upperBound must be fulfilled, got lower bound %s > upper bound %s", j.lower, j.upper)
	}
	lower, upper = j.lower.Milliseconds(), j.upper.Milliseconds()
	if j.lowerExcl {
		lower++
	}
	if j.upperExcl {
		upper--
	}
	return lower, upper, nil
}

// JoinContext is the context of a ProcessJoinFunction call (Flink's
// ProcessJoinFunction.Context): the timestamps of the two joined elements,
// the time, and side outputs. Its Timestamp is the result's timestamp, the
// larger of the two, which values emitted to the collector and with Output
// carry. Join functions cannot set timers.
type JoinContext struct {
	Context
	left, right int64
}

// LeftTimestamp is the timestamp of the left element of the pair.
func (c *JoinContext) LeftTimestamp() int64 { return c.left }

// RightTimestamp is the timestamp of the right element of the pair.
func (c *JoinContext) RightTimestamp() int64 { return c.right }

// ProcessJoinFunction handles each joined pair of an interval join with its
// context and can emit any number of values and side outputs (Flink's
// ProcessJoinFunction). Embed BaseFunction for Open and Close, or pass a
// function literal to ProcessJoinFunc.
type ProcessJoinFunction[A, B, OUT any] interface {
	Lifecycle
	ProcessElement(ctx *JoinContext, left A, right B, out Collector[OUT]) error
}

// ProcessJoinFunc makes a ProcessJoinFunction of f; Go infers the types
// from f.
func ProcessJoinFunc[A, B, OUT any](f func(ctx *JoinContext, left A, right B, out Collector[OUT]) error) ProcessJoinFunction[A, B, OUT] {
	return processJoinFunc[A, B, OUT]{f: f}
}

type processJoinFunc[A, B, OUT any] struct {
	BaseFunction
	f func(ctx *JoinContext, left A, right B, out Collector[OUT]) error
}

func (p processJoinFunc[A, B, OUT]) ProcessElement(ctx *JoinContext, left A, right B, out Collector[OUT]) error {
	return p.f(ctx, left, right, out)
}

// IntervalJoinProcess runs the interval join j, calling fn for every pair
// that joins. Results are timestamped with the larger of the pair's two
// timestamps. The operator's watermark is the minimum of its two inputs'.
func IntervalJoinProcess[A, B any, K comparable, OUT any](j *IntervalJoinBuilder[A, B, K], fn ProcessJoinFunction[A, B, OUT]) *Stream[OUT] {
	cfg := *j
	validate := func() error {
		if fn == nil {
			return errors.New("interval join: the join function is nil")
		}
		_, _, err := cfg.bounds()
		return err
	}
	s := newKeyedTwoInput[A, B, K, OUT](j.left, j.right, "IntervalJoin", func() (operator.Operator, error) {
		if err := validate(); err != nil {
			return nil, err
		}
		lower, upper, _ := cfg.bounds()
		return &intervalJoinOp[A, B, K, OUT]{
			keyA: cfg.left.key, keyB: cfg.right.key, lower: lower, upper: upper, fn: fn,
			leftLate: cfg.leftLate, rightLate: cfg.rightLate,
		}, nil
	})
	n := s.node
	n.Validate = validate
	checkHooksOn(n, fn)
	addSide := func(id string, typ graph.Type) {
		if id == "" {
			return
		}
		if n.Side == nil {
			n.Side = map[string]graph.Type{}
		}
		if old, ok := n.Side[id]; ok && old != typ {
			s.env.fail(fmt.Errorf("%w: operator %q: side output %q is used with types %s and %s", ErrInvalidProgram, n.Name, id, old, typ))
			return
		}
		n.Side[id] = typ
	}
	addSide(cfg.leftLate, graph.TypeOf[A]())
	addSide(cfg.rightLate, graph.TypeOf[B]())
	return s
}

// IntervalJoinApply runs the interval join j, emitting fn(left, right) for
// every pair that joins, timestamped with the larger of the two timestamps.
func IntervalJoinApply[A, B any, K comparable, OUT any](j *IntervalJoinBuilder[A, B, K], fn func(left A, right B) OUT) *Stream[OUT] {
	var pf ProcessJoinFunction[A, B, OUT]
	if fn != nil {
		pf = ProcessJoinFunc[A, B, OUT](func(_ *JoinContext, l A, r B, out Collector[OUT]) error {
			out.Collect(fn(l, r))
			return nil
		})
	}
	return IntervalJoinProcess(j, pf)
}

// newKeyedTwoInput adds a keyed operator reading two keyed streams; each
// side reaches it partitioned into key groups by its own key function.
func newKeyedTwoInput[A, B any, K comparable, OUT any](a *KeyedStream[A, K], b *KeyedStream[B, K], name string, newOp func() (operator.Operator, error)) *Stream[OUT] {
	s := newTwoInput[A, B, OUT](Connect(a.s, b.s), name, newOp)
	s.node.Keyed = true
	return s
}

// twoWatermarks combines the watermarks of a two-input operator's inputs.
type twoWatermarks = operator.TwoWatermarks

func newTwoWatermarks() twoWatermarks { return operator.NewTwoWatermarks() }

// joinBuffer is one side's buffered elements in keyed state: per key and
// timestamp the elements in arrival order, plus per key the timestamps that
// have elements in a B-tree, so adding a timestamp, finding the range a
// join needs and dropping the oldest take O(log n) in the number of
// timestamps buffered for the key.
type joinBuffer[K comparable, T any] struct {
	buckets statebackend.Table[K, int64, []T]
	times   statebackend.Table[K, struct{}, *btree.BTreeG[int64]]
	free    *btree.FreeListG[int64] // nodes shared by the key's trees
	// inPlace: the backend holds the trees themselves, so a tree changed
	// in place needs no Put.
	inPlace bool

	// The state of the current between call, so that its iterator, made
	// once, is not a closure allocated per call.
	scan struct {
		key K
		hi  int64
		fn  func(ts int64, v T) error
		err error
	}
	visit btree.ItemIteratorG[int64]
}

// joinTreeDegree is the degree of the timestamp B-trees: nodes hold up to
// 2×16-1 timestamps.
const joinTreeDegree = 16

func newJoinBuffer[K comparable, T any](b statebackend.Backend, name string) (*joinBuffer[K, T], error) {
	j := &joinBuffer[K, T]{free: btree.NewFreeListG[int64](btree.DefaultFreeListSize), inPlace: statebackend.ValuesInPlace(b)}
	j.visit = j.visitTime
	var err error
	if j.buckets, err = statebackend.NewTable[K, int64, []T](b, name); err != nil {
		return j, err
	}
	j.times, err = statebackend.NewTable[K, struct{}, *btree.BTreeG[int64]](b, name+"/timestamps",
		statebackend.WithCodec[*btree.BTreeG[int64]](joinTimesCodec{free: j.free}))
	return j, err
}

func (j *joinBuffer[K, T]) add(k K, ts int64, v T) {
	vs, existed := j.buckets.Ref(k, ts)
	*vs = append(*vs, v)
	if existed {
		return
	}
	t, _ := j.times.Ref(k, struct{}{})
	if *t == nil {
		*t = btree.NewWithFreeListG(joinTreeDegree, cmp.Less[int64], j.free)
	}
	(*t).ReplaceOrInsert(ts)
}

// between calls fn for every element of key k with a timestamp in
// [lo, hi], in timestamp order, then arrival order.
func (j *joinBuffer[K, T]) between(k K, lo, hi int64, fn func(ts int64, v T) error) error {
	if lo > hi {
		return nil
	}
	t, _ := j.times.Get(k, struct{}{})
	if t == nil {
		return nil
	}
	j.scan.key, j.scan.hi, j.scan.fn, j.scan.err = k, hi, fn, nil
	t.AscendGreaterOrEqual(lo, j.visit)
	err := j.scan.err
	var zero K
	j.scan.key, j.scan.fn, j.scan.err = zero, nil, nil
	return err
}

// visitTime is between's iterator: it calls the scan's function for the
// elements of timestamp ts, and stops after hi or at an error.
func (j *joinBuffer[K, T]) visitTime(ts int64) bool {
	if ts > j.scan.hi {
		return false
	}
	vs, _ := j.buckets.Get(j.scan.key, ts)
	for _, v := range vs {
		if err := j.scan.fn(ts, v); err != nil {
			j.scan.err = err
			return false
		}
	}
	return true
}

// remove drops the elements of key k with timestamp ts.
func (j *joinBuffer[K, T]) remove(k K, ts int64) {
	if _, ok := j.buckets.Get(k, ts); !ok {
		return
	}
	j.buckets.Delete(k, ts)
	t, _ := j.times.Get(k, struct{}{})
	if t == nil {
		return
	}
	t.Delete(ts)
	if t.Len() == 0 {
		t.Clear(true)
		j.times.Delete(k, struct{}{})
	} else if !j.inPlace {
		j.times.Put(k, struct{}{}, t) // a backend of copies keeps bytes
	}
}

// joinCleanup is the namespace of a cleanup timer: which side's buffer and
// which timestamp's elements it removes.
type joinCleanup struct {
	// Exported for the timer queue's codec.
	Right bool
	TS    int64
}

// addSat adds without overflowing.
func addSat(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
}

// intervalJoinOp is Flink's IntervalJoinOperator: each side's elements are
// buffered in keyed state; every arriving element is joined with the other
// side's buffered elements within the bounds and buffered itself until the
// watermark passes the last time an element of the other side could join
// it (left elements until ts + upper, right ones until ts - lower, never
// before their own timestamp), when an event-time timer removes them.
// Elements below the watermark on arrival are late and not joined.
//
// It does not embed operator.Base: a promoted ProcessWatermark would make
// the runtime bypass the two-input watermark combination.
type intervalJoinOp[A, B any, K comparable, OUT any] struct {
	base         operator.Base[OUT]
	keyA         func(A) K
	keyB         func(B) K
	lower, upper int64 // inclusive, in milliseconds
	fn           ProcessJoinFunction[A, B, OUT]

	left   *joinBuffer[K, A]
	right  *joinBuffer[K, B]
	timers *operator.TimerService[K, joinCleanup]
	wm     twoWatermarks

	leftLate, rightLate string
	lateA               operator.Output[A]
	lateB               operator.Output[B]
	ctx                 JoinContext
	emit                operator.Emitter[OUT]
}

func (o *intervalJoinOp[A, B, K, OUT]) Setup(main any, side map[string]any) error {
	return o.base.Setup(main, side)
}

func (o *intervalJoinOp[A, B, K, OUT]) Open(c *operator.Context) error {
	_ = o.base.Open(c)
	b := c.StateBackend()
	var err error
	if o.left, err = newJoinBuffer[K, A](b, "left-buffer"); err != nil {
		return err
	}
	if o.right, err = newJoinBuffer[K, B](b, "right-buffer"); err != nil {
		return err
	}
	if o.timers, err = operator.NewTimerService(b, "interval-join-timers", c.Timers, o.onTimer); err != nil {
		return err
	}
	o.wm = newTwoWatermarks()
	if o.leftLate != "" {
		o.lateA = operator.SideOutput[A](o.base.Side, o.leftLate)
	}
	if o.rightLate != "" {
		o.lateB = operator.SideOutput[B](o.base.Side, o.rightLate)
	}
	o.ctx = JoinContext{Context: Context{rc: RuntimeContext{c: c}, sides: o.base.Side, timers: joinTimers{o.timers.Now, o.timers.Watermark, c.Fail}}}
	o.emit.Out = o.base.Out
	return openFn(o.fn, c)
}

func (o *intervalJoinOp[A, B, K, OUT]) Finish() error { return o.base.Finish() }

func (o *intervalJoinOp[A, B, K, OUT]) Close() error { return o.fn.Close() }

func (o *intervalJoinOp[A, B, K, OUT]) ProcessElement1(r operator.Record[A]) error {
	ts := r.Timestamp
	if ts == operator.NoTimestamp {
		return errNoTimestamp("the interval join")
	}
	if ts < o.timers.Watermark() {
		if o.lateA != nil {
			o.lateA.Collect(r)
		}
		return nil
	}
	key := o.keyA(r.Value)
	o.left.add(key, ts, r.Value)
	err := o.right.between(key, addSat(ts, o.lower), addSat(ts, o.upper), func(rts int64, v B) error {
		return o.collect(r.Value, v, ts, rts)
	})
	if err != nil {
		return err
	}
	cleanup := ts
	if o.upper > 0 {
		cleanup = addSat(ts, o.upper)
	}
	o.timers.RegisterEventTimer(key, joinCleanup{TS: ts}, cleanup)
	return nil
}

func (o *intervalJoinOp[A, B, K, OUT]) ProcessElement2(r operator.Record[B]) error {
	ts := r.Timestamp
	if ts == operator.NoTimestamp {
		return errNoTimestamp("the interval join")
	}
	if ts < o.timers.Watermark() {
		if o.lateB != nil {
			o.lateB.Collect(r)
		}
		return nil
	}
	key := o.keyB(r.Value)
	o.right.add(key, ts, r.Value)
	// a joins b when a.ts ∈ [b.ts - upper, b.ts - lower].
	err := o.left.between(key, addSat(ts, -o.upper), addSat(ts, -o.lower), func(lts int64, v A) error {
		return o.collect(v, r.Value, lts, ts)
	})
	if err != nil {
		return err
	}
	cleanup := ts
	if o.lower < 0 {
		cleanup = addSat(ts, -o.lower)
	}
	o.timers.RegisterEventTimer(key, joinCleanup{Right: true, TS: ts}, cleanup)
	return nil
}

func (o *intervalJoinOp[A, B, K, OUT]) collect(l A, r B, lts, rts int64) error {
	ts := max(lts, rts)
	o.ctx.left, o.ctx.right, o.ctx.rec = lts, rts, ts
	o.emit.Timestamp = ts
	return o.fn.ProcessElement(&o.ctx, l, r, &o.emit)
}

func (o *intervalJoinOp[A, B, K, OUT]) onTimer(d operator.TimeDomain, t statebackend.Timer[K, joinCleanup]) error {
	if d != operator.EventTime {
		return nil
	}
	if t.Namespace.Right {
		o.right.remove(t.Key, t.Namespace.TS)
	} else {
		o.left.remove(t.Key, t.Namespace.TS)
	}
	return nil
}

func (o *intervalJoinOp[A, B, K, OUT]) ProcessWatermark1(wm int64) error { return o.watermark(1, wm) }
func (o *intervalJoinOp[A, B, K, OUT]) ProcessWatermark2(wm int64) error { return o.watermark(2, wm) }

// ProcessInputStatus implements operator.InputStatus: an idle input no
// longer holds the operator's event time back.
func (o *intervalJoinOp[A, B, K, OUT]) ProcessInputStatus(input int, idle bool) error {
	o.wm.SetIdle(input, idle)
	return o.watermark(input, math.MinInt64)
}

func (o *intervalJoinOp[A, B, K, OUT]) watermark(input int, wm int64) error {
	m, ok := o.wm.Advance(input, wm)
	if !ok {
		return nil
	}
	if err := o.timers.AdvanceWatermark(m); err != nil {
		return err
	}
	return o.base.ProcessWatermark(m)
}

// joinTimers is the TimerService of join functions: they see the time but
// cannot set timers.
type joinTimers struct {
	now, watermark func() int64
	fail           func(error)
}

func (t joinTimers) CurrentProcessingTime() int64      { return t.now() }
func (t joinTimers) CurrentWatermark() int64           { return t.watermark() }
func (t joinTimers) RegisterEventTimeTimer(int64)      { t.fail(errJoinTimers) }
func (t joinTimers) RegisterProcessingTimeTimer(int64) { t.fail(errJoinTimers) }
func (t joinTimers) DeleteEventTimeTimer(int64)        { t.fail(errJoinTimers) }
func (t joinTimers) DeleteProcessingTimeTimer(int64)   { t.fail(errJoinTimers) }

var errJoinTimers = errors.New("freshet: join functions cannot set timers")

// ---------------------------------------------------------------------------
// Window join and coGroup

// Either is an element of one of two streams: the left one (IsRight false,
// the value in Left) or the right one (IsRight true, the value in Right).
// The window join tags both inputs with it and windows them together, so it
// is the element type of a window join's assigner, trigger and evictor
// (Flink's TaggedUnion), for example
// window.TumblingEventTime[freshet.Either[Order, Payment]](time.Minute, 0).
type Either[A, B any] struct {
	Left    A
	Right   B
	IsRight bool
}

// IsLeft reports whether e holds a left element.
func (e Either[A, B]) IsLeft() bool { return !e.IsRight }

// CoWindowedStreams are two keyed streams of the same key type windowed
// together (Flink's JoinedStreams.WithWindow and CoGroupedStreams.WithWindow):
// both sides' elements of a key are assigned to the same windows, and when a
// window fires its left and right elements are joined (WindowJoin,
// WindowFlatJoin) or handed over together (WindowCoGroup). Configure it with
// Trigger, Evictor and AllowedLateness; its methods change and return it.
type CoWindowedStreams[A, B any, K comparable, W window.Window] struct {
	left  *KeyedStream[A, K]
	right *KeyedStream[B, K]
	w     *WindowedStream[Either[A, B], K, W]
}

// CoWindow windows two keyed streams together by their common key: each
// side's elements are tagged as Either, keyed by the side's key function
// and assigned to windows by assigner (tumbling, sliding, session or global
// windows, in event or processing time), as Flink implements its window
// join and coGroup.
func CoWindow[A, B any, K comparable, W window.Window](left *KeyedStream[A, K], right *KeyedStream[B, K], assigner window.Assigner[Either[A, B], W]) *CoWindowedStreams[A, B, K, W] {
	if left.s.env != right.s.env {
		left.s.env.fail(errDifferentEnvs("CoWindow"))
	}
	keyA, keyB := left.key, right.key
	key := func(e Either[A, B]) K {
		if e.IsRight {
			return keyB(e.Right)
		}
		return keyA(e.Left)
	}
	// The windowed stream only records the configuration; the operator
	// reads the two keyed streams directly.
	tagged := &Stream[Either[A, B]]{env: left.s.env}
	return &CoWindowedStreams[A, B, K, W]{left: left, right: right, w: newWindowed(tagged, key, false, assigner)}
}

// Trigger replaces the assigner's default trigger.
func (c *CoWindowedStreams[A, B, K, W]) Trigger(t window.Trigger[Either[A, B], W]) *CoWindowedStreams[A, B, K, W] {
	c.w.Trigger(t)
	return c
}

// Evictor removes elements from a window before and/or after the join
// function runs.
func (c *CoWindowedStreams[A, B, K, W]) Evictor(e window.Evictor[Either[A, B], W]) *CoWindowedStreams[A, B, K, W] {
	c.w.Evictor(e)
	return c
}

// AllowedLateness keeps event-time windows for d after their end: a late
// element within it is added and fires the window again (emitting the join
// of the whole window once more); later ones are dropped. Default 0.
func (c *CoWindowedStreams[A, B, K, W]) AllowedLateness(d time.Duration) *CoWindowedStreams[A, B, K, W] {
	c.w.AllowedLateness(d)
	return c
}

// WindowJoin emits, for every window that fires, fn(a, b) for each pair of
// a left element a and a right element b of the window (Flink's window join
// with a JoinFunction): an inner join, so a window with elements of only one
// side emits nothing. Pairs come in the order left elements arrived, then
// right ones; results are timestamped with the window's max timestamp.
func WindowJoin[A, B any, K comparable, W window.Window, OUT any](c *CoWindowedStreams[A, B, K, W], fn func(left A, right B) OUT) *Stream[OUT] {
	var cg func([]A, []B, Collector[OUT]) error
	if fn != nil {
		cg = func(ls []A, rs []B, out Collector[OUT]) error {
			for _, l := range ls {
				for _, r := range rs {
					out.Collect(fn(l, r))
				}
			}
			return nil
		}
	}
	return addCoWindowOp(c, "WindowJoin", cg)
}

// WindowFlatJoin is WindowJoin where fn emits any number of values per pair
// (Flink's FlatJoinFunction). An error from fn fails the job.
func WindowFlatJoin[A, B any, K comparable, W window.Window, OUT any](c *CoWindowedStreams[A, B, K, W], fn func(left A, right B, out Collector[OUT]) error) *Stream[OUT] {
	var cg func([]A, []B, Collector[OUT]) error
	if fn != nil {
		cg = func(ls []A, rs []B, out Collector[OUT]) error {
			for _, l := range ls {
				for _, r := range rs {
					if err := fn(l, r, out); err != nil {
						return err
					}
				}
			}
			return nil
		}
	}
	return addCoWindowOp(c, "WindowFlatJoin", cg)
}

// WindowCoGroup calls fn once for every window that fires, with the
// window's left and right elements in arrival order (Flink's coGroup with a
// CoGroupFunction). One of the two may be empty: a window with elements of
// only one side is still evaluated. fn may keep the slices. Results are
// timestamped with the window's max timestamp; an error from fn fails the
// job.
func WindowCoGroup[A, B any, K comparable, W window.Window, OUT any](c *CoWindowedStreams[A, B, K, W], fn func(left []A, right []B, out Collector[OUT]) error) *Stream[OUT] {
	return addCoWindowOp(c, "WindowCoGroup", fn)
}

func addCoWindowOp[A, B any, K comparable, W window.Window, OUT any](c *CoWindowedStreams[A, B, K, W], name string, fn func([]A, []B, Collector[OUT]) error) *Stream[OUT] {
	if fn == nil {
		c.left.s.env.fail(fmt.Errorf("%w: %s: the join function is nil", ErrInvalidProgram, name))
	}
	ws := *c.w
	wfn := coGroupWindowFn[A, B, K, W, OUT]{fn: fn}
	s := newKeyedTwoInput[A, B, K, OUT](c.left, c.right, name, func() (operator.Operator, error) {
		return &coWindowOp[A, B, K, W, OUT]{w: &windowOp[Either[A, B], K, W, []Either[A, B], Either[A, B], OUT]{
			cfg: ws, fn: wfn,
			f: windowFuncs[Either[A, B], []Either[A, B]]{
				add:   func(acc []Either[A, B], _ bool, v Either[A, B]) []Either[A, B] { return append(acc, v) },
				merge: func(a, b []Either[A, B]) []Either[A, B] { return append(a, b...) },
				value: func(acc []Either[A, B]) []Either[A, B] { return acc },
			},
		}}, nil
	})
	s.node.Validate = ws.validate
	return s
}

// coGroupWindowFn is the window function of a window join or coGroup: it
// splits a window's tagged elements into the two sides.
type coGroupWindowFn[A, B any, K comparable, W window.Window, OUT any] struct {
	BaseWindowFunction[K, W]
	fn func([]A, []B, Collector[OUT]) error
}

func (f coGroupWindowFn[A, B, K, W, OUT]) Process(_ *WindowContext[K, W], elements []Either[A, B], out Collector[OUT]) error {
	var ls []A
	var rs []B
	for _, e := range elements {
		if e.IsRight {
			rs = append(rs, e.Right)
		} else {
			ls = append(ls, e.Left)
		}
	}
	return f.fn(ls, rs, out)
}

// coWindowOp feeds both inputs, tagged, into one window operator over
// Either[A, B], with the minimum of the two inputs' watermarks. It holds the
// window operator in a field rather than embedding it, so the runtime sees
// only the two-input methods.
type coWindowOp[A, B any, K comparable, W window.Window, OUT any] struct {
	w  *windowOp[Either[A, B], K, W, []Either[A, B], Either[A, B], OUT]
	wm twoWatermarks
}

func (o *coWindowOp[A, B, K, W, OUT]) Setup(main any, side map[string]any) error {
	return o.w.Setup(main, side)
}

func (o *coWindowOp[A, B, K, W, OUT]) Open(c *operator.Context) error {
	o.wm = newTwoWatermarks()
	return o.w.Open(c)
}

func (o *coWindowOp[A, B, K, W, OUT]) Finish() error { return o.w.Finish() }
func (o *coWindowOp[A, B, K, W, OUT]) Close() error  { return o.w.Close() }

func (o *coWindowOp[A, B, K, W, OUT]) ProcessElement1(r operator.Record[A]) error {
	return o.w.ProcessElement(operator.Record[Either[A, B]]{Value: Either[A, B]{Left: r.Value}, Timestamp: r.Timestamp})
}

func (o *coWindowOp[A, B, K, W, OUT]) ProcessElement2(r operator.Record[B]) error {
	return o.w.ProcessElement(operator.Record[Either[A, B]]{Value: Either[A, B]{Right: r.Value, IsRight: true}, Timestamp: r.Timestamp})
}

func (o *coWindowOp[A, B, K, W, OUT]) ProcessWatermark1(wm int64) error { return o.watermark(1, wm) }
func (o *coWindowOp[A, B, K, W, OUT]) ProcessWatermark2(wm int64) error { return o.watermark(2, wm) }

// ProcessInputStatus implements operator.InputStatus: an idle input no
// longer holds the operator's event time back.
func (o *coWindowOp[A, B, K, W, OUT]) ProcessInputStatus(input int, idle bool) error {
	o.wm.SetIdle(input, idle)
	return o.watermark(input, math.MinInt64)
}

func (o *coWindowOp[A, B, K, W, OUT]) watermark(input int, wm int64) error {
	if m, ok := o.wm.Advance(input, wm); ok {
		return o.w.ProcessWatermark(m)
	}
	return nil
}
