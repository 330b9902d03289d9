package sink

import (
	"fmt"
	"math"

	"github.com/freshet-io/freshet/codec"
)

// Checkpointed is a Sink whose writers take part in the job's checkpoints:
// they keep state in every checkpoint, get it back after a restore, and
// hear when a checkpoint completes (the commit point of a transactional
// sink) or is aborted.
//
// The runtime finds it by type assertion on the sink given to SinkTo, which
// rejects, when the job is built, a sink with a CreateCheckpointedWriter
// method of another signature. Rather than implementing it, most sinks use
// StatefulSink, TwoPhaseCommit or WriteAhead, which implement it and whose
// functions and interfaces the compiler checks.
type Checkpointed[T any] interface {
	Sink[T]
	// CreateCheckpointedWriter creates the writer of one subtask. restored
	// is the state the subtask was given by the checkpoint it restarts
	// from, one encoded element per slice (empty on a fresh start); on a
	// restore at another parallelism the elements of all old subtasks are
	// split evenly among the new ones. The writer's hooks are called on
	// the subtask's goroutine, between its calls to the writer.
	CreateCheckpointedWriter(ctx InitContext, restored [][]byte) (Writer[T], CheckpointHooks, error)
}

// CheckpointHooks are what a checkpointed writer does at checkpoints. Any
// of them may be nil.
type CheckpointHooks struct {
	// SnapshotState returns the writer's whole state at checkpoint
	// checkpointID, one encoded element per slice (the runtime keeps the
	// slices); it runs when the subtask takes its snapshot, after every
	// record before the checkpoint's barrier was written. An error fails
	// the checkpoint.
	SnapshotState func(checkpointID int64) ([][]byte, error)
	// NotifyCheckpointComplete runs once checkpoint checkpointID has
	// completed. A notification may be skipped: a later one covers the
	// earlier checkpoints. An error fails the subtask.
	NotifyCheckpointComplete func(checkpointID int64) error
	// NotifyCheckpointAborted runs when checkpoint checkpointID will not
	// complete.
	NotifyCheckpointAborted func(checkpointID int64) error
}

// StatefulWriter is the writer of a StatefulSink: a Writer with typed
// state in checkpoints (Flink's StatefulSinkWriter with a
// CheckpointListener).
type StatefulWriter[T, S any] interface {
	Writer[T]
	// SnapshotState returns the writer's whole state at checkpoint
	// checkpointID (see CheckpointHooks.SnapshotState).
	SnapshotState(checkpointID int64) ([]S, error)
	// NotifyCheckpointComplete is called once checkpoint checkpointID has
	// completed; earlier checkpoints may not have been notified.
	NotifyCheckpointComplete(checkpointID int64) error
	// NotifyCheckpointAborted is called when checkpoint checkpointID
	// will not complete.
	NotifyCheckpointAborted(checkpointID int64) error
}

// StatefulSink is a Sink whose writers keep state of type S in
// checkpoints. Configure it with its functions; the compiler checks their
// signatures.
type StatefulSink[T, S any] struct {
	// Codec encodes the state's elements; nil means codec.Of[S].
	Codec codec.Codec[S]
	// NewWriter creates the writer of one subtask with the state restored
	// for it (nil on a fresh start).
	NewWriter func(ctx InitContext, restored []S) (StatefulWriter[T, S], error)
}

// CreateWriter implements Sink: a writer with no restored state. The
// runtime calls CreateCheckpointedWriter instead.
func (s *StatefulSink[T, S]) CreateWriter(ctx InitContext) (Writer[T], error) {
	w, _, err := s.CreateCheckpointedWriter(ctx, nil)
	return w, err
}

// CreateCheckpointedWriter implements Checkpointed.
func (s *StatefulSink[T, S]) CreateCheckpointedWriter(ctx InitContext, restored [][]byte) (Writer[T], CheckpointHooks, error) {
	if s.NewWriter == nil {
		return nil, CheckpointHooks{}, fmt.Errorf("%w: StatefulSink has no NewWriter", ErrInvalidSink)
	}
	c, err := codecOr(s.Codec)
	if err != nil {
		return nil, CheckpointHooks{}, err
	}
	vals, err := decodeAll(c, restored)
	if err != nil {
		return nil, CheckpointHooks{}, err
	}
	w, err := s.NewWriter(ctx, vals)
	if err != nil {
		return nil, CheckpointHooks{}, err
	}
	return w, statefulHooks(c, w), nil
}

func statefulHooks[T, S any](c codec.Codec[S], w StatefulWriter[T, S]) CheckpointHooks {
	return CheckpointHooks{
		SnapshotState: func(id int64) ([][]byte, error) {
			vals, err := w.SnapshotState(id)
			if err != nil {
				return nil, err
			}
			return encodeAll(c, vals)
		},
		NotifyCheckpointComplete: w.NotifyCheckpointComplete,
		NotifyCheckpointAborted:  w.NotifyCheckpointAborted,
	}
}

func codecOr[S any](c codec.Codec[S]) (codec.Codec[S], error) {
	if c != nil {
		return c, nil
	}
	c, err := codec.Of[S]()
	if err != nil {
		return nil, fmt.Errorf("sink state: %w", err)
	}
	return c, nil
}

func decodeAll[S any](c codec.Codec[S], elems [][]byte) (_ []S, err error) {
	if len(elems) == 0 {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = codec.Recovered(r)
		}
	}()
	vals := make([]S, 0, len(elems))
	for i, b := range elems {
		v, n, err := c.Decode(b)
		if err == nil && n != len(b) {
			err = fmt.Errorf("%d trailing bytes: %w", len(b)-n, codec.ErrCorrupt)
		}
		if err != nil {
			return nil, fmt.Errorf("restoring sink state element %d: %w", i, err)
		}
		vals = append(vals, v)
	}
	return vals, nil
}

func encodeAll[S any](c codec.Codec[S], vals []S) (_ [][]byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = codec.Recovered(r)
		}
	}()
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = c.Append(nil, v)
	}
	return out, nil
}

// EndOfInput is the checkpoint id of what is left at the end of a bounded
// input, and the id NotifyCheckpointComplete gets when the subtask ends
// without a checkpoint after its input ended (in a job without periodic
// checkpoints, or one stopped with a savepoint). With periodic
// checkpoints the subtask waits for one taken after it finished (Flink's
// final checkpoint): its SnapshotState sees the id, and its completion
// commits what was left.
const EndOfInput int64 = math.MaxInt64
