package window

import (
	"math"
	"reflect"
	"slices"
	"testing"
)

func tw(start, end int64) TimeWindow { return TimeWindow{Start: start, End: end} }

func TestWindowStart(t *testing.T) {
	const day, hour = 86_400_000, 3_600_000
	tests := []struct {
		name                string
		ts, offset, size, w int64
	}{
		{"zero", 0, 0, 10, 0},
		{"inside first", 9, 0, 10, 0},
		{"next boundary", 10, 0, 10, 10},
		{"size 7", 12, 0, 7, 7},
		{"size 7 boundary", 7, 0, 7, 7},
		{"negative -1", -1, 0, 10, -10},
		{"negative boundary", -10, 0, 10, -10},
		{"negative below -size", -11, 0, 10, -20},
		{"negative far", -25, 0, 10, -30},
		{"offset 1 at offset", 1, 1, 7, 1},
		{"offset 1 inside", 2, 1, 7, 1},
		{"offset 1 last", 7, 1, 7, 1},
		{"offset 1 next", 8, 1, 7, 8},
		{"offset 1 before offset", 0, 1, 7, -6},
		{"offset -1", 1, -1, 7, -1},
		{"offset -1 inside", 5, -1, 7, -1},
		{"offset -1 next", 6, -1, 7, 6},
		{"offset -1 negative ts", -2, -1, 7, -8},
		{"offset 100 size 5000", 5099, 100, 5000, 100},
		{"day in UTC+8", 0, -8 * hour, day, -8 * hour},
		{"day in UTC+8 later", 20 * hour, -8 * hour, day, 16 * hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := WindowStart(tt.ts, tt.offset, tt.size)
			if got != tt.w {
				t.Fatalf("WindowStart(%d, %d, %d) = %d, want %d", tt.ts, tt.offset, tt.size, got, tt.w)
			}
			if got > tt.ts || tt.ts >= got+tt.size {
				t.Fatalf("window [%d,%d) does not contain %d", got, got+tt.size, tt.ts)
			}
		})
	}
}

func TestTimeWindow(t *testing.T) {
	w := tw(0, 10)
	if got := w.MaxTimestamp(); got != 9 {
		t.Errorf("MaxTimestamp = %d, want 9", got)
	}
	if got := (GlobalWindow{}).MaxTimestamp(); got != math.MaxInt64 {
		t.Errorf("GlobalWindow.MaxTimestamp = %d", got)
	}
	if got := w.String(); got != "[0, 10)" {
		t.Errorf("String = %q", got)
	}
	if got := (GlobalWindow{}).String(); got != "GlobalWindow" {
		t.Errorf("GlobalWindow.String = %q", got)
	}
	if got := tw(0, 10).Cover(tw(5, 20)); got != tw(0, 20) {
		t.Errorf("Cover = %v", got)
	}
	if got := tw(5, 20).Cover(tw(0, 3)); got != tw(0, 20) {
		t.Errorf("Cover disjoint = %v", got)
	}

	intersect := []struct {
		a, b TimeWindow
		want bool
	}{
		{tw(0, 10), tw(5, 15), true},
		{tw(0, 10), tw(10, 20), true}, // touching windows intersect (Flink)
		{tw(10, 20), tw(0, 10), true},
		{tw(0, 10), tw(11, 20), false},
		{tw(11, 20), tw(0, 10), false},
		{tw(0, 10), tw(3, 4), true},
		{tw(3, 4), tw(0, 10), true},
	}
	for _, c := range intersect {
		if got := c.a.Intersects(c.b); got != c.want {
			t.Errorf("%v.Intersects(%v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}

	// Windows are usable as map keys.
	m := map[TimeWindow]int{tw(0, 10): 1}
	m[tw(0, 10)]++
	if m[tw(0, 10)] != 2 {
		t.Error("TimeWindow is not a usable map key")
	}
}

func TestMergeTimeWindows(t *testing.T) {
	tests := []struct {
		name string
		in   []TimeWindow
		want []MergeResult
	}{
		{"empty", nil, nil},
		{"single", []TimeWindow{tw(0, 10)}, nil},
		{"overlapping", []TimeWindow{tw(0, 10), tw(5, 15)},
			[]MergeResult{{tw(0, 15), []TimeWindow{tw(0, 10), tw(5, 15)}}}},
		{"touching", []TimeWindow{tw(10, 20), tw(0, 10)},
			[]MergeResult{{tw(0, 20), []TimeWindow{tw(0, 10), tw(10, 20)}}}},
		{"non-overlapping", []TimeWindow{tw(0, 10), tw(11, 20)}, nil},
		{"contained", []TimeWindow{tw(0, 20), tw(5, 10)},
			[]MergeResult{{tw(0, 20), []TimeWindow{tw(0, 20), tw(5, 10)}}}},
		{"bridging element", []TimeWindow{tw(0, 10), tw(15, 25), tw(8, 18)},
			[]MergeResult{{tw(0, 25), []TimeWindow{tw(0, 10), tw(8, 18), tw(15, 25)}}}},
		{"chain through cover", []TimeWindow{tw(0, 30), tw(5, 6), tw(29, 40)},
			[]MergeResult{{tw(0, 40), []TimeWindow{tw(0, 30), tw(5, 6), tw(29, 40)}}}},
		{"two groups and a loner", []TimeWindow{tw(20, 30), tw(0, 10), tw(25, 35), tw(9, 12), tw(40, 50)},
			[]MergeResult{
				{tw(0, 12), []TimeWindow{tw(0, 10), tw(9, 12)}},
				{tw(20, 35), []TimeWindow{tw(20, 30), tw(25, 35)}},
			}},
		{"duplicates count once", []TimeWindow{tw(0, 10), tw(0, 10)}, nil},
		{"duplicate plus overlap", []TimeWindow{tw(0, 10), tw(5, 12), tw(0, 10)},
			[]MergeResult{{tw(0, 12), []TimeWindow{tw(0, 10), tw(5, 12)}}}},
		{"same start", []TimeWindow{tw(0, 10), tw(0, 5)},
			[]MergeResult{{tw(0, 10), []TimeWindow{tw(0, 5), tw(0, 10)}}}},
		{"negative", []TimeWindow{tw(-10, 0), tw(0, 10)},
			[]MergeResult{{tw(-10, 10), []TimeWindow{tw(-10, 0), tw(0, 10)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			got := MergeTimeWindows(in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("MergeTimeWindows(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Fatalf("input modified: %v", in)
			}
		})
	}
}
