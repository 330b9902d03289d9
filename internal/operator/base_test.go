package operator

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// TestTwoWatermarksBothIdleEitherOrder: while one input is active the
// operator's watermark follows it; once both are idle it is the higher
// input watermark (if not reached yet), whichever input went idle last.
func TestTwoWatermarksBothIdleEitherOrder(t *testing.T) {
	tests := []struct {
		name string
		in   [2]int64
		// want per order, per input going idle: the watermark emitted, or "".
		want map[[2]int][2]string
	}{
		{"first ahead", [2]int64{30, 10}, map[[2]int][2]string{
			{1, 2}: {"", "30"},
			{2, 1}: {"30", ""},
		}},
		{"second ahead", [2]int64{10, 30}, map[[2]int][2]string{
			{1, 2}: {"30", ""},
			{2, 1}: {"", "30"},
		}},
		{"equal: nothing more to emit", [2]int64{20, 20}, map[[2]int][2]string{
			{1, 2}: {"", ""},
			{2, 1}: {"", ""},
		}},
		{"one input without a watermark", [2]int64{math.MinInt64, 40}, map[[2]int][2]string{
			{1, 2}: {"40", ""},
			{2, 1}: {"", "40"},
		}},
	}
	for _, tc := range tests {
		for order, want := range tc.want {
			t.Run(fmt.Sprintf("%s/order=%v", tc.name, order), func(t *testing.T) {
				w := NewTwoWatermarks()
				for i, v := range tc.in {
					if v != math.MinInt64 {
						w.Advance(i+1, v)
					}
				}
				if low := min(tc.in[0], tc.in[1]); w.Current() != low {
					t.Fatalf("setup: current %d, want %d", w.Current(), low)
				}
				var got [2]string
				for k, input := range order {
					if m, ok := w.SetIdle(input, true); ok {
						got[k] = fmt.Sprint(m)
					}
				}
				if got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
				if high := max(tc.in[0], tc.in[1]); w.Current() != high {
					t.Fatalf("end: current %d, want %d", w.Current(), high)
				}
			})
		}
	}
}

func TestTwoWatermarksReactivation(t *testing.T) {
	type step struct {
		input int
		wm    int64  // Advance(input, wm) if status == ""
		state string // "idle", "active" or ""
		want  string // the watermark emitted, or ""
	}
	steps := []step{
		{input: 1, wm: 30}, {input: 2, wm: 10, want: "10"},
		{input: 2, state: "idle", want: "30"},
		{input: 1, state: "idle"},
		{input: 2, state: "active"}, // at 10: nothing goes back
		{input: 2, wm: 20},
		{input: 2, wm: 35, want: "35"}, // input 1 is idle: input 2 alone
		{input: 1, state: "active"},    // at 30 < 35: holds back, nothing goes back
		{input: 1, wm: 40},
		{input: 2, wm: 50, want: "40"},
		{input: 1, state: "idle", want: "50"},
		{input: 2, state: "idle"}, // 50 already emitted
	}
	w := NewTwoWatermarks()
	var got, want []string
	for _, s := range steps {
		var m int64
		var ok bool
		switch s.state {
		case "":
			m, ok = w.Advance(s.input, s.wm)
		default:
			m, ok = w.SetIdle(s.input, s.state == "idle")
		}
		g := ""
		if ok {
			g = fmt.Sprint(m)
		}
		got, want = append(got, g), append(want, s.want)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}
