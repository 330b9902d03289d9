// Package watermark implements event-time timestamps and watermarks for
// Freshet, with the semantics of Apache Flink's WatermarkStrategy API.
//
// Timestamps and watermarks are int64 milliseconds since the Unix epoch. A
// watermark W asserts that no more records with a timestamp <= W are
// expected; records that arrive later are late.
//
// The pieces and who drives them:
//
//   - [Strategy] is the immutable, user-facing description of how to assign
//     timestamps and generate watermarks (Flink's WatermarkStrategy). Build
//     one with [ForBoundedOutOfOrderness], [ForMonotonousTimestamps],
//     [Punctuated], [ForGenerator], [IngestionTime] or [NoWatermarks], and
//     refine it with [Strategy.WithTimestampAssigner],
//     [Strategy.WithIdleness] and [Strategy.WithClock].
//   - [Generator] is the per-subtask (or per-split) stateful object created
//     by [Strategy.NewGenerator]. The runtime calls [Generator.OnEvent]
//     after emitting each record and [Generator.OnPeriodicEmit] every
//     auto-watermark interval ([DefaultAutoWatermarkInterval], 200 ms by
//     default; an interval of 0 disables periodic emission).
//   - [Emitter] wraps a generator and an [Output] with Flink's monotonic
//     output filter: watermarks that do not advance are dropped and idle /
//     active transitions are forwarded only on change.
//   - [Multiplexer] combines per-split watermarks inside one source subtask
//     (Flink's WatermarkOutputMultiplexer); [SplitWatermarks] runs one
//     generator per split on top of it.
//
// None of the types in this package are safe for concurrent use unless
// stated otherwise; each is meant to be owned by one task goroutine.
package watermark

import (
	"math"
	"sync/atomic"
	"time"
)

const (
	// NoTimestamp is the record timestamp of a record that carries none
	// (Flink's TimestampAssigner.NO_TIMESTAMP). It is passed as the
	// recordTimestamp argument of a [TimestampAssigner].
	NoTimestamp int64 = math.MinInt64

	// MinWatermark is the lowest watermark. Every output starts at it, so
	// a watermark of MinWatermark is never forwarded by an [Emitter].
	MinWatermark int64 = math.MinInt64

	// MaxWatermark signals the end of event time. The runtime emits it when
	// a bounded input is exhausted; it fires all pending event-time timers.
	MaxWatermark int64 = math.MaxInt64

	// DefaultAutoWatermarkInterval is the default period at which the
	// runtime calls [Generator.OnPeriodicEmit] (Flink's
	// pipeline.auto-watermark-interval).
	DefaultAutoWatermarkInterval = 200 * time.Millisecond
)

// Output receives the watermarks and idleness signals produced by a
// [Generator] (Flink's WatermarkOutput).
type Output interface {
	// EmitWatermark emits watermark ts. Implementations that forward
	// downstream must drop a watermark that does not advance (see
	// [Emitter]), and emitting an advancing watermark implicitly marks the
	// output active again.
	EmitWatermark(ts int64)

	// MarkIdle marks the output idle: it will not emit records or
	// watermarks for a while, so downstream operators must not wait for it
	// when combining watermarks.
	MarkIdle()

	// MarkActive marks a previously idle output active again.
	MarkActive()
}

// Generator generates watermarks from the events it sees and/or
// periodically (Flink's WatermarkGenerator). A generator is stateful and
// owned by a single goroutine; create one per subtask or per split with
// [Strategy.NewGenerator].
type Generator[T any] interface {
	// OnEvent is called for every record, after the record itself has been
	// emitted downstream, with the record's (assigned) timestamp.
	// Punctuated generators emit watermarks here.
	OnEvent(v T, ts int64, out Output)

	// OnPeriodicEmit is called every auto-watermark interval by the
	// runtime. Periodic generators emit watermarks here.
	OnPeriodicEmit(out Output)
}

// TimestampAssigner extracts the event timestamp (epoch milliseconds) of a
// record. recordTimestamp is the timestamp the record already carries, or
// [NoTimestamp] if it has none.
type TimestampAssigner[T any] func(v T, recordTimestamp int64) int64

// Clock is a source of processing time in epoch milliseconds. It is used for
// idleness detection and for ingestion-time timestamps. The runtime uses
// [SystemClock]; tests inject a [ManualClock] via [Strategy.WithClock].
type Clock interface {
	// Now returns the current processing time in milliseconds.
	Now() int64
}

// SystemClock is the wall clock: Now returns time.Now().UnixMilli().
type SystemClock struct{}

// Now returns the current wall-clock time in epoch milliseconds.
func (SystemClock) Now() int64 { return time.Now().UnixMilli() }

// ManualClock is a [Clock] that only moves when told to. It is safe for
// concurrent use, so a test may advance it while a task goroutine reads it.
type ManualClock struct {
	now atomic.Int64
}

// NewManualClock returns a ManualClock reading startMillis.
func NewManualClock(startMillis int64) *ManualClock {
	c := &ManualClock{}
	c.now.Store(startMillis)
	return c
}

// Now returns the clock's current time in milliseconds.
func (c *ManualClock) Now() int64 { return c.now.Load() }

// Set sets the clock to millis.
func (c *ManualClock) Set(millis int64) { c.now.Store(millis) }

// Advance moves the clock forward by d, truncated to whole milliseconds.
func (c *ManualClock) Advance(d time.Duration) { c.now.Add(d.Milliseconds()) }
