package sink

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/freshet-io/freshet/codec"
)

// TransactionalWriter is what a TwoPhaseCommit sink does with its
// transactions (the abstract methods of Flink's
// TwoPhaseCommitSinkFunction). All methods are called from the subtask's
// goroutine. A transaction is usually a pointer, so that Write can add to
// it; what its codec encodes is all a restarted job knows of it.
type TransactionalWriter[T, TXN any] interface {
	// BeginTransaction starts a transaction.
	BeginTransaction() (TXN, error)
	// Write writes v into txn.
	Write(txn TXN, v T, c Context) error
	// PreCommit makes txn ready to commit (flushes it, closes its files):
	// after it, Commit must succeed even in another process. It runs at
	// the checkpoint's snapshot.
	PreCommit(txn TXN) error
	// Commit makes txn's records visible. It must be idempotent: after a
	// restore, transactions whose checkpoint completed are committed again,
	// as they may or may not have been committed before the failure.
	Commit(txn TXN) error
	// Abort discards txn. After a restore it is also called with the
	// transaction that was open at the checkpoint, restored from its
	// encoding.
	Abort(txn TXN) error
	// Close releases the writer's resources.
	Close() error
}

// TwoPhaseCommit is a sink that writes records in transactions committed
// when checkpoints complete (Flink's TwoPhaseCommitSinkFunction), so that
// its output is exactly once when the job's checkpoints are:
//
//   - each subtask begins a transaction and writes its records into it;
//   - at a checkpoint's snapshot the transaction is pre-committed, kept as
//     pending with the checkpoint's id in the subtask's state, and a new
//     one begins;
//   - when a checkpoint completes, the pending transactions up to it are
//     committed, oldest first; an aborted checkpoint leaves them pending
//     for the next one;
//   - after a failure, the pending transactions of the checkpoint the job
//     restarts from are committed again (Commit is idempotent) and the
//     transaction that was open is aborted;
//   - at the end of a bounded job's input every transaction is committed;
//     a writer closed before that (a failure, a cancellation) aborts its
//     open transaction and leaves the pending ones to a restore.
//
// Without checkpointing, the whole output is one transaction committed at
// the end of input.
type TwoPhaseCommit[T, TXN any] struct {
	// Codec encodes transactions in checkpoints; nil means codec.Of[TXN].
	Codec codec.Codec[TXN]
	// NewWriter creates the transactional writer of one subtask.
	NewWriter func(ctx InitContext) (TransactionalWriter[T, TXN], error)
}

// CreateWriter implements Sink: a writer that commits at end of input only.
func (s *TwoPhaseCommit[T, TXN]) CreateWriter(ctx InitContext) (Writer[T], error) {
	w, _, err := s.CreateCheckpointedWriter(ctx, nil)
	return w, err
}

// CreateCheckpointedWriter implements Checkpointed.
func (s *TwoPhaseCommit[T, TXN]) CreateCheckpointedWriter(ctx InitContext, restored [][]byte) (Writer[T], CheckpointHooks, error) {
	if s.NewWriter == nil {
		return nil, CheckpointHooks{}, fmt.Errorf("%w: TwoPhaseCommit has no NewWriter", ErrInvalidSink)
	}
	tc, err := codecOr(s.Codec)
	if err != nil {
		return nil, CheckpointHooks{}, err
	}
	st := &StatefulSink[T, TxnState[TXN]]{
		Codec: txnStateCodec[TXN]{tc},
		NewWriter: func(ctx InitContext, restored []TxnState[TXN]) (StatefulWriter[T, TxnState[TXN]], error) {
			return NewTwoPhaseWriter(s.NewWriter, ctx, restored)
		},
	}
	return st.CreateCheckpointedWriter(ctx, restored)
}

// TxnState is a transaction in a TwoPhaseCommit sink's state.
type TxnState[TXN any] struct {
	// CheckpointID is the checkpoint at whose snapshot a pending
	// transaction was pre-committed.
	CheckpointID int64
	// Pending is false for the transaction that was open.
	Pending bool
	Txn     TXN
}

type txnStateCodec[TXN any] struct{ c codec.Codec[TXN] }

func (t txnStateCodec[TXN]) Append(dst []byte, v TxnState[TXN]) []byte {
	dst = binary.AppendVarint(dst, v.CheckpointID)
	if v.Pending {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 0)
	}
	return t.c.Append(dst, v.Txn)
}

func (t txnStateCodec[TXN]) Decode(src []byte) (TxnState[TXN], int, error) {
	var v TxnState[TXN]
	id, n := binary.Varint(src)
	if n <= 0 || n >= len(src) || src[n] > 1 {
		return v, 0, fmt.Errorf("transaction state: %w", codec.ErrCorrupt)
	}
	v.CheckpointID, v.Pending = id, src[n] == 1
	txn, m, err := t.c.Decode(src[n+1:])
	if err != nil {
		return v, 0, fmt.Errorf("transaction state: %w", err)
	}
	v.Txn = txn
	return v, n + 1 + m, nil
}

// TwoPhaseWriter is the writer of a TwoPhaseCommit sink, exported for
// tests of transactional writers: drive it as the runtime does.
type TwoPhaseWriter[T, TXN any] struct {
	w       TransactionalWriter[T, TXN]
	cur     TXN
	open    bool // cur is a transaction not yet committed or aborted
	pending []TxnState[TXN]
}

// NewTwoPhaseWriter creates the writer of one subtask with newWriter and
// the state restored for it: the restored pending transactions are
// committed, oldest first, the open one aborted, and a transaction begun.
func NewTwoPhaseWriter[T, TXN any](newWriter func(InitContext) (TransactionalWriter[T, TXN], error), ctx InitContext, restored []TxnState[TXN]) (*TwoPhaseWriter[T, TXN], error) {
	w, err := newWriter(ctx)
	if err != nil {
		return nil, err
	}
	t := &TwoPhaseWriter[T, TXN]{w: w}
	restored = slices.Clone(restored)
	slices.SortStableFunc(restored, func(a, b TxnState[TXN]) int { return cmp.Compare(a.CheckpointID, b.CheckpointID) })
	for _, r := range restored {
		if r.Pending {
			err = w.Commit(r.Txn)
			if err != nil {
				err = fmt.Errorf("committing the transaction of checkpoint %d again: %w", r.CheckpointID, err)
			}
		} else if err = w.Abort(r.Txn); err != nil {
			err = fmt.Errorf("aborting the transaction open at checkpoint %d: %w", r.CheckpointID, err)
		}
		if err != nil {
			return nil, errors.Join(err, w.Close())
		}
	}
	if t.cur, err = w.BeginTransaction(); err != nil {
		return nil, errors.Join(fmt.Errorf("beginning a transaction: %w", err), w.Close())
	}
	t.open = true
	return t, nil
}

// Write writes v into the open transaction.
func (t *TwoPhaseWriter[T, TXN]) Write(v T, c Context) error {
	if !t.open {
		return fmt.Errorf("%w: write after end of input", ErrInvalidSink)
	}
	return t.w.Write(t.cur, v, c)
}

// WriteBatch implements BatchWriter: the records of a run into the open
// transaction.
func (t *TwoPhaseWriter[T, TXN]) WriteBatch(rs []Record[T], watermark int64) error {
	if !t.open {
		return fmt.Errorf("%w: write after end of input", ErrInvalidSink)
	}
	w, cur := t.w, t.cur
	for i := range rs {
		c := Context{Timestamp: rs[i].Timestamp, HasTimestamp: rs[i].HasTimestamp(), Watermark: watermark}
		if err := w.Write(cur, rs[i].Value, c); err != nil {
			return err
		}
	}
	return nil
}

// SnapshotState pre-commits the open transaction as pending for
// checkpoint id, begins a new one and returns the pending transactions and
// the new one.
func (t *TwoPhaseWriter[T, TXN]) SnapshotState(id int64) ([]TxnState[TXN], error) {
	if t.open {
		if err := t.w.PreCommit(t.cur); err != nil {
			return nil, fmt.Errorf("pre-committing the transaction of checkpoint %d: %w", id, err)
		}
		t.pending = append(t.pending, TxnState[TXN]{CheckpointID: id, Pending: true, Txn: t.cur})
		t.open = false
		cur, err := t.w.BeginTransaction()
		if err != nil {
			return nil, fmt.Errorf("beginning a transaction: %w", err)
		}
		t.cur, t.open = cur, true
	}
	// The last transaction, pre-committed at the end of input, belongs
	// to this checkpoint: its completion commits it.
	for i := range t.pending {
		if t.pending[i].CheckpointID == EndOfInput {
			t.pending[i].CheckpointID = id
		}
	}
	st := slices.Clone(t.pending)
	if t.open {
		st = append(st, TxnState[TXN]{CheckpointID: id, Txn: t.cur})
	}
	return st, nil
}

// NotifyCheckpointComplete commits the pending transactions of checkpoints
// up to id, oldest first.
func (t *TwoPhaseWriter[T, TXN]) NotifyCheckpointComplete(id int64) error {
	for len(t.pending) > 0 && t.pending[0].CheckpointID <= id {
		p := t.pending[0]
		if err := t.w.Commit(p.Txn); err != nil {
			return fmt.Errorf("committing the transaction of checkpoint %d: %w", p.CheckpointID, err)
		}
		t.pending = t.pending[1:]
	}
	return nil
}

// NotifyCheckpointAborted keeps the pending transactions for the next
// checkpoint that completes.
func (t *TwoPhaseWriter[T, TXN]) NotifyCheckpointAborted(int64) error { return nil }

// Flush pre-commits the open transaction at the end of input. It is
// committed with the checkpoint the subtask takes after finishing (its
// final checkpoint), or, when none is taken, when the subtask ends
// (NotifyCheckpointComplete(EndOfInput)).
func (t *TwoPhaseWriter[T, TXN]) Flush(endOfInput bool) error {
	if !endOfInput || !t.open {
		return nil
	}
	if err := t.w.PreCommit(t.cur); err != nil {
		return fmt.Errorf("pre-committing the last transaction: %w", err)
	}
	t.pending = append(t.pending, TxnState[TXN]{CheckpointID: EndOfInput, Pending: true, Txn: t.cur})
	t.open = false
	return nil
}

// Close aborts the open transaction, if any, and closes the writer.
// Pending transactions stay for a restore to commit.
func (t *TwoPhaseWriter[T, TXN]) Close() error {
	var err error
	if t.open {
		t.open = false
		if err = t.w.Abort(t.cur); err != nil {
			err = fmt.Errorf("aborting the open transaction: %w", err)
		}
	}
	return errors.Join(err, t.w.Close())
}
