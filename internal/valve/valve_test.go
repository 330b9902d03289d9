package valve

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// op is one input to the valve: a watermark (status == "") or a status
// ("idle"/"active") on channel ch. want is the expected output, formatted by
// apply: "" for nothing, "wm:N", "idle", "active", or "wm:N,idle".
type op struct {
	ch     int
	wm     int64
	status string
	want   string
}

func wm(ch int, v int64, want string) op { return op{ch: ch, wm: v, want: want} }
func idle(ch int, want string) op        { return op{ch: ch, status: "idle", want: want} }
func active(ch int, want string) op      { return op{ch: ch, status: "active", want: want} }

func apply(v *Valve, o op) string {
	if o.status == "" {
		if out, ok := v.InputWatermark(o.ch, o.wm); ok {
			return fmt.Sprintf("wm:%d", out)
		}
		return ""
	}
	r := v.InputStatus(o.ch, o.status == "idle")
	var parts []string
	if r.EmitWatermark {
		parts = append(parts, fmt.Sprintf("wm:%d", r.Watermark))
	}
	if r.StatusChanged {
		if r.Idle {
			parts = append(parts, "idle")
		} else {
			parts = append(parts, "active")
		}
	}
	if r.Idle != v.Idle() {
		parts = append(parts, "BAD-IDLE-FLAG")
	}
	return strings.Join(parts, ",")
}

func TestValveSequences(t *testing.T) {
	tests := []struct {
		name     string
		channels int
		ops      []op
	}{
		{
			name:     "three channels out of order",
			channels: 3,
			ops: []op{
				wm(0, 5, ""), wm(1, 3, ""), wm(2, 4, "wm:3"),
				wm(1, 7, "wm:4"), wm(2, 6, "wm:5"), wm(0, 10, "wm:6"), wm(2, 9, "wm:7"),
				wm(1, 12, "wm:9"), wm(2, 20, "wm:10"),
			},
		},
		{
			name:     "lower and equal watermarks ignored",
			channels: 2,
			ops: []op{
				wm(0, 10, ""), wm(1, 10, "wm:10"),
				wm(0, 5, ""), wm(1, 12, ""), wm(0, 8, ""), wm(0, 10, ""), wm(0, 11, "wm:11"),
				wm(1, 12, ""), wm(0, math.MinInt64, ""),
			},
		},
		{
			name:     "idle channel no longer holds back",
			channels: 3,
			ops: []op{
				wm(0, 10, ""), wm(1, 20, ""), wm(2, 5, "wm:5"),
				idle(2, "wm:10"), // it held the minimum: advance to min of the rest
				wm(2, 30, ""),    // watermarks of an idle channel are ignored
				wm(0, 15, "wm:15"),
				idle(1, ""), // 20 != 15: not holding the output, nothing to do
				wm(0, 25, "wm:25"),
			},
		},
		{
			name:     "all idle flushes max then idles once",
			channels: 2,
			ops: []op{
				wm(0, 10, ""), wm(1, 20, "wm:10"),
				idle(1, ""),
				idle(0, "wm:20,idle"),    // last active channel held the output: flush max over all
				idle(0, ""), idle(1, ""), // already idle
				wm(0, 30, ""), wm(1, 40, ""), // ignored while idle
			},
		},
		{
			name:     "all idle without anything to flush",
			channels: 2,
			ops: []op{
				wm(0, 10, ""), wm(1, 20, "wm:10"),
				idle(0, "wm:20"),
				idle(1, "idle"),
			},
		},
		{
			// The last channel to go idle is unaligned and behind the
			// output: the flush does not depend on its watermark.
			name:     "flush when the last channel to go idle is behind",
			channels: 3,
			ops: []op{
				wm(0, 20, ""), wm(1, 40, ""), wm(2, 10, "wm:10"),
				idle(2, "wm:20"),
				active(2, ""), // 10 < 20: active but unaligned
				idle(1, ""),
				idle(0, ""), // ch2 still active (unaligned): no aligned channel left, nothing emitted
				idle(2, "wm:40,idle"),
			},
		},
		{
			name:     "max already emitted: idle without a duplicate watermark",
			channels: 3,
			ops: []op{
				wm(0, 10, ""), wm(1, 30, ""), wm(2, 20, "wm:10"),
				idle(0, "wm:20"), idle(2, "wm:30"), // ch1 (30) holds the output alone
				idle(1, "idle"), // 30 was emitted already
			},
		},
		{
			name:     "re-activation after all idle",
			channels: 3,
			ops: []op{
				wm(0, 10, ""), wm(1, 30, ""), wm(2, 20, "wm:10"),
				idle(1, ""), idle(2, ""),
				idle(0, "wm:30,idle"),
				wm(2, 50, ""),       // ignored while idle
				active(2, "active"), // no watermark with it; 20 < 30: unaligned
				wm(2, 25, ""),       // still behind: nothing, never backwards
				active(0, ""),       // 10 < 30: unaligned too
				wm(2, 35, "wm:35"),  // caught up: aligned; the unaligned ch0 does not hold back
				wm(0, 40, ""),       // aligned again at 40; min(35, 40) = 35
				active(1, ""),       // 30 < 35: unaligned
				idle(2, "wm:40"),    // it held the output: min over {ch0: 40}
				idle(0, ""),         // ch1 is active but unaligned
				idle(1, "idle"),     // max over all = 40, already emitted
				active(1, "active"), // 30 < 40: unaligned
				wm(1, 45, "wm:45"),
				idle(1, "idle"),
			},
		},
		{
			name:     "re-activation below the output does not regress and re-aligns",
			channels: 2,
			ops: []op{
				wm(0, 10, ""), wm(1, 10, "wm:10"),
				idle(1, ""), // 10 == 10 but min over {ch0}=10 does not advance
				wm(0, 30, "wm:30"),
				active(1, ""),      // ch1 at 10 < 30: unaligned, output stays active
				wm(1, 20, ""),      // still behind: no output, never backwards
				wm(0, 40, "wm:40"), // unaligned ch1 does not hold back
				wm(1, 40, ""),      // caught up: aligned again
				wm(0, 50, ""),      // now ch1 (40) holds the output
				wm(1, 45, "wm:45"),
			},
		},
		{
			name:     "re-activation from an idle valve",
			channels: 2,
			ops: []op{
				wm(0, 10, ""), wm(1, 20, "wm:10"),
				idle(0, "wm:20"), idle(1, "idle"),
				active(0, "active"), // ch0 at 10 < 20: unaligned
				active(1, ""),       // ch1 at 20 >= 20: aligned
				wm(0, 15, ""),
				wm(1, 25, "wm:25"), // only ch1 is aligned
				wm(0, 30, ""),      // ch0 re-aligns at 30; min is 25
				wm(1, 35, "wm:30"),
			},
		},
		{
			name:     "single channel",
			channels: 1,
			ops: []op{
				wm(0, 5, "wm:5"), wm(0, 5, ""), wm(0, 3, ""),
				idle(0, "idle"),
				wm(0, 10, ""),
				active(0, "active"), // 5 >= 5: aligned immediately
				active(0, ""),
				wm(0, 7, "wm:7"),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := New(tc.channels)
			for i, o := range tc.ops {
				if got := apply(v, o); got != o.want {
					t.Fatalf("op %d %+v: got %q, want %q", i, o, got, o.want)
				}
			}
		})
	}
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

// TestValveAllIdleEveryOrder sets every channel's watermark, then marks the
// channels idle in every possible order. While channels remain active the
// output follows the minimum over them; when the last one goes idle the
// valve emits the highest watermark of any channel if it was not emitted
// yet, then the idle status, whatever the order.
func TestValveAllIdleEveryOrder(t *testing.T) {
	const none = math.MinInt64 // a channel that never received a watermark
	tests := []struct {
		name string
		wms  []int64 // per channel
	}{
		{"three channels", []int64{10, 30, 20}},
		{"four channels", []int64{40, 10, 30, 20}},
		{"four channels sharing the max", []int64{30, 10, 30, 20}},
		{"one channel without a watermark", []int64{20, none, 10}},
		{"all equal: max already emitted", []int64{10, 10, 10}},
		{"none has a watermark", []int64{none, none, none}},
	}
	for _, tc := range tests {
		n := len(tc.wms)
		highest := slices.Max(tc.wms)
		for _, order := range permutations(n) {
			t.Run(fmt.Sprintf("%s/order=%v", tc.name, order), func(t *testing.T) {
				v := New(n)
				for c, w := range tc.wms {
					if w != none {
						v.InputWatermark(c, w)
					}
				}
				last := v.Watermark()
				if want := slices.Min(tc.wms); last != want {
					t.Fatalf("after setup: output watermark %d, want the minimum %d", last, want)
				}
				active := slices.Clone(tc.wms)
				var got, want []string
				for k, c := range order {
					got = append(got, apply(v, idle(c, "")))
					active[c] = math.MaxInt64 // no longer active
					w := ""
					if k < n-1 {
						if m := slices.Min(active); m > last {
							w, last = fmt.Sprintf("wm:%d", m), m
						}
					} else {
						if highest > last {
							w, last = fmt.Sprintf("wm:%d,", highest), highest
						}
						w += "idle"
					}
					want = append(want, w)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("channels going idle in order %v emitted %q, want %q", order, got, want)
				}
				if v.Watermark() != highest || !v.Idle() {
					t.Fatalf("end: watermark %d idle %v, want %d idle", v.Watermark(), v.Idle(), highest)
				}
			})
		}
	}
}

// TestValveAllIdleEveryOrderWithUnalignedChannel: channel 2 went idle and
// came back behind the output, so it is active but unaligned when the
// channels go idle. Before, the flush depended on which channel went idle
// last; now every order ends with 40 emitted once, then idle.
func TestValveAllIdleEveryOrderWithUnalignedChannel(t *testing.T) {
	setup := []op{
		wm(0, 20, ""), wm(1, 40, ""), wm(2, 10, "wm:10"),
		idle(2, "wm:20"),
		active(2, ""), // 10 < 20: active, unaligned
	}
	tests := []struct {
		order []int
		want  []string // per channel going idle, in order
	}{
		{[]int{0, 1, 2}, []string{"wm:40", "", "idle"}},
		{[]int{0, 2, 1}, []string{"wm:40", "", "idle"}},
		{[]int{1, 0, 2}, []string{"", "", "wm:40,idle"}},
		{[]int{1, 2, 0}, []string{"", "", "wm:40,idle"}},
		{[]int{2, 0, 1}, []string{"", "wm:40", "idle"}},
		{[]int{2, 1, 0}, []string{"", "", "wm:40,idle"}},
	}
	if len(tests) != len(permutations(3)) {
		t.Fatal("not every order is covered")
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("order=%v", tc.order), func(t *testing.T) {
			v := New(3)
			for i, o := range setup {
				if got := apply(v, o); got != o.want {
					t.Fatalf("setup op %d %+v: got %q, want %q", i, o, got, o.want)
				}
			}
			var got []string
			for _, c := range tc.order {
				got = append(got, apply(v, idle(c, "")))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestChannelState(t *testing.T) {
	v := New(2)
	if v.NumChannels() != 2 || v.Watermark() != math.MinInt64 || v.Idle() {
		t.Fatalf("bad initial state")
	}
	if got := v.Channel(1); got != (ChannelState{Watermark: math.MinInt64, Aligned: true}) {
		t.Fatalf("initial channel = %+v", got)
	}
	v.InputWatermark(0, 10)
	v.InputWatermark(1, 10)
	v.InputStatus(1, true)
	if got := v.Channel(1); got != (ChannelState{Watermark: 10, Idle: true}) {
		t.Fatalf("idle channel = %+v", got)
	}
	v.InputWatermark(0, 30)
	v.InputStatus(1, false)
	if got := v.Channel(1); got != (ChannelState{Watermark: 10}) {
		t.Fatalf("re-activated lagging channel = %+v", got)
	}
	v.InputWatermark(1, 30)
	if got := v.Channel(1); got != (ChannelState{Watermark: 30, Aligned: true}) {
		t.Fatalf("caught-up channel = %+v", got)
	}
}

func TestNewPanicsOnNoChannels(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New(0) did not panic")
		}
	}()
	New(0)
}

// refValve is a straightforward O(n) transcription of the rules in the
// package documentation, used to check the heap-based Valve.
type refValve struct {
	wm      []int64
	idle    []bool
	aligned []bool
	last    int64
	outIdle bool
}

func newRef(n int) *refValve {
	r := &refValve{wm: make([]int64, n), idle: make([]bool, n), aligned: make([]bool, n), last: math.MinInt64}
	for i := range r.wm {
		r.wm[i] = math.MinInt64
		r.aligned[i] = true
	}
	return r
}

func (r *refValve) minAligned() (int64, bool) {
	m, ok := int64(math.MaxInt64), false
	for i := range r.wm {
		if r.aligned[i] {
			m, ok = min(m, r.wm[i]), true
		}
	}
	return m, ok
}

func (r *refValve) emitMin() string {
	if m, ok := r.minAligned(); ok && m > r.last {
		r.last = m
		return fmt.Sprintf("wm:%d", m)
	}
	return ""
}

func (r *refValve) apply(o op) string {
	c := o.ch
	switch o.status {
	case "":
		if r.outIdle || r.idle[c] || o.wm <= r.wm[c] {
			return ""
		}
		r.wm[c] = o.wm
		if !r.aligned[c] && o.wm >= r.last {
			r.aligned[c] = true
		}
		return r.emitMin()
	case "idle":
		if r.idle[c] {
			return ""
		}
		r.idle[c], r.aligned[c] = true, false
		anyActive := false
		for _, b := range r.idle {
			anyActive = anyActive || !b
		}
		if !anyActive {
			out := ""
			m := int64(math.MinInt64)
			for _, w := range r.wm {
				m = max(m, w)
			}
			if m > r.last {
				r.last = m
				out = fmt.Sprintf("wm:%d,", m)
			}
			r.outIdle = true
			return out + "idle"
		}
		if r.wm[c] == r.last {
			return r.emitMin()
		}
		return ""
	default:
		if !r.idle[c] {
			return ""
		}
		r.idle[c] = false
		if r.wm[c] >= r.last {
			r.aligned[c] = true
		}
		if r.outIdle {
			r.outIdle = false
			return "active"
		}
		return ""
	}
}

func TestValveMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 300; iter++ {
		n := 1 + rng.IntN(8)
		v, r := New(n), newRef(n)
		for step := 0; step < 400; step++ {
			o := op{ch: rng.IntN(n)}
			switch x := rng.IntN(10); {
			case x < 7:
				o.wm = int64(rng.IntN(200))
			case x < 9:
				o.status = "idle"
			default:
				o.status = "active"
			}
			got, want := apply(v, o), r.apply(o)
			if got != want {
				t.Fatalf("iter %d step %d %+v: got %q, reference %q", iter, step, o, got, want)
			}
			for c := 0; c < n; c++ {
				cs := v.Channel(c)
				if cs.Watermark != r.wm[c] || cs.Idle != r.idle[c] || cs.Aligned != r.aligned[c] {
					t.Fatalf("iter %d step %d: channel %d = %+v, reference wm=%d idle=%v aligned=%v",
						iter, step, c, cs, r.wm[c], r.idle[c], r.aligned[c])
				}
			}
		}
	}
}

func TestInputWatermarkDoesNotAllocate(t *testing.T) {
	v := New(16)
	var ts int64
	allocs := testing.AllocsPerRun(1000, func() {
		ts++
		for c := 0; c < 16; c++ {
			v.InputWatermark(c, ts+int64(c))
		}
		v.InputStatus(3, true)
		v.InputStatus(3, false)
		for c := 0; c < 16; c++ { // all idle: flush, then active again
			v.InputStatus(c, true)
		}
		for c := 0; c < 16; c++ {
			v.InputStatus(c, false)
		}
	})
	if allocs != 0 {
		t.Fatalf("allocs per run = %v, want 0", allocs)
	}
}
