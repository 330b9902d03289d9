package watermark

// Emitter drives one [Generator] for one subtask (or one input of an
// assign-timestamps operator) and forwards its output through Flink's
// monotonic output filter (WatermarkToDataOutput):
//
//   - a watermark <= the last forwarded watermark is dropped, so the first
//     watermark of a bounded-out-of-orderness generator ([MinWatermark]) is
//     never forwarded;
//   - forwarding an advancing watermark while idle first forwards MarkActive;
//   - MarkIdle and MarkActive are forwarded only when they change the state.
//
// The output starts active with watermark [MinWatermark].
//
// Emitter itself implements [Output] (the filtered side), so the runtime may
// also push watermarks through it directly, e.g. [MaxWatermark] at the end of
// a bounded input. The per-record methods do not allocate (provided the
// generator and assigner do not).
//
// Runtime protocol, per record:
//
//	ts := e.AssignTimestamp(v, recordTs) // 1. timestamp
//	emit record v with ts downstream     // 2. the record first
//	e.OnEvent(v, ts)                     // 3. then the generator
//
// and e.OnPeriodicEmit() every auto-watermark interval from the same
// goroutine (e.g. a processing-time timer of the task's mailbox).
type Emitter[T any] struct {
	gen      Generator[T]
	assigner TimestampAssigner[T]
	out      Output
	self     Output // e as an Output, converted once
	last     int64
	idle     bool
}

// NewEmitter returns an Emitter running gen, assigning timestamps with
// assigner (nil keeps each record's timestamp) and forwarding to out.
func NewEmitter[T any](gen Generator[T], assigner TimestampAssigner[T], out Output) *Emitter[T] {
	if gen == nil {
		gen = noWatermarksGenerator[T]{}
	}
	e := &Emitter[T]{gen: gen, assigner: assigner, out: out, last: MinWatermark}
	e.self = e
	return e
}

// AssignTimestamp returns the event timestamp of v, given the timestamp the
// record already carries ([NoTimestamp] if none).
func (e *Emitter[T]) AssignTimestamp(v T, recordTimestamp int64) int64 {
	if e.assigner == nil {
		return recordTimestamp
	}
	return e.assigner(v, recordTimestamp)
}

// OnEvent passes a record that has already been emitted downstream, with its
// assigned timestamp, to the generator.
func (e *Emitter[T]) OnEvent(v T, ts int64) { e.gen.OnEvent(v, ts, e.self) }

// OnPeriodicEmit lets the generator emit its periodic watermark or idleness.
// The runtime calls it every auto-watermark interval.
func (e *Emitter[T]) OnPeriodicEmit() { e.gen.OnPeriodicEmit(e.self) }

// EmitWatermark forwards ts if it advances the output watermark, marking the
// output active first if it was idle.
func (e *Emitter[T]) EmitWatermark(ts int64) {
	if ts <= e.last {
		return
	}
	e.last = ts
	if e.idle {
		e.idle = false
		e.out.MarkActive()
	}
	e.out.EmitWatermark(ts)
}

// MarkIdle forwards MarkIdle if the output is active.
func (e *Emitter[T]) MarkIdle() {
	if e.idle {
		return
	}
	e.idle = true
	e.out.MarkIdle()
}

// MarkActive forwards MarkActive if the output is idle.
func (e *Emitter[T]) MarkActive() {
	if !e.idle {
		return
	}
	e.idle = false
	e.out.MarkActive()
}

// CurrentWatermark returns the last forwarded watermark ([MinWatermark]
// before the first).
func (e *Emitter[T]) CurrentWatermark() int64 { return e.last }

// IsIdle reports whether the output is currently marked idle.
func (e *Emitter[T]) IsIdle() bool { return e.idle }
