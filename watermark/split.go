package watermark

import (
	"fmt"
	"slices"
)

// SplitWatermarks runs one generator of a [Strategy] per source split and
// combines their outputs with a [Multiplexer] (Flink's per-split
// watermarking in a source reader). Records of a split go through that
// split's [SplitOutput]; the runtime calls [SplitWatermarks.OnPeriodicEmit]
// every auto-watermark interval. Idle splits do not hold the combined
// watermark back; once every split is idle the highest split watermark is
// forwarded, then the idle status. All splits share one timestamp assigner,
// as in Flink. Not safe for concurrent use.
type SplitWatermarks[T any] struct {
	strategy Strategy[T]
	assigner TimestampAssigner[T]
	mux      *Multiplexer
	byID     map[string]*SplitOutput[T]
	order    []*SplitOutput[T]
}

// SplitOutput is the per-split side of [SplitWatermarks]. Per record the
// runtime calls AssignTimestamp, emits the record downstream, then calls
// OnEvent; neither allocates.
type SplitOutput[T any] struct {
	id        string
	gen       Generator[T]
	assigner  TimestampAssigner[T]
	immediate Output
	deferred  Output
}

// NewSplitWatermarks validates s and returns a SplitWatermarks forwarding the
// combined watermark and status to out.
func (s Strategy[T]) NewSplitWatermarks(out Output) (*SplitWatermarks[T], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &SplitWatermarks[T]{
		strategy: s,
		assigner: s.Assigner(),
		mux:      NewMultiplexer(out),
		byID:     make(map[string]*SplitOutput[T]),
	}, nil
}

// AddSplit returns the output of split id, creating it (with a fresh
// generator, registered in the multiplexer) if it does not exist yet.
func (w *SplitWatermarks[T]) AddSplit(id string) *SplitOutput[T] {
	if o, ok := w.byID[id]; ok {
		return o
	}
	if err := w.mux.Register(id); err != nil {
		panic(fmt.Sprintf("watermark: inconsistent split state: %v", err))
	}
	o := &SplitOutput[T]{
		id:        id,
		gen:       w.strategy.NewGenerator(),
		assigner:  w.assigner,
		immediate: w.mux.ImmediateOutput(id),
		deferred:  w.mux.DeferredOutput(id),
	}
	w.byID[id] = o
	w.order = append(w.order, o)
	return o
}

// RemoveSplit releases split id (e.g. when it is finished) and reports
// whether it existed. Its watermark stops holding the combined watermark
// back from the next [SplitWatermarks.OnPeriodicEmit] on.
func (w *SplitWatermarks[T]) RemoveSplit(id string) bool {
	o, ok := w.byID[id]
	if !ok {
		return false
	}
	delete(w.byID, id)
	if i := slices.Index(w.order, o); i >= 0 {
		w.order = slices.Delete(w.order, i, i+1)
	}
	return w.mux.Unregister(id)
}

// OnPeriodicEmit runs the periodic emit of every split's generator and then
// combines the results once.
func (w *SplitWatermarks[T]) OnPeriodicEmit() {
	for _, o := range w.order {
		o.gen.OnPeriodicEmit(o.deferred)
	}
	w.mux.OnPeriodicEmit()
}

// Multiplexer returns the underlying multiplexer, e.g. to inspect the
// combined watermark.
func (w *SplitWatermarks[T]) Multiplexer() *Multiplexer { return w.mux }

// ID returns the split id.
func (o *SplitOutput[T]) ID() string { return o.id }

// AssignTimestamp returns the event timestamp of v, given the timestamp the
// record already carries ([NoTimestamp] if none).
func (o *SplitOutput[T]) AssignTimestamp(v T, recordTimestamp int64) int64 {
	if o.assigner == nil {
		return recordTimestamp
	}
	return o.assigner(v, recordTimestamp)
}

// OnEvent passes a record of this split that has already been emitted
// downstream to the split's generator.
func (o *SplitOutput[T]) OnEvent(v T, ts int64) { o.gen.OnEvent(v, ts, o.immediate) }
