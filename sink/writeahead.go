package sink

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/freshet-io/freshet/codec"
)

// WriteAhead is a sink that keeps records in the job's checkpoints until
// the checkpoint that covers them completes, and only then writes them
// with Commit (Flink's GenericWriteAheadSink, as its Cassandra sink uses
// it). A record is written only once a restore can no longer replay it,
// so the output is exactly once when Commit is idempotent (an upsert by
// key) and at least once otherwise: a failure during or after Commit,
// before the next checkpoint, writes the same batch again after the
// restore.
//
// At the end of a bounded job's input the records left are committed with
// checkpoint id EndOfInput. Records are buffered in memory between
// checkpoints; keep the checkpoint interval short for large volumes.
type WriteAhead[T any] struct {
	// Codec encodes the buffered records; nil means codec.Of[T].
	Codec codec.Codec[T]
	// Commit writes records, all covered by checkpoint checkpointID,
	// from the subtask ctx describes. It runs on the subtask's goroutine;
	// an error fails the subtask, which restarts from the latest
	// checkpoint and commits the batch again.
	Commit func(ctx InitContext, checkpointID int64, records []T) error
}

// Batch is the records of one checkpoint in a WriteAhead sink's state.
type Batch[T any] struct {
	CheckpointID int64
	Records      []T
}

type batchCodec[T any] struct{ c codec.Codec[T] }

func (b batchCodec[T]) Append(dst []byte, v Batch[T]) []byte {
	dst = binary.AppendVarint(dst, v.CheckpointID)
	dst = binary.AppendUvarint(dst, uint64(len(v.Records)))
	for _, r := range v.Records {
		dst = b.c.Append(dst, r)
	}
	return dst
}

func (b batchCodec[T]) Decode(src []byte) (Batch[T], int, error) {
	var v Batch[T]
	id, n := binary.Varint(src)
	if n <= 0 {
		return v, 0, fmt.Errorf("write-ahead batch: %w", codec.ErrCorrupt)
	}
	cnt, m := binary.Uvarint(src[n:])
	if m <= 0 || cnt > uint64(len(src)) {
		return v, 0, fmt.Errorf("write-ahead batch: %w", codec.ErrCorrupt)
	}
	n += m
	v.CheckpointID, v.Records = id, make([]T, 0, cnt)
	for range cnt {
		r, k, err := b.c.Decode(src[n:])
		if err != nil {
			return v, 0, fmt.Errorf("write-ahead batch: %w", err)
		}
		v.Records = append(v.Records, r)
		n += k
	}
	return v, n, nil
}

// CreateWriter implements Sink: a writer that commits at end of input only.
func (s *WriteAhead[T]) CreateWriter(ctx InitContext) (Writer[T], error) {
	w, _, err := s.CreateCheckpointedWriter(ctx, nil)
	return w, err
}

// CreateCheckpointedWriter implements Checkpointed. The batches restored
// are committed at once: the checkpoint they belong to has completed.
func (s *WriteAhead[T]) CreateCheckpointedWriter(ctx InitContext, restored [][]byte) (Writer[T], CheckpointHooks, error) {
	if s.Commit == nil {
		return nil, CheckpointHooks{}, fmt.Errorf("%w: WriteAhead has no Commit", ErrInvalidSink)
	}
	c, err := codecOr(s.Codec)
	if err != nil {
		return nil, CheckpointHooks{}, err
	}
	st := &StatefulSink[T, Batch[T]]{
		Codec: batchCodec[T]{c},
		NewWriter: func(ctx InitContext, restored []Batch[T]) (StatefulWriter[T, Batch[T]], error) {
			w := &walWriter[T]{ctx: ctx, commit: s.Commit, batches: restored}
			slices.SortStableFunc(w.batches, func(a, b Batch[T]) int { return cmp.Compare(a.CheckpointID, b.CheckpointID) })
			if err := w.commitUpTo(EndOfInput); err != nil {
				return nil, err
			}
			return w, nil
		},
	}
	return st.CreateCheckpointedWriter(ctx, restored)
}

type walWriter[T any] struct {
	ctx     InitContext
	commit  func(InitContext, int64, []T) error
	cur     []T
	batches []Batch[T]
}

func (w *walWriter[T]) Write(v T, _ Context) error { w.cur = append(w.cur, v); return nil }

func (w *walWriter[T]) SnapshotState(id int64) ([]Batch[T], error) {
	if len(w.cur) > 0 {
		w.batches = append(w.batches, Batch[T]{CheckpointID: id, Records: w.cur})
		w.cur = nil
	}
	for i := range w.batches {
		if w.batches[i].CheckpointID == EndOfInput {
			w.batches[i].CheckpointID = id // held at the end of input
		}
	}
	return slices.Clone(w.batches), nil
}

func (w *walWriter[T]) commitUpTo(id int64) error {
	for len(w.batches) > 0 && w.batches[0].CheckpointID <= id {
		b := w.batches[0]
		if err := w.commit(w.ctx, b.CheckpointID, b.Records); err != nil {
			return fmt.Errorf("committing the records of checkpoint %d: %w", b.CheckpointID, err)
		}
		w.batches = w.batches[1:]
	}
	return nil
}

func (w *walWriter[T]) NotifyCheckpointComplete(id int64) error { return w.commitUpTo(id) }
func (w *walWriter[T]) NotifyCheckpointAborted(int64) error     { return nil }

func (w *walWriter[T]) Flush(endOfInput bool) error {
	if !endOfInput {
		return nil
	}
	if len(w.cur) > 0 {
		w.batches = append(w.batches, Batch[T]{CheckpointID: EndOfInput, Records: w.cur})
		w.cur = nil
	}
	return nil // written when the final checkpoint completes, or at the end
}

func (w *walWriter[T]) Close() error { return nil }
