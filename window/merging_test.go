package window

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"
)

type mergeCall struct {
	result       TimeWindow
	merged       []TimeWindow
	stateResult  TimeWindow
	mergedStates []TimeWindow
}

type mergeRecorder struct{ calls []mergeCall }

func (r *mergeRecorder) fn(result TimeWindow, merged []TimeWindow, stateResult TimeWindow, mergedStates []TimeWindow) error {
	r.calls = append(r.calls, mergeCall{result, slices.Clone(merged), stateResult, slices.Clone(mergedStates)})
	return nil
}

func (r *mergeRecorder) take() []mergeCall {
	c := r.calls
	r.calls = nil
	return c
}

func mapping(s *MergingWindowSet[TimeWindow]) map[TimeWindow]TimeWindow {
	return maps.Collect(s.All())
}

func TestMergingWindowSet(t *testing.T) {
	sessions := Must(EventTimeSession[int](10 * time.Millisecond))
	s := NewMergingWindowSet[TimeWindow](sessions)
	rec := &mergeRecorder{}

	steps := []struct {
		name    string
		add     TimeWindow
		result  TimeWindow
		calls   []mergeCall
		mapping map[TimeWindow]TimeWindow
	}{
		{"first window", tw(0, 10), tw(0, 10), nil,
			map[TimeWindow]TimeWindow{tw(0, 10): tw(0, 10)}},
		{"separate window", tw(20, 30), tw(20, 30), nil,
			map[TimeWindow]TimeWindow{tw(0, 10): tw(0, 10), tw(20, 30): tw(20, 30)}},
		{"overlap extends first", tw(5, 15), tw(0, 15),
			[]mergeCall{{tw(0, 15), []TimeWindow{tw(0, 10)}, tw(0, 10), nil}},
			map[TimeWindow]TimeWindow{tw(0, 15): tw(0, 10), tw(20, 30): tw(20, 30)}},
		{"inside existing: no merge call", tw(2, 12), tw(0, 15), nil,
			map[TimeWindow]TimeWindow{tw(0, 15): tw(0, 10), tw(20, 30): tw(20, 30)}},
		{"duplicate of merged window keeps its state window", tw(0, 15), tw(0, 15), nil,
			map[TimeWindow]TimeWindow{tw(0, 15): tw(0, 10), tw(20, 30): tw(20, 30)}},
		{"bridging element merges both", tw(12, 22), tw(0, 30),
			[]mergeCall{{tw(0, 30), []TimeWindow{tw(0, 15), tw(20, 30)}, tw(0, 10), []TimeWindow{tw(20, 30)}}},
			map[TimeWindow]TimeWindow{tw(0, 30): tw(0, 10)}},
		{"touching window merges", tw(30, 40), tw(0, 40),
			[]mergeCall{{tw(0, 40), []TimeWindow{tw(0, 30)}, tw(0, 10), nil}},
			map[TimeWindow]TimeWindow{tw(0, 40): tw(0, 10)}},
		{"non-touching window", tw(41, 51), tw(41, 51), nil,
			map[TimeWindow]TimeWindow{tw(0, 40): tw(0, 10), tw(41, 51): tw(41, 51)}},
		{"new window covering existing ones", tw(-5, 60), tw(-5, 60),
			[]mergeCall{{tw(-5, 60), []TimeWindow{tw(0, 40), tw(41, 51)}, tw(0, 10), []TimeWindow{tw(41, 51)}}},
			map[TimeWindow]TimeWindow{tw(-5, 60): tw(0, 10)}},
	}
	for _, st := range steps {
		got, err := s.AddWindow(st.add, rec.fn)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.result {
			t.Errorf("%s: AddWindow(%v) = %v, want %v", st.name, st.add, got, st.result)
		}
		if calls := rec.take(); !equalCalls(calls, st.calls) {
			t.Errorf("%s: merge calls %+v, want %+v", st.name, calls, st.calls)
		}
		if m := mapping(s); !maps.Equal(m, st.mapping) {
			t.Errorf("%s: mapping %v, want %v", st.name, m, st.mapping)
		}
		if s.Len() != len(st.mapping) {
			t.Errorf("%s: Len = %d", st.name, s.Len())
		}
		sw, ok := s.StateWindow(got)
		if !ok || sw != st.mapping[got] {
			t.Errorf("%s: StateWindow(%v) = %v, %v", st.name, got, sw, ok)
		}
	}

	if _, ok := s.StateWindow(tw(0, 10)); ok {
		t.Error("StateWindow of a merged-away window should be absent")
	}
	if err := s.RetireWindow(tw(0, 10)); !errors.Is(err, ErrWindowNotInFlight) {
		t.Errorf("RetireWindow(unknown) = %v", err)
	} else if err.Error() != "window: window is not in the in-flight window set: [0, 10)" {
		t.Errorf("RetireWindow message %q", err.Error())
	}
	if err := s.RetireWindow(tw(-5, 60)); err != nil {
		t.Errorf("RetireWindow: %v", err)
	}
	if s.Len() != 0 {
		t.Errorf("Len after retire = %d", s.Len())
	}
}

func equalCalls(a, b []mergeCall) bool {
	return slices.EqualFunc(a, b, func(x, y mergeCall) bool {
		return x.result == y.result && x.stateResult == y.stateResult &&
			slices.Equal(x.merged, y.merged) && slices.Equal(x.mergedStates, y.mergedStates)
	})
}

func TestMergingWindowSetNewWindowCoveringOne(t *testing.T) {
	// Flink's fix: a new window that swallows an existing one becomes the
	// merge result and must keep the existing state window.
	s := NewMergingWindowSet[TimeWindow](Must(EventTimeSession[int](time.Millisecond)))
	rec := &mergeRecorder{}
	s.AddWindow(tw(2, 8), rec.fn)
	got, err := s.AddWindow(tw(0, 10), rec.fn)
	if err != nil || got != tw(0, 10) {
		t.Fatalf("AddWindow = %v, %v", got, err)
	}
	want := []mergeCall{{tw(0, 10), []TimeWindow{tw(2, 8)}, tw(2, 8), nil}}
	if calls := rec.take(); !equalCalls(calls, want) {
		t.Errorf("calls %+v, want %+v", calls, want)
	}
	if m := mapping(s); !maps.Equal(m, map[TimeWindow]TimeWindow{tw(0, 10): tw(2, 8)}) {
		t.Errorf("mapping %v", m)
	}
}

func TestMergingWindowSetRestoreAndErrors(t *testing.T) {
	s := NewMergingWindowSet[TimeWindow](Must(EventTimeSession[int](time.Millisecond)))
	s.Restore(tw(0, 20), tw(0, 5))
	s.Restore(tw(30, 40), tw(30, 40))
	if s.Len() != 2 {
		t.Fatalf("Len = %d", s.Len())
	}
	for w, sw := range s.All() {
		if w == tw(0, 20) {
			_ = sw
			break // early stop must be honoured
		}
	}

	boom := errors.New("late merge")
	_, err := s.AddWindow(tw(19, 31), func(TimeWindow, []TimeWindow, TimeWindow, []TimeWindow) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the merge function's error", err)
	}

	// After an error the set is usable again.
	rec := &mergeRecorder{}
	got, err := s.AddWindow(tw(100, 110), rec.fn)
	if err != nil || got != tw(100, 110) {
		t.Fatalf("AddWindow after error = %v, %v", got, err)
	}
}

func TestMergingWindowSetAllocs(t *testing.T) {
	s := NewMergingWindowSet[TimeWindow](Must(EventTimeSession[int](10 * time.Millisecond)))
	noop := func(TimeWindow, []TimeWindow, TimeWindow, []TimeWindow) error { return nil }
	for i := range 8 {
		s.AddWindow(tw(int64(i)*100, int64(i)*100+10), noop)
	}
	allocs := testing.AllocsPerRun(100, func() {
		// Falls inside an existing window: no structural change.
		if _, err := s.AddWindow(tw(301, 305), noop); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AddWindow allocates %v times", allocs)
	}
}

// growMerger is a custom merger that merges every window present, even a
// single one, into their cover extended by 5.
type growMerger struct{}

func (growMerger) MergeWindows(ws []TimeWindow, merge func([]TimeWindow, TimeWindow)) {
	cover := ws[0]
	for _, w := range ws[1:] {
		cover = cover.Cover(w)
	}
	cover.End += 5
	merge(ws, cover)
}

func TestMergingWindowSetCustomMerger(t *testing.T) {
	s := NewMergingWindowSet[TimeWindow](growMerger{})
	rec := &mergeRecorder{}
	// Only the new window is "merged": it becomes a fresh window.
	got, err := s.AddWindow(tw(0, 10), rec.fn)
	if err != nil || got != tw(0, 15) {
		t.Fatalf("AddWindow = %v, %v", got, err)
	}
	if calls := rec.take(); len(calls) != 0 {
		t.Errorf("unexpected merge calls %+v", calls)
	}
	if m := mapping(s); !maps.Equal(m, map[TimeWindow]TimeWindow{tw(0, 15): tw(0, 15)}) {
		t.Errorf("mapping %v", m)
	}
	// A new window equal to an in-flight one still has that window's state
	// merged.
	got, err = s.AddWindow(tw(0, 15), rec.fn)
	if err != nil || got != tw(0, 20) {
		t.Fatalf("AddWindow = %v, %v", got, err)
	}
	want := []mergeCall{{tw(0, 20), []TimeWindow{tw(0, 15)}, tw(0, 15), nil}}
	if calls := rec.take(); !equalCalls(calls, want) {
		t.Errorf("calls %+v, want %+v", calls, want)
	}
	if m := mapping(s); !maps.Equal(m, map[TimeWindow]TimeWindow{tw(0, 20): tw(0, 15)}) {
		t.Errorf("mapping %v", m)
	}
}
