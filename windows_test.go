package freshet_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/state"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

type ev struct {
	Key string
	Val int
	TS  int64
}

const ms = time.Millisecond

// segments renders a harness's output as groups separated by watermarks;
// records within a group (fired by one watermark) are sorted, since timers
// of one time fire in no particular key order, as in Flink.
func segments[T any](events []freshettest.Event[T]) []string {
	var out, group []string
	for _, e := range events {
		if e.IsWatermark {
			slices.Sort(group)
			out = append(out, group...)
			group = nil
			w := fmt.Sprint(e.Watermark)
			if e.Watermark == math.MaxInt64 {
				w = "end"
			}
			out = append(out, "WM "+w)
			continue
		}
		group = append(group, e.String())
	}
	slices.Sort(group)
	return append(out, group...)
}

func sumVal(a, b ev) ev { a.Val += b.Val; return a }

func windowHarness(t *testing.T, build func(*freshet.KeyedStream[ev, string]) *freshet.Stream[ev], opts ...freshettest.Option) *freshettest.Harness[ev, ev] {
	t.Helper()
	h, err := freshettest.New(func(in *freshet.Stream[ev]) *freshet.Stream[ev] {
		return build(freshet.KeyBy(in, func(e ev) string { return e.Key }))
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func push(t *testing.T, h *freshettest.Harness[ev, ev], evs ...ev) {
	t.Helper()
	for _, e := range evs {
		if err := h.ProcessAt(e, e.TS); err != nil {
			t.Fatal(err)
		}
	}
}

func expect(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("got\n  %v\nwant\n  %v", got, want)
	}
}

var lateTag = freshet.NewOutputTag[ev]("late")

func TestTumblingEventTimeOutOfOrderWithLateSideOutput(t *testing.T) {
	h := windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.Window(k, window.TumblingEventTime[ev](10*ms, 0)).SideOutputLateData(lateTag), sumVal)
	}, freshettest.CaptureSideOutput(lateTag))
	push(t, h, ev{"a", 1, 1}, ev{"a", 2, 8}, ev{"b", 5, 3}, ev{"a", 3, 12}, ev{"a", 4, 9})
	check(t, h.Watermark(8)) // window [0,10) ends at 9: nothing fires yet
	check(t, h.Watermark(9))
	push(t, h, ev{"a", 100, 7}) // its window is gone: late
	check(t, h.Watermark(25))
	push(t, h, ev{"b", 6, 30})
	check(t, h.EndInput())
	expect(t, segments(h.Events()), []string{
		"WM 8", "{a 7 1}@9", "{b 5 3}@9", "WM 9", "{a 3 12}@19", "WM 25", "{b 6 30}@39", "WM end",
	})
	if late := freshettest.SideOutput(h, lateTag); len(late) != 1 || late[0].Value.Val != 100 || late[0].Timestamp != 7 {
		t.Fatalf("late side output %v", late)
	}
}

func TestAllowedLatenessRefiresThenDrops(t *testing.T) {
	h := windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.Window(k, window.TumblingEventTime[ev](10*ms, 0)).
			AllowedLateness(5*ms).SideOutputLateData(lateTag), sumVal)
	}, freshettest.CaptureSideOutput(lateTag))
	push(t, h, ev{"a", 1, 2})
	check(t, h.Watermark(9))  // fires [0,10): 1
	push(t, h, ev{"a", 2, 5}) // late but within lateness: fires again at once with 3
	check(t, h.Watermark(13)) // still within lateness
	push(t, h, ev{"a", 4, 1}) // fires again: 7
	check(t, h.Watermark(14)) // cleanup at 9+5: the window is gone
	push(t, h, ev{"a", 8, 6}) // beyond lateness: side output
	expect(t, segments(h.Events()), []string{"{a 1 2}@9", "WM 9", "{a 3 2}@9", "WM 13", "{a 7 2}@9", "WM 14"})
	if late := freshettest.SideOutput(h, lateTag); len(late) != 1 || late[0].Value.Val != 8 {
		t.Fatalf("late side output %v", late)
	}
}

func TestSlidingWindowCounts(t *testing.T) {
	h := windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowAggregate(freshet.Window(k, window.SlidingEventTime[ev](10*ms, 5*ms, 0)), countAgg{})
	})
	push(t, h, ev{"a", 0, 7}, ev{"a", 0, 12}, ev{"a", 0, -3})
	check(t, h.EndInput())
	// ts 7 -> [0,10) [5,15); ts 12 -> [5,15) [10,20); ts -3 -> [-10,0) [-5,5).
	expect(t, segments(h.Events()), []string{
		"{a 1 0}@-1", "{a 1 0}@19", "{a 1 0}@4", "{a 1 0}@9", "{a 2 0}@14", "WM end",
	})
}

// countAgg counts a window's elements; the result carries the window's
// max timestamp in TS, set by the runtime as the record timestamp.
type countAgg struct{}

func (countAgg) CreateAccumulator() int { return 0 }
func (countAgg) Add(_ ev, acc int) int  { return acc + 1 }
func (countAgg) Merge(a, b int) int     { return a + b }
func (countAgg) GetResult(acc int) ev   { return ev{Key: "a", Val: acc} }

func TestSessionWindowsMerge(t *testing.T) {
	h := windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.Window(k, window.EventTimeSession[ev](10*ms)), sumVal)
	})
	// a: [1,11) and [18,28) are separate until 10 arrives: [10,20) bridges
	// them into [1,28). b: [40,50) and [50,60) touch, so they merge.
	push(t, h, ev{"a", 1, 1}, ev{"a", 2, 18}, ev{"b", 10, 40}, ev{"a", 4, 10}, ev{"b", 20, 50}, ev{"a", 8, 100})
	check(t, h.Watermark(60))
	check(t, h.EndInput())
	expect(t, segments(h.Events()), []string{"{a 7 1}@27", "{b 30 40}@59", "WM 60", "{a 8 100}@109", "WM end"})
}

func TestCountWindows(t *testing.T) {
	h := windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.CountWindow(k, 3), sumVal)
	})
	for i := 1; i <= 7; i++ {
		check(t, h.Process(ev{"a", i, 0}))
	}
	check(t, h.EndInput())
	// Global windows never end: the 7th element stays unfired.
	if got := h.Values(); !slices.Equal(got, []ev{{"a", 6, 0}, {"a", 15, 0}}) {
		t.Fatalf("tumbling count windows %v", got)
	}

	h = windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.CountWindowSliding(k, 4, 2), sumVal)
	})
	for i := 1; i <= 6; i++ {
		check(t, h.Process(ev{"a", i, 0}))
	}
	if got := h.Values(); !slices.Equal(got, []ev{{"a", 3, 0}, {"a", 10, 0}, {"a", 18, 0}}) {
		t.Fatalf("sliding count windows %v", got)
	}
}

func TestCustomTriggerAndEvictors(t *testing.T) {
	// Fire and purge every two elements instead of at the window's end.
	h := windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.Window(k, window.TumblingEventTime[ev](100*ms, 0)).
			Trigger(window.PurgingTrigger(window.CountTrigger[ev, window.TimeWindow](2))), sumVal)
	})
	push(t, h, ev{"a", 1, 1}, ev{"a", 2, 2}, ev{"a", 3, 3}, ev{"a", 4, 4}, ev{"a", 5, 5})
	check(t, h.EndInput())
	if got := h.Values(); !slices.Equal(got, []ev{{"a", 3, 1}, {"a", 7, 3}}) {
		t.Fatalf("purging count trigger %v", got)
	}

	// A time evictor keeps the elements of the last 10 ms before the window
	// function runs.
	h = windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.Window(k, window.TumblingEventTime[ev](100*ms, 0)).
			Evictor(window.TimeEvictor[ev, window.TimeWindow](10*ms, false)), sumVal)
	})
	push(t, h, ev{"a", 1, 1}, ev{"a", 2, 50}, ev{"a", 4, 95}, ev{"a", 8, 99})
	check(t, h.EndInput())
	if got := h.Values(); !slices.Equal(got, []ev{{"a", 12, 95}}) {
		t.Fatalf("time evictor %v", got)
	}

	// A count evictor after the function: the function sees all, then only
	// the last two remain for the next firing.
	h = windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.Window(k, window.Global[ev]()).
			Trigger(window.CountTrigger[ev, window.GlobalWindow](3)).
			Evictor(window.CountEvictor[ev, window.GlobalWindow](2, true)), sumVal)
	})
	for i := 1; i <= 6; i++ {
		check(t, h.Process(ev{"a", i, 0}))
	}
	// Fires at 3 elements (1+2+3); keeps 2,3; the count trigger fires again
	// after 3 more: 2+3+4+5+6.
	if got := h.Values(); !slices.Equal(got, []ev{{"a", 6, 0}, {"a", 20, 0}}) {
		t.Fatalf("count evictor after %v", got)
	}
}

// firings is a process-window function that reports, per window, how often
// it fired (per-window state) and how often the key fired in all (global
// state), with the window's bounds.
type firings struct {
	freshet.BaseWindowFunction[string, window.TimeWindow]
}

// firedState counts firings, per window in WindowState and per key in
// GlobalState: one descriptor serves both stores.
var firedState = state.NewValue[int]("fired")

func (firings) Process(ctx *freshet.WindowContext[string, window.TimeWindow], elements []ev, out freshet.Collector[string]) error {
	per := state.Value(ctx.WindowState(), firedState)
	all := state.Value(ctx.GlobalState(), firedState)
	n, _ := per.Value()
	per.Update(n + 1)
	g, _ := all.Value()
	all.Update(g + 1)
	w := ctx.Window()
	out.Collect(fmt.Sprintf("%s [%d,%d) n=%d fire=%d total=%d wm=%d", ctx.Key(), w.Start, w.End, len(elements), n+1, g+1, ctx.CurrentWatermark()))
	return nil
}

func TestProcessWindowMetadataAndState(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[ev]) *freshet.Stream[string] {
		k := freshet.KeyBy(in, func(e ev) string { return e.Key })
		return freshet.WindowProcess(freshet.Window(k, window.TumblingEventTime[ev](10*ms, 0)).AllowedLateness(10*ms),
			freshet.ProcessWindowFunction[ev, string, window.TimeWindow, string](firings{}))
	})
	if err != nil {
		t.Fatal(err)
	}
	push2 := func(e ev) {
		if err := h.ProcessAt(e, e.TS); err != nil {
			t.Fatal(err)
		}
	}
	push2(ev{"a", 1, 1})
	push2(ev{"a", 1, 2})
	check(t, h.Watermark(9))
	push2(ev{"a", 1, 3}) // late within lateness: second firing of [0,10)
	push2(ev{"a", 1, 15})
	check(t, h.Watermark(19))
	check(t, h.Watermark(30)) // [0,10) is cleaned up at 19, [10,20) at 29
	push2(ev{"a", 1, 35})
	check(t, h.EndInput())
	want := []string{
		"a [0,10) n=2 fire=1 total=1 wm=9",
		"a [0,10) n=3 fire=2 total=2 wm=9",
		"a [10,20) n=1 fire=1 total=3 wm=19",
		"a [30,40) n=1 fire=1 total=4 wm=9223372036854775807",
	}
	if got := h.Values(); !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

type avgAgg struct{}

func (avgAgg) CreateAccumulator() [2]float64 { return [2]float64{} }
func (avgAgg) Add(e ev, acc [2]float64) [2]float64 {
	return [2]float64{acc[0] + float64(e.Val), acc[1] + 1}
}
func (avgAgg) Merge(a, b [2]float64) [2]float64 { return [2]float64{a[0] + b[0], a[1] + b[1]} }
func (avgAgg) GetResult(acc [2]float64) float64 { return acc[0] / acc[1] }

func TestAggregateWithProcessWindowFunction(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[ev]) *freshet.Stream[string] {
		k := freshet.KeyBy(in, func(e ev) string { return e.Key })
		return freshet.WindowAggregateProcess(freshet.Window(k, window.TumblingEventTime[ev](10*ms, 0)), avgAgg{},
			freshet.ProcessWindowFunc(
				func(ctx *freshet.WindowContext[string, window.TimeWindow], avg []float64, out freshet.Collector[string]) error {
					out.Collect(fmt.Sprintf("%s@%d avg=%.2f", ctx.Key(), ctx.Window().End, avg[0]))
					return nil
				}))
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []ev{{"x", 1, 1}, {"x", 2, 2}, {"y", 10, 3}, {"x", 6, 4}} {
		check(t, h.ProcessAt(e, e.TS))
	}
	check(t, h.EndInput())
	got := h.Values()
	slices.Sort(got)
	if want := []string{"x@10 avg=3.00", "y@10 avg=10.00"}; !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
}

func TestWatermarkPerChannelAndIdleness(t *testing.T) {
	h := windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.Window(k, window.TumblingEventTime[ev](10*ms, 0)), sumVal)
	}, freshettest.WithInputChannels(2))
	push(t, h, ev{"a", 1, 1})
	check(t, h.WatermarkOn(0, 20)) // channel 1 still holds event time back
	if len(h.Events()) != 0 {
		t.Fatalf("fired before both channels passed the window: %v", h.Events())
	}
	check(t, h.WatermarkOn(1, 5))
	check(t, h.MarkIdle(1)) // the idle channel no longer holds back: 20
	expect(t, segments(h.Events()), []string{"WM 5", "{a 1 1}@9", "WM 20"})
	if h.InputIdle() {
		t.Fatal("one active channel: input is not idle")
	}
	// Active again, channel 1 is behind the output watermark: it does not
	// hold event time back until it catches up (Flink's alignment).
	check(t, h.MarkActive(1))
	check(t, h.WatermarkOn(1, 15))
	check(t, h.WatermarkOn(0, 40))
	check(t, h.WatermarkOn(1, 45)) // caught up: aligned again
	check(t, h.WatermarkOn(0, 60))
	expect(t, segments(h.Events()), []string{"WM 5", "{a 1 1}@9", "WM 20", "WM 40", "WM 45"})
}

func TestWindowAllParallelSource(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(3))
	var in []ev
	for i := 0; i < 300; i++ {
		in = append(in, ev{"k" + fmt.Sprint(i%7), 1, int64(i)})
	}
	src := freshet.FromSourceWithWatermarks(env, source.FromSlice(in), watermark.ForBoundedOutOfOrderness[ev](time.Second).
		WithTimestampAssigner(func(e ev, _ int64) int64 { return e.TS }), "events")
	counts := freshet.WindowAggregate(freshet.WindowAll(src, window.TumblingEventTime[ev](100*ms, 0)), countAgg{})
	got := freshet.Collect(counts)
	execute(t, env)
	vals := got.Values()
	if len(vals) != 3 || vals[0].Val+vals[1].Val+vals[2].Val != 300 || vals[0].Val != 100 {
		t.Fatalf("window-all counts %v", vals)
	}
}

func TestTumblingWindowsInParallelJob(t *testing.T) {
	for _, p := range []int{1, 2} {
		env := freshet.NewEnv(freshet.WithParallelism(p))
		// Out of order within 50 ms, across 3 source subtasks.
		var in []ev
		for i := 0; i < 1000; i++ {
			ts := int64(i) + int64((i*37)%50) - 25
			in = append(in, ev{fmt.Sprint("key", i%5), i, ts})
		}
		src := freshet.FromSourceWithWatermarks(env, source.FromSlice(in), watermark.ForBoundedOutOfOrderness[ev](100*ms).
			WithTimestampAssigner(func(e ev, _ int64) int64 { return e.TS }), "events").SetParallelism(3)
		k := freshet.KeyBy(src, func(e ev) string { return e.Key })
		sums := freshet.WindowReduce(freshet.Window(k, window.TumblingEventTime[ev](100*ms, 0)), sumVal)
		got := freshet.Collect(sums)
		execute(t, env)
		want := map[string]int{}
		for _, e := range in {
			start := e.TS - ((e.TS%100)+100)%100
			want[fmt.Sprintf("%s/%d", e.Key, start)] += e.Val
		}
		have := map[string]int{}
		for _, r := range got.Values() {
			have[fmt.Sprintf("%s/%d", r.Key, r.TS-((r.TS%100)+100)%100)] += r.Val
		}
		if len(got.Values()) != len(want) || !mapsEqual(have, want) {
			t.Fatalf("p=%d: %d results, want %d windows", p, len(got.Values()), len(want))
		}
	}
}

func TestEventTimeWindowWithoutTimestampFailsJob(t *testing.T) {
	env := freshet.NewEnv()
	k := freshet.KeyBy(freshet.FromElements(env, ev{"a", 1, 0}), func(e ev) string { return e.Key })
	freshet.Collect(freshet.WindowReduce(freshet.Window(k, window.TumblingEventTime[ev](time.Second, 0)), sumVal).Name("sums"))
	err := env.Execute(context.Background(), "no timestamps")
	if !errors.Is(err, freshet.ErrNoTimestamp) || !strings.Contains(err.Error(), "sums") {
		t.Fatalf("Execute = %v, want ErrNoTimestamp naming the operator", err)
	}
}

func TestInvalidWindowParametersFailAtBuild(t *testing.T) {
	cases := []struct {
		name string
		a    window.Assigner[ev, window.TimeWindow]
		rule string
	}{
		{"tumbling size", window.TumblingEventTime[ev](-5*time.Second, 0), "size must be greater than 0"},
		{"tumbling offset", window.TumblingEventTime[ev](time.Second, 2*time.Second), "abs(offset) < size"},
		{"sliding slide", window.SlidingEventTime[ev](time.Second, 0, 0), "slide must be greater than 0"},
		{"session gap", window.EventTimeSession[ev](0), "gap must be greater than 0"},
	}
	for _, c := range cases {
		env := freshet.NewEnv()
		k := freshet.KeyBy(freshet.FromElements(env, ev{}), func(e ev) string { return e.Key })
		freshet.Collect(freshet.WindowReduce(freshet.Window(k, c.a), sumVal).Name("my window"))
		err := env.Execute(context.Background(), "bad window")
		if !errors.Is(err, freshet.ErrInvalidProgram) || !errors.Is(err, window.ErrInvalidWindow) ||
			!strings.Contains(err.Error(), `"my window"`) || !strings.Contains(err.Error(), c.rule) {
			t.Errorf("%s: Execute = %v", c.name, err)
		}
	}
	env := freshet.NewEnv()
	k := freshet.KeyBy(freshet.FromElements(env, ev{}), func(e ev) string { return e.Key })
	freshet.Collect(freshet.WindowReduce(freshet.Window(k, window.TumblingEventTime[ev](time.Second, 0)).AllowedLateness(-time.Second), sumVal))
	if err := env.Execute(context.Background(), "bad lateness"); !errors.Is(err, freshet.ErrInvalidProgram) {
		t.Errorf("negative lateness: %v", err)
	}
}

func TestPerWindowStateRejectedForSessions(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[ev]) *freshet.Stream[string] {
		k := freshet.KeyBy(in, func(e ev) string { return e.Key })
		return freshet.WindowProcess(freshet.Window(k, window.EventTimeSession[ev](10*ms)),
			freshet.ProcessWindowFunction[ev, string, window.TimeWindow, string](firings{}))
	})
	if err != nil {
		t.Fatal(err)
	}
	check(t, h.ProcessAt(ev{"a", 1, 1}, 1))
	if err := h.EndInput(); !errors.Is(err, freshet.ErrMergingWindowState) {
		t.Fatalf("EndInput = %v, want ErrMergingWindowState", err)
	}
}

func TestCountWindowAllInJob(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(3))
	sums := freshet.WindowReduce(freshet.CountWindowAll(freshet.FromSlice(env, ints(100)), 10), func(a, b int) int { return a + b })
	got := freshet.Collect(sums)
	execute(t, env)
	total := 0
	for _, v := range got.Values() {
		total += v
	}
	if len(got.Values()) != 10 || total != 4950 {
		t.Fatalf("count windows over all: %v", got.Values())
	}
	env = freshet.NewEnv()
	freshet.Collect(freshet.WindowReduce(freshet.CountWindowAllSliding(freshet.FromSlice(env, ints(10)), 0, 1), func(a, b int) int { return a + b }))
	if err := env.Execute(context.Background(), "bad count window"); !errors.Is(err, freshet.ErrInvalidProgram) {
		t.Fatalf("size 0: %v", err)
	}
}
