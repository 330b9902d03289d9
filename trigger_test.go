package freshet_test

import (
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/window"
)

// Flink's WindowOperator calls Trigger.onEventTime for every timer of a live
// window, whether or not the window has contents. With
// PurgingTrigger(ContinuousEventTimeTrigger(10)) the trigger re-registers its
// next fire time on every timer, so an element that arrives after a purge is
// emitted at the next interval boundary, not at the window end.
func TestPurgingContinuousTriggerKeepsFiring(t *testing.T) {
	h := windowHarness(t, func(k *freshet.KeyedStream[ev, string]) *freshet.Stream[ev] {
		return freshet.WindowReduce(freshet.Window(k, window.TumblingEventTime[ev](100*ms, 0)).
			Trigger(window.PurgingTrigger(window.ContinuousEventTimeTrigger[ev, window.TimeWindow](10*ms))), sumVal)
	})
	push(t, h, ev{"a", 1, 1})
	check(t, h.Watermark(15)) // fire time 10: emits 1 and purges; next fire time 20
	check(t, h.Watermark(22)) // timer 20: empty window, Flink's trigger registers 30
	push(t, h, ev{"a", 2, 25})
	check(t, h.Watermark(35)) // Flink: timer 30 fires and emits 2
	push(t, h, ev{"a", 4, 45})
	check(t, h.Watermark(55)) // Flink: timer 50 fires and emits 4
	expect(t, segments(h.Events()), []string{
		"{a 1 1}@99", "WM 15", "WM 22", "{a 2 25}@99", "WM 35", "{a 4 45}@99", "WM 55",
	})
}
