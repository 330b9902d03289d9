package freshet

import (
	"fmt"
	"math"

	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
)

// FromSourceWithWatermarks adds a source whose records get timestamps and
// watermarks from strategy inside the source (Flink's
// fromSource(source, strategy, name)): per split for readers that emit
// through per-split outputs, so the source's watermark is the minimum over
// its active splits and an idle split does not hold it back.
func FromSourceWithWatermarks[T any, S source.Split](env *Env, src source.Source[T, S], strategy watermark.Strategy[T], name string) *Stream[T] {
	if err := strategy.Validate(); err != nil {
		env.fail(fmt.Errorf("%w: source %q: %w", ErrInvalidProgram, name, err))
	}
	s := FromSource(env, src, name)
	prev := s.node.NewOperator
	s.node.NewOperator = func() (operator.Operator, error) {
		op, err := prev()
		if err != nil {
			return nil, err
		}
		op.(*operator.Source[T, S]).Watermarks = &strategy
		return op, nil
	}
	return s
}

// AssignTimestampsAndWatermarks gives the stream's elements timestamps and
// generates watermarks from strategy (Flink's method of the same name). As
// in Flink, the watermarks that arrive from upstream are dropped (except the
// final one at end of input) and replaced by the strategy's.
func AssignTimestampsAndWatermarks[T any](s *Stream[T], strategy watermark.Strategy[T]) *Stream[T] {
	if err := strategy.Validate(); err != nil {
		s.env.fail(fmt.Errorf("%w: AssignTimestampsAndWatermarks: %w", ErrInvalidProgram, err))
	}
	n := newOneInput[T, T](s, "Timestamps/Watermarks", graph.KindOneInput, func() (operator.Operator, error) {
		return &timestampsOp[T]{strategy: strategy}, nil
	})
	return newStream[T](s.env, n)
}

type timestampsOp[T any] struct {
	operator.Base[T]
	strategy watermark.Strategy[T]
	em       *watermark.Emitter[T]
	ended    bool
}

func (o *timestampsOp[T]) Open(c *operator.Context) error {
	_ = o.Base.Open(c)
	em, err := o.strategy.NewEmitter(wmForward[T]{o})
	if err != nil {
		return err
	}
	o.em = em
	o.schedule()
	return nil
}

func (o *timestampsOp[T]) schedule() {
	if iv := o.Ctx.AutoWatermarkInterval; iv > 0 && o.Ctx.Timers != nil {
		o.Ctx.Timers.Schedule(o.Ctx.Timers.Now()+iv.Milliseconds(), o.periodic)
	}
}

func (o *timestampsOp[T]) periodic() error {
	if o.ended {
		return nil
	}
	o.em.OnPeriodicEmit()
	o.schedule()
	return nil
}

func (o *timestampsOp[T]) ProcessElement(r operator.Record[T]) error {
	r.Timestamp = o.em.AssignTimestamp(r.Value, r.Timestamp)
	o.Out.Collect(r)
	o.em.OnEvent(r.Value, r.Timestamp)
	return nil
}

// ProcessWatermark drops upstream watermarks but the last.
func (o *timestampsOp[T]) ProcessWatermark(wm int64) error {
	if wm == math.MaxInt64 {
		o.ended = true
		return o.Base.ProcessWatermark(wm)
	}
	return nil
}

// wmForward sends the emitter's watermarks and status downstream.
type wmForward[T any] struct{ o *timestampsOp[T] }

func (w wmForward[T]) EmitWatermark(ts int64) {
	if !w.o.ended {
		w.o.Ctx.Fail(w.o.Base.ProcessWatermark(ts))
	}
}
func (w wmForward[T]) MarkIdle()   { w.status(true) }
func (w wmForward[T]) MarkActive() { w.status(false) }
func (w wmForward[T]) status(idle bool) {
	if w.o.Ctx.SetIdle != nil && !w.o.ended {
		w.o.Ctx.Fail(w.o.Ctx.SetIdle(idle))
	}
}
