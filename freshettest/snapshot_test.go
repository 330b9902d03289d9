package freshettest_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/state"
	"github.com/freshet-io/freshet/window"
)

// step is one input of a scripted run: an element at a time, or a
// watermark.
type step[T any] struct {
	v  T
	ts int64
	wm bool
}

func feed[T, OUT any](t *testing.T, h *freshettest.Harness[T, OUT], steps []step[T], keep func(T) bool) {
	t.Helper()
	for _, s := range steps {
		var err error
		switch {
		case s.wm:
			err = h.Watermark(s.ts)
		case keep == nil || keep(s.v):
			err = h.ProcessAt(s.v, s.ts)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func mustNew[T, OUT any](t *testing.T, build func(*freshet.Stream[T]) *freshet.Stream[OUT], opts ...freshettest.Option) *freshettest.Harness[T, OUT] {
	t.Helper()
	h, err := freshettest.New(build, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// checkRestore runs steps uninterrupted, then again with a snapshot after
// steps[:cut] restored into one fresh harness, and into two harnesses of
// parallelism 2 fed only their keys: the outputs must continue the
// uninterrupted run's exactly.
// sameTimeSorted sorts each run of records of one timestamp between
// watermarks by their text.
func sameTimeSorted[OUT any](events []freshettest.Event[OUT]) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.String()
	}
	for i := 0; i < len(events); {
		j := i + 1
		for j < len(events) && !events[i].IsWatermark && !events[j].IsWatermark && events[j].Record.Timestamp == events[i].Record.Timestamp {
			j++
		}
		slices.Sort(out[i:j])
		i = j
	}
	return out
}

func checkRestore[T any, OUT comparable](t *testing.T, build func(*freshet.Stream[T]) *freshet.Stream[OUT], steps []step[T], cut int,
	keyOf func(T) string, outKey func(OUT) string) {
	full := mustNew(t, build)
	feed(t, full, steps, nil)
	want := full.Events()

	first := mustNew(t, build)
	feed(t, first, steps[:cut], nil)
	before := first.Events()
	snap, err := first.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Input after the snapshot does not change it.
	feed(t, first, steps[cut:], nil)
	b, err := snap.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	snap = &freshettest.Snapshot{}
	if err := snap.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}

	t.Run("same parallelism", func(t *testing.T) {
		h := mustNew(t, build, freshettest.WithRestore(snap))
		feed(t, h, steps[cut:], nil)
		if got := append(slices.Clone(before), h.Events()...); !slices.Equal(got, want) {
			t.Fatalf("restored run\n got %v\nwant %v", got, want)
		}
	})

	// The heap's snapshot restores on Pebble, and Pebble's on the heap.
	t.Run("heap to pebble and back", func(t *testing.T) {
		p := mustNew(t, build, freshettest.WithRestore(snap), freshettest.WithStateBackend(freshet.PebbleBackend()))
		mid := cut + (len(steps)-cut)/2
		feed(t, p, steps[cut:mid], nil)
		psnap, err := p.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		got := append(slices.Clone(before), p.Events()...)
		h := mustNew(t, build, freshettest.WithRestore(psnap))
		feed(t, h, steps[mid:], nil)
		// Pebble fires timers of one time in key order, the heap in the
		// order they were set; Flink promises neither.
		if got = append(got, h.Events()...); !slices.Equal(sameTimeSorted(got), sameTimeSorted(want)) {
			t.Fatalf("restored runs\n got %v\nwant %v", got, want)
		}
	})

	var rest []freshettest.Record[OUT]
	for _, e := range want[len(before):] {
		if !e.IsWatermark {
			rest = append(rest, e.Record)
		}
	}
	ownedBy := func(sub int) func(string) bool {
		return func(k string) bool {
			s, err := freshettest.SubtaskOf(k, 0, 2)
			if err != nil {
				t.Fatal(err)
			}
			return s == sub
		}
	}
	byText := func(a, b freshettest.Record[OUT]) int {
		return cmp.Or(cmp.Compare(a.Timestamp, b.Timestamp), strings.Compare(fmt.Sprint(a.Value), fmt.Sprint(b.Value)))
	}

	t.Run("parallelism 2", func(t *testing.T) {
		var all []freshettest.Record[OUT]
		for sub := range 2 {
			owns := ownedBy(sub)
			h := mustNew(t, build, freshettest.WithRestore(snap), freshettest.WithSubtask(sub, 2))
			feed(t, h, steps[cut:], func(v T) bool { return owns(keyOf(v)) })
			got := h.Records()
			var mine []freshettest.Record[OUT]
			for _, r := range rest {
				if owns(outKey(r.Value)) {
					mine = append(mine, r)
				}
			}
			if len(mine) == 0 || len(mine) == len(rest) {
				t.Fatalf("subtask %d of 2 owns %d of %d results; the test wants keys on both", sub, len(mine), len(rest))
			}
			if !slices.Equal(got, mine) {
				t.Fatalf("subtask %d of 2\n got %v\nwant %v", sub, got, mine)
			}
			all = append(all, got...)
		}
		slices.SortFunc(all, byText)
		sorted := slices.SortedFunc(slices.Values(rest), byText)
		if !slices.Equal(all, sorted) {
			t.Fatalf("both subtasks together\n got %v\nwant %v", all, sorted)
		}
	})

	// Two subtasks of parallelism 2 run the first part; their snapshots,
	// merged, restore one subtask of parallelism 1.
	t.Run("parallelism 2 into 1", func(t *testing.T) {
		var snaps []*freshettest.Snapshot
		for sub := range 2 {
			owns := ownedBy(sub)
			h := mustNew(t, build, freshettest.WithSubtask(sub, 2))
			feed(t, h, steps[:cut], func(v T) bool { return owns(keyOf(v)) })
			s, err := h.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			snaps = append(snaps, s)
		}
		h := mustNew(t, build, freshettest.WithRestore(snaps...))
		feed(t, h, steps[cut:], nil)
		// Timers of one time from the two old subtasks may fire in
		// another order than in one uninterrupted subtask.
		got := slices.SortedFunc(slices.Values(h.Records()), byText)
		if sorted := slices.SortedFunc(slices.Values(rest), byText); !slices.Equal(got, sorted) {
			t.Fatalf("merged restore\n got %v\nwant %v", got, sorted)
		}
	})
}

var counted = state.NewValue[int]("count")

// countThenFire counts elements per key and, an event-time timer 10 ms
// after the key's last element, emits the key's count.
type countThenFire struct{ freshet.BaseFunction }

func (countThenFire) ProcessElement(ctx *freshet.KeyedContext[string], v string, _ freshet.Collector[string]) error {
	st := state.Value(ctx.State(), counted)
	n, _ := st.Value()
	st.Update(n + 1)
	ts, _ := ctx.Timestamp()
	ctx.TimerService().RegisterEventTimeTimer(ts + 10)
	return nil
}

func (countThenFire) OnTimer(ctx *freshet.KeyedContext[string], ts int64, out freshet.Collector[string]) error {
	n, _ := state.Value(ctx.State(), counted).Value()
	out.Collect(fmt.Sprintf("%s:%d@%d", ctx.CurrentKey(), n, ts))
	return nil
}

// script is elements of ten keys at distinct times, with a watermark every
// fifth element and one at the end.
func script[T any](n int, elem func(key string, i int) T) []step[T] {
	var steps []step[T]
	for i := range n {
		ts := int64(3*i + 1)
		steps = append(steps, step[T]{v: elem(fmt.Sprintf("k%d", i*7%10), i), ts: ts})
		if i%5 == 4 {
			steps = append(steps, step[T]{wm: true, ts: ts - 4})
		}
	}
	return append(steps, step[T]{wm: true, ts: 1000})
}

func TestSnapshotRestoreKeyedProcessFunction(t *testing.T) {
	build := func(in *freshet.Stream[string]) *freshet.Stream[string] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(s string) string { return s }),
			freshet.KeyedProcessFunction[string, string, string](countThenFire{}))
	}
	steps := script(60, func(k string, _ int) string { return k })
	prefix := func(s string) string { k, _, _ := strings.Cut(s, ":"); return k }
	checkRestore(t, build, steps, 37, func(s string) string { return s }, prefix)
}

type kv struct {
	K string
	V int
}

func TestSnapshotRestoreTumblingEventTimeWindow(t *testing.T) {
	build := func(in *freshet.Stream[kv]) *freshet.Stream[kv] {
		w := freshet.Window(freshet.KeyBy(in, func(e kv) string { return e.K }), window.TumblingEventTime[kv](20*time.Millisecond, 0))
		return freshet.WindowReduce(w, func(a, b kv) kv { return kv{a.K, a.V + b.V} })
	}
	steps := script(80, func(k string, i int) kv { return kv{k, i} })
	checkRestore(t, build, steps, 41, func(e kv) string { return e.K }, func(e kv) string { return e.K })
}

func TestSnapshotRestoreSessionWindow(t *testing.T) {
	build := func(in *freshet.Stream[kv]) *freshet.Stream[kv] {
		w := freshet.Window(freshet.KeyBy(in, func(e kv) string { return e.K }), window.EventTimeSession[kv](40*time.Millisecond))
		return freshet.WindowReduce(w, func(a, b kv) kv { return kv{a.K, a.V + b.V} })
	}
	steps := script(80, func(k string, i int) kv { return kv{k, i} })
	for i := 50; i < 80; i++ { // a pause, then sessions of some keys close
		steps[i].ts += 100
	}
	checkRestore(t, build, steps, 45, func(e kv) string { return e.K }, func(e kv) string { return e.K })
}

// hidden is an accumulator the codec cannot encode (unexported fields).
type hidden struct{ sum int }

type hiddenSum struct{}

func (hiddenSum) CreateAccumulator() hidden { return hidden{} }
func (hiddenSum) Add(v kv, a hidden) hidden { return hidden{a.sum + v.V} }
func (hiddenSum) GetResult(a hidden) int    { return a.sum }
func (hiddenSum) Merge(a, b hidden) hidden  { return hidden{a.sum + b.sum} }

func TestSnapshotOfUnencodableStateFailsNamingTheTable(t *testing.T) {
	h := mustNew(t, func(in *freshet.Stream[kv]) *freshet.Stream[int] {
		w := freshet.Window(freshet.KeyBy(in, func(e kv) string { return e.K }), window.TumblingEventTime[kv](10*time.Millisecond, 0))
		return freshet.WindowAggregate(w, freshet.AggregateFunction[kv, hidden, int](hiddenSum{}))
	})
	if _, err := h.Snapshot(); err != nil {
		t.Fatalf("no windows yet: %v", err)
	}
	if err := h.ProcessAt(kv{"a", 1}, 5); err != nil {
		t.Fatal(err)
	}
	_, err := h.Snapshot()
	if !errors.Is(err, statebackend.ErrNotSnapshottable) || !strings.Contains(err.Error(), `"window-contents"`) {
		t.Fatalf("Snapshot = %v; want ErrNotSnapshottable naming the window-contents table", err)
	}
}

func TestRestoreRefusesAnotherChain(t *testing.T) {
	h := mustNew(t, func(in *freshet.Stream[string]) *freshet.Stream[int] {
		return freshet.Map(in, func(s string) int { return len(s) })
	})
	snap, err := h.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	_, err = freshettest.New(func(in *freshet.Stream[string]) *freshet.Stream[string] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(s string) string { return s }),
			freshet.KeyedProcessFunction[string, string, string](countThenFire{}))
	}, freshettest.WithRestore(snap))
	if err == nil || !strings.Contains(err.Error(), "WithRestore") {
		t.Fatalf("New = %v; want a WithRestore error", err)
	}
	if err := new(freshettest.Snapshot).UnmarshalBinary([]byte("FTS1\x05")); err == nil {
		t.Fatal("UnmarshalBinary of a truncated snapshot: want an error")
	}
}

// remindLater emits the key a processing-time timer 100 ms after its
// element.
type remindLater struct{ freshet.BaseFunction }

func (remindLater) ProcessElement(ctx *freshet.KeyedContext[string], v string, _ freshet.Collector[string]) error {
	ctx.TimerService().RegisterProcessingTimeTimer(ctx.TimerService().CurrentProcessingTime() + 100)
	return nil
}

func (remindLater) OnTimer(ctx *freshet.KeyedContext[string], ts int64, out freshet.Collector[string]) error {
	out.Collect(fmt.Sprintf("%s@%d", ctx.CurrentKey(), ts))
	return nil
}

func TestRestoredProcessingTimersFire(t *testing.T) {
	build := func(in *freshet.Stream[string]) *freshet.Stream[string] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(s string) string { return s }),
			freshet.KeyedProcessFunction[string, string, string](remindLater{}))
	}
	h := mustNew(t, build)
	for i, k := range []string{"a", "b", "c"} {
		if err := h.SetProcessingTime(int64(10 * i)); err != nil {
			t.Fatal(err)
		}
		if err := h.Process(k); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := h.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := mustNew(t, build, freshettest.WithRestore(snap), freshettest.WithProcessingTime(20))
	if err := r.SetProcessingTime(115); err != nil {
		t.Fatal(err)
	}
	if err := r.SetProcessingTime(500); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Values(), []string{"a@100", "b@110", "c@120"}; !slices.Equal(got, want) {
		t.Fatalf("restored processing-time timers fired %v, want %v", got, want)
	}
}

// joinStep is an input of an interval join: an element of one side, or a
// watermark of both.
type joinStep struct {
	left bool
	e    kv
	ts   int64
	wm   bool
}

func TestSnapshotRestoreIntervalJoin(t *testing.T) {
	build := func(a, b *freshet.Stream[kv]) *freshet.Stream[string] {
		j := freshet.IntervalJoin(freshet.KeyBy(a, func(e kv) string { return e.K }), freshet.KeyBy(b, func(e kv) string { return e.K }))
		j.Between(-20*time.Millisecond, 20*time.Millisecond)
		return freshet.IntervalJoinApply(j, func(l, r kv) string { return fmt.Sprintf("%s:%d-%d", l.K, l.V, r.V) })
	}
	var steps []joinStep
	for i := range 90 {
		ts := int64(2*i + 1)
		steps = append(steps, joinStep{left: i%2 == 0, e: kv{fmt.Sprintf("k%d", i*3%7), i}, ts: ts})
		if i%6 == 5 {
			steps = append(steps, joinStep{wm: true, ts: ts - 8})
		}
	}
	run := func(h *freshettest.Harness2[kv, kv, string], steps []joinStep, keep func(string) bool) {
		t.Helper()
		for _, s := range steps {
			var err error
			switch {
			case s.wm:
				if err = h.Watermark1(s.ts); err == nil {
					err = h.Watermark2(s.ts)
				}
			case keep != nil && !keep(s.e.K):
			case s.left:
				err = h.Process1At(s.e, s.ts)
			default:
				err = h.Process2At(s.e, s.ts)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	newH := func(opts ...freshettest.Option) *freshettest.Harness2[kv, kv, string] {
		h, err := freshettest.New2(build, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		return h
	}
	const cut = 70
	full := newH()
	run(full, steps, nil)
	first := newH()
	run(first, steps[:cut], nil)
	snap, err := first.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want := full.Values()[len(first.Values()):]
	if len(want) < 10 {
		t.Fatalf("only %d joined pairs after the snapshot; the test wants more", len(want))
	}

	same := newH(freshettest.WithRestore(snap))
	run(same, steps[cut:], nil)
	if got := same.Values(); !slices.Equal(got, want) {
		t.Fatalf("restored join\n got %v\nwant %v", got, want)
	}

	var all []string
	for sub := range 2 {
		h := newH(freshettest.WithRestore(snap), freshettest.WithSubtask(sub, 2))
		run(h, steps[cut:], func(k string) bool { s, _ := freshettest.SubtaskOf(k, 0, 2); return s == sub })
		all = append(all, h.Values()...)
	}
	slices.Sort(all)
	sorted := slices.Sorted(slices.Values(want))
	if !slices.Equal(all, sorted) {
		t.Fatalf("both subtasks together\n got %v\nwant %v", all, sorted)
	}
}

// FuzzRestoreHarness restores a keyed process function from arbitrary
// bytes: an error or a harness, never a panic.
func FuzzRestoreHarness(f *testing.F) {
	build := func(in *freshet.Stream[string]) *freshet.Stream[string] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(s string) string { return s }),
			freshet.KeyedProcessFunction[string, string, string](countThenFire{}))
	}
	h, err := freshettest.New(build)
	if err != nil {
		f.Fatal(err)
	}
	for i, k := range []string{"a", "b", "a"} {
		_ = h.ProcessAt(k, int64(i))
	}
	snap, err := h.Snapshot()
	if err != nil {
		f.Fatal(err)
	}
	b, _ := snap.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var s freshettest.Snapshot
		if s.UnmarshalBinary(b) != nil {
			return
		}
		r, err := freshettest.New(build, freshettest.WithRestore(&s))
		if err != nil {
			return
		}
		defer r.Close()
		_ = r.ProcessAt("a", 10)
		_ = r.Watermark(100)
	})
}
