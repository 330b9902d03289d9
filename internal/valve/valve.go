// Package valve implements Flink's StatusWatermarkValve: it combines the
// watermarks and watermark statuses (active/idle) arriving on the input
// channels of one task into the task's output watermark and status.
//
// Rules (as in Flink):
//
//   - Every channel starts active and aligned with watermark MinInt64; the
//     output starts active with watermark MinInt64.
//   - A watermark is accepted only while its channel is active, and only if
//     it is higher than the channel's current watermark; anything else is
//     ignored.
//   - The output watermark is the minimum over the aligned channels, emitted
//     only when it is higher than the last output watermark.
//   - A channel that becomes idle is no longer aligned. When it becomes
//     active again it is aligned immediately if its watermark is >= the last
//     output watermark; otherwise it stays unaligned (and so does not hold the
//     output back, nor move it backwards) until a watermark >= the last output
//     watermark arrives on it.
//   - When a channel going idle leaves other active channels and its
//     watermark equals the last output watermark, the minimum over the
//     remaining aligned channels may be emitted.
//   - When the last active channel goes idle, the output becomes idle. Just
//     before that, the maximum watermark over all channels (idle ones
//     included) is emitted if it is higher than the last output watermark
//     ("flush"), whichever channel went idle last and whatever its
//     watermark; so the output watermark once all channels are idle does not
//     depend on the order in which they went idle. The valve emits the
//     watermark first, then the idle status.
//   - When any channel becomes active while the output is idle, the output
//     becomes active (no watermark is emitted with it).
//
// A Valve is deterministic and single-threaded. InputWatermark and
// InputStatus do not allocate; the minimum is kept in an indexed binary heap
// over the aligned channels, so a watermark costs O(log channels) (the flush
// when the last channel goes idle scans all channels once).
package valve

import (
	"fmt"
	"math"
)

type channel struct {
	wm      int64
	idle    bool
	heapIdx int // position in Valve.heap, or -1 when not aligned
}

// Valve is Flink's StatusWatermarkValve for a fixed number of input channels.
type Valve struct {
	ch     []channel
	heap   []int // indexes of aligned channels, min-heap by watermark
	active int   // number of active channels
	lastWM int64
	idle   bool
}

// Result tells the caller what to forward downstream after
// [Valve.InputStatus]. If both flags are set, the watermark must be emitted
// before the status.
type Result struct {
	// Watermark is the new output watermark; valid if EmitWatermark.
	Watermark int64
	// EmitWatermark reports that Watermark must be emitted downstream.
	EmitWatermark bool
	// StatusChanged reports that the output status changed (to the value of
	// Idle) and the new status must be emitted downstream.
	StatusChanged bool
	// Idle is the output status after the input (valid whether or not it
	// changed).
	Idle bool
}

// ChannelState is a snapshot of one input channel, for inspection and tests.
type ChannelState struct {
	Watermark int64
	Idle      bool
	Aligned   bool
}

// New returns a Valve for numChannels input channels, all active and aligned
// with watermark MinInt64. It panics if numChannels < 1.
func New(numChannels int) *Valve {
	if numChannels < 1 {
		panic(fmt.Sprintf("valve: numChannels must be at least 1, got %d", numChannels))
	}
	v := &Valve{
		ch:     make([]channel, numChannels),
		heap:   make([]int, 0, numChannels),
		active: numChannels,
		lastWM: math.MinInt64,
	}
	for i := range v.ch {
		v.ch[i] = channel{wm: math.MinInt64, heapIdx: -1}
		v.align(i)
	}
	return v
}

// InputWatermark feeds watermark wm received on channel ch (0-based) into the
// valve and returns the new output watermark if one must be emitted. It
// panics if ch is out of range.
func (v *Valve) InputWatermark(ch int, wm int64) (out int64, ok bool) {
	c := &v.ch[ch]
	// Ignore watermarks of idle channels (and hence of an idle valve) and
	// watermarks that do not advance the channel.
	if v.idle || c.idle || wm <= c.wm {
		return 0, false
	}
	c.wm = wm
	if c.heapIdx >= 0 {
		v.down(c.heapIdx) // the key only grew
	} else if wm >= v.lastWM {
		v.align(ch) // caught up with the output: aligned again
	}
	return v.advanceToMin()
}

// InputStatus feeds a status change of channel ch (idle or active) into the
// valve. Inputs that do not change the channel's status are ignored. It
// panics if ch is out of range.
func (v *Valve) InputStatus(ch int, idle bool) Result {
	c := &v.ch[ch]
	var r Result
	switch {
	case idle && !c.idle: // active -> idle
		c.idle = true
		v.active--
		v.unalign(ch)
		if v.active == 0 {
			r.Watermark, r.EmitWatermark = v.flushMax()
			v.idle = true
			r.StatusChanged = true
		} else if c.wm == v.lastWM {
			r.Watermark, r.EmitWatermark = v.advanceToMin()
		}
	case !idle && c.idle: // idle -> active
		c.idle = false
		v.active++
		if c.wm >= v.lastWM {
			v.align(ch)
		}
		if v.idle {
			v.idle = false
			r.StatusChanged = true
		}
	}
	r.Idle = v.idle
	return r
}

// Watermark returns the last output watermark (MinInt64 before the first).
func (v *Valve) Watermark() int64 { return v.lastWM }

// Idle reports whether the output is idle.
func (v *Valve) Idle() bool { return v.idle }

// NumChannels returns the number of input channels.
func (v *Valve) NumChannels() int { return len(v.ch) }

// Channel returns the state of channel ch. It panics if ch is out of range.
func (v *Valve) Channel(ch int) ChannelState {
	c := v.ch[ch]
	return ChannelState{Watermark: c.wm, Idle: c.idle, Aligned: c.heapIdx >= 0}
}

// advanceToMin emits the minimum over aligned channels if it is higher than
// the last output watermark.
func (v *Valve) advanceToMin() (int64, bool) {
	if len(v.heap) == 0 {
		return 0, false
	}
	if m := v.ch[v.heap[0]].wm; m > v.lastWM {
		v.lastWM = m
		return m, true
	}
	return 0, false
}

// flushMax emits the maximum over all channels if it is higher than the last
// output watermark.
func (v *Valve) flushMax() (int64, bool) {
	maxWM := int64(math.MinInt64)
	for i := range v.ch {
		maxWM = max(maxWM, v.ch[i].wm)
	}
	if maxWM > v.lastWM {
		v.lastWM = maxWM
		return maxWM, true
	}
	return 0, false
}

// --- indexed min-heap over aligned channels ---

func (v *Valve) align(ch int) {
	if v.ch[ch].heapIdx >= 0 {
		return
	}
	v.heap = append(v.heap, ch)
	v.ch[ch].heapIdx = len(v.heap) - 1
	v.up(len(v.heap) - 1)
}

func (v *Valve) unalign(ch int) {
	i := v.ch[ch].heapIdx
	if i < 0 {
		return
	}
	last := len(v.heap) - 1
	if i != last {
		v.swap(i, last)
	}
	v.heap = v.heap[:last]
	v.ch[ch].heapIdx = -1
	if i != last {
		if !v.up(i) {
			v.down(i)
		}
	}
}

func (v *Valve) less(i, j int) bool { return v.ch[v.heap[i]].wm < v.ch[v.heap[j]].wm }

func (v *Valve) swap(i, j int) {
	v.heap[i], v.heap[j] = v.heap[j], v.heap[i]
	v.ch[v.heap[i]].heapIdx = i
	v.ch[v.heap[j]].heapIdx = j
}

// up sifts element i towards the root and reports whether it moved.
func (v *Valve) up(i int) bool {
	moved := false
	for i > 0 {
		p := (i - 1) / 2
		if !v.less(i, p) {
			break
		}
		v.swap(i, p)
		i = p
		moved = true
	}
	return moved
}

func (v *Valve) down(i int) {
	n := len(v.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && v.less(r, l) {
			m = r
		}
		if !v.less(m, i) {
			return
		}
		v.swap(i, m)
		i = m
	}
}
