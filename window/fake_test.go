package window

import (
	"math"
	"slices"
)

type timerKey[W Window] struct {
	w W
	t int64
}

type stateKey[W Window] struct {
	w    W
	name string
}

// fakeCtx is an in-memory TriggerContext/MergeContext/EvictorContext for a
// single key. w is the window the context is currently scoped to and merged
// the windows merged into w during OnMerge.
type fakeCtx[W Window] struct {
	wm, now    int64
	w          W
	merged     []W
	evTimers   map[timerKey[W]]bool
	procTimers map[timerKey[W]]bool
	state      map[stateKey[W]]int64
}

func newFakeCtx[W Window](w W) *fakeCtx[W] {
	return &fakeCtx[W]{
		wm:         math.MinInt64,
		w:          w,
		evTimers:   map[timerKey[W]]bool{},
		procTimers: map[timerKey[W]]bool{},
		state:      map[stateKey[W]]int64{},
	}
}

func (c *fakeCtx[W]) at(w W) *fakeCtx[W] { c.w = w; return c }

func (c *fakeCtx[W]) CurrentWatermark() int64             { return c.wm }
func (c *fakeCtx[W]) CurrentProcessingTime() int64        { return c.now }
func (c *fakeCtx[W]) RegisterEventTimeTimer(t int64)      { c.evTimers[timerKey[W]{c.w, t}] = true }
func (c *fakeCtx[W]) DeleteEventTimeTimer(t int64)        { delete(c.evTimers, timerKey[W]{c.w, t}) }
func (c *fakeCtx[W]) RegisterProcessingTimeTimer(t int64) { c.procTimers[timerKey[W]{c.w, t}] = true }
func (c *fakeCtx[W]) DeleteProcessingTimeTimer(t int64)   { delete(c.procTimers, timerKey[W]{c.w, t}) }
func (c *fakeCtx[W]) SetState(name string, v int64)       { c.state[stateKey[W]{c.w, name}] = v }
func (c *fakeCtx[W]) ClearState(name string)              { delete(c.state, stateKey[W]{c.w, name}) }
func (c *fakeCtx[W]) GetState(name string) (int64, bool) {
	v, ok := c.state[stateKey[W]{c.w, name}]
	return v, ok
}

func (c *fakeCtx[W]) MergeState(name string, reduce func(a, b int64) int64) {
	var acc int64
	have := false
	for _, m := range c.merged {
		if m == c.w {
			continue
		}
		k := stateKey[W]{m, name}
		if v, ok := c.state[k]; ok {
			delete(c.state, k)
			if have {
				acc = reduce(acc, v)
			} else {
				acc, have = v, true
			}
		}
	}
	if !have {
		return
	}
	k := stateKey[W]{c.w, name}
	if v, ok := c.state[k]; ok {
		acc = reduce(acc, v)
	}
	c.state[k] = acc
}

// eventTimers returns the event-time timers of window w, sorted.
func (c *fakeCtx[W]) eventTimers(w W) []int64 { return timersOf(c.evTimers, w) }

// processingTimers returns the processing-time timers of window w, sorted.
func (c *fakeCtx[W]) processingTimers(w W) []int64 { return timersOf(c.procTimers, w) }

func timersOf[W Window](m map[timerKey[W]]bool, w W) []int64 {
	var out []int64
	for k := range m {
		if k.w == w {
			out = append(out, k.t)
		}
	}
	slices.Sort(out)
	return out
}

var (
	_ MergeContext   = (*fakeCtx[TimeWindow])(nil)
	_ EvictorContext = (*fakeCtx[TimeWindow])(nil)
)
