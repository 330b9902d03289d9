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
	"io"
	"math"
	"strconv"

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

// Operator is the lifecycle every operator shares. The runtime calls
// Setup, then Open (downstream operators of a chain first), then the input
// methods of the operator's kind, then Finish once all input has ended,
// and Close once, also after a failure.
//
// An operator's kind is fixed by its graph node, and the runtime asks for
// the matching interface — OneInput, TwoInput or SourceDriver — when it
// builds the chain, failing the build if the operator lacks it. It never
// looks for single optional methods, so a method promoted from an embedded
// type is not picked up by accident; the only optional capability is
// BatchInput, a named interface.
type Operator interface {
	// Setup gives the operator its outputs before Open: main is an
	// Output[OUT] of the operator's output type (nil for a sink), side
	// maps an output tag's id to an Output of that tag's type.
	Setup(main any, side map[string]any) error
	// Open prepares the operator; ctx lives until Close.
	Open(ctx *Context) error
	// Finish is called once all input has ended; the operator emits what it holds.
	Finish() error
	// Close releases resources; it is called once, also after a failure.
	Close() error
}

// OneInput is an operator with one input (sinks included).
type OneInput[IN any] interface {
	Operator
	WatermarkInput
	ProcessElement(r Record[IN]) error
}

// WatermarkInput is the untyped part of OneInput: the task hands a
// one-input operator its input's watermarks through it.
type WatermarkInput interface {
	// ProcessWatermark takes the input's new watermark: the operator fires
	// what it makes due and forwards the watermark (or its own).
	ProcessWatermark(wm int64) error
}

// Input1 and Input2 are the two sides of a two-input operator.
type Input1[IN any] interface {
	ProcessElement1(r Record[IN]) error
}

// Input2 is the second input of a two-input operator.
type Input2[IN any] interface {
	ProcessElement2(r Record[IN]) error
}

// TwoInput is an operator with two inputs.
type TwoInput[A, B any] interface {
	Operator
	TwoWatermarkInputs
	Input1[A]
	Input2[B]
}

// TwoWatermarkInputs is the untyped part of TwoInput: the task hands a
// two-input operator each input's watermarks and idleness through it. The
// operator's own watermark is the minimum over its inputs that are not
// idle (see TwoWatermarks).
type TwoWatermarkInputs interface {
	ProcessWatermark1(wm int64) error
	ProcessWatermark2(wm int64) error
	// ProcessInputStatus is called when input (1 or 2) — all its
	// channels — becomes idle or active again.
	ProcessInputStatus(input int, idle bool) error
}

// ErrNoTimestamp is returned when an event-time operator receives a record without one.
var ErrNoTimestamp = errors.New("freshet: record has no event-time timestamp")

// Error is a failure of an operator in a subtask. Error() is one line
// naming the operator, subtask, attempt and cause; a failure that was a
// panic keeps its goroutine's stack in Stack, which %+v prints too.
type Error struct {
	Operator string
	Subtask  int // index, from 0
	Attempt  int
	Err      error
	Stack    string // set when the failure was a panic
}

func (e *Error) Error() string {
	return fmt.Sprintf("operator %q (subtask %d, attempt %d): %v", e.Operator, e.Subtask, e.Attempt, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Format implements fmt.Formatter: %+v adds the stack of a panic.
func (e *Error) Format(f fmt.State, verb rune) {
	s := e.Error()
	if verb == 'v' && f.Flag('+') && e.Stack != "" {
		s += "\n" + e.Stack
	}
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = io.WriteString(f, s)
}

// PanicError wraps a value a user function panicked with.
type PanicError struct{ Value any }

func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// Unwrap returns the value of a panic with an error (a metric name
// rejected by package metric), so that errors.Is finds it.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// Failure holds the first error of a chain raised where it cannot be
// returned: in an Output's Collect, a partitioner, or a user function's
// call into its context. Raising it never unwinds the caller: the call
// goes on (outputs drop what they are given from then on) and the task,
// which checks the failure after every call into the chain, fails the
// subtask with it. So no failure travels by panic, and a user's recover
// cannot swallow one.
type Failure struct {
	err    error
	op     int
	cur    *int
	cancel func()
}

// NewFailure returns the failure slot of a chain whose running operator's
// index is *cur; cancel, if set, is called on the first failure so that
// code waiting on the subtask's context stops.
func NewFailure(cur *int, cancel func()) *Failure {
	return &Failure{cur: cur, cancel: cancel}
}

// Raise records err (the first one wins) with the running operator.
func (f *Failure) Raise(err error) {
	if f.err != nil || err == nil {
		return
	}
	f.err, f.op = err, *f.cur
	if f.cancel != nil {
		f.cancel()
	}
}

// Err is the first error raised, or nil.
func (f *Failure) Err() error { return f.err }

// Operator is the index in the chain of the operator that was running when
// the error was raised.
func (f *Failure) Operator() int { return f.op }

// Failed reports whether an error was raised.
func (f *Failure) Failed() bool { return f.err != nil }

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
