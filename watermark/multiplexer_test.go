package watermark

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

func TestMultiplexerMinOverSplits(t *testing.T) {
	var r recorder
	m := NewMultiplexer(&r)
	for _, id := range []string{"a", "b"} {
		if err := m.Register(id); err != nil {
			t.Fatal(err)
		}
	}
	a, b := m.ImmediateOutput("a"), m.ImmediateOutput("b")

	a.EmitWatermark(10)
	eq(t, "b still at MinInt64", r.take(), nil)
	b.EmitWatermark(5)
	eq(t, "min(10,5)", r.take(), wms(5))
	a.EmitWatermark(20)
	eq(t, "min(20,5)", r.take(), nil)
	b.EmitWatermark(15)
	eq(t, "min(20,15)", r.take(), wms(15))
	b.EmitWatermark(12)
	eq(t, "split watermark never goes back", r.take(), nil)
	if m.CombinedWatermark() != 15 || m.IsIdle() || m.Len() != 2 {
		t.Fatalf("state: wm=%d idle=%v len=%d", m.CombinedWatermark(), m.IsIdle(), m.Len())
	}
}

func TestMultiplexerIdleness(t *testing.T) {
	var r recorder
	m := NewMultiplexer(&r)
	_ = m.Register("a")
	_ = m.Register("b")
	a, b := m.ImmediateOutput("a"), m.ImmediateOutput("b")
	a.EmitWatermark(20)
	b.EmitWatermark(15)
	eq(t, "start", r.take(), wms(15))

	b.MarkIdle()
	eq(t, "idle split is ignored", r.take(), wms(20))
	a.MarkIdle()
	eq(t, "all idle", r.take(), []string{"idle"})
	a.MarkIdle()
	m.OnPeriodicEmit()
	eq(t, "idle announced once", r.take(), nil)
	if !m.IsIdle() {
		t.Fatal("not idle")
	}

	b.EmitWatermark(12) // b resumes below the combined watermark (its own is 15)
	eq(t, "active again, never backwards", r.take(), []string{"active"})
	b.EmitWatermark(25)
	eq(t, "a still idle: b alone counts", r.take(), wms(25))
	a.MarkActive()
	eq(t, "a active at 20 < 25: no regression", r.take(), nil)
	a.EmitWatermark(30)
	b.EmitWatermark(40)
	eq(t, "min(30,40)", r.take(), wms(30))

	b.MarkIdle()
	eq(t, "min over {a:30} does not advance", r.take(), nil)
	a.MarkIdle()
	eq(t, "all idle again: the highest watermark, then idle", r.take(), []string{"wm:40", "idle"})
	a.MarkActive()
	eq(t, "markActive reactivates", r.take(), []string{"active"})
}

func TestMultiplexerDeferred(t *testing.T) {
	var r recorder
	m := NewMultiplexer(&r)
	_ = m.Register("a")
	_ = m.Register("b")
	da, db := m.DeferredOutput("a"), m.DeferredOutput("b")
	da.EmitWatermark(10)
	db.EmitWatermark(20)
	eq(t, "deferred updates wait", r.take(), nil)
	m.OnPeriodicEmit()
	eq(t, "combined on periodic emit", r.take(), wms(10))
	da.MarkIdle()
	db.MarkIdle()
	eq(t, "deferred idle waits", r.take(), nil)
	m.OnPeriodicEmit()
	eq(t, "all idle: the highest watermark, then idle", r.take(), []string{"wm:20", "idle"})
	db.EmitWatermark(30) // a watermark marks the split active
	m.OnPeriodicEmit()
	eq(t, "reactivated by watermark", r.take(), []string{"active", "wm:30"})
}

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := make([]int, 0, n)
			q = append(q, p[:i]...)
			q = append(q, n-1)
			q = append(q, p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// TestMultiplexerAllIdleEveryOrder gives every split a watermark, then
// marks the splits idle in every possible order. Through immediate outputs,
// the combined watermark follows the minimum over the splits still active;
// when the last one goes idle the highest watermark of any split is
// forwarded if it was not yet, then idle. Through deferred outputs, the
// periodic emit after all of them went idle forwards the same.
func TestMultiplexerAllIdleEveryOrder(t *testing.T) {
	tests := []struct {
		name string
		wms  []int64 // per split; MinWatermark: the split never emitted
	}{
		{"three splits", []int64{10, 30, 20}},
		{"four splits", []int64{40, 10, 30, 20}},
		{"four splits sharing the max", []int64{30, 10, 30, 20}},
		{"one split without a watermark", []int64{20, MinWatermark, 10}},
		{"all equal: max already forwarded", []int64{10, 10, 10}},
		{"none has a watermark", []int64{MinWatermark, MinWatermark, MinWatermark}},
	}
	ids := []string{"a", "b", "c", "d"}
	setup := func(t *testing.T, perSplit []int64) (*Multiplexer, *recorder) {
		t.Helper()
		r := &recorder{}
		m := NewMultiplexer(r)
		for i := range perSplit {
			if err := m.Register(ids[i]); err != nil {
				t.Fatal(err)
			}
		}
		for i, w := range perSplit {
			if w != MinWatermark {
				m.ImmediateOutput(ids[i]).EmitWatermark(w)
			}
		}
		var want []string
		if low := slices.Min(perSplit); low != MinWatermark {
			want = wms(low)
		}
		eq(t, "setup forwards the minimum", r.take(), want)
		return m, r
	}
	for _, tc := range tests {
		n := len(tc.wms)
		highest := slices.Max(tc.wms)
		for _, order := range permutations(n) {
			t.Run(fmt.Sprintf("%s/immediate/order=%v", tc.name, order), func(t *testing.T) {
				m, r := setup(t, tc.wms)
				last := m.CombinedWatermark()
				active := slices.Clone(tc.wms)
				for k, i := range order {
					m.ImmediateOutput(ids[i]).MarkIdle()
					active[i] = math.MaxInt64 // no longer active
					var want []string
					if k < n-1 {
						if low := slices.Min(active); low > last {
							want, last = wms(low), low
						}
					} else {
						if highest > last {
							want, last = wms(highest), highest
						}
						want = append(want, "idle")
					}
					eq(t, fmt.Sprintf("split %s idle (step %d of order %v)", ids[i], k, order), r.take(), want)
				}
				if m.CombinedWatermark() != highest || !m.IsIdle() {
					t.Fatalf("end: combined %d idle %v, want %d idle", m.CombinedWatermark(), m.IsIdle(), highest)
				}
			})
			t.Run(fmt.Sprintf("%s/deferred/order=%v", tc.name, order), func(t *testing.T) {
				m, r := setup(t, tc.wms)
				for _, i := range order {
					m.DeferredOutput(ids[i]).MarkIdle()
				}
				eq(t, "deferred idleness waits", r.take(), nil)
				m.OnPeriodicEmit()
				want := []string{"idle"}
				if highest > slices.Min(tc.wms) {
					want = append(wms(highest), want...)
				}
				eq(t, "periodic emit", r.take(), want)
				m.OnPeriodicEmit()
				eq(t, "once", r.take(), nil)
			})
		}
	}
}

func TestMultiplexerAfterAllIdle(t *testing.T) {
	type step struct {
		split  string
		deferr bool   // through the deferred output
		wm     int64  // emit this watermark if action == ""
		action string // "idle", "active", "periodic" (split ignored) or ""
		want   []string
	}
	tests := []struct {
		name   string
		splits []string
		steps  []step
	}{
		{
			name:   "re-activation by markActive and by a watermark",
			splits: []string{"a", "b", "c"},
			steps: []step{
				{split: "a", wm: 10, want: nil}, {split: "b", wm: 30, want: nil}, {split: "c", wm: 20, want: wms(10)},
				{split: "b", action: "idle"}, {split: "c", action: "idle"},
				{split: "a", action: "idle", want: []string{"wm:30", "idle"}},
				{split: "c", action: "active", want: []string{"active"}}, // c at 20 < 30: nothing goes back
				{split: "c", wm: 25},
				{split: "a", wm: 35}, // a was idle: the watermark activates it; min(a 35, c 25) < 30
				{split: "c", wm: 40, want: wms(35)},
				{split: "a", action: "idle", want: wms(40)},          // only c left
				{split: "c", action: "idle", want: []string{"idle"}}, // 40 already forwarded
				{split: "b", wm: 50, want: []string{"active", "wm:50"}},
			},
		},
		{
			name:   "a split that advances and idles again between periodic emits",
			splits: []string{"a", "b"},
			steps: []step{
				{split: "a", deferr: true, wm: 10}, {split: "b", deferr: true, wm: 20},
				{action: "periodic", want: wms(10)},
				{split: "a", deferr: true, action: "idle"}, {split: "b", deferr: true, action: "idle"},
				{action: "periodic", want: []string{"wm:20", "idle"}},
				{split: "a", deferr: true, wm: 50}, {split: "a", deferr: true, action: "idle"},
				{action: "periodic", want: []string{"active", "wm:50", "idle"}},
				{action: "periodic"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r recorder
			m := NewMultiplexer(&r)
			for _, id := range tc.splits {
				if err := m.Register(id); err != nil {
					t.Fatal(err)
				}
			}
			for i, s := range tc.steps {
				if s.action == "periodic" {
					m.OnPeriodicEmit()
				} else {
					o := m.ImmediateOutput(s.split)
					if s.deferr {
						o = m.DeferredOutput(s.split)
					}
					switch s.action {
					case "idle":
						o.MarkIdle()
					case "active":
						o.MarkActive()
					default:
						o.EmitWatermark(s.wm)
					}
				}
				eq(t, fmt.Sprintf("step %d %+v", i, s), r.take(), s.want)
			}
		})
	}
}

func TestMultiplexerUnregister(t *testing.T) {
	var r recorder
	m := NewMultiplexer(&r)
	_ = m.Register("a")
	_ = m.Register("b")
	a := m.ImmediateOutput("a")
	a.EmitWatermark(10)
	m.ImmediateOutput("b").EmitWatermark(20)
	eq(t, "start", r.take(), wms(10))

	if !m.Unregister("a") {
		t.Fatal("Unregister(a) = false")
	}
	eq(t, "unregister alone emits nothing", r.take(), nil)
	m.OnPeriodicEmit()
	eq(t, "finished split no longer holds back", r.take(), wms(20))
	a.EmitWatermark(100)
	a.MarkIdle()
	eq(t, "outputs of a removed split are no-ops", r.take(), nil)
	if m.Unregister("a") || m.Unregister("zzz") {
		t.Fatal("Unregister of unknown split = true")
	}

	if err := m.Register("b"); err == nil {
		t.Fatal("duplicate Register succeeded")
	}
	if err := m.Register("a"); err != nil { // re-registering a finished id starts afresh
		t.Fatal(err)
	}
	m.ImmediateOutput("a").EmitWatermark(15)
	eq(t, "new split below combined", r.take(), nil)
	m.ImmediateOutput("a").EmitWatermark(25)
	m.ImmediateOutput("b").EmitWatermark(30)
	eq(t, "min(25,30)", r.take(), wms(25))

	m.Unregister("a")
	m.Unregister("b")
	m.OnPeriodicEmit()
	eq(t, "no splits: nothing", r.take(), nil)

	defer func() {
		if recover() == nil {
			t.Fatal("ImmediateOutput of unknown split did not panic")
		}
	}()
	m.ImmediateOutput("a")
}

func TestSplitWatermarks(t *testing.T) {
	clock := NewManualClock(0)
	s := ForBoundedOutOfOrderness[event](10 * time.Millisecond).
		WithTimestampAssigner(func(v event, _ int64) int64 { return v.ts }).
		WithIdleness(time.Second).WithClock(clock)
	var r recorder
	w, err := s.NewSplitWatermarks(&r)
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := w.AddSplit("s1"), w.AddSplit("s2")
	if w.AddSplit("s1") != s1 || s1.ID() != "s1" {
		t.Fatal("AddSplit must return the existing output")
	}
	emit := func(o *SplitOutput[event], ts int64) {
		v := event{key: o.ID(), ts: ts}
		o.OnEvent(v, o.AssignTimestamp(v, NoTimestamp))
	}
	emit(s1, 100)
	emit(s2, 50)
	emit(s1, 90)
	eq(t, "periodic generators emit nothing on events", r.take(), nil)
	w.OnPeriodicEmit()
	eq(t, "min(100-11, 50-11)", r.take(), wms(39))

	emit(s2, 200)
	w.RemoveSplit("s2") // e.g. s2 finished
	w.OnPeriodicEmit()
	eq(t, "only s1 left", r.take(), wms(89))
	if w.RemoveSplit("s2") {
		t.Fatal("RemoveSplit twice = true")
	}

	// No records on s1 since the last periodic emit (at clock 0), which
	// started the countdown: idle once more than 1s has elapsed, active on
	// the next record.
	for _, at := range []int64{200, 1000} {
		clock.Set(at)
		w.OnPeriodicEmit()
	}
	eq(t, "not idle yet", r.take(), nil)
	clock.Set(1001)
	w.OnPeriodicEmit()
	eq(t, "idle", r.take(), []string{"idle"})
	emit(s1, 95)
	eq(t, "active on record", r.take(), []string{"active"})
	emit(s1, 300)
	w.OnPeriodicEmit()
	eq(t, "advances", r.take(), wms(289))
	if w.Multiplexer().CombinedWatermark() != 289 {
		t.Fatal("combined watermark")
	}

	allocs := testing.AllocsPerRun(1000, func() { emit(s1, 400); w.OnPeriodicEmit() })
	if allocs != 0 {
		t.Fatalf("allocs = %v, want 0", allocs)
	}
}
