package freshet

import (
	"errors"

	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/metric"
)

// Collector receives the values a function emits.
type Collector[T any] interface {
	Collect(v T)
}

// RuntimeContext tells a function where it runs.
type RuntimeContext struct{ c *operator.Context }

// JobName is the name the job was executed with.
func (r *RuntimeContext) JobName() string { return r.c.JobName }

// TaskName is the operator's name.
func (r *RuntimeContext) TaskName() string { return r.c.TaskName }

// SubtaskIndex is the index of this parallel instance, from 0.
func (r *RuntimeContext) SubtaskIndex() int { return r.c.Subtask }

// Parallelism is the number of parallel instances of the operator.
func (r *RuntimeContext) Parallelism() int { return r.c.Parallelism }

// MaxParallelism is the operator's maximum parallelism (number of key groups).
func (r *RuntimeContext) MaxParallelism() int { return r.c.MaxParallelism }

// Attempt is the attempt number of this subtask, from 0; it grows on restarts.
func (r *RuntimeContext) Attempt() int { return r.c.Attempt }

// Metrics is the group of the operator's own metrics in this subtask:
// counters and gauges the REST API and Prometheus show beside the
// runtime's (see package metric). The function value is shared by the
// operator's subtasks, so get a metric where it is updated, from the
// call's context (ctx.Runtime().Metrics().Counter("badLines").Inc()): a
// registered name is found without a lock or an allocation.
func (r *RuntimeContext) Metrics() *metric.Group { return r.c.Metrics }

// Lifecycle is part of every function interface of the process family
// (Flink's RichFunction): Open is called before the first element, with
// where the function runs, and Close at the end, also after a failure.
// Embed BaseFunction (or NoTimers, BaseWindowFunction, …) for both to do
// nothing, and define either yourself to override it: a method with a
// slightly wrong signature then hides the default and the type no longer
// satisfies its interface, so the mistake is a compile error.
//
// A function value is shared by all subtasks of its operator: keep what a
// subtask learns in state, not in fields, or set fields up in Open.
type Lifecycle interface {
	Open(rc *RuntimeContext) error
	Close() error
}

// BaseFunction implements Lifecycle with an Open and a Close that do
// nothing. Embed it in your functions.
type BaseFunction struct{}

// Open implements Lifecycle.
func (BaseFunction) Open(*RuntimeContext) error { return nil }

// Close implements Lifecycle.
func (BaseFunction) Close() error { return nil }

// OutputTag names a side output of type T (Flink's OutputTag). Tags are
// compared by id: an operator's side output is the values its functions
// emit to tags of that id, and one id carries one type per operator. Make
// tags with NewOutputTag, usually as package-level variables:
//
//	var late = freshet.NewOutputTag[Event]("late")
//
// The zero OutputTag has no id and names no side output: emitting to it
// fails the job with ErrZeroOutputTag, and reading it (SideOutput) is an
// invalid program.
type OutputTag[T any] struct{ id string }

// NewOutputTag returns the tag with the given id, which must not be empty.
//
// NewOutputTag panics if id is empty, as Flink's OutputTag constructor
// throws. It is the one function of package freshet that panics, like
// regexp.MustCompile: tags are package-level values made from constant
// ids, so an empty one is a mistake in the program's text, found the
// first time the program runs.
func NewOutputTag[T any](id string) OutputTag[T] {
	if id == "" {
		panic("freshet: NewOutputTag: the output tag id must not be empty")
	}
	return OutputTag[T]{id: id}
}

// ID is the tag's id ("" for the zero OutputTag).
func (t OutputTag[T]) ID() string { return t.id }

// ErrZeroOutputTag fails a job whose function emits to the zero OutputTag
// (Flink fails on a null tag), and makes a program that reads it invalid.
var ErrZeroOutputTag = errors.New("freshet: the zero OutputTag names no side output; make tags with NewOutputTag")

// ErrOutputTagType fails a job whose function emits to a tag id a value of
// another type than the side output of that id carries, such as
// Output(ctx, NewOutputTag[string]("x"), "a") where the operator's "x" is
// read with SideOutput(s, NewOutputTag[int]("x")). The error names the tag
// and both types.
var ErrOutputTagType = operator.ErrSideOutputType

// sideOutputs is implemented by every context that can emit to side outputs.
type sideOutputs interface {
	side() map[string]any
	timestamp() int64
	Runtime() *RuntimeContext
}

// Output emits v to the side output tag from within a process function
// (Flink's ctx.output(tag, value)). The value carries the timestamp of the
// element being processed. Emitting to a tag no one reads drops the value.
//
// Emitting to the zero OutputTag fails the job with ErrZeroOutputTag, and
// emitting a value of another type than the tag id's side output carries
// fails it with ErrOutputTagType; either way the job fails once the
// function returns, with an OperatorError naming the operator.
func Output[X any](ctx sideOutputs, tag OutputTag[X], v X) {
	if tag.id == "" {
		ctx.Runtime().c.Fail(ErrZeroOutputTag)
		return
	}
	o, err := operator.SideOutputOf[X](ctx.side(), tag.id)
	if err != nil {
		ctx.Runtime().c.Fail(err)
		return
	}
	if o != nil {
		o.Collect(operator.Record[X]{Value: v, Timestamp: ctx.timestamp()})
	}
}
