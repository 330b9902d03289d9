package operator

import (
	"fmt"
	"math"
)

// Base holds what most one-output operators share: their outputs and the
// default lifecycle. Embed it and implement ProcessElement.
type Base[OUT any] struct {
	Out  Output[OUT]
	Side map[string]any // tag id → Output[X]
	Ctx  *Context
}

// Setup implements Setup.
func (b *Base[OUT]) Setup(main any, side map[string]any) error {
	if main != nil {
		o, ok := main.(Output[OUT])
		if !ok {
			return fmt.Errorf("output of type %T, want Output of %T", main, *new(OUT))
		}
		b.Out = o
	}
	b.Side = side
	return nil
}

// Open implements Operator.
func (b *Base[OUT]) Open(ctx *Context) error { b.Ctx = ctx; return nil }

// Finish implements Operator.
func (b *Base[OUT]) Finish() error { return nil }

// Close implements Operator.
func (b *Base[OUT]) Close() error { return nil }

// ProcessWatermark forwards the watermark.
func (b *Base[OUT]) ProcessWatermark(wm int64) error {
	b.Out.EmitWatermark(wm)
	for _, s := range b.Side {
		s.(interface{ EmitWatermark(int64) }).EmitWatermark(wm)
	}
	return nil
}

// Emitter is the Collector handed to user functions: it emits values with
// the timestamp of the record being processed.
type Emitter[OUT any] struct {
	Out       Output[OUT]
	Timestamp int64
}

// Collect emits v.
func (e *Emitter[OUT]) Collect(v OUT) { e.Out.Collect(Record[OUT]{Value: v, Timestamp: e.Timestamp}) }

// SideOutput returns the Output[X] for a side output tag id, or nil.
func SideOutput[X any](side map[string]any, id string) Output[X] {
	o, ok := side[id]
	if !ok {
		return nil
	}
	return o.(Output[X])
}

// Base2 is Base for two-input operators: it combines the watermarks of the
// two inputs, forwarding the minimum whenever it advances.
type Base2[OUT any] struct {
	Base[OUT]
	wm1, wm2, wm int64
	started      bool
}

func (b *Base2[OUT]) init() {
	if !b.started {
		b.started = true
		b.wm1, b.wm2, b.wm = math.MinInt64, math.MinInt64, math.MinInt64
	}
}

// ProcessWatermark1 takes the first input's watermark.
func (b *Base2[OUT]) ProcessWatermark1(wm int64) error {
	b.init()
	b.wm1 = max(b.wm1, wm)
	return b.advance()
}

// ProcessWatermark2 takes the second input's watermark.
func (b *Base2[OUT]) ProcessWatermark2(wm int64) error {
	b.init()
	b.wm2 = max(b.wm2, wm)
	return b.advance()
}

// CombinedWatermark is the operator's current watermark.
func (b *Base2[OUT]) CombinedWatermark() int64 {
	b.init()
	return b.wm
}

func (b *Base2[OUT]) advance() error {
	if m := min(b.wm1, b.wm2); m > b.wm {
		b.wm = m
		return b.ProcessWatermark(m)
	}
	return nil
}
