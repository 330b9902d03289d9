package window

import (
	"errors"
	"slices"
	"testing"
	"time"
)

const ms = time.Millisecond

func assign[W Window](t *testing.T, a Assigner[string, W], ts, now int64) []W {
	t.Helper()
	got, err := a.AssignWindows(nil, "x", ts, now)
	if err != nil {
		t.Fatalf("AssignWindows(ts=%d, now=%d): %v", ts, now, err)
	}
	return got
}

func TestTumblingAssignment(t *testing.T) {
	tests := []struct {
		name         string
		size, offset time.Duration
		ts           int64
		want         TimeWindow
	}{
		{"start", 5000 * ms, 0, 0, tw(0, 5000)},
		{"last in window", 5000 * ms, 0, 4999, tw(0, 5000)},
		{"next window", 5000 * ms, 0, 5000, tw(5000, 10000)},
		{"negative", 5000 * ms, 0, -1, tw(-5000, 0)},
		{"negative far", 5000 * ms, 0, -5001, tw(-10000, -5000)},
		{"offset at start", 5000 * ms, 100 * ms, 100, tw(100, 5100)},
		{"offset last", 5000 * ms, 100 * ms, 5099, tw(100, 5100)},
		{"offset next", 5000 * ms, 100 * ms, 5100, tw(5100, 10100)},
		{"offset before", 5000 * ms, 100 * ms, 99, tw(-4900, 100)},
		{"negative offset", 5000 * ms, -100 * ms, 0, tw(-100, 4900)},
		{"negative offset next", 5000 * ms, -100 * ms, 4900, tw(4900, 9900)},
		{"hour", time.Hour, 0, 7_199_999, tw(3_600_000, 7_200_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := Must(TumblingEventTime[string](tt.size, tt.offset))
			if got := assign[TimeWindow](t, ev, tt.ts, 123456789); !slices.Equal(got, []TimeWindow{tt.want}) {
				t.Errorf("event time: got %v, want %v", got, tt.want)
			}
			// Processing time assigns by now and ignores ts.
			pt := Must(TumblingProcessingTime[string](tt.size, tt.offset))
			if got := assign[TimeWindow](t, pt, 987654321, tt.ts); !slices.Equal(got, []TimeWindow{tt.want}) {
				t.Errorf("processing time: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSlidingAssignment(t *testing.T) {
	tests := []struct {
		name                string
		size, slide, offset time.Duration
		ts                  int64
		want                []TimeWindow
	}{
		{"5000/1000 at 0", 5000 * ms, 1000 * ms, 0, 0,
			[]TimeWindow{tw(0, 5000), tw(-1000, 4000), tw(-2000, 3000), tw(-3000, 2000), tw(-4000, 1000)}},
		{"5000/1000 at 4999", 5000 * ms, 1000 * ms, 0, 4999,
			[]TimeWindow{tw(4000, 9000), tw(3000, 8000), tw(2000, 7000), tw(1000, 6000), tw(0, 5000)}},
		{"5000/1000 at 5000", 5000 * ms, 1000 * ms, 0, 5000,
			[]TimeWindow{tw(5000, 10000), tw(4000, 9000), tw(3000, 8000), tw(2000, 7000), tw(1000, 6000)}},
		{"5000/1000 offset 100 at 100", 5000 * ms, 1000 * ms, 100 * ms, 100,
			[]TimeWindow{tw(100, 5100), tw(-900, 4100), tw(-1900, 3100), tw(-2900, 2100), tw(-3900, 1100)}},
		{"10/3 at 0", 10 * ms, 3 * ms, 0, 0,
			[]TimeWindow{tw(0, 10), tw(-3, 7), tw(-6, 4), tw(-9, 1)}},
		{"10/3 at 5", 10 * ms, 3 * ms, 0, 5,
			[]TimeWindow{tw(3, 13), tw(0, 10), tw(-3, 7)}},
		{"10/3 at 9", 10 * ms, 3 * ms, 0, 9,
			[]TimeWindow{tw(9, 19), tw(6, 16), tw(3, 13), tw(0, 10)}},
		{"10/3 at -1", 10 * ms, 3 * ms, 0, -1,
			[]TimeWindow{tw(-3, 7), tw(-6, 4), tw(-9, 1)}},
		{"10/3 at -11", 10 * ms, 3 * ms, 0, -11,
			[]TimeWindow{tw(-12, -2), tw(-15, -5), tw(-18, -8)}},
		{"10/3 offset 1 at 0", 10 * ms, 3 * ms, 1 * ms, 0,
			[]TimeWindow{tw(-2, 8), tw(-5, 5), tw(-8, 2)}},
		{"10/3 offset -1 at 0", 10 * ms, 3 * ms, -1 * ms, 0,
			[]TimeWindow{tw(-1, 9), tw(-4, 6), tw(-7, 3)}},
		{"slide == size is tumbling", 10 * ms, 10 * ms, 0, 15,
			[]TimeWindow{tw(10, 20)}},
		{"slide > size: in window", 2 * ms, 5 * ms, 0, 1,
			[]TimeWindow{tw(0, 2)}},
		{"slide > size: in gap", 2 * ms, 5 * ms, 0, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := Must(SlidingEventTime[string](tt.size, tt.slide, tt.offset))
			got := assign[TimeWindow](t, ev, tt.ts, 42)
			if !slices.Equal(got, tt.want) {
				t.Errorf("event time: got %v, want %v", got, tt.want)
			}
			for _, w := range got {
				if w.Start > tt.ts || tt.ts >= w.End {
					t.Errorf("window %v does not contain %d", w, tt.ts)
				}
			}
			pt := Must(SlidingProcessingTime[string](tt.size, tt.slide, tt.offset))
			if got := assign[TimeWindow](t, pt, 42, tt.ts); !slices.Equal(got, tt.want) {
				t.Errorf("processing time: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNoTimestamp(t *testing.T) {
	tum := Must(TumblingEventTime[string](10*ms, 0))
	sl := Must(SlidingEventTime[string](10*ms, 5*ms, 0))
	for name, a := range map[string]Assigner[string, TimeWindow]{"tumbling": tum, "sliding": sl} {
		buf := []TimeWindow{tw(1, 2)}
		got, err := a.AssignWindows(buf, "x", NoTimestamp, 0)
		if !errors.Is(err, ErrNoTimestamp) {
			t.Errorf("%s: err = %v, want ErrNoTimestamp", name, err)
		}
		if !slices.Equal(got, buf) {
			t.Errorf("%s: dst changed on error: %v", name, got)
		}
	}
	// Processing-time assigners do not need timestamps.
	pt := Must(TumblingProcessingTime[string](10*ms, 0))
	if got := assign[TimeWindow](t, pt, NoTimestamp, 15); !slices.Equal(got, []TimeWindow{tw(10, 20)}) {
		t.Errorf("processing time with NoTimestamp: %v", got)
	}
}

func TestAssignIntoBuffer(t *testing.T) {
	sl := Must(SlidingEventTime[string](10*ms, 3*ms, 0))
	buf := make([]TimeWindow, 1, 16)
	buf[0] = tw(-100, -99)
	got, err := sl.AssignWindows(buf, "x", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []TimeWindow{tw(-100, -99), tw(0, 10), tw(-3, 7), tw(-6, 4), tw(-9, 1)}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if &got[0] != &buf[0] {
		t.Fatal("AssignWindows did not append into the caller's buffer")
	}

	tum := Must(TumblingEventTime[string](10*ms, 0))
	ses := Must(EventTimeSession[string](10 * ms))
	dyn := Must(DynamicEventTimeSession(func(s string) time.Duration { return time.Duration(len(s)) * ms }))
	glob := Global[string]()
	gbuf := make([]GlobalWindow, 0, 4)
	allocs := testing.AllocsPerRun(100, func() {
		b := buf[:0]
		for ts := int64(-50); ts < 50; ts++ {
			b, _ = sl.AssignWindows(b[:0], "x", ts, 0)
			b, _ = tum.AssignWindows(b[:0], "x", ts, 0)
			b, _ = ses.AssignWindows(b[:0], "x", ts, 0)
			b, _ = dyn.AssignWindows(b[:0], "xyz", ts, 0)
		}
		gbuf, _ = glob.AssignWindows(gbuf[:0], "x", 0, 0)
	})
	if allocs != 0 {
		t.Errorf("assignment into a buffer allocates: %v allocs/run", allocs)
	}
}

func TestSessionAssignment(t *testing.T) {
	ev := Must(EventTimeSession[string](5000 * ms))
	if got := assign[TimeWindow](t, ev, 100, 7); !slices.Equal(got, []TimeWindow{tw(100, 5100)}) {
		t.Errorf("event time session: %v", got)
	}
	pt := Must(ProcessingTimeSession[string](5000 * ms))
	if got := assign[TimeWindow](t, pt, 100, 200); !slices.Equal(got, []TimeWindow{tw(200, 5200)}) {
		t.Errorf("processing time session: %v", got)
	}
	gap := func(s string) time.Duration {
		d, err := time.ParseDuration(s)
		if err != nil {
			panic(err)
		}
		return d
	}
	dev := Must(DynamicEventTimeSession(gap))
	dpt := Must(DynamicProcessingTimeSession(gap))
	if got, _ := dev.AssignWindows(nil, "3s", 1000, 7); !slices.Equal(got, []TimeWindow{tw(1000, 4000)}) {
		t.Errorf("dynamic event time: %v", got)
	}
	if got, _ := dpt.AssignWindows(nil, "2ms", 1000, 7); !slices.Equal(got, []TimeWindow{tw(7, 9)}) {
		t.Errorf("dynamic processing time: %v", got)
	}

	errs := []struct {
		v, msg string
	}{
		{"0s", "window: invalid window specification: dynamic session window gap must be greater than 0, got 0s"},
		{"-5s", "window: invalid window specification: dynamic session window gap must be greater than 0, got -5s"},
		{"1500us", "window: invalid window specification: dynamic session window gap must be a whole number of milliseconds, got 1.5ms"},
	}
	for _, e := range errs {
		for _, a := range []*SessionAssigner[string]{dev, dpt} {
			buf := []TimeWindow{tw(1, 2)}
			got, err := a.AssignWindows(buf, e.v, 10, 10)
			if !errors.Is(err, ErrInvalidWindow) || err.Error() != e.msg {
				t.Errorf("gap %s: err = %v, want %q", e.v, err, e.msg)
			}
			if !slices.Equal(got, buf) {
				t.Errorf("gap %s: dst changed on error: %v", e.v, got)
			}
		}
	}

	// Session assigners merge like MergeTimeWindows.
	var got []MergeResult
	ev.MergeWindows([]TimeWindow{tw(15, 25), tw(0, 10), tw(8, 18), tw(30, 40)}, func(toMerge []TimeWindow, into TimeWindow) {
		got = append(got, MergeResult{into, slices.Clone(toMerge)})
	})
	want := []MergeResult{{tw(0, 25), []TimeWindow{tw(0, 10), tw(8, 18), tw(15, 25)}}}
	if len(got) != 1 || got[0].Window != want[0].Window || !slices.Equal(got[0].Merged, want[0].Merged) {
		t.Errorf("MergeWindows: %v, want %v", got, want)
	}
}

func TestGlobalAssigner(t *testing.T) {
	g := Global[string]()
	if got := assign[GlobalWindow](t, g, 5, 6); !slices.Equal(got, []GlobalWindow{{}}) {
		t.Errorf("Global assigned %v", got)
	}
	if g.IsEventTime() {
		t.Error("Global is event time")
	}
	if _, ok := g.DefaultTrigger().(neverTrigger[string, GlobalWindow]); !ok {
		t.Errorf("Global default trigger = %T", g.DefaultTrigger())
	}
	if g.String() != "GlobalWindows()" {
		t.Errorf("String = %q", g.String())
	}
}

func TestAssignerKindsAndDefaults(t *testing.T) {
	fixed := func(string) time.Duration { return time.Second }
	tests := []struct {
		a         Assigner[string, TimeWindow]
		eventTime bool
		merging   bool
		str       string
	}{
		{Must(TumblingEventTime[string](5*time.Second, 0)), true, false, "TumblingEventTimeWindows(size=5000ms, offset=0ms)"},
		{Must(TumblingProcessingTime[string](5*time.Second, -time.Second)), false, false, "TumblingProcessingTimeWindows(size=5000ms, offset=-1000ms)"},
		{Must(SlidingEventTime[string](10*ms, 3*ms, 0)), true, false, "SlidingEventTimeWindows(size=10ms, slide=3ms, offset=0ms)"},
		{Must(SlidingProcessingTime[string](10*ms, 3*ms, 2*ms)), false, false, "SlidingProcessingTimeWindows(size=10ms, slide=3ms, offset=2ms)"},
		{Must(EventTimeSession[string](time.Second)), true, true, "EventTimeSessionWindows(gap=1000ms)"},
		{Must(ProcessingTimeSession[string](time.Second)), false, true, "ProcessingTimeSessionWindows(gap=1000ms)"},
		{Must(DynamicEventTimeSession(fixed)), true, true, "DynamicEventTimeSessionWindows()"},
		{Must(DynamicProcessingTimeSession(fixed)), false, true, "DynamicProcessingTimeSessionWindows()"},
	}
	for _, tt := range tests {
		if tt.a.IsEventTime() != tt.eventTime {
			t.Errorf("%s: IsEventTime = %v", tt.str, tt.a.IsEventTime())
		}
		trig := tt.a.DefaultTrigger()
		_, isEv := trig.(eventTimeTrigger[string, TimeWindow])
		_, isPt := trig.(processingTimeTrigger[string, TimeWindow])
		if tt.eventTime && !isEv || !tt.eventTime && !isPt {
			t.Errorf("%s: default trigger %T", tt.str, trig)
		}
		if s := tt.a.(interface{ String() string }).String(); s != tt.str {
			t.Errorf("String = %q, want %q", s, tt.str)
		}
		_, merging := tt.a.(MergingAssigner[string, TimeWindow])
		if merging != tt.merging {
			t.Errorf("%s: merging = %v", tt.str, merging)
		}
	}
}

func TestAssignerValidation(t *testing.T) {
	const prefix = "window: invalid window specification: "
	tests := []struct {
		name string
		err  error
		msg  string
	}{
		{"tumbling size 0", TumblingEventTime[int](0, 0).Err(),
			"tumbling window size must be greater than 0, got 0s"},
		{"tumbling size negative", TumblingProcessingTime[int](-5*time.Second, 0).Err(),
			"tumbling window size must be greater than 0, got -5s"},
		{"tumbling offset == size", TumblingEventTime[int](10*time.Second, 10*time.Second).Err(),
			"tumbling window offset must satisfy abs(offset) < size, got offset 10s and size 10s"},
		{"tumbling offset > size", TumblingEventTime[int](10*time.Second, 20*time.Second).Err(),
			"tumbling window offset must satisfy abs(offset) < size, got offset 20s and size 10s"},
		{"tumbling offset == -size", TumblingProcessingTime[int](10*time.Second, -10*time.Second).Err(),
			"tumbling window offset must satisfy abs(offset) < size, got offset -10s and size 10s"},
		{"tumbling offset < -size", TumblingEventTime[int](10*time.Second, -11*time.Second).Err(),
			"tumbling window offset must satisfy abs(offset) < size, got offset -11s and size 10s"},
		{"tumbling sub-ms size", TumblingEventTime[int](1500*time.Microsecond, 0).Err(),
			"tumbling window size must be a whole number of milliseconds, got 1.5ms"},
		{"tumbling sub-ms offset", TumblingEventTime[int](time.Second, time.Microsecond).Err(),
			"tumbling window offset must be a whole number of milliseconds, got 1µs"},
		{"sliding size 0", SlidingEventTime[int](0, time.Second, 0).Err(),
			"sliding window size must be greater than 0, got 0s"},
		{"sliding size negative", SlidingProcessingTime[int](-time.Second, time.Second, 0).Err(),
			"sliding window size must be greater than 0, got -1s"},
		{"sliding slide 0", SlidingEventTime[int](time.Second, 0, 0).Err(),
			"sliding window slide must be greater than 0, got 0s"},
		{"sliding slide negative", SlidingEventTime[int](time.Second, -2*time.Second, 0).Err(),
			"sliding window slide must be greater than 0, got -2s"},
		{"sliding offset == slide", SlidingEventTime[int](10*time.Second, 2*time.Second, 2*time.Second).Err(),
			"sliding window offset must satisfy abs(offset) < slide, got offset 2s and slide 2s"},
		{"sliding offset < -slide", SlidingProcessingTime[int](10*time.Second, 2*time.Second, -3*time.Second).Err(),
			"sliding window offset must satisfy abs(offset) < slide, got offset -3s and slide 2s"},
		{"sliding sub-ms slide", SlidingEventTime[int](time.Second, 100*time.Microsecond, 0).Err(),
			"sliding window slide must be a whole number of milliseconds, got 100µs"},
		{"session gap 0", EventTimeSession[int](0).Err(),
			"session window gap must be greater than 0, got 0s"},
		{"session gap negative", ProcessingTimeSession[int](-time.Minute).Err(),
			"session window gap must be greater than 0, got -1m0s"},
		{"session sub-ms gap", EventTimeSession[int](time.Nanosecond).Err(),
			"session window gap must be a whole number of milliseconds, got 1ns"},
		{"dynamic nil", DynamicEventTimeSession[int](nil).Err(),
			"dynamic session window gap extractor must not be nil"},
		{"dynamic processing nil", DynamicProcessingTimeSession[int](nil).Err(),
			"dynamic session window gap extractor must not be nil"},
		{"count tumbling 0", second(CountTumbling[int](0)),
			"count window size must be greater than 0, got 0"},
		{"count sliding size", second(CountSliding[int](-1, 1)),
			"count window size must be greater than 0, got -1"},
		{"count sliding slide", second(CountSliding[int](5, 0)),
			"count window slide must be greater than 0, got 0"},
		{"continuous event interval", triggerErr(ContinuousEventTimeTrigger[int, TimeWindow](0)),
			"continuous event-time trigger interval must be greater than 0, got 0s"},
		{"continuous processing interval", triggerErr(ContinuousProcessingTimeTrigger[int, TimeWindow](-time.Second)),
			"continuous processing-time trigger interval must be greater than 0, got -1s"},
		{"continuous sub-ms interval", triggerErr(ContinuousEventTimeTrigger[int, TimeWindow](time.Microsecond)),
			"continuous event-time trigger interval must be a whole number of milliseconds, got 1µs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, ErrInvalidWindow) {
				t.Fatalf("err = %v, want ErrInvalidWindow", tt.err)
			}
			if got := tt.err.Error(); got != prefix+tt.msg {
				t.Fatalf("message\n got %q\nwant %q", got, prefix+tt.msg)
			}
		})
	}

	// Boundary values that are valid.
	valid := []error{
		TumblingEventTime[int](time.Millisecond, 0).Err(),
		TumblingEventTime[int](10*time.Second, 9999*ms).Err(),
		TumblingEventTime[int](10*time.Second, -9999*ms).Err(),
		SlidingEventTime[int](time.Second, 2*time.Second, 0).Err(), // slide > size is allowed
		SlidingEventTime[int](10*time.Second, 2*time.Second, -1999*ms).Err(),
		EventTimeSession[int](time.Millisecond).Err(),
		second(CountTumbling[int](1)),
		second(CountSliding[int](1, 1)),
		triggerErr(ContinuousEventTimeTrigger[int, TimeWindow](time.Millisecond)),
		triggerErr(ContinuousProcessingTimeTrigger[int, TimeWindow](time.Millisecond)),
	}
	for i, err := range valid {
		if err != nil {
			t.Errorf("valid case %d: %v", i, err)
		}
	}

	defer func() {
		if recover() == nil {
			t.Error("Must did not panic on error")
		}
	}()
	Must(TumblingEventTime[int](0, 0))
}

func TestInvalidAssigners(t *testing.T) {
	fixed := func(string) time.Duration { return time.Second }
	type validatingAssigner interface {
		Assigner[string, TimeWindow]
		Validator
	}
	invalidCases := []struct {
		a         validatingAssigner
		eventTime bool
		str       string
	}{
		{TumblingEventTime[string](0, 0), true, "TumblingEventTimeWindows(invalid)"},
		{TumblingProcessingTime[string](time.Second, time.Second), false, "TumblingProcessingTimeWindows(invalid)"},
		{SlidingEventTime[string](time.Second, 0, 0), true, "SlidingEventTimeWindows(invalid)"},
		{SlidingProcessingTime[string](time.Microsecond, time.Second, 0), false, "SlidingProcessingTimeWindows(invalid)"},
		{EventTimeSession[string](-time.Second), true, "EventTimeSessionWindows(invalid)"},
		{ProcessingTimeSession[string](0), false, "ProcessingTimeSessionWindows(invalid)"},
		{DynamicEventTimeSession[string](nil), true, "EventTimeSessionWindows(invalid)"},
		{DynamicProcessingTimeSession[string](nil), false, "ProcessingTimeSessionWindows(invalid)"},
	}
	for _, tt := range invalidCases {
		t.Run(tt.str, func(t *testing.T) {
			a := tt.a
			if a == nil {
				t.Fatal("constructor returned nil")
			}
			err := a.Err()
			if !errors.Is(err, ErrInvalidWindow) {
				t.Fatalf("Err = %v, want ErrInvalidWindow", err)
			}
			dst := []TimeWindow{{Start: 1, End: 2}}
			got, aerr := a.AssignWindows(dst, "x", 5, 7)
			if aerr != err {
				t.Errorf("AssignWindows error = %v, want %v", aerr, err)
			}
			if !slices.Equal(got, dst) {
				t.Errorf("AssignWindows dst = %v, want unchanged %v", got, dst)
			}
			if a.IsEventTime() != tt.eventTime {
				t.Errorf("IsEventTime = %v", a.IsEventTime())
			}
			if a.DefaultTrigger() == nil {
				t.Error("DefaultTrigger = nil")
			}
			if s := a.(interface{ String() string }).String(); s != tt.str {
				t.Errorf("String = %q, want %q", s, tt.str)
			}
			if cerr := CheckTrigger[string, TimeWindow](a, a.DefaultTrigger()); cerr != err {
				t.Errorf("CheckTrigger = %v, want %v", cerr, err)
			}
			defer func() {
				if r := recover(); r != err {
					t.Errorf("Must panicked with %v, want %v", r, err)
				}
			}()
			Must(a)
		})
	}

	validCases := []validatingAssigner{
		TumblingEventTime[string](time.Second, 0),
		TumblingProcessingTime[string](time.Second, -time.Millisecond),
		SlidingEventTime[string](time.Second, 100*ms, 0),
		SlidingProcessingTime[string](time.Second, 100*ms, 0),
		EventTimeSession[string](time.Second),
		ProcessingTimeSession[string](time.Second),
		DynamicEventTimeSession(fixed),
		DynamicProcessingTimeSession(fixed),
	}
	for _, a := range validCases {
		if err := a.Err(); err != nil {
			t.Errorf("%v: Err = %v, want nil", a, err)
		}
		if Must(a) != a {
			t.Errorf("%v: Must returned a different assigner", a)
		}
		if got, err := a.AssignWindows(nil, "x", 5, 7); err != nil || len(got) == 0 {
			t.Errorf("%v: AssignWindows = %v, %v", a, got, err)
		}
	}
	if err := Global[string]().Err(); err != nil {
		t.Errorf("Global Err = %v, want nil", err)
	}
}

func second[A any](_ A, err error) error { return err }

// triggerErr returns the Err of a trigger implementing Validator.
func triggerErr[T any, W Window](tr Trigger[T, W]) error { return tr.(Validator).Err() }

// mustTrigger returns tr and panics if it is invalid.
func mustTrigger[T any, W Window](tr Trigger[T, W]) Trigger[T, W] {
	if err := triggerErr(tr); err != nil {
		panic(err)
	}
	return tr
}

// mustCount returns cw and panics if err is not nil.
func mustCount[T any](cw CountWindows[T], err error) CountWindows[T] {
	if err != nil {
		panic(err)
	}
	return cw
}
