package watermark

import (
	"fmt"
	"slices"
)

// Multiplexer combines the watermarks and idleness of several splits
// (partitions, shards) read by one source subtask into one output (Flink's
// WatermarkOutputMultiplexer):
//
//   - each split has a watermark (starting at [MinWatermark], only
//     advancing) and an idle flag (starting active); emitting a watermark on
//     a split marks it active;
//   - the combined watermark is the minimum over the non-idle splits, and it
//     is forwarded only when it advances;
//   - when every registered split is idle, the highest watermark of any split
//     is forwarded if it is higher than the combined watermark, then the
//     combined output is marked idle; so the combined watermark once all
//     splits are idle does not depend on the order in which they went idle
//     (as Flink's CombinedWatermarkStatus since FLINK-38454). If the output
//     was idle already (a split advanced and went idle again between two
//     combines), it is marked active for that watermark, then idle again;
//   - when a split becomes active again the combined output is marked active
//     (the combined watermark never goes backwards);
//   - with no splits registered nothing is forwarded.
//
// Each split has two outputs. Updates through [Multiplexer.ImmediateOutput]
// (used for [Generator.OnEvent]) recombine at once when they can change the
// result; updates through [Multiplexer.DeferredOutput] (used for
// [Generator.OnPeriodicEmit]) only record state, and are combined by
// [Multiplexer.OnPeriodicEmit], which the runtime calls after the periodic
// emit of every split. [SplitWatermarks] wires this up for a [Strategy].
//
// The underlying output receives only advancing watermarks and status
// changes, so it needs no further filtering. A Multiplexer is not safe for
// concurrent use.
type Multiplexer struct {
	out      Output
	byID     map[string]*muxSplit
	splits   []*muxSplit
	combined int64
	idle     bool
}

type muxSplit struct {
	m         *Multiplexer
	wm        int64
	idle      bool
	removed   bool
	immediate immediateOutput
	deferred  deferredOutput
}

// NewMultiplexer returns a Multiplexer forwarding the combined watermark and
// status to out.
func NewMultiplexer(out Output) *Multiplexer {
	return &Multiplexer{out: out, byID: make(map[string]*muxSplit), combined: MinWatermark}
}

// Register adds a split with watermark [MinWatermark], active. Until it emits
// a watermark it holds the combined watermark back. Registering an id twice
// is an error.
func (m *Multiplexer) Register(id string) error {
	if _, ok := m.byID[id]; ok {
		return fmt.Errorf("watermark: multiplexer already has an output for split %q", id)
	}
	s := &muxSplit{m: m, wm: MinWatermark}
	s.immediate.s = s
	s.deferred.s = s
	m.byID[id] = s
	m.splits = append(m.splits, s)
	return nil
}

// Unregister removes a split (e.g. when it is finished) and reports whether
// it was registered. As in Flink, the combined watermark is not recomputed
// until the next update (normally the next [Multiplexer.OnPeriodicEmit]).
// Outputs obtained for the split become no-ops.
func (m *Multiplexer) Unregister(id string) bool {
	s, ok := m.byID[id]
	if !ok {
		return false
	}
	delete(m.byID, id)
	s.removed = true
	if i := slices.Index(m.splits, s); i >= 0 {
		m.splits = slices.Delete(m.splits, i, i+1) // keeps order, clears the tail
	}
	return true
}

// ImmediateOutput returns the output of split id whose updates may change the
// combined output at once. It panics if id is not registered.
func (m *Multiplexer) ImmediateOutput(id string) Output {
	return &m.mustGet(id).immediate
}

// DeferredOutput returns the output of split id whose updates are combined
// only on [Multiplexer.OnPeriodicEmit]. It panics if id is not registered.
func (m *Multiplexer) DeferredOutput(id string) Output {
	return &m.mustGet(id).deferred
}

// OnPeriodicEmit combines all split states, including deferred updates, and
// forwards the result if it changed.
func (m *Multiplexer) OnPeriodicEmit() { m.update() }

// CombinedWatermark returns the last combined watermark forwarded
// ([MinWatermark] before the first).
func (m *Multiplexer) CombinedWatermark() int64 { return m.combined }

// IsIdle reports whether the combined output is marked idle.
func (m *Multiplexer) IsIdle() bool { return m.idle }

// Len returns the number of registered splits.
func (m *Multiplexer) Len() int { return len(m.splits) }

func (m *Multiplexer) mustGet(id string) *muxSplit {
	s, ok := m.byID[id]
	if !ok {
		panic(fmt.Sprintf("watermark: no multiplexer output registered for split %q", id))
	}
	return s
}

func (m *Multiplexer) update() {
	if len(m.splits) == 0 {
		return
	}
	allIdle := true
	minWM, maxWM := MaxWatermark, MinWatermark
	for _, s := range m.splits {
		maxWM = max(maxWM, s.wm)
		if !s.idle {
			allIdle = false
			minWM = min(minWM, s.wm)
		}
	}
	if allIdle {
		// No split will advance: flush the highest watermark, then idle.
		if maxWM > m.combined {
			if m.idle {
				// A split advanced and went idle again between two
				// combines: the output must be active to take a watermark.
				m.idle = false
				m.out.MarkActive()
			}
			m.combined = maxWM
			m.out.EmitWatermark(maxWM)
		}
		if !m.idle {
			m.idle = true
			m.out.MarkIdle()
		}
		return
	}
	if m.idle {
		m.idle = false
		m.out.MarkActive()
	}
	if minWM > m.combined {
		m.combined = minWM
		m.out.EmitWatermark(minWM)
	}
}

// setWatermark records ts for the split, marks it active and reports whether
// its watermark advanced and whether it was idle before.
func (s *muxSplit) setWatermark(ts int64) (advanced, wasIdle bool) {
	wasIdle = s.idle
	s.idle = false
	if ts > s.wm {
		s.wm = ts
		advanced = true
	}
	return advanced, wasIdle
}

type immediateOutput struct{ s *muxSplit }

func (o *immediateOutput) EmitWatermark(ts int64) {
	s := o.s
	if s.removed {
		return
	}
	advanced, wasIdle := s.setWatermark(ts)
	// Only a watermark above the combined one can advance it; a split that
	// was idle may turn the combined output active.
	if (advanced && ts > s.m.combined) || wasIdle {
		s.m.update()
	}
}

func (o *immediateOutput) MarkIdle() {
	if o.s.removed {
		return
	}
	o.s.idle = true
	o.s.m.update()
}

func (o *immediateOutput) MarkActive() {
	if o.s.removed {
		return
	}
	o.s.idle = false
	o.s.m.update()
}

type deferredOutput struct{ s *muxSplit }

func (o *deferredOutput) EmitWatermark(ts int64) {
	if o.s.removed {
		return
	}
	o.s.setWatermark(ts)
}

func (o *deferredOutput) MarkIdle() {
	if !o.s.removed {
		o.s.idle = true
	}
}

func (o *deferredOutput) MarkActive() {
	if !o.s.removed {
		o.s.idle = false
	}
}
