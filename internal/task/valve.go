package task

import "math"

// minValve combines the watermarks of a subtask's input channels: its
// watermark is the minimum over the channels and never goes back.
type minValve struct {
	channels []int64
	last     int64
}

func newMinValve(n int) *minValve {
	v := &minValve{channels: make([]int64, n), last: math.MinInt64}
	for i := range v.channels {
		v.channels[i] = math.MinInt64
	}
	return v
}

func (v *minValve) input(ch int, wm int64) (int64, bool) {
	if wm <= v.channels[ch] {
		return 0, false
	}
	v.channels[ch] = wm
	m := int64(math.MaxInt64)
	for _, w := range v.channels {
		m = min(m, w)
	}
	if m <= v.last {
		return 0, false
	}
	v.last = m
	return m, true
}
