// Package source defines how data enters a Freshet job, in the style of
// Flink's FLIP-27 sources: an Enumerator, run once per source by the job's
// coordinator, discovers Splits (a file, a partition, a range) and assigns
// them to Readers; one Reader runs in each parallel subtask and reads the
// splits it was given.
//
//	      ┌──────────── job master ─────────────┐
//	      │ Enumerator: discover, assign splits │
//	      └────┬──────────────▲─────────────────┘
//	AssignSplit│              │split request / events
//	      ┌────▼────┐    ┌────┴────┐
//	      │ Reader 0│ …  │ Reader n│   (one per subtask)
//	      └─────────┘    └─────────┘
//
// A bounded source ends when every reader has been told there are no more
// splits and has read all of its own; an unbounded source runs until the job
// is cancelled.
//
// Checkpoints record where every reader is: Reader.SnapshotState returns
// its splits at the position reading resumes from, and
// Enumerator.SnapshotState the splits not assigned yet. On a restore the
// runtime creates the enumerator with Source.RestoreEnumerator and gives
// each reader its splits back with AddSplits, so a replayable source (the
// slice, the generator, text files by byte offset) emits every record once
// into the restored job's state. A reader that also needs to know what the
// other readers' checkpoints covered (readers sharing a queue) implements
// UnionStateReader.
package source

import (
	"context"
	"errors"
	"math"
	"reflect"

	"github.com/freshet-io/freshet/metric"
)

// Boundedness tells whether a source ends.
type Boundedness uint8

const (
	// Bounded sources end; a job of only bounded sources finishes.
	Bounded Boundedness = iota
	// Unbounded sources run until cancelled.
	Unbounded
)

func (b Boundedness) String() string {
	if b == Bounded {
		return "bounded"
	}
	return "unbounded"
}

// Split is a unit of work a reader reads: a file, a partition, a range.
type Split interface {
	SplitID() string
}

// Source creates the enumerator and readers of one source.
type Source[T any, S Split] interface {
	Boundedness() Boundedness
	// CreateEnumerator is called once per job run, in the job's coordinator.
	CreateEnumerator(ctx EnumeratorContext[S]) (Enumerator[S], error)
	// CreateReader is called once per subtask.
	CreateReader(ctx ReaderContext) (Reader[T, S], error)
	// RestoreEnumerator is CreateEnumerator for a job restored from a
	// checkpoint: unassigned are the splits the enumerator's
	// SnapshotState returned for it. The splits readers held come back to
	// their readers through AddSplits, not through the enumerator.
	RestoreEnumerator(ctx EnumeratorContext[S], unassigned []S) (Enumerator[S], error)
}

// EnumeratorContext is what an Enumerator uses to talk to its readers.
// Its methods may be called from any goroutine.
type EnumeratorContext[S Split] interface {
	// Parallelism is the number of readers.
	Parallelism() int
	// AssignSplits hands splits to a reader.
	AssignSplits(subtask int, splits ...S)
	// SignalNoMoreSplits tells a reader it will be given no more splits.
	SignalNoMoreSplits(subtask int)
}

// Enumerator discovers splits and assigns them. All methods are called from
// one goroutine.
type Enumerator[S Split] interface {
	// Start begins discovery; ctx ends when the job stops.
	Start(ctx context.Context) error
	// HandleSplitRequest is called when a reader asks for work.
	HandleSplitRequest(subtask int)
	// AddReader is called when a reader has started.
	AddReader(subtask int)
	// AddSplitsBack returns splits of a failed reader for reassignment.
	AddSplitsBack(splits []S, subtask int)
	// SnapshotState returns the splits not assigned to any reader yet, for
	// checkpoint checkpointID (Flink's SplitEnumerator.snapshotState).
	SnapshotState(checkpointID int64) ([]S, error)
	Close() error
}

// InputStatus is what Reader.PollNext says about what comes next.
type InputStatus uint8

const (
	// MoreAvailable: call PollNext again at once.
	MoreAvailable InputStatus = iota
	// NothingAvailable: wait for Available (or new splits) before polling again.
	NothingAvailable
	// EndOfInput: the reader is done; it will not be polled again.
	EndOfInput
)

// ReaderContext is what a Reader knows of its subtask.
type ReaderContext interface {
	SubtaskIndex() int
	Parallelism() int
	// SendSplitRequest asks the enumerator for a split.
	SendSplitRequest()
	// Metrics is the group of the reader's own metrics (bytes read, lag),
	// shown per subtask by the REST API and Prometheus; see package
	// metric. It may be nil (a test's context): its metrics then count
	// but are not shown.
	Metrics() *metric.Group
}

// Output receives what a Reader reads.
type Output[T any] interface {
	// Collect emits a record without a timestamp of its own.
	Collect(v T)
	// CollectWithTimestamp emits a record with an event-time timestamp (ms since the epoch).
	CollectWithTimestamp(v T, ts int64)
}

// Reader reads the splits assigned to one subtask. All methods are called
// from the subtask's goroutine.
type Reader[T any, S Split] interface {
	// Start is called once before the first poll; ctx lives until Close.
	Start(ctx context.Context) error
	// PollNext emits zero or more records and tells what comes next. It must
	// not block for long: when nothing is ready it returns NothingAvailable.
	PollNext(out Output[T]) (InputStatus, error)
	// Available returns a channel that is closed (or receives) when the reader
	// may have data after NothingAvailable.
	Available() <-chan struct{}
	// AddSplits gives the reader splits to read: newly assigned ones, or,
	// after a restore, the ones its SnapshotState returned, at their
	// recorded positions.
	AddSplits(splits []S)
	NotifyNoMoreSplits()
	// SnapshotState returns the splits the reader holds, each at the
	// position from which reading resumes after a restore from checkpoint
	// checkpointID (Flink's SourceReader.snapshotState): everything before
	// that position has been emitted. It is called between polls; the
	// caller owns the returned slice.
	SnapshotState(checkpointID int64) ([]S, error)
	Close() error
}

// CheckpointListener is implemented by a Reader that acts when a checkpoint
// completes, as Flink's SourceReader.notifyCheckpointComplete: one that
// acknowledges messages to a queue (NATS JetStream) or commits offsets for
// monitoring (Kafka) once the checkpoint that covers them is durable, so a
// failure before that point has the system redeliver them. Both methods
// are called from the subtask's goroutine, between polls.
//
// A reader with either method under another signature fails its job when
// the reader is created: the runtime would never call it.
type CheckpointListener interface {
	// NotifyCheckpointComplete is called once checkpoint checkpointID has
	// completed. A later checkpoint's completion also covers the earlier
	// ones, whose notification may never come. It is called with
	// EndOfInputCheckpoint when the subtask ends after its input ended and no
	// checkpoint taken after that completed (a job without periodic
	// checkpoints, or one stopped with a savepoint).
	NotifyCheckpointComplete(checkpointID int64) error
	// NotifyCheckpointAborted is called when checkpoint checkpointID will
	// not complete.
	NotifyCheckpointAborted(checkpointID int64) error
}

// UnionStateReader is implemented by a Reader that keeps, beside its
// splits, state that every reader needs after a restore (Flink's union
// list state, which a source reader otherwise lacks): one whose readers
// share a queue, which may redeliver a message that one reader's
// checkpoint covers to any reader, keeps there what its checkpoints
// cover, so that whichever reader the message comes to can drop it.
//
// At every checkpoint SnapshotUnionState is called right after
// SnapshotState; the elements each reader returns (encoded as the reader
// likes) are kept in the checkpoint. On a restore, at the same or another
// parallelism, RestoreUnionState gives every reader the elements of all
// readers of the checkpoint, in subtask order, before AddSplits hands it
// its restored splits and before Start; a reader that wants the state
// to outlive the next checkpoint returns what it still needs of it from
// SnapshotUnionState. Both are called from the subtask's goroutine; the
// caller owns the slices.
//
// A reader with either method under another signature fails its job when
// the reader is created: the runtime would never call it.
type UnionStateReader interface {
	// SnapshotUnionState returns the reader's elements of the union
	// state for checkpoint checkpointID.
	SnapshotUnionState(checkpointID int64) ([][]byte, error)
	// RestoreUnionState gives a restored reader the elements every
	// reader returned for the checkpoint restored from; it is not called
	// on a fresh start.
	RestoreUnionState(elements [][]byte) error
}

// EndOfInputCheckpoint is the checkpoint id that
// CheckpointListener.NotifyCheckpointComplete is called with when a
// reader's subtask ends after its input ended and no checkpoint taken
// since has completed: no restore will need what the reader emitted, so
// it settles everything it holds, as a sink commits its last transaction
// (sink.EndOfInput).
const EndOfInputCheckpoint int64 = math.MaxInt64

// Validator is implemented by a Source whose configuration can be checked
// without reaching the system it reads: FromSource calls Validate when the
// job is built, so a missing topic list or a bad option is an error before
// the job runs, naming the operator. A source with a Validate method of
// another signature is an invalid program.
type Validator interface {
	Validate() error
}

// ErrReaderClosed is returned by readers used after Close.
var ErrReaderClosed = errors.New("freshet: source reader closed")

// SplitOutputs is implemented by the Output the runtime gives readers:
// a reader that reads several splits (partitions) emits each split's records
// through its own output, so a watermark strategy tracks every split
// separately and the source's watermark is the minimum over its splits, as
// in Flink. ReleaseSplit is called when a split is finished.
type SplitOutputs[T any] interface {
	ForSplit(splitID string) Output[T]
	ReleaseSplit(splitID string)
}

// BatchOutput is implemented by the Output the runtime gives readers: a
// reader that already holds its records in a slice (a fetched batch) hands
// them over in one call, as Collect on each would, without timestamps.
type BatchOutput[T any] interface {
	Output[T]
	CollectAll(values []T)
}

// SideOutput is implemented by the Output the runtime gives readers. A
// reader emits values that do not belong to its stream (records it could
// not decode, for one) to a side output, named by an id; a job reads them
// with freshet.SideOutput on the source's stream and a
// freshet.OutputTag of the same id and of the values' type:
//
//	bad := freshet.SideOutput(stream, freshet.NewOutputTag[kafka.BadRecord]("bad-records"))
//
// A reader finds it with a type assertion on the Output PollNext gets
// (or use EmitToSide). A source that emits to side outputs should also
// implement SideOutputTypes, so a job reading one with the wrong type is
// rejected when it is built.
type SideOutput interface {
	// EmitToSide emits v with event time ts (ms since the epoch) to side
	// output id. It is dropped when the job does not read that id, and
	// the call returns an error wrapping ErrSideOutputType when the job
	// reads it with another type than v's. Called from PollNext only.
	EmitToSide(id string, v any, ts int64) error
}

// ErrSideOutputType is wrapped by the error of EmitToSide when the job reads
// the side output with another type than the value's.
var ErrSideOutputType = errors.New("freshet: side output value of the wrong type for its tag")

// ErrNoSideOutputs is returned by EmitToSide for an Output that has no side
// outputs (a test harness that does not provide them).
var ErrNoSideOutputs = errors.New("freshet: the source output has no side outputs")

// EmitToSide emits v with event time ts to side output id of out, the
// Output a reader's PollNext was given; see SideOutput.
func EmitToSide[T any](out Output[T], id string, v any, ts int64) error {
	so, ok := out.(SideOutput)
	if !ok {
		return ErrNoSideOutputs
	}
	return so.EmitToSide(id, v, ts)
}

// SideOutputTypes is implemented by a Source that emits to side outputs:
// it names the type of the values of each side output id it emits to, so
// that freshet.SideOutput on the source's stream with a tag of that id and
// another type makes the program invalid when it is built, not when the
// first value is emitted.
type SideOutputTypes interface {
	SideOutputTypes() map[string]reflect.Type
}
