package window

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCleanupAndLateness(t *testing.T) {
	w := tw(0, 10)
	cleanup := []struct {
		name      string
		lateness  int64
		eventTime bool
		want      int64
	}{
		{"event, no lateness", 0, true, 9},
		{"event, lateness 5", 5, true, 14},
		{"processing ignores lateness", 5, false, 9},
	}
	for _, c := range cleanup {
		if got := CleanupTime(w, c.lateness, c.eventTime); got != c.want {
			t.Errorf("%s: CleanupTime = %d, want %d", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		lateness  int64
		eventTime bool
	}{{0, true}, {5, true}, {5, false}} {
		if got := CleanupTime(GlobalWindow{}, c.lateness, c.eventTime); got != math.MaxInt64 {
			t.Errorf("global window, lateness %d, event %v: CleanupTime = %d", c.lateness, c.eventTime, got)
		}
	}
	if got := CleanupTime(tw(0, math.MaxInt64), 10, true); got != math.MaxInt64 {
		t.Errorf("near-max window: CleanupTime = %d, want saturation", got)
	}

	late := []struct {
		lateness, wm int64
		eventTime    bool
		want         bool
	}{
		{0, 8, true, false},
		{0, 9, true, true},
		{5, 13, true, false},
		{5, 14, true, true},
		{0, 100, false, false}, // processing-time windows are never late
		{0, math.MinInt64, true, false},
	}
	for _, c := range late {
		if got := IsWindowLate(w, c.lateness, c.eventTime, c.wm); got != c.want {
			t.Errorf("IsWindowLate(%v, lateness %d, event %v, wm %d) = %v", w, c.lateness, c.eventTime, c.wm, got)
		}
	}
	if IsWindowLate(GlobalWindow{}, 0, true, math.MaxInt64-1) {
		t.Error("global window late")
	}

	elem := []struct {
		ts, lateness, wm int64
		eventTime        bool
		want             bool
	}{
		{5, 0, 5, true, true},
		{5, 0, 4, true, false},
		{5, 3, 8, true, true},
		{5, 3, 7, true, false},
		{5, 0, 100, false, false},
		{math.MaxInt64, 10, math.MaxInt64 - 1, true, false}, // saturates
		{NoTimestamp, 10, math.MinInt64, true, false},
	}
	for _, c := range elem {
		if got := IsElementLate(c.ts, c.lateness, c.eventTime, c.wm); got != c.want {
			t.Errorf("IsElementLate(%d, %d, %v, %d) = %v", c.ts, c.lateness, c.eventTime, c.wm, got)
		}
	}
}

func TestCheckTrigger(t *testing.T) {
	ses := Must(EventTimeSession[int](time.Second))
	tum := Must(TumblingEventTime[int](time.Second, 0))
	if err := CheckTrigger[int, TimeWindow](ses, EventTimeTrigger[int, TimeWindow]()); err != nil {
		t.Errorf("session + event time trigger: %v", err)
	}
	if err := CheckTrigger[int, TimeWindow](ses, PurgingTrigger(CountTrigger[int, TimeWindow](3))); err != nil {
		t.Errorf("session + purging count: %v", err)
	}
	err := CheckTrigger[int, TimeWindow](ses, NeverTrigger[int, TimeWindow]())
	if !errors.Is(err, ErrInvalidWindow) || err.Error() != "window: invalid window specification: a merging window assigner cannot be used with a trigger that does not support merging" {
		t.Errorf("session + never: %v", err)
	}
	if err := CheckTrigger[int, TimeWindow](tum, NeverTrigger[int, TimeWindow]()); err != nil {
		t.Errorf("tumbling + never: %v", err)
	}
	g := Global[int]()
	if err := CheckTrigger(g, g.DefaultTrigger()); err != nil {
		t.Errorf("global default: %v", err)
	}
}

func TestCountWindows(t *testing.T) {
	w := GlobalWindow{}
	tum := mustCount(CountTumbling[int](3))
	if tum.Evictor != nil || tum.Assigner == nil {
		t.Fatalf("CountTumbling = %+v", tum)
	}
	c := newFakeCtx(w)
	var got []TriggerResult
	for i := range 6 {
		got = append(got, tum.Trigger.OnElement(i, 0, w, c))
	}
	if want := []TriggerResult{Continue, Continue, FireAndPurge, Continue, Continue, FireAndPurge}; !slices.Equal(got, want) {
		t.Errorf("tumbling count results %v, want %v", got, want)
	}

	sl := mustCount(CountSliding[int](4, 2))
	c = newFakeCtx(w)
	got = nil
	for i := range 6 {
		got = append(got, sl.Trigger.OnElement(i, 0, w, c))
	}
	if want := []TriggerResult{Continue, Fire, Continue, Fire, Continue, Fire}; !slices.Equal(got, want) {
		t.Errorf("sliding count results %v, want %v", got, want)
	}
	ints := func() []TimestampedValue[int] {
		var el []TimestampedValue[int]
		for v := 1; v <= 6; v++ {
			el = append(el, TimestampedValue[int]{Value: v})
		}
		return el
	}
	if kept := values64(sl.Evictor.EvictBefore(ints(), w, c)); !slices.Equal(kept, []int{3, 4, 5, 6}) {
		t.Errorf("sliding count evictor kept %v", kept)
	}
	if kept := values64(sl.Evictor.EvictAfter(ints(), w, c)); len(kept) != 6 {
		t.Errorf("sliding count evictor evicts after: %v", kept)
	}
}

// simOp is a minimal single-key window operator written from the package
// documentation, used to check that the pieces fit together as described.
type simOp[W Window] struct {
	assigner Assigner[int, W]
	merger   MergingAssigner[int, W]
	trigger  Trigger[int, W]
	evictor  Evictor[int, W]
	lateness int64

	ctx      *fakeCtx[W]
	set      *MergingWindowSet[W]
	contents map[W][]TimestampedValue[int]
	buf      []W
	emitted  []string
	late     []int
}

func newSimOp[W Window](a Assigner[int, W], tr Trigger[int, W], ev Evictor[int, W], lateness int64) *simOp[W] {
	var zero W
	op := &simOp[W]{assigner: a, trigger: tr, evictor: ev, lateness: lateness,
		ctx: newFakeCtx(zero), contents: map[W][]TimestampedValue[int]{}}
	if tr == nil {
		op.trigger = a.DefaultTrigger()
	}
	if m, ok := a.(MergingAssigner[int, W]); ok {
		op.merger = m
		op.set = NewMergingWindowSet[W](m)
	}
	return op
}

func (op *simOp[W]) eventTime() bool { return op.assigner.IsEventTime() }

func (op *simOp[W]) registerCleanup(w W) {
	ct := CleanupTime(w, op.lateness, op.eventTime())
	if ct == math.MaxInt64 {
		return
	}
	op.ctx.at(w)
	if op.eventTime() {
		op.ctx.RegisterEventTimeTimer(ct)
	} else {
		op.ctx.RegisterProcessingTimeTimer(ct)
	}
}

func (op *simOp[W]) deleteCleanup(w W) {
	ct := CleanupTime(w, op.lateness, op.eventTime())
	op.ctx.at(w)
	if op.eventTime() {
		op.ctx.DeleteEventTimeTimer(ct)
	} else {
		op.ctx.DeleteProcessingTimeTimer(ct)
	}
}

func (op *simOp[W]) stateWindow(w W) W {
	if op.set == nil {
		return w
	}
	sw, _ := op.set.StateWindow(w)
	return sw
}

func (op *simOp[W]) element(t *testing.T, v int, ts int64) {
	t.Helper()
	c := op.ctx
	ws, err := op.assigner.AssignWindows(op.buf[:0], v, ts, c.now)
	if err != nil {
		t.Fatal(err)
	}
	op.buf = ws
	skipped := true
	for _, w := range ws {
		if op.set != nil {
			actual, err := op.set.AddWindow(w, func(result W, merged []W, stateResult W, mergedStates []W) error {
				if IsWindowLate(result, op.lateness, op.eventTime(), c.wm) {
					return fmt.Errorf("merged window %v is late", result)
				}
				c.at(result).merged = merged
				op.trigger.OnMerge(result, c)
				c.merged = nil
				for _, m := range merged {
					op.trigger.Clear(m, c.at(m))
					op.deleteCleanup(m)
				}
				for _, ms := range mergedStates {
					op.contents[stateResult] = append(op.contents[stateResult], op.contents[ms]...)
					delete(op.contents, ms)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if IsWindowLate(actual, op.lateness, op.eventTime(), c.wm) {
				if err := op.set.RetireWindow(actual); err != nil {
					t.Fatal(err)
				}
				continue
			}
			w = actual
		} else if IsWindowLate(w, op.lateness, op.eventTime(), c.wm) {
			continue
		}
		skipped = false
		sw := op.stateWindow(w)
		op.contents[sw] = append(op.contents[sw], TimestampedValue[int]{Value: v, Timestamp: ts, HasTimestamp: ts != NoTimestamp})
		r := op.trigger.OnElement(v, ts, w, c.at(w))
		op.apply(r, w, sw)
		op.registerCleanup(w)
	}
	if skipped && IsElementLate(ts, op.lateness, op.eventTime(), c.wm) {
		op.late = append(op.late, v)
	}
}

func (op *simOp[W]) apply(r TriggerResult, w, sw W) {
	if r.IsFire() && len(op.contents[sw]) > 0 {
		op.fire(w, sw)
	}
	if r.IsPurge() {
		delete(op.contents, sw)
	}
}

func (op *simOp[W]) fire(w, sw W) {
	el := op.contents[sw]
	if op.evictor != nil {
		el = op.evictor.EvictBefore(el, w, op.ctx)
	}
	vals := make([]string, len(el))
	for i, e := range el {
		vals[i] = fmt.Sprint(e.Value)
	}
	slices.Sort(vals)
	op.emitted = append(op.emitted, fmt.Sprintf("%v:%s", w, strings.Join(vals, ",")))
	if op.evictor != nil {
		el = op.evictor.EvictAfter(el, w, op.ctx)
	}
	op.contents[sw] = el
}

// watermark advances event time to wm and fires due timers in time order.
func (op *simOp[W]) watermark(wm int64) {
	c := op.ctx
	c.wm = wm
	for {
		var next *timerKey[W]
		for k := range c.evTimers {
			if k.t <= wm && (next == nil || k.t < next.t || k.t == next.t && fmt.Sprint(k.w) < fmt.Sprint(next.w)) {
				next = &k
			}
		}
		if next == nil {
			return
		}
		delete(c.evTimers, *next)
		w, t := next.w, next.t
		sw := w
		if op.set != nil {
			var ok bool
			if sw, ok = op.set.StateWindow(w); !ok {
				continue // stale timer
			}
		}
		r := op.trigger.OnEventTime(t, w, c.at(w))
		op.apply(r, w, sw)
		if op.eventTime() && t == CleanupTime(w, op.lateness, true) {
			delete(op.contents, sw)
			op.trigger.Clear(w, c.at(w))
			if op.set != nil {
				op.set.RetireWindow(w)
			}
		}
	}
}

func (op *simOp[W]) check(t *testing.T, what string, emitted ...string) {
	t.Helper()
	if !slices.Equal(op.emitted, emitted) {
		t.Errorf("%s: emitted %q, want %q", what, op.emitted, emitted)
	}
	op.emitted = nil
}

func TestSimulatedTumbling(t *testing.T) {
	op := newSimOp[TimeWindow](Must(TumblingEventTime[int](10*ms, 0)), nil, nil, 0)
	op.element(t, 1, 1)
	op.element(t, 5, 5)
	op.element(t, 12, 12)
	op.watermark(8)
	op.check(t, "wm 8")
	op.watermark(9)
	op.check(t, "wm 9", "[0, 10):1,5")
	if _, ok := op.contents[tw(0, 10)]; ok {
		t.Error("window [0,10) not cleaned up")
	}
	op.element(t, 3, 3) // window already cleaned up: late
	if !slices.Equal(op.late, []int{3}) {
		t.Errorf("late = %v", op.late)
	}
	op.watermark(25)
	op.check(t, "wm 25", "[10, 20):12")
	if len(op.ctx.evTimers) != 0 || len(op.contents) != 0 {
		t.Errorf("left over: timers %v contents %v", op.ctx.evTimers, op.contents)
	}
}

func TestSimulatedAllowedLateness(t *testing.T) {
	op := newSimOp[TimeWindow](Must(TumblingEventTime[int](10*ms, 0)), nil, nil, 5)
	op.element(t, 1, 1)
	op.element(t, 5, 5)
	op.watermark(9)
	op.check(t, "on time", "[0, 10):1,5")
	op.element(t, 7, 7) // late but within lateness: fires again at once
	op.check(t, "late firing", "[0, 10):1,5,7")
	op.watermark(14) // cleanup time 9+5
	op.check(t, "cleanup")
	op.element(t, 8, 8)
	if !slices.Equal(op.late, []int{8}) {
		t.Errorf("late = %v", op.late)
	}
	if len(op.ctx.evTimers) != 0 || len(op.contents) != 0 {
		t.Errorf("left over: timers %v contents %v", op.ctx.evTimers, op.contents)
	}
}

func TestSimulatedSliding(t *testing.T) {
	op := newSimOp[TimeWindow](Must(SlidingEventTime[int](10*ms, 5*ms, 0)), nil, nil, 0)
	for _, ts := range []int64{1, 6, 11} {
		op.element(t, int(ts), ts)
	}
	op.watermark(20)
	op.check(t, "wm 20", "[-5, 5):1", "[0, 10):1,6", "[5, 15):11,6", "[10, 20):11")
}

func TestSimulatedSessions(t *testing.T) {
	op := newSimOp[TimeWindow](Must(EventTimeSession[int](10*ms)), nil, nil, 0)
	op.element(t, 0, 0)   // [0,10)
	op.element(t, 20, 20) // [20,30)
	op.element(t, 40, 40) // [40,50)
	op.element(t, 10, 10) // [10,20) touches both neighbours: [0,30)
	op.element(t, 33, 33) // [33,43) joins [40,50): [33,50)

	inFlight := mapping(op.set)
	want := map[TimeWindow]bool{tw(0, 30): true, tw(33, 50): true}
	for w := range inFlight {
		if !want[w] {
			t.Errorf("unexpected in-flight window %v", w)
		}
	}
	// Only the merged windows' timers remain (the merged-away windows' were
	// deleted by Clear/deleteCleanup).
	for k := range op.ctx.evTimers {
		if !want[k.w] {
			t.Errorf("stale timer %v for merged-away window", k)
		}
	}
	op.watermark(29)
	op.check(t, "wm 29", "[0, 30):0,10,20")
	op.watermark(100)
	op.check(t, "wm 100", "[33, 50):33,40")
	if op.set.Len() != 0 || len(op.contents) != 0 || len(op.ctx.evTimers) != 0 || len(op.ctx.state) != 0 {
		t.Errorf("left over: set %v contents %v timers %v state %v", mapping(op.set), op.contents, op.ctx.evTimers, op.ctx.state)
	}
}

func TestSimulatedSessionsWithCountTrigger(t *testing.T) {
	// A merging count trigger: counts of merged sessions add up.
	op := newSimOp[TimeWindow](Must(EventTimeSession[int](10*ms)), PurgingTrigger(CountTrigger[int, TimeWindow](4)), nil, 0)
	op.element(t, 0, 0)
	op.element(t, 1, 1)
	op.element(t, 20, 20)
	op.check(t, "no fire yet")
	op.element(t, 11, 11) // [11,21) bridges [0,11) and [20,30) into [0,30): count 2+1, +1 = 4
	op.check(t, "merged count fires", "[0, 30):0,1,11,20")
}

func TestSimulatedCountWindows(t *testing.T) {
	sl := mustCount(CountSliding[int](3, 2))
	op := newSimOp[GlobalWindow](sl.Assigner, sl.Trigger, sl.Evictor, 0)
	for v := 1; v <= 7; v++ {
		op.element(t, v, NoTimestamp)
	}
	op.check(t, "sliding", "GlobalWindow:1,2", "GlobalWindow:2,3,4", "GlobalWindow:4,5,6")

	tum := mustCount(CountTumbling[int](3))
	op = newSimOp[GlobalWindow](tum.Assigner, tum.Trigger, tum.Evictor, 0)
	for v := 1; v <= 7; v++ {
		op.element(t, v, NoTimestamp)
	}
	op.check(t, "tumbling", "GlobalWindow:1,2,3", "GlobalWindow:4,5,6")
	if got := values64(op.contents[GlobalWindow{}]); !slices.Equal(got, []int{7}) {
		t.Errorf("remaining contents %v", got)
	}
}

func values64(el []TimestampedValue[int]) []int {
	out := make([]int, len(el))
	for i, e := range el {
		out[i] = e.Value
	}
	return out
}
