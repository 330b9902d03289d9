package valve

import (
	"fmt"
	"math"
	"math/rand/v2"
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
			// Flink flushes only if the channel that goes idle last has a
			// watermark equal to the last output watermark.
			name:     "no flush when the last channel to go idle is behind",
			channels: 3,
			ops: []op{
				wm(0, 20, ""), wm(1, 40, ""), wm(2, 10, "wm:10"),
				idle(2, "wm:20"),
				active(2, ""), // 10 < 20: active but unaligned
				idle(1, ""),
				idle(0, ""), // ch2 still active (unaligned): no aligned channel left, nothing emitted
				idle(2, "idle"),
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
			if r.wm[c] == r.last {
				m := int64(math.MinInt64)
				for _, w := range r.wm {
					m = max(m, w)
				}
				if m > r.last {
					r.last = m
					out = fmt.Sprintf("wm:%d,", m)
				}
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
	})
	if allocs != 0 {
		t.Fatalf("allocs per run = %v, want 0", allocs)
	}
}
