package window

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

// tv builds timestamped values whose value equals the timestamp.
func tvs(ts ...int64) []TimestampedValue[int64] {
	out := make([]TimestampedValue[int64], len(ts))
	for i, t := range ts {
		out[i] = TimestampedValue[int64]{Value: t, Timestamp: t, HasTimestamp: true}
	}
	return out
}

func values(el []TimestampedValue[int64]) []int64 {
	out := make([]int64, len(el))
	for i, e := range el {
		out[i] = e.Value
	}
	return out
}

type evictCase struct {
	name   string
	ev     Evictor[int64, TimeWindow]
	in     []TimestampedValue[int64]
	before []int64 // values kept by EvictBefore
	after  []int64 // values kept by EvictAfter
}

func runEvictCases(t *testing.T, cases []evictCase) {
	t.Helper()
	w := tw(0, 100)
	c := newFakeCtx(w)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			for _, phase := range []struct {
				name string
				fn   func([]TimestampedValue[int64], TimeWindow, EvictorContext) []TimestampedValue[int64]
				want []int64
			}{
				{"before", tt.ev.EvictBefore, tt.before},
				{"after", tt.ev.EvictAfter, tt.after},
			} {
				in := slices.Clone(tt.in)
				got := phase.fn(in, w, c)
				if !slices.Equal(values(got), phase.want) {
					t.Errorf("%s: kept %v, want %v", phase.name, values(got), phase.want)
				}
				if len(got) > 0 && &got[0] != &in[0] {
					t.Errorf("%s: result does not alias the input", phase.name)
				}
				for i := len(got); i < len(in); i++ {
					if in[i] != (TimestampedValue[int64]{}) {
						t.Errorf("%s: evicted slot %d not zeroed: %v", phase.name, i, in[i])
					}
				}
			}
		})
	}
}

func TestCountEvictor(t *testing.T) {
	in := tvs(1, 2, 3, 4, 5)
	all := []int64{1, 2, 3, 4, 5}
	runEvictCases(t, []evictCase{
		{"before keeps last 3", CountEvictor[int64, TimeWindow](3, false), in, []int64{3, 4, 5}, all},
		{"after keeps last 3", CountEvictor[int64, TimeWindow](3, true), in, all, []int64{3, 4, 5}},
		{"exactly max", CountEvictor[int64, TimeWindow](5, false), in, all, all},
		{"under max", CountEvictor[int64, TimeWindow](10, true), in, all, all},
		{"keep 1", CountEvictor[int64, TimeWindow](1, false), in, []int64{5}, all},
		{"keep 0", CountEvictor[int64, TimeWindow](0, false), in, []int64{}, all},
		{"negative", CountEvictor[int64, TimeWindow](-3, true), in, all, []int64{}},
		{"empty", CountEvictor[int64, TimeWindow](3, false), nil, []int64{}, []int64{}},
		{"order kept, not timestamps", CountEvictor[int64, TimeWindow](2, false), tvs(9, 1, 5, 3), []int64{5, 3}, []int64{9, 1, 5, 3}},
	})
}

func TestTimeEvictor(t *testing.T) {
	noTs := []TimestampedValue[int64]{{Value: 1}, {Value: 2}, {Value: 3}}
	mixed := []TimestampedValue[int64]{
		{Value: 1, Timestamp: 1, HasTimestamp: true},
		{Value: 2},
		{Value: 15, Timestamp: 15, HasTimestamp: true},
		{Value: 20, Timestamp: 20, HasTimestamp: true},
	}
	firstNoTs := append([]TimestampedValue[int64]{{Value: 0}}, tvs(1, 50)...)
	runEvictCases(t, []evictCase{
		// maxTs 20, window 10 → keep ts > 10; 10 itself is evicted.
		{"before", TimeEvictor[int64, TimeWindow](10*time.Millisecond, false), tvs(1, 5, 10, 11, 15, 20), []int64{11, 15, 20}, []int64{1, 5, 10, 11, 15, 20}},
		{"after", TimeEvictor[int64, TimeWindow](10*time.Millisecond, true), tvs(1, 5, 10, 11, 15, 20), []int64{1, 5, 10, 11, 15, 20}, []int64{11, 15, 20}},
		{"max not last", TimeEvictor[int64, TimeWindow](10*time.Millisecond, false), tvs(20, 1, 15, 11, 5), []int64{20, 15, 11}, []int64{20, 1, 15, 11, 5}},
		{"all within", TimeEvictor[int64, TimeWindow](time.Second, false), tvs(1, 5, 20), []int64{1, 5, 20}, []int64{1, 5, 20}},
		{"zero size evicts all", TimeEvictor[int64, TimeWindow](0, false), tvs(3, 7, 7), []int64{}, []int64{3, 7, 7}},
		{"negative timestamps", TimeEvictor[int64, TimeWindow](5*time.Millisecond, false), tvs(-20, -6, -5, -1), []int64{-5, -1}, []int64{-20, -6, -5, -1}},
		{"no timestamps", TimeEvictor[int64, TimeWindow](time.Millisecond, false), noTs, []int64{1, 2, 3}, []int64{1, 2, 3}},
		{"first without timestamp", TimeEvictor[int64, TimeWindow](time.Millisecond, false), firstNoTs, []int64{0, 1, 50}, []int64{0, 1, 50}},
		{"elements without timestamp are kept", TimeEvictor[int64, TimeWindow](10*time.Millisecond, false), mixed, []int64{2, 15, 20}, []int64{1, 2, 15, 20}},
		{"empty", TimeEvictor[int64, TimeWindow](time.Millisecond, false), nil, []int64{}, []int64{}},
	})
}

func absDelta(a, b int64) float64 { return math.Abs(float64(a - b)) }

func TestDeltaEvictor(t *testing.T) {
	// Deltas to the last element (12): 11, 8, 5, 4, 2, 0.
	in := tvs(1, 4, 7, 8, 10, 12)
	all := []int64{1, 4, 7, 8, 10, 12}
	runEvictCases(t, []evictCase{
		{"before", DeltaEvictor[int64, TimeWindow](5, absDelta, false), in, []int64{8, 10, 12}, all},
		{"after", DeltaEvictor[int64, TimeWindow](5, absDelta, true), in, all, []int64{8, 10, 12}},
		{"threshold above all", DeltaEvictor[int64, TimeWindow](100, absDelta, false), in, all, all},
		{"threshold 0 evicts all", DeltaEvictor[int64, TimeWindow](0, absDelta, false), in, []int64{}, all},
		{"not monotone", DeltaEvictor[int64, TimeWindow](3, absDelta, false), tvs(10, 0, 9, 20, 8), []int64{10, 9, 8}, []int64{10, 0, 9, 20, 8}},
		{"empty", DeltaEvictor[int64, TimeWindow](1, absDelta, false), nil, []int64{}, []int64{}},
	})

	// The delta function receives the older element first, the last second.
	var pairs [][2]int64
	ev := DeltaEvictor[int64, TimeWindow](1, func(old, new int64) float64 {
		pairs = append(pairs, [2]int64{old, new})
		return 0
	}, false)
	ev.EvictBefore(tvs(1, 2, 3), tw(0, 1), nil)
	if want := [][2]int64{{1, 3}, {2, 3}, {3, 3}}; !slices.Equal(pairs, want) {
		t.Errorf("delta called with %v, want %v", pairs, want)
	}

	bad := DeltaEvictor[int64, TimeWindow](1, nil, false)
	if err := bad.(Validator).Err(); !errors.Is(err, ErrInvalidWindow) {
		t.Errorf("nil delta: Err() = %v, want ErrInvalidWindow", err)
	}
	if got := bad.EvictBefore(tvs(1, 2), tw(0, 1), nil); len(got) != 2 {
		t.Errorf("invalid evictor evicted: %v", got)
	}
}

func TestEvictorAllocs(t *testing.T) {
	w := tw(0, 100)
	src := tvs(1, 2, 3, 4, 5, 6, 7, 8)
	buf := make([]TimestampedValue[int64], len(src))
	evs := []Evictor[int64, TimeWindow]{
		CountEvictor[int64, TimeWindow](3, false),
		TimeEvictor[int64, TimeWindow](3*time.Millisecond, false),
		DeltaEvictor[int64, TimeWindow](3, absDelta, false),
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, ev := range evs {
			copy(buf, src)
			ev.EvictBefore(buf, w, nil)
		}
	})
	if allocs != 0 {
		t.Errorf("evictors allocate %v times", allocs)
	}
}

func TestEvictorStrings(t *testing.T) {
	tests := []struct {
		ev   Evictor[int64, TimeWindow]
		want string
	}{
		{CountEvictor[int64, TimeWindow](3, false), "CountEvictor(3, evictAfter=false)"},
		{TimeEvictor[int64, TimeWindow](time.Second, true), "TimeEvictor(1000ms, evictAfter=true)"},
		{DeltaEvictor[int64, TimeWindow](2.5, absDelta, false), "DeltaEvictor(2.5, evictAfter=false)"},
	}
	for _, tt := range tests {
		if s := tt.ev.(interface{ String() string }).String(); s != tt.want {
			t.Errorf("String = %q, want %q", s, tt.want)
		}
	}
}
