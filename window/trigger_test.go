package window

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func TestTriggerResult(t *testing.T) {
	tests := []struct {
		r           TriggerResult
		fire, purge bool
		str         string
	}{
		{Continue, false, false, "CONTINUE"},
		{Fire, true, false, "FIRE"},
		{Purge, false, true, "PURGE"},
		{FireAndPurge, true, true, "FIRE_AND_PURGE"},
		{TriggerResult(9), true, false, "TriggerResult(9)"},
	}
	for _, tt := range tests {
		if tt.r.IsFire() != tt.fire || tt.r.IsPurge() != tt.purge || tt.r.String() != tt.str {
			t.Errorf("%d: IsFire=%v IsPurge=%v String=%q", tt.r, tt.r.IsFire(), tt.r.IsPurge(), tt.r.String())
		}
	}
}

func expect(t *testing.T, what string, got, want TriggerResult) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func expectTimers(t *testing.T, what string, got []int64, want ...int64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s timers = %v, want %v", what, got, want)
	}
}

func expectState[W Window](t *testing.T, c *fakeCtx[W], name string, want int64, wantOK bool) {
	t.Helper()
	got, ok := c.GetState(name)
	if ok != wantOK || (ok && got != want) {
		t.Errorf("state %q of %v = (%d, %v), want (%d, %v)", name, c.w, got, ok, want, wantOK)
	}
}

func TestEventTimeTrigger(t *testing.T) {
	w := tw(0, 10)
	tr := EventTimeTrigger[string, TimeWindow]()
	c := newFakeCtx(w)

	expect(t, "OnElement before watermark", tr.OnElement("a", 3, w, c), Continue)
	expectTimers(t, "after element", c.eventTimers(w), 9)
	expect(t, "OnElement again", tr.OnElement("b", 5, w, c), Continue)
	expectTimers(t, "after second element", c.eventTimers(w), 9)

	expect(t, "OnEventTime(5)", tr.OnEventTime(5, w, c), Continue)
	expect(t, "OnEventTime(10)", tr.OnEventTime(10, w, c), Continue)
	expect(t, "OnEventTime(maxTs)", tr.OnEventTime(9, w, c), Fire)
	expect(t, "OnProcessingTime(9)", tr.OnProcessingTime(9, w, c), Continue)

	// Watermark just below the end: still on time.
	c.wm = 8
	expect(t, "OnElement at wm 8", tr.OnElement("c", 8, w, c), Continue)

	// Late elements (within allowed lateness) fire immediately and register
	// nothing new.
	c.Clear()
	c.wm = 9
	expect(t, "late OnElement at wm 9", tr.OnElement("d", 1, w, c), Fire)
	c.wm = 100
	expect(t, "late OnElement at wm 100", tr.OnElement("e", 1, w, c), Fire)
	expectTimers(t, "late elements", c.eventTimers(w))

	// Clear deletes the end-of-window timer.
	c.wm = math.MinInt64
	tr.OnElement("f", 1, w, c)
	tr.Clear(w, c)
	expectTimers(t, "after Clear", c.eventTimers(w))

	if !tr.CanMerge() {
		t.Error("EventTimeTrigger cannot merge")
	}
	merged := tw(0, 20)
	c.at(merged).wm = 5
	tr.OnMerge(merged, c)
	expectTimers(t, "OnMerge before end", c.eventTimers(merged), 19)
	c.Clear()
	c.wm = 19
	tr.OnMerge(merged, c)
	expectTimers(t, "OnMerge at end", c.eventTimers(merged))
}

// Clear drops all timers and state of the fake context.
func (c *fakeCtx[W]) Clear() {
	clear(c.evTimers)
	clear(c.procTimers)
	clear(c.state)
}

func TestProcessingTimeTrigger(t *testing.T) {
	w := tw(0, 10)
	tr := ProcessingTimeTrigger[string, TimeWindow]()
	c := newFakeCtx(w)
	c.now = 3

	expect(t, "OnElement", tr.OnElement("a", NoTimestamp, w, c), Continue)
	expectTimers(t, "processing", c.processingTimers(w), 9)
	expectTimers(t, "event", c.eventTimers(w))
	// Elements arriving after the end still just register the timer.
	c.now = 50
	expect(t, "OnElement late", tr.OnElement("b", NoTimestamp, w, c), Continue)
	expectTimers(t, "processing", c.processingTimers(w), 9)

	expect(t, "OnProcessingTime(9)", tr.OnProcessingTime(9, w, c), Fire)
	expect(t, "OnProcessingTime(other)", tr.OnProcessingTime(4, w, c), Fire)
	expect(t, "OnEventTime(9)", tr.OnEventTime(9, w, c), Continue)

	tr.Clear(w, c)
	expectTimers(t, "after Clear", c.processingTimers(w))

	if !tr.CanMerge() {
		t.Error("ProcessingTimeTrigger cannot merge")
	}
	merged := tw(0, 20)
	c.at(merged).now = 5
	tr.OnMerge(merged, c)
	expectTimers(t, "OnMerge before end", c.processingTimers(merged), 19)
	c.Clear()
	c.now = 19
	tr.OnMerge(merged, c)
	expectTimers(t, "OnMerge at end", c.processingTimers(merged))
}

func TestCountTrigger(t *testing.T) {
	w := GlobalWindow{}
	tr := CountTrigger[int, GlobalWindow](3)
	c := newFakeCtx(w)
	want := []TriggerResult{Continue, Continue, Fire, Continue, Continue, Fire, Continue}
	for i, r := range want {
		expect(t, "OnElement", tr.OnElement(i, int64(i), w, c), r)
	}
	expectState(t, c, CountStateName, 1, true)
	expect(t, "OnEventTime", tr.OnEventTime(1, w, c), Continue)
	expect(t, "OnProcessingTime", tr.OnProcessingTime(1, w, c), Continue)
	tr.Clear(w, c)
	expectState(t, c, CountStateName, 0, false)

	// The count resets (is cleared) when the trigger fires.
	tr.OnElement(0, 0, w, c)
	tr.OnElement(0, 0, w, c)
	expectState(t, c, CountStateName, 2, true)
	tr.OnElement(0, 0, w, c)
	expectState(t, c, CountStateName, 0, false)

	// maxCount 1 fires on every element.
	one := CountTrigger[int, GlobalWindow](1)
	for range 3 {
		expect(t, "CountTrigger(1)", one.OnElement(0, 0, w, c), Fire)
	}
}

func TestCountTriggerMerge(t *testing.T) {
	a, b, merged := tw(0, 10), tw(12, 22), tw(0, 22)
	tr := CountTrigger[int, TimeWindow](5)
	c := newFakeCtx(a)
	tr.OnElement(1, 1, a, c)
	tr.OnElement(2, 2, a, c)
	c.at(b)
	tr.OnElement(3, 13, b, c)
	tr.OnElement(4, 14, b, c)
	tr.OnElement(5, 15, b, c)

	if !tr.CanMerge() {
		t.Fatal("CountTrigger cannot merge")
	}
	c.at(merged).merged = []TimeWindow{a, b}
	tr.OnMerge(merged, c)
	expectState(t, c, CountStateName, 5, true) // 2 + 3; merging itself never fires
	c.at(a)
	expectState(t, c, CountStateName, 0, false)
	c.at(b)
	expectState(t, c, CountStateName, 0, false)

	// The next element fires, as count >= 5.
	expect(t, "OnElement after merge", tr.OnElement(6, 16, merged, c.at(merged)), Fire)
	expectState(t, c, CountStateName, 0, false)

	// Merging windows without counts leaves the count unset.
	other := tw(100, 200)
	c.at(other).merged = []TimeWindow{tw(100, 110), tw(150, 200)}
	tr.OnMerge(other, c)
	expectState(t, c, CountStateName, 0, false)
}

func TestContinuousEventTimeTrigger(t *testing.T) {
	w := tw(0, 100) // maxTs 99
	tr := mustTrigger(ContinuousEventTimeTrigger[string, TimeWindow](10 * ms))
	c := newFakeCtx(w)

	expect(t, "OnElement(23)", tr.OnElement("a", 23, w, c), Continue)
	expectTimers(t, "after first element", c.eventTimers(w), 30, 99)
	expectState(t, c, FireTimeStateName, 30, true)
	expect(t, "OnElement(45)", tr.OnElement("b", 45, w, c), Continue)
	expectTimers(t, "after second element", c.eventTimers(w), 30, 99)
	expectState(t, c, FireTimeStateName, 30, true)

	expect(t, "OnProcessingTime(30)", tr.OnProcessingTime(30, w, c), Continue)
	expect(t, "OnEventTime(25)", tr.OnEventTime(25, w, c), Continue)

	// Fires at every aligned interval, then at the window end.
	for fire := int64(30); fire <= 90; fire += 10 {
		c.wm = fire
		delete(c.evTimers, timerKey[TimeWindow]{w, fire}) // the timer service pops it
		expect(t, "OnEventTime", tr.OnEventTime(fire, w, c), Fire)
		next := min(fire+10, 99)
		expectState(t, c, FireTimeStateName, next, true)
		if next < 99 {
			expectTimers(t, "after firing", c.eventTimers(w), next, 99)
		} else {
			expectTimers(t, "after firing", c.eventTimers(w), 99)
		}
		if fire < 90 {
			expect(t, "OnEventTime between", tr.OnEventTime(fire+5, w, c), Continue)
		}
	}
	expect(t, "OnEventTime(maxTs)", tr.OnEventTime(99, w, c), Fire)
	expectState(t, c, FireTimeStateName, 99, true)

	// Late element: fires immediately, nothing registered.
	c.wm = 99
	c.Clear()
	expect(t, "late OnElement", tr.OnElement("c", 50, w, c), Fire)
	expectTimers(t, "late element", c.eventTimers(w))
	expectState(t, c, FireTimeStateName, 0, false)

	// Clear deletes the fire-time timer and state but, like Flink, not the
	// end-of-window timer.
	c.wm = math.MinInt64
	tr.OnElement("d", 42, w, c)
	expectTimers(t, "before Clear", c.eventTimers(w), 50, 99)
	tr.Clear(w, c)
	expectTimers(t, "after Clear", c.eventTimers(w), 99)
	expectState(t, c, FireTimeStateName, 0, false)
}

func TestContinuousEventTimeTriggerCapsAtWindowEnd(t *testing.T) {
	w := tw(5, 25) // maxTs 24; not aligned to the interval
	tr := mustTrigger(ContinuousEventTimeTrigger[string, TimeWindow](10 * ms))
	c := newFakeCtx(w)
	tr.OnElement("a", 7, w, c)
	expectState(t, c, FireTimeStateName, 10, true)
	var fired []int64
	for _, time := range []int64{10, 20, 24} {
		if tr.OnEventTime(time, w, c).IsFire() {
			fired = append(fired, time)
		}
	}
	if !slices.Equal(fired, []int64{10, 20, 24}) {
		t.Errorf("fired at %v", fired)
	}
	expectState(t, c, FireTimeStateName, 24, true)

	// A first fire time beyond the window end is capped at maxTs.
	small := tw(0, 5)
	c.at(small)
	tr.OnElement("b", 1, small, c)
	expectState(t, c, FireTimeStateName, 4, true)
	expectTimers(t, "small window", c.eventTimers(small), 4)

	// Negative timestamps: ts - ts%interval truncates toward zero (Java %).
	neg := tw(-100, 100)
	c.at(neg)
	tr.OnElement("c", -5, neg, c)
	expectState(t, c, FireTimeStateName, 10, true)
}

func TestContinuousEventTimeTriggerMerge(t *testing.T) {
	a, b, merged := tw(0, 100), tw(100, 200), tw(0, 200)
	tr := mustTrigger(ContinuousEventTimeTrigger[string, TimeWindow](10 * ms))
	c := newFakeCtx(a)
	tr.OnElement("x", 25, a, c) // fire-time 30
	c.at(b)
	tr.OnElement("y", 112, b, c) // fire-time 120
	c.at(merged).merged = []TimeWindow{a, b}
	tr.OnMerge(merged, c)
	expectState(t, c, FireTimeStateName, 30, true) // smallest fire time wins
	expectTimers(t, "merged", c.eventTimers(merged), 30)

	empty := tw(300, 400)
	c.at(empty).merged = []TimeWindow{tw(300, 310), tw(305, 400)}
	tr.OnMerge(empty, c)
	expectState(t, c, FireTimeStateName, 0, false)
	expectTimers(t, "merged without state", c.eventTimers(empty))
}

func TestContinuousProcessingTimeTrigger(t *testing.T) {
	w := tw(0, 100) // maxTs 99
	tr := mustTrigger(ContinuousProcessingTimeTrigger[string, TimeWindow](10 * ms))
	c := newFakeCtx(w)

	// Absent state: no fire, no panic.
	expect(t, "OnProcessingTime without state", tr.OnProcessingTime(30, w, c), Continue)

	c.now = 23
	expect(t, "OnElement", tr.OnElement("a", 777, w, c), Continue) // ts is ignored
	expectTimers(t, "after element", c.processingTimers(w), 30)
	expectState(t, c, FireTimeStateName, 30, true)
	c.now = 27
	expect(t, "OnElement again", tr.OnElement("b", 1, w, c), Continue)
	expectTimers(t, "after second element", c.processingTimers(w), 30)
	expect(t, "OnEventTime", tr.OnEventTime(30, w, c), Continue)
	expect(t, "OnProcessingTime(25)", tr.OnProcessingTime(25, w, c), Continue)

	for fire := int64(30); fire <= 99; fire = min(fire+10, 99) {
		c.now = fire
		delete(c.procTimers, timerKey[TimeWindow]{w, fire})
		expect(t, "OnProcessingTime", tr.OnProcessingTime(fire, w, c), Fire)
		next := min(fire+10, 99)
		expectState(t, c, FireTimeStateName, next, true)
		expectTimers(t, "after firing", c.processingTimers(w), next)
		if fire == 99 {
			break
		}
	}
	// At the window end the fire time stays at maxTs and its timer is
	// re-registered; the operator's cleanup (Clear) removes it.
	tr.Clear(w, c)
	expectTimers(t, "after Clear", c.processingTimers(w))
	expectState(t, c, FireTimeStateName, 0, false)

	// Merge keeps the smallest fire time and registers it.
	a, b, merged := tw(0, 100), tw(100, 200), tw(0, 200)
	c.Clear()
	c.at(a).now = 41
	tr.OnElement("x", 0, a, c) // 50
	c.at(b).now = 12
	tr.OnElement("y", 0, b, c) // 20
	c.at(merged).merged = []TimeWindow{a, b}
	tr.OnMerge(merged, c)
	expectState(t, c, FireTimeStateName, 20, true)
	expectTimers(t, "merged", c.processingTimers(merged), 20)
	if !tr.CanMerge() {
		t.Error("cannot merge")
	}
}

type fixedTrigger struct {
	neverTrigger[string, TimeWindow]
	r TriggerResult
}

func (f fixedTrigger) OnElement(string, int64, TimeWindow, TriggerContext) TriggerResult { return f.r }

func TestPurgingTrigger(t *testing.T) {
	w := GlobalWindow{}
	tr := PurgingTrigger(CountTrigger[int, GlobalWindow](2))
	c := newFakeCtx(w)
	want := []TriggerResult{Continue, FireAndPurge, Continue, FireAndPurge}
	for i, r := range want {
		expect(t, "OnElement", tr.OnElement(i, 0, w, c), r)
	}
	if !tr.CanMerge() {
		t.Error("Purging(Count) cannot merge")
	}
	tr.OnElement(9, 0, w, c)
	tr.Clear(w, c) // delegated
	expectState(t, c, CountStateName, 0, false)

	tw0 := tw(0, 10)
	ev := PurgingTrigger(EventTimeTrigger[string, TimeWindow]())
	ec := newFakeCtx(tw0)
	expect(t, "event OnElement", ev.OnElement("a", 1, tw0, ec), Continue)
	expect(t, "event OnEventTime(maxTs)", ev.OnEventTime(9, tw0, ec), FireAndPurge)
	expect(t, "event OnEventTime(other)", ev.OnEventTime(5, tw0, ec), Continue)
	ec.wm = 50
	expect(t, "event late OnElement", ev.OnElement("b", 1, tw0, ec), FireAndPurge)
	ev.OnMerge(tw(0, 100), ec.at(tw(0, 100)))
	expectTimers(t, "delegated OnMerge", ec.eventTimers(tw(0, 100)), 99)

	pt := PurgingTrigger(ProcessingTimeTrigger[string, TimeWindow]())
	expect(t, "processing OnProcessingTime", pt.OnProcessingTime(9, tw0, ec), FireAndPurge)

	for _, r := range []TriggerResult{Continue, Purge, FireAndPurge, Fire} {
		want := r
		if r == Fire {
			want = FireAndPurge
		}
		expect(t, "nested "+r.String(), PurgingTrigger[string, TimeWindow](fixedTrigger{r: r}).OnElement("x", 0, tw0, ec), want)
	}
	if PurgingTrigger(NeverTrigger[int, GlobalWindow]()).CanMerge() {
		t.Error("Purging(Never) can merge")
	}
	if s := tr.(interface{ String() string }).String(); s != "PurgingTrigger(CountTrigger(2))" {
		t.Errorf("String = %q", s)
	}
}

func TestNeverTrigger(t *testing.T) {
	w := GlobalWindow{}
	tr := NeverTrigger[int, GlobalWindow]()
	c := newFakeCtx(w)
	c.wm = math.MaxInt64
	for i := range 5 {
		expect(t, "OnElement", tr.OnElement(i, int64(i), w, c), Continue)
	}
	expect(t, "OnEventTime", tr.OnEventTime(math.MaxInt64, w, c), Continue)
	expect(t, "OnProcessingTime", tr.OnProcessingTime(math.MaxInt64, w, c), Continue)
	if tr.CanMerge() {
		t.Error("NeverTrigger can merge")
	}
	tr.OnMerge(w, c)
	tr.Clear(w, c)
	if len(c.evTimers)+len(c.procTimers)+len(c.state) != 0 {
		t.Error("NeverTrigger touched the context")
	}
}

func TestTriggerStrings(t *testing.T) {
	tests := []struct {
		tr   Trigger[int, TimeWindow]
		want string
	}{
		{EventTimeTrigger[int, TimeWindow](), "EventTimeTrigger()"},
		{ProcessingTimeTrigger[int, TimeWindow](), "ProcessingTimeTrigger()"},
		{CountTrigger[int, TimeWindow](7), "CountTrigger(7)"},
		{mustTrigger(ContinuousEventTimeTrigger[int, TimeWindow](time.Second)), "ContinuousEventTimeTrigger(1000ms)"},
		{mustTrigger(ContinuousProcessingTimeTrigger[int, TimeWindow](time.Second)), "ContinuousProcessingTimeTrigger(1000ms)"},
		{NeverTrigger[int, TimeWindow](), "NeverTrigger()"},
	}
	for _, tt := range tests {
		if s := tt.tr.(interface{ String() string }).String(); s != tt.want {
			t.Errorf("String = %q, want %q", s, tt.want)
		}
	}
}

func TestInvalidContinuousTriggers(t *testing.T) {
	w := tw(0, 100)
	tests := []struct {
		tr  Trigger[int, TimeWindow]
		str string
	}{
		{ContinuousEventTimeTrigger[int, TimeWindow](0), "ContinuousEventTimeTrigger(invalid)"},
		{ContinuousProcessingTimeTrigger[int, TimeWindow](time.Microsecond), "ContinuousProcessingTimeTrigger(invalid)"},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			v, ok := tt.tr.(Validator)
			if !ok {
				t.Fatalf("%T does not implement Validator", tt.tr)
			}
			err := v.Err()
			if !errors.Is(err, ErrInvalidWindow) {
				t.Fatalf("Err = %v, want ErrInvalidWindow", err)
			}
			c := newFakeCtx(w)
			c.wm, c.now = 1000, 1000 // a valid continuous trigger would fire on late elements
			results := []TriggerResult{
				tt.tr.OnElement(1, 5, w, c),
				tt.tr.OnEventTime(w.MaxTimestamp(), w, c),
				tt.tr.OnProcessingTime(w.MaxTimestamp(), w, c),
			}
			for i, r := range results {
				if r != Continue {
					t.Errorf("result %d = %v, want CONTINUE", i, r)
				}
			}
			tt.tr.OnMerge(w, c)
			tt.tr.Clear(w, c)
			if len(c.evTimers)+len(c.procTimers)+len(c.state) != 0 {
				t.Errorf("invalid trigger touched the context: %+v", c)
			}
			if !tt.tr.CanMerge() {
				t.Error("CanMerge = false")
			}
			if s := tt.tr.(interface{ String() string }).String(); s != tt.str {
				t.Errorf("String = %q, want %q", s, tt.str)
			}
			if perr := PurgingTrigger(tt.tr).(Validator).Err(); perr != err {
				t.Errorf("PurgingTrigger Err = %v, want %v", perr, err)
			}
			tum := Must(TumblingEventTime[int](time.Second, 0))
			if cerr := CheckTrigger[int, TimeWindow](tum, tt.tr); cerr != err {
				t.Errorf("CheckTrigger = %v, want %v", cerr, err)
			}
			defer func() {
				if r := recover(); r != err {
					t.Errorf("mustTrigger panicked with %v, want %v", r, err)
				}
			}()
			mustTrigger(tt.tr)
		})
	}
	for _, tr := range []Trigger[int, TimeWindow]{
		ContinuousEventTimeTrigger[int, TimeWindow](time.Second),
		ContinuousProcessingTimeTrigger[int, TimeWindow](time.Second),
		PurgingTrigger(ContinuousEventTimeTrigger[int, TimeWindow](time.Second)),
		PurgingTrigger(CountTrigger[int, TimeWindow](3)),
	} {
		if err := tr.(Validator).Err(); err != nil {
			t.Errorf("%v: Err = %v, want nil", tr, err)
		}
	}
}

func TestTriggerHotPathAllocs(t *testing.T) {
	w := tw(0, 100)
	c := newFakeCtx(w)
	count := CountTrigger[int, TimeWindow](1000)
	cont := mustTrigger(ContinuousEventTimeTrigger[int, TimeWindow](10 * ms))
	ev := EventTimeTrigger[int, TimeWindow]()
	tc := TriggerContext(c)
	// Warm the maps.
	count.OnElement(0, 1, w, tc)
	cont.OnElement(0, 1, w, tc)
	ev.OnElement(0, 1, w, tc)
	allocs := testing.AllocsPerRun(100, func() {
		count.OnElement(0, 1, w, tc)
		cont.OnElement(0, 1, w, tc)
		ev.OnElement(0, 1, w, tc)
	})
	if allocs != 0 {
		t.Errorf("trigger OnElement allocates %v times", allocs)
	}
}
