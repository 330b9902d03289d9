package watermark

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// recorder is an Output that records every call.
type recorder struct{ got []string }

func (r *recorder) EmitWatermark(ts int64) { r.got = append(r.got, fmt.Sprintf("wm:%d", ts)) }
func (r *recorder) MarkIdle()              { r.got = append(r.got, "idle") }
func (r *recorder) MarkActive()            { r.got = append(r.got, "active") }

// take returns and clears the recorded calls.
func (r *recorder) take() []string {
	g := r.got
	r.got = nil
	return g
}

type discard struct{}

func (discard) EmitWatermark(int64) {}
func (discard) MarkIdle()           {}
func (discard) MarkActive()         {}

func wms(ts ...int64) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = fmt.Sprintf("wm:%d", t)
	}
	return out
}

func eq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// step is one runtime action: an event with timestamp ts ("E"), or a
// periodic emit ("P"), optionally at clock time at.
type step struct {
	op   string
	ts   int64
	at   int64
	want []string
}

func ev(ts int64, want ...string) step { return step{op: "E", ts: ts, want: want} }
func per(want ...string) step          { return step{op: "P", want: want} }

func runGenerator(t *testing.T, g Generator[int], steps []step) {
	t.Helper()
	var r recorder
	for i, s := range steps {
		if s.op == "E" {
			g.OnEvent(0, s.ts, &r)
		} else {
			g.OnPeriodicEmit(&r)
		}
		eq(t, fmt.Sprintf("step %d (%s %d)", i, s.op, s.ts), r.take(), s.want)
	}
}

func runEmitter(t *testing.T, e *Emitter[int], clock *ManualClock, steps []step) {
	t.Helper()
	var r recorder
	e.out = &r
	for i, s := range steps {
		if clock != nil {
			clock.Set(s.at)
		}
		if s.op == "E" {
			e.OnEvent(0, s.ts)
		} else {
			e.OnPeriodicEmit()
		}
		eq(t, fmt.Sprintf("step %d (%s %d @%d)", i, s.op, s.ts, s.at), r.take(), s.want)
	}
}

func TestBoundedOutOfOrdernessGenerator(t *testing.T) {
	g := ForBoundedOutOfOrderness[int](5 * time.Millisecond).NewGenerator()
	runGenerator(t, g, []step{
		per(wms(math.MinInt64)...), // before any event: MinInt64
		ev(10), per(wms(4)...),     // 10 - 5 - 1
		ev(7), per(wms(4)...), // out of order, max stays 10
		ev(15), ev(12), per(wms(9)...),
		per(wms(9)...),
		ev(math.MinInt64), per(wms(9)...), // a record without timestamp does not move it
	})
}

func TestBoundedOutOfOrdernessThroughEmitter(t *testing.T) {
	e, err := ForBoundedOutOfOrderness[int](5 * time.Millisecond).NewEmitter(discard{})
	if err != nil {
		t.Fatal(err)
	}
	runEmitter(t, e, nil, []step{
		per(), // MinInt64 is suppressed
		ev(10), per(wms(4)...),
		ev(7), per(), // 4 again: suppressed
		ev(15), ev(12), per(wms(9)...),
		per(),
		ev(30), ev(20), ev(31), per(wms(25)...),
	})
	if e.CurrentWatermark() != 25 || e.IsIdle() {
		t.Fatalf("state = %d idle=%v", e.CurrentWatermark(), e.IsIdle())
	}
}

func TestBoundedOutOfOrdernessTruncatesToMillis(t *testing.T) {
	g := ForBoundedOutOfOrderness[int](1500 * time.Microsecond).NewGenerator()
	runGenerator(t, g, []step{per(wms(math.MinInt64)...), ev(100), per(wms(98)...)})
}

func TestMonotonousTimestamps(t *testing.T) {
	g := ForMonotonousTimestamps[int]().NewGenerator()
	runGenerator(t, g, []step{
		per(wms(math.MinInt64)...),
		ev(1), per(wms(0)...),
		ev(2), ev(3), per(wms(2)...),
	})
}

type marked struct {
	ts   int64
	mark bool
}

func TestPunctuated(t *testing.T) {
	s := Punctuated(func(v marked, ts int64) (int64, bool) { return ts, v.mark }).
		WithTimestampAssigner(func(v marked, _ int64) int64 { return v.ts })
	var r recorder
	e, err := s.NewEmitter(&r)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		v    marked
		want []string
	}{
		{marked{1, false}, nil},
		{marked{5, true}, wms(5)},
		{marked{3, true}, nil}, // 3 <= 5: suppressed
		{marked{4, false}, nil},
		{marked{8, true}, wms(8)},
	} {
		ts := e.AssignTimestamp(c.v, NoTimestamp)
		if ts != c.v.ts {
			t.Fatalf("event %d: assigned %d, want %d", i, ts, c.v.ts)
		}
		e.OnEvent(c.v, ts)
		eq(t, fmt.Sprintf("event %d", i), r.take(), c.want)
		e.OnPeriodicEmit()
		eq(t, fmt.Sprintf("periodic after event %d", i), r.take(), nil)
	}
}

func TestNoWatermarks(t *testing.T) {
	for _, s := range []Strategy[int]{NoWatermarks[int](), {}} {
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if s.Assigner() != nil {
			t.Fatal("NoWatermarks has an assigner")
		}
		runGenerator(t, s.NewGenerator(), []step{per(), ev(10), per()})
	}
}

func TestIdleness(t *testing.T) {
	clock := NewManualClock(0)
	s := ForMonotonousTimestamps[int]().WithIdleness(time.Second).WithClock(clock)
	e, err := s.NewEmitter(discard{})
	if err != nil {
		t.Fatal(err)
	}
	at := func(ms int64, s step) step { s.at = ms; return s }
	runEmitter(t, e, clock, []step{
		at(0, ev(100)), at(0, per(wms(99)...)),
		at(200, per()),  // first check without events: countdown starts at 200
		at(400, per()),  // 200 elapsed
		at(1200, per()), // exactly 1000 elapsed: not yet (must be strictly more)
		at(1201, per("idle")),
		at(1400, per()), // stays idle, not re-announced
		at(1500, ev(150, "active")),
		at(1600, per(wms(149)...)),
		at(1800, per()), // countdown restarts at 1800
		at(2800, per()),
		at(2801, per("idle")),
		at(2900, ev(120, "active")), // late record: active, no watermark
		at(3000, per()),
	})
}

func TestIdlenessNotWhileEventsFlow(t *testing.T) {
	clock := NewManualClock(1_700_000_000_000)
	e, err := ForBoundedOutOfOrderness[int](0).WithIdleness(500 * time.Millisecond).
		WithClock(clock).NewEmitter(discard{})
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	e.out = &r
	for i := 0; i < 1000; i++ {
		clock.Advance(200 * time.Millisecond)
		e.OnEvent(0, int64(i))
		e.OnPeriodicEmit()
		clock.Advance(200 * time.Millisecond)
		e.OnPeriodicEmit() // one quiet period between events is not enough
	}
	for _, g := range r.got {
		if g == "idle" || g == "active" {
			t.Fatalf("unexpected %q while events keep coming", g)
		}
	}
	if e.CurrentWatermark() != 998 {
		t.Fatalf("watermark = %d, want 998", e.CurrentWatermark())
	}
}

func TestIdlenessPunctuatedReactivatesBeforeWatermark(t *testing.T) {
	clock := NewManualClock(0)
	s := Punctuated(func(_ int, ts int64) (int64, bool) { return ts, true }).
		WithIdleness(100 * time.Millisecond).WithClock(clock)
	var r recorder
	g := s.NewGenerator()
	g.OnPeriodicEmit(&r)
	clock.Set(101)
	g.OnPeriodicEmit(&r)
	eq(t, "idle", r.take(), []string{"idle"})
	g.OnEvent(0, 7, &r)
	eq(t, "event", r.take(), []string{"active", "wm:7"})
}

func TestIdlenessNested(t *testing.T) {
	// As in Flink, a second WithIdleness wraps the first: the shorter
	// timeout decides, and the status is announced once by each wrapper's
	// state machine but deduplicated by the Emitter.
	clock := NewManualClock(0)
	e, err := NoWatermarks[int]().WithIdleness(300 * time.Millisecond).
		WithIdleness(time.Second).WithClock(clock).NewEmitter(discard{})
	if err != nil {
		t.Fatal(err)
	}
	at := func(ms int64, s step) step { s.at = ms; return s }
	runEmitter(t, e, clock, []step{
		at(0, per()), at(200, per()), at(301, per("idle")), at(1200, per()),
		at(1300, ev(5, "active")), at(1400, per()),
	})
}

func TestIngestionTime(t *testing.T) {
	clock := NewManualClock(1000)
	s := IngestionTime[string]().WithClock(clock)
	a := s.Assigner()
	if a == nil {
		t.Fatal("no assigner")
	}
	if got := a("x", 42); got != 1000 {
		t.Fatalf("ts = %d, want 1000 (record timestamp is ignored)", got)
	}
	clock.Set(900) // clock steps back: timestamps stay monotonous
	if got := a("x", NoTimestamp); got != 1000 {
		t.Fatalf("ts = %d, want 1000", got)
	}
	// A second assigner has its own state.
	if got := s.Assigner()("x", NoTimestamp); got != 900 {
		t.Fatalf("fresh assigner ts = %d, want 900", got)
	}

	var r recorder
	e, err := s.NewEmitter(&r)
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(1500)
	ts := e.AssignTimestamp("a", NoTimestamp)
	e.OnEvent("a", ts)
	e.OnPeriodicEmit()
	clock.Set(5000) // no records: the watermark does not follow the clock
	e.OnPeriodicEmit()
	eq(t, "ingestion watermarks", r.take(), wms(1499))
}

func TestAssigners(t *testing.T) {
	double := func(v int, _ int64) int64 { return int64(v) * 2 }
	if ForMonotonousTimestamps[int]().Assigner() != nil {
		t.Fatal("default assigner must be nil (keep record timestamp)")
	}
	if got := ForMonotonousTimestamps[int]().WithTimestampAssigner(double).Assigner()(21, 7); got != 42 {
		t.Fatalf("got %d", got)
	}
	// WithTimestampAssigner replaces IngestionTime's assigner; WithIdleness keeps it.
	s := IngestionTime[int]().WithTimestampAssigner(double).WithIdleness(time.Second)
	if got := s.Assigner()(5, 7); got != 10 {
		t.Fatalf("got %d", got)
	}
	e, err := ForMonotonousTimestamps[int]().NewEmitter(discard{})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.AssignTimestamp(3, 77); got != 77 {
		t.Fatalf("nil assigner must keep the record timestamp, got %d", got)
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		s    Strategy[int]
		rule string // "" means valid
	}{
		{"bounded zero", ForBoundedOutOfOrderness[int](0), ""},
		{"zero value", Strategy[int]{}, ""},
		{"bounded with idleness", ForBoundedOutOfOrderness[int](time.Second).WithIdleness(time.Nanosecond), ""},
		{"bounded negative", ForBoundedOutOfOrderness[int](-time.Millisecond), "maxOutOfOrderness cannot be negative"},
		{"bounded negative ns", ForBoundedOutOfOrderness[int](-1), "maxOutOfOrderness cannot be negative"},
		{"idleness zero", ForMonotonousTimestamps[int]().WithIdleness(0), "idleTimeout must be greater than zero"},
		{"idleness negative", NoWatermarks[int]().WithIdleness(-time.Second), "idleTimeout must be greater than zero"},
		{"nil generator factory", ForGenerator[int](nil), "generator factory must not be nil"},
		{"nil punctuated func", Punctuated[int](nil), "punctuated watermark function must not be nil"},
		{"nil assigner", NoWatermarks[int]().WithTimestampAssigner(nil), "timestamp assigner must not be nil"},
		{"first error wins", ForBoundedOutOfOrderness[int](-1).WithIdleness(0), "maxOutOfOrderness cannot be negative"},
		{"error survives later valid calls", ForMonotonousTimestamps[int]().WithIdleness(0).WithIdleness(time.Second), "idleTimeout must be greater than zero"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidStrategy) || !strings.Contains(err.Error(), tc.rule) {
				t.Fatalf("error %v: want ErrInvalidStrategy naming %q", err, tc.rule)
			}
			if _, err2 := tc.s.NewEmitter(discard{}); !errors.Is(err2, ErrInvalidStrategy) {
				t.Fatalf("NewEmitter error = %v", err2)
			}
			if _, err2 := tc.s.NewSplitWatermarks(discard{}); !errors.Is(err2, ErrInvalidStrategy) {
				t.Fatalf("NewSplitWatermarks error = %v", err2)
			}
			func() {
				defer func() {
					if p, _ := recover().(error); !errors.Is(p, ErrInvalidStrategy) {
						t.Fatalf("NewGenerator panic = %v", p)
					}
				}()
				tc.s.NewGenerator()
			}()
		})
	}
}

func TestForGenerator(t *testing.T) {
	made := 0
	s := ForGenerator(func() Generator[int] {
		made++
		return newBoundedGenerator[int](0)
	})
	g1, g2 := s.NewGenerator(), s.NewGenerator()
	if made != 2 || g1 == g2 {
		t.Fatal("ForGenerator must create a fresh generator per call")
	}
	defer func() {
		if p, _ := recover().(error); !errors.Is(p, ErrInvalidStrategy) {
			t.Fatalf("nil from factory: panic = %v", p)
		}
	}()
	ForGenerator(func() Generator[int] { return nil }).NewGenerator()
}

func TestStrategyIsImmutable(t *testing.T) {
	base := ForBoundedOutOfOrderness[int](5 * time.Second)
	a := base.WithIdleness(time.Second)
	b := base.WithIdleness(2 * time.Second)
	a1 := a.WithIdleness(3 * time.Second)
	a2 := a.WithIdleness(4 * time.Second)
	for _, c := range []struct {
		s    Strategy[int]
		want string
	}{
		{base, "BoundedOutOfOrderness(5s)"},
		{a, "BoundedOutOfOrderness(5s).WithIdleness(1s)"},
		{b, "BoundedOutOfOrderness(5s).WithIdleness(2s)"},
		{a1, "BoundedOutOfOrderness(5s).WithIdleness(1s).WithIdleness(3s)"},
		{a2, "BoundedOutOfOrderness(5s).WithIdleness(1s).WithIdleness(4s)"},
		{Strategy[int]{}, "NoWatermarks"},
	} {
		if got := c.s.String(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
	_ = base.WithTimestampAssigner(func(int, int64) int64 { return 1 })
	if base.Assigner() != nil {
		t.Fatal("WithTimestampAssigner modified the receiver")
	}
}

func TestEmitterFilter(t *testing.T) {
	var r recorder
	e := NewEmitter[int](nil, nil, &r)
	e.EmitWatermark(math.MinInt64)
	e.EmitWatermark(5)
	e.EmitWatermark(5)
	e.EmitWatermark(3)
	e.MarkActive() // already active
	e.MarkIdle()
	e.MarkIdle()
	e.EmitWatermark(4) // does not advance: stays idle
	e.EmitWatermark(6) // advances: active first
	e.MarkActive()
	e.MarkIdle()
	e.MarkActive()
	e.EmitWatermark(MaxWatermark)
	eq(t, "filtered", r.take(), []string{"wm:5", "idle", "active", "wm:6", "idle", "active", fmt.Sprintf("wm:%d", int64(math.MaxInt64))})
}

type event struct {
	key string
	ts  int64
}

func TestEmitterDoesNotAllocate(t *testing.T) {
	clock := NewManualClock(0)
	e, err := ForBoundedOutOfOrderness[event](time.Second).
		WithTimestampAssigner(func(v event, _ int64) int64 { return v.ts }).
		WithIdleness(time.Minute).WithClock(clock).NewEmitter(discard{})
	if err != nil {
		t.Fatal(err)
	}
	v := event{key: "k"}
	allocs := testing.AllocsPerRun(1000, func() {
		v.ts++
		ts := e.AssignTimestamp(v, NoTimestamp)
		e.OnEvent(v, ts)
		e.OnPeriodicEmit()
	})
	if allocs != 0 {
		t.Fatalf("allocs per record = %v, want 0", allocs)
	}
}

func TestManualClock(t *testing.T) {
	c := NewManualClock(10)
	c.Advance(1500 * time.Microsecond)
	if c.Now() != 11 {
		t.Fatalf("Now = %d", c.Now())
	}
	c.Set(-5)
	if c.Now() != -5 {
		t.Fatalf("Now = %d", c.Now())
	}
	before := time.Now().UnixMilli()
	if got := (SystemClock{}).Now(); got < before || got > time.Now().UnixMilli() {
		t.Fatalf("SystemClock.Now = %d", got)
	}
}
