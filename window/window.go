package window

import (
	"cmp"
	"math"
	"slices"
	"strconv"
)

// NoTimestamp is the timestamp an operator passes for an element that carries
// no event timestamp (Flink uses Long.MIN_VALUE as the same marker).
// Event-time tumbling and sliding assigners reject it with ErrNoTimestamp.
const NoTimestamp int64 = math.MinInt64

// Window is the constraint every window type satisfies. Windows are
// comparable values so that operators can use them directly as map keys
// (per-window state, timers), and they expose the largest timestamp that
// still belongs to them, which drives event-time firing and state cleanup.
type Window interface {
	comparable
	// MaxTimestamp is the largest timestamp (inclusive) that belongs to the
	// window.
	MaxTimestamp() int64
}

// TimeWindow is the half-open interval of milliseconds [Start, End).
// Start is inclusive and End exclusive, so a window of size 10 starting at 0
// holds timestamps 0..9 and its MaxTimestamp is 9.
type TimeWindow struct {
	Start int64 // first timestamp in the window (inclusive)
	End   int64 // first timestamp after the window (exclusive)
}

// MaxTimestamp returns End-1, the largest timestamp inside the window.
func (w TimeWindow) MaxTimestamp() int64 { return w.End - 1 }

// Intersects reports whether w and o overlap or are adjacent. As in Flink,
// the test is Start <= o.End && End >= o.Start, so windows that merely touch
// ([0,10) and [10,20)) intersect; this is what lets session windows whose
// gaps meet exactly merge.
func (w TimeWindow) Intersects(o TimeWindow) bool {
	return w.Start <= o.End && w.End >= o.Start
}

// Cover returns the smallest window that contains both w and o.
func (w TimeWindow) Cover(o TimeWindow) TimeWindow {
	return TimeWindow{Start: min(w.Start, o.Start), End: max(w.End, o.End)}
}

// String formats the window as "[start, end)".
func (w TimeWindow) String() string {
	b := make([]byte, 0, 48)
	b = append(b, '[')
	b = strconv.AppendInt(b, w.Start, 10)
	b = append(b, ", "...)
	b = strconv.AppendInt(b, w.End, 10)
	b = append(b, ')')
	return string(b)
}

// GlobalWindow is the single window that holds every element of a key. It
// never ends: its MaxTimestamp is math.MaxInt64, so it is never cleaned up by
// time and only fires through a custom trigger (for example a count trigger).
type GlobalWindow struct{}

// MaxTimestamp returns math.MaxInt64.
func (GlobalWindow) MaxTimestamp() int64 { return math.MaxInt64 }

// String returns "GlobalWindow".
func (GlobalWindow) String() string { return "GlobalWindow" }

// WindowStart returns the start of the aligned window of the given size that
// contains ts, with window boundaries shifted by offset (Flink's
// TimeWindow.getWindowStartWithOffset). Windows are aligned to the epoch:
// with offset 0 and size 10 the windows are ..., [-10,0), [0,10), [10,20), ...
//
// Negative timestamps land in the correct window (ts -1 with size 10 gives
// -10; ts -11 gives -20), matching newer Flink, which adjusts a negative
// remainder instead of using the older formula that was wrong below -size.
//
// size must be positive. An offset shifts all boundaries: with size one day
// and offset -8h the windows start at 16:00 UTC, i.e. midnight in UTC+8.
func WindowStart(ts, offset, size int64) int64 {
	rem := (ts - offset) % size
	if rem < 0 {
		return ts - (rem + size)
	}
	return ts - rem
}

// MergeResult is one group of windows that merge into a single window.
type MergeResult struct {
	// Window is the merged window, the cover of every window in Merged.
	Window TimeWindow
	// Merged lists the distinct windows that merge into Window, sorted by
	// Start (then End). It always has at least two entries.
	Merged []TimeWindow
}

// MergeTimeWindows groups intersecting windows the way Flink's
// TimeWindow.mergeWindows does: the windows are sorted by start, then each
// window joins the current group if it intersects (see TimeWindow.Intersects,
// touching counts) the cover of the group so far, otherwise it starts a new
// group. Duplicate windows count once. Only groups with at least two distinct
// windows are returned, in ascending order of start; a window that merges
// with nothing is not reported.
//
// The input slice is not modified.
func MergeTimeWindows(windows []TimeWindow) []MergeResult {
	ws := slices.Clone(windows)
	var out []MergeResult
	mergeTimeWindows(ws, func(toMerge []TimeWindow, into TimeWindow) {
		out = append(out, MergeResult{Window: into, Merged: slices.Clone(toMerge)})
	})
	return out
}

// mergeTimeWindows implements TimeWindow merging in place: it sorts ws by
// (Start, End), removes duplicates and calls merge for every group of two or
// more intersecting windows. toMerge aliases ws and is only valid during the
// call.
func mergeTimeWindows(ws []TimeWindow, merge func(toMerge []TimeWindow, into TimeWindow)) {
	if len(ws) < 2 {
		return
	}
	slices.SortFunc(ws, compareTimeWindows)
	ws = slices.Compact(ws)
	for i := 0; i < len(ws); {
		cover := ws[i]
		j := i + 1
		for j < len(ws) && cover.Intersects(ws[j]) {
			cover = cover.Cover(ws[j])
			j++
		}
		if j-i > 1 {
			merge(ws[i:j], cover)
		}
		i = j
	}
}

func compareTimeWindows(a, b TimeWindow) int {
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c
	}
	return cmp.Compare(a.End, b.End)
}
