package window_test

import (
	"fmt"
	"time"

	"github.com/freshet-io/freshet/window"
)

type click struct{ user string }

func ExampleSlidingEventTime() {
	a := window.SlidingEventTime[click](10*time.Millisecond, 3*time.Millisecond, 0)
	if err := a.Err(); err != nil {
		panic(err)
	}
	buf := make([]window.TimeWindow, 0, 4)
	buf, _ = a.AssignWindows(buf[:0], click{"ann"}, 5, 0)
	fmt.Println(buf)
	// Output: [[3, 13) [0, 10) [-3, 7)]
}

func ExampleTumblingEventTime_error() {
	a := window.TumblingEventTime[click](-5*time.Second, 0)
	fmt.Println(a.Err())
	_, err := a.AssignWindows(nil, click{"ann"}, 5, 0)
	fmt.Println(err == a.Err())
	// Output:
	// window: invalid window specification: tumbling window size must be greater than 0, got -5s
	// true
}

func ExampleMergeTimeWindows() {
	sessions := []window.TimeWindow{{Start: 0, End: 10}, {Start: 15, End: 25}, {Start: 8, End: 18}, {Start: 40, End: 50}}
	for _, m := range window.MergeTimeWindows(sessions) {
		fmt.Println(m.Merged, "->", m.Window)
	}
	// Output: [[0, 10) [8, 18) [15, 25)] -> [0, 25)
}

func ExampleMergingWindowSet() {
	sessions := window.Must(window.EventTimeSession[click](10 * time.Millisecond))
	set := window.NewMergingWindowSet[window.TimeWindow](sessions)
	merge := func(result window.TimeWindow, merged []window.TimeWindow, stateResult window.TimeWindow, mergedStates []window.TimeWindow) error {
		fmt.Println("merge", merged, "into", result, "keeping state of", stateResult, "and merging", mergedStates)
		return nil
	}
	for _, ts := range []int64{0, 20, 10} {
		w, _ := sessions.AssignWindows(nil, click{"ann"}, ts, 0)
		actual, _ := set.AddWindow(w[0], merge)
		sw, _ := set.StateWindow(actual)
		fmt.Println(ts, "->", actual, "state", sw)
	}
	// Output:
	// 0 -> [0, 10) state [0, 10)
	// 20 -> [20, 30) state [20, 30)
	// merge [[0, 10) [20, 30)] into [0, 30) keeping state of [0, 10) and merging [[20, 30)]
	// 10 -> [0, 30) state [0, 10)
}

func ExampleCountTumbling() {
	cw, err := window.CountTumbling[click](3)
	if err != nil {
		panic(err)
	}
	fmt.Println(cw.Assigner, cw.Trigger, cw.Evictor == nil)
	// Output: GlobalWindows() PurgingTrigger(CountTrigger(3)) true
}

// A user picks minute-long tumbling windows, and daily ones for a time zone
// eight hours east of UTC. Windows include their start and exclude their
// end: the last millisecond of a window, its MaxTimestamp, is End-1.
func ExampleTumblingEventTime() {
	minutes := window.Must(window.TumblingEventTime[click](time.Minute, 0))
	for _, ts := range []int64{59_999, 60_000} {
		ws, _ := minutes.AssignWindows(nil, click{"ann"}, ts, 0)
		fmt.Println(ts, "->", ws[0], "max", ws[0].MaxTimestamp())
	}

	days := window.Must(window.TumblingEventTime[click](24*time.Hour, -8*time.Hour))
	// Noon UTC is 20:00 there, in the day that began at 16:00 UTC.
	noon := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC).UnixMilli()
	ws, _ := days.AssignWindows(nil, click{"ann"}, noon, 0)
	utc := func(ms int64) string { return time.UnixMilli(ms).UTC().Format("Jan 2 15:04") }
	fmt.Println("day from", utc(ws[0].Start), "to", utc(ws[0].End), "UTC")
	// Output:
	// 59999 -> [0, 60000) max 59999
	// 60000 -> [60000, 120000) max 119999
	// day from Nov 28 16:00 to Nov 29 16:00 UTC
}
