package freshet

import (
	"github.com/freshet-io/freshet/internal/operator"
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

// Opener is implemented by functions that prepare before the first element
// (Flink's RichFunction.open).
type Opener interface {
	Open(rc *RuntimeContext) error
}

// Closer is implemented by functions that release resources at the end.
type Closer interface {
	Close() error
}

func openFn(fn any, c *operator.Context) error {
	if o, ok := fn.(Opener); ok {
		return o.Open(&RuntimeContext{c: c})
	}
	return nil
}

func closeFn(fn any) error {
	if c, ok := fn.(Closer); ok {
		return c.Close()
	}
	return nil
}

// OutputTag names a side output of type T. Tags are compared by id.
type OutputTag[T any] struct{ id string }

// NewOutputTag returns the tag with the given id.
func NewOutputTag[T any](id string) OutputTag[T] { return OutputTag[T]{id: id} }

// ID is the tag's id.
func (t OutputTag[T]) ID() string { return t.id }

// sideOutputs is implemented by every context that can emit to side outputs.
type sideOutputs interface {
	side() map[string]any
	timestamp() int64
}

// Output emits v to the side output tag from within a process function
// (Flink's ctx.output(tag, value)). The value carries the timestamp of the
// element being processed. Emitting to a tag no one reads drops the value.
func Output[X any](ctx sideOutputs, tag OutputTag[X], v X) {
	if o := operator.SideOutput[X](ctx.side(), tag.id); o != nil {
		o.Collect(operator.Record[X]{Value: v, Timestamp: ctx.timestamp()})
	}
}
