package operator

import (
	"fmt"
	"math"
	"reflect"

	"github.com/freshet-io/freshet/source"
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
		s.(WatermarkOutput).EmitWatermark(wm)
	}
	return nil
}

// WatermarkOutput is the untyped part of an Output: what a side output of
// any type takes when the operator's watermark advances.
type WatermarkOutput interface {
	EmitWatermark(wm int64)
}

// Emitter is the Collector handed to user functions: it emits values with
// the timestamp of the record being processed.
type Emitter[OUT any] struct {
	Out       Output[OUT]
	Timestamp int64
}

// Collect emits v.
func (e *Emitter[OUT]) Collect(v OUT) { e.Out.Collect(Record[OUT]{Value: v, Timestamp: e.Timestamp}) }

// ErrSideOutputType is wrapped by the error SideOutputOf returns when the
// side output of a tag id carries another type than the one asked for.
var ErrSideOutputType = source.ErrSideOutputType

// SideOutputOf returns the Output[X] for side output tag id: nil when side
// has no output of that id (no one reads the tag), and an error wrapping
// ErrSideOutputType, naming the tag and both types, when the output of that
// id takes another type than X. Operators emitting where the type comes
// from user code (a function's Output call) use it.
func SideOutputOf[X any](side map[string]any, id string) (Output[X], error) {
	o, ok := side[id]
	if !ok {
		return nil, nil
	}
	out, ok := o.(Output[X])
	if !ok {
		return nil, fmt.Errorf("%w: emitting %s to side output %q, which carries %s",
			ErrSideOutputType, reflect.TypeFor[X](), id, elementType(o))
	}
	return out, nil
}

// SideOutput is SideOutputOf for an operator that declared the tag id with
// type X on its graph node (a late-data output), so the types match by
// construction: it returns nil when side has no output of that id, or,
// should the types differ after all, none of type X.
func SideOutput[X any](side map[string]any, id string) Output[X] {
	o, _ := SideOutputOf[X](side, id)
	return o
}

// elementType names the record type an Output takes, from its Collect
// method; only error messages use it.
func elementType(o any) string {
	t := reflect.TypeOf(o)
	if t == nil {
		return "nothing"
	}
	if m, ok := t.MethodByName("Collect"); ok && m.Type.NumIn() == 2 && m.Type.In(1).Kind() == reflect.Struct {
		if f, ok := m.Type.In(1).FieldByName("Value"); ok {
			return f.Type.String()
		}
	}
	return fmt.Sprintf("%T", o)
}

// TwoWatermarks combines the watermarks of a two-input operator's inputs:
// the operator's watermark is the minimum over the inputs that are not idle
// (as Flink does since 1.14), the higher of the two once both are idle (as
// Flink does since FLINK-38454, whichever input went idle last), and never
// goes back.
type TwoWatermarks struct {
	in   [2]int64
	idle [2]bool
	cur  int64
}

// NewTwoWatermarks returns a combiner at the start of event time.
func NewTwoWatermarks() TwoWatermarks {
	return TwoWatermarks{in: [2]int64{math.MinInt64, math.MinInt64}, cur: math.MinInt64}
}

// Advance takes input's (1 or 2) new watermark and returns the operator's
// watermark when it advanced.
func (t *TwoWatermarks) Advance(input int, wm int64) (int64, bool) {
	t.in[input-1] = max(t.in[input-1], wm)
	return t.combine()
}

// SetIdle marks input idle or active and returns the operator's watermark
// when that advanced it (an idle input no longer holds it back).
func (t *TwoWatermarks) SetIdle(input int, idle bool) (int64, bool) {
	t.idle[input-1] = idle
	return t.combine()
}

func (t *TwoWatermarks) combine() (int64, bool) {
	m := max(t.in[0], t.in[1]) // both idle: neither will hold the other back
	if !t.idle[0] || !t.idle[1] {
		m = int64(math.MaxInt64)
		for i := range t.in {
			if !t.idle[i] {
				m = min(m, t.in[i])
			}
		}
	}
	if m > t.cur {
		t.cur = m
		return m, true
	}
	return 0, false
}

// Current is the operator's watermark.
func (t *TwoWatermarks) Current() int64 { return t.cur }

// Base2 is Base for two-input operators: it combines the watermarks of the
// two inputs, forwarding the minimum whenever it advances.
type Base2[OUT any] struct {
	Base[OUT]
	wms     TwoWatermarks
	started bool
}

func (b *Base2[OUT]) init() {
	if !b.started {
		b.started = true
		b.wms = NewTwoWatermarks()
	}
}

// ProcessWatermark1 takes the first input's watermark.
func (b *Base2[OUT]) ProcessWatermark1(wm int64) error { return b.advance(1, wm) }

// ProcessWatermark2 takes the second input's watermark.
func (b *Base2[OUT]) ProcessWatermark2(wm int64) error { return b.advance(2, wm) }

// CombinedWatermark is the operator's current watermark.
func (b *Base2[OUT]) CombinedWatermark() int64 {
	b.init()
	return b.wms.Current()
}

// ProcessInputStatus implements TwoWatermarkInputs.
func (b *Base2[OUT]) ProcessInputStatus(input int, idle bool) error {
	b.init()
	if m, ok := b.wms.SetIdle(input, idle); ok {
		return b.ProcessWatermark(m)
	}
	return nil
}

func (b *Base2[OUT]) advance(input int, wm int64) error {
	b.init()
	if m, ok := b.wms.Advance(input, wm); ok {
		return b.ProcessWatermark(m)
	}
	return nil
}
