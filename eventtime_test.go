package freshet_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

func TestAssignTimestampsAndWatermarksReplacesUpstreamWatermarks(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[ev]) *freshet.Stream[ev] {
		return freshet.AssignTimestampsAndWatermarks(in, watermark.Punctuated(func(e ev, ts int64) (int64, bool) {
			return ts - 1, e.Key == "mark"
		}).WithTimestampAssigner(func(e ev, _ int64) int64 { return e.TS }))
	})
	if err != nil {
		t.Fatal(err)
	}
	check(t, h.Process(ev{"x", 1, 10}))
	check(t, h.Watermark(100)) // upstream watermarks are dropped
	check(t, h.Process(ev{"mark", 2, 20}))
	check(t, h.EndInput()) // but the end of input passes
	expect(t, segments(h.Events()), []string{"{mark 2 20}@20", "{x 1 10}@10", "WM 19", "WM end"})
}

func TestAssignTimestampsInJobFeedsWindows(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	var in []ev
	for i := 0; i < 600; i++ {
		in = append(in, ev{"k", 1, int64(i)})
	}
	stamped := freshet.AssignTimestampsAndWatermarks(freshet.Map(freshet.FromSlice(env, in), func(e ev) ev { return e }),
		watermark.ForMonotonousTimestamps[ev]().WithTimestampAssigner(func(e ev, _ int64) int64 { return e.TS }))
	k := freshet.KeyBy(stamped, func(e ev) string { return e.Key })
	got := freshet.Collect(freshet.WindowReduce(freshet.Window(k, window.TumblingEventTime[ev](100*ms, 0)), sumVal))
	execute(t, env)
	var sums []int
	for _, e := range got.Values() {
		sums = append(sums, e.Val)
	}
	if !slices.Equal(sums, []int{100, 100, 100, 100, 100, 100}) {
		t.Fatalf("window sums %v", sums)
	}
}

// everyOther is a custom trigger: it fires on every second element of a
// window and at the window's end, purging only at the end.
type everyOther struct{}

func (everyOther) OnElement(_ ev, _ int64, w window.TimeWindow, ctx window.TriggerContext) window.TriggerResult {
	n, _ := ctx.GetState("n")
	ctx.SetState("n", n+1)
	ctx.RegisterEventTimeTimer(w.MaxTimestamp())
	if (n+1)%2 == 0 {
		return window.Fire
	}
	return window.Continue
}
func (everyOther) OnEventTime(t int64, w window.TimeWindow, _ window.TriggerContext) window.TriggerResult {
	if t == w.MaxTimestamp() {
		return window.FireAndPurge
	}
	return window.Continue
}
func (everyOther) OnProcessingTime(int64, window.TimeWindow, window.TriggerContext) window.TriggerResult {
	return window.Continue
}
func (everyOther) CanMerge() bool                                     { return false }
func (everyOther) OnMerge(window.TimeWindow, window.MergeContext)     {}
func (everyOther) Clear(w window.TimeWindow, c window.TriggerContext) { c.ClearState("n") }

func TestUserTriggerAndContinuousTrigger(t *testing.T) {
	h := windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.Window(k, window.TumblingEventTime[ev](100*ms, 0)).Trigger(everyOther{}), sumVal)
	})
	push(t, h, ev{"a", 1, 1}, ev{"a", 2, 2}, ev{"a", 4, 3})
	check(t, h.Watermark(99))
	push(t, h, ev{"a", 8, 101})
	check(t, h.EndInput())
	expect(t, segments(h.Events()), []string{"{a 3 1}@99", "{a 7 1}@99", "WM 99", "{a 8 101}@199", "WM end"})

	// A continuous event-time trigger fires at every 10 ms of event time
	// from the first element on (new elements or not), and at the window's
	// end, as Flink's does.
	h = windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.Window(k, window.TumblingEventTime[ev](100*ms, 0)).
			Trigger(window.ContinuousEventTimeTrigger[ev, window.TimeWindow](10*ms)), sumVal)
	})
	push(t, h, ev{"a", 1, 5})
	check(t, h.Watermark(15))
	push(t, h, ev{"a", 2, 16})
	check(t, h.Watermark(35))
	check(t, h.Watermark(99))
	want := []string{"{a 1 5}@99", "WM 15", "{a 3 5}@99", "{a 3 5}@99", "WM 35"} // fires at 10; 20, 30
	for i := 0; i < 7; i++ {
		want = append(want, "{a 3 5}@99") // 40 … 90 and the end, 99
	}
	expect(t, segments(h.Events()), append(want, "WM 99"))
}

func TestDynamicSessionGapAndDeltaEvictor(t *testing.T) {
	// The gap comes from the element: key "slow" has 50 ms sessions, others 10 ms.
	h := windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.Window(k, window.DynamicEventTimeSession(func(e ev) time.Duration {
			if e.Key == "slow" {
				return 50 * ms
			}
			return 10 * ms
		})), sumVal)
	})
	push(t, h, ev{"slow", 1, 0}, ev{"fast", 1, 0}, ev{"slow", 2, 40}, ev{"fast", 2, 40})
	check(t, h.EndInput())
	expect(t, segments(h.Events()), []string{"{fast 1 0}@9", "{fast 2 40}@49", "{slow 3 0}@89", "WM end"})

	// A delta evictor drops elements whose value is 10 or more away from the
	// last element's before the function runs.
	h = windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.Window(k, window.TumblingEventTime[ev](100*ms, 0)).
			Evictor(window.DeltaEvictor[ev, window.TimeWindow](10, func(a, b ev) float64 { return math.Abs(float64(a.Val - b.Val)) }, false)), sumVal)
	})
	push(t, h, ev{"a", 1, 1}, ev{"a", 30, 2}, ev{"a", 25, 3}, ev{"a", 31, 4})
	check(t, h.EndInput())
	if got := h.Values(); !slices.Equal(got, []ev{{"a", 86, 2}}) {
		t.Fatalf("delta evictor: %v", got)
	}
}

func TestInvalidWatermarkStrategyFailsAtBuild(t *testing.T) {
	env := freshet.NewEnv()
	bad := watermark.ForBoundedOutOfOrderness[ev](time.Second).WithIdleness(0)
	freshet.Collect(freshet.FromSourceWithWatermarks(env, source.FromSlice([]ev{{}}), bad, "events"))
	err := env.Execute(context.Background(), "bad idleness")
	if !errors.Is(err, freshet.ErrInvalidProgram) || !errors.Is(err, watermark.ErrInvalidStrategy) ||
		!strings.Contains(err.Error(), "idleTimeout must be greater than zero") || !strings.Contains(err.Error(), `"events"`) {
		t.Fatalf("Execute = %v", err)
	}
}
