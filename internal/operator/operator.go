// Package operator defines the runtime operators a subtask drives and the
// built-in operators behind the DataStream API.
//
// An operator consumes Records through ProcessElement and hands its results to
// an Output. Operators of one chain call each other directly through Outputs;
// the last operators of a chain write to record writers. Every method of an
// operator is called by the one goroutine of its subtask.
package operator

import (
	"errors"
	"fmt"
	"math"

	"github.com/freshet-io/freshet/sink"
)

// NoTimestamp marks a record that carries no event-time timestamp.
const NoTimestamp = math.MinInt64

// Record is an element with its event-time timestamp (NoTimestamp if it
// has none); it is the sink package's Record, so a run of records reaches a
// batch sink writer without copying.
type Record[T any] = sink.Record[T]

// Output receives what an operator emits.
type Output[T any] interface {
	Collect(r Record[T])
	EmitWatermark(wm int64)
}

// Flusher is implemented by outputs that buffer (record writers).
type Flusher interface {
	Flush() error
}

// Operator is the lifecycle every operator shares.
type Operator interface {
	// Open prepares the operator; ctx lives until Close.
	Open(ctx *Context) error
	// Finish is called once all input has ended; the operator emits what it holds.
	Finish() error
	// Close releases resources; it is called once, also after a failure.
	Close() error
}

// OneInput is an operator with one input.
type OneInput[IN any] interface {
	Operator
	ProcessElement(r Record[IN]) error
	ProcessWatermark(wm int64) error
}

// Input1 and Input2 are the two sides of a two-input operator.
type Input1[IN any] interface {
	ProcessElement1(r Record[IN]) error
	ProcessWatermark1(wm int64) error
}

// Input2 is the second input of a two-input operator.
type Input2[IN any] interface {
	ProcessElement2(r Record[IN]) error
	ProcessWatermark2(wm int64) error
}

// Setup is implemented by operators that are given outputs before Open.
// main is an Output[OUT] of the operator's output type; side maps an output
// tag's id to an Output of that tag's type.
type Setup interface {
	Setup(main any, side map[string]any) error
}

// Abort carries an error out of an operator call that cannot return one
// (an Output's Collect); the subtask recovers it and fails with err.
type Abort struct{ Err error }

// Fail aborts the current subtask call with err.
func Fail(err error) { panic(Abort{Err: err}) }

// ErrNoTimestamp is returned when an event-time operator receives a record without one.
var ErrNoTimestamp = errors.New("freshet: record has no event-time timestamp")

// Error is a failure of an operator in a subtask.
type Error struct {
	Operator string
	Subtask  int // index, from 0
	Attempt  int
	Err      error
	Stack    string // set when the failure was a panic
}

func (e *Error) Error() string {
	s := fmt.Sprintf("operator %q (subtask %d, attempt %d): %v", e.Operator, e.Subtask, e.Attempt, e.Err)
	if e.Stack != "" {
		s += "\n" + e.Stack
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// PanicError wraps a value a user function panicked with.
type PanicError struct{ Value any }

func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// BatchInput is implemented by one-input operators that can take a run of
// records in one call. ProcessBatch must do what ProcessElement on each
// record in order would, and must not keep rs, which the caller reuses.
// Chains and input gates hand records over in runs (a source poll's worth,
// an exchange batch), so the per-record cost of a chained operator is one
// loop iteration rather than a cascade of interface calls.
type BatchInput[IN any] interface {
	ProcessBatch(rs []Record[IN]) error
}

// BatchOutput is implemented by outputs that take a run of records in one
// call, as Collect on each would. They must not keep rs.
type BatchOutput[T any] interface {
	Output[T]
	CollectBatch(rs []Record[T])
}

// CollectAll hands rs to out: in one call when out takes runs.
func CollectAll[T any](out Output[T], rs []Record[T]) {
	if b, ok := out.(BatchOutput[T]); ok {
		b.CollectBatch(rs)
		return
	}
	for i := range rs {
		out.Collect(rs[i])
	}
}

// Buffer is the reusable output run of an operator's ProcessBatch.
type Buffer[T any] struct{ rs []Record[T] }

// Take returns the buffer with length n, to be filled and passed to Emit.
func (b *Buffer[T]) Take(n int) []Record[T] {
	if cap(b.rs) < n {
		b.rs = make([]Record[T], n)
	}
	return b.rs[:n]
}

// Emit hands rs, a prefix of what Take returned, to out.
func (b *Buffer[T]) Emit(out Output[T], rs []Record[T]) {
	if len(rs) > 0 {
		CollectAll(out, rs)
	}
}
