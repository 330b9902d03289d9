// Package sink defines how data leaves a Freshet job: a Sink creates one
// Writer per parallel subtask, the writer receives every record of its
// subtask, and is flushed at the end of input.
//
// A sink whose writers take part in checkpoints implements Checkpointed:
// its writers keep state in every checkpoint, get it back when the job
// restarts, and hear when a checkpoint completes. Three bases implement it,
// configured with functions and interfaces the compiler checks:
//
//   - StatefulSink: a writer with typed state (Flink's StatefulSinkWriter);
//   - TwoPhaseCommit: transactions pre-committed at each checkpoint and
//     committed when it completes, for exactly-once output to a
//     transactional system (Flink's TwoPhaseCommitSinkFunction);
//   - WriteAhead: records kept in checkpoints and written once the
//     checkpoint that covers them completes, exactly once with an
//     idempotent write (Flink's GenericWriteAheadSink).
//
// Package connector/file is a file sink built on TwoPhaseCommit.
package sink

import (
	"context"
	"errors"
	"math"

	"github.com/freshet-io/freshet/metric"
)

// Sink creates the writers of one sink.
type Sink[T any] interface {
	CreateWriter(ctx InitContext) (Writer[T], error)
}

// InitContext is what a writer knows of its subtask.
type InitContext interface {
	// Context ends when the subtask stops.
	Context() context.Context
	SubtaskIndex() int
	Parallelism() int
	Attempt() int
	// RestoredCheckpointID is the id of the checkpoint or savepoint the
	// job was restored from (Flink's InitContext.getRestoredCheckpointId);
	// ok is false on a fresh start. A restored subtask may have been
	// given no state (at a higher parallelism there can be more
	// subtasks than state elements), so this, not the state, tells a
	// writer that it runs after a restore: the checkpoint ids it sees
	// next are higher.
	RestoredCheckpointID() (id int64, ok bool)
	// Metrics is the group of the writer's own metrics (bytes written,
	// flush latency), shown per subtask by the REST API and Prometheus;
	// see package metric. It may be nil (a test's context): its metrics
	// then count but are not shown.
	Metrics() *metric.Group
}

// Context describes the record being written.
type Context struct {
	// Timestamp is the record's event-time timestamp; valid when HasTimestamp.
	Timestamp    int64
	HasTimestamp bool
	// Watermark is the subtask's current watermark.
	Watermark int64
}

// Writer writes the records of one subtask. All methods are called from the
// subtask's goroutine.
type Writer[T any] interface {
	Write(v T, c Context) error
	// Flush makes everything written so far durable or visible; endOfInput is
	// true for the final flush of a bounded job.
	Flush(endOfInput bool) error
	Close() error
}

// NoTimestamp is the timestamp of a record that has none.
const NoTimestamp = math.MinInt64

// Record is a value with its event-time timestamp (NoTimestamp if none).
type Record[T any] struct {
	Value     T
	Timestamp int64
}

// HasTimestamp reports whether r carries a timestamp.
func (r Record[T]) HasTimestamp() bool { return r.Timestamp != NoTimestamp }

// BatchWriter is implemented by writers that take a run of records at once
// (a bulk insert, a buffered file): the runtime then calls WriteBatch
// instead of Write for every run it has. watermark is the sink's current
// event time. WriteBatch must not keep records, which the runtime reuses.
type BatchWriter[T any] interface {
	Writer[T]
	WriteBatch(records []Record[T], watermark int64) error
}

// ErrInvalidSink is wrapped by the errors of a sink configured wrongly.
var ErrInvalidSink = errors.New("freshet: invalid sink")

// Validator is implemented by a Sink whose configuration can be checked
// without reaching the system it writes: SinkTo calls Validate when the
// job is built, so a bad option is an error before the job runs, naming
// the operator. A sink with a Validate method of another signature is an
// invalid program.
type Validator interface {
	Validate() error
}
