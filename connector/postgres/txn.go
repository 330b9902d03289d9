package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/sink"
)

// txn is one transaction of an ExactlyOnce sink. In a checkpoint it is
// its global id, the checkpoint the id names and whether it has rows:
// enough to commit it from another process once prepared.
type txn struct {
	// GID is the global id it was prepared under, empty before.
	GID string
	// Checkpoint is the checkpoint GID names (see gid).
	Checkpoint int64
	// Written is whether a row was written: an empty transaction is never
	// begun in the database and has nothing to prepare or commit.
	Written bool

	conn *pgxpool.Conn // held from the first write until prepared or aborted
}

type txnCodec struct{}

func (txnCodec) Append(dst []byte, t *txn) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(t.GID)))
	dst = append(dst, t.GID...)
	dst = binary.AppendVarint(dst, t.Checkpoint)
	if t.Written {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func (txnCodec) Decode(src []byte) (*txn, int, error) {
	corrupt := fmt.Errorf("postgres transaction: %w", codec.ErrCorrupt)
	l, n := binary.Uvarint(src)
	if n <= 0 || uint64(len(src)-n) < l {
		return nil, 0, corrupt
	}
	t := &txn{GID: string(src[n : n+int(l)])}
	off := n + int(l)
	c, m := binary.Varint(src[off:])
	if m <= 0 {
		return nil, 0, corrupt
	}
	t.Checkpoint, off = c, off+m
	if off >= len(src) || src[off] > 1 {
		return nil, 0, corrupt
	}
	t.Written = src[off] == 1
	return t, off + 1, nil
}

// literal quotes s as an SQL string literal (PREPARE TRANSACTION takes no
// parameters).
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// The global ids of an ExactlyOnce sink's prepared transactions are
//
//	TransactionPrefix-subtask-checkpoint
//
// where subtask is the index of the subtask that prepared it and
// checkpoint the checkpoint at whose snapshot it was prepared; the last
// transaction of a bounded input, prepared at the end of input, names the
// checkpoint after the last one the subtask took (or was restored from),
// which is at most the checkpoint that holds it (its final checkpoint): no
// checkpoint between them took the subtask's snapshot. A subtask prepares
// at most one transaction per checkpoint, so an id is never prepared twice
// at once.
//
// The rule that cleans up after a failure follows: a prepared transaction
// whose id names checkpoint c is held, as pending, by the state of every
// checkpoint from c whose snapshot came before its commit, and by none
// before c. After a restore from checkpoint C, a transaction of the prefix
// still prepared that names c <= C is held by the restored state, which
// commits it in whichever new subtask the state went to; one that names
// c > C was prepared after C (by the attempt that failed, or an earlier
// one that got no further than C) and no state holds it: it is rolled
// back. A fresh start holds nothing and rolls back every one.
//
// Each of them is rolled back by one subtask, before that subtask prepares
// anything: new subtask k of p answers for the ids naming old subtasks i
// with i mod p == k, whatever the old parallelism was. A subtask therefore
// never rolls back a transaction another new subtask prepares (those name
// that subtask's own index, which maps to itself), nor one a restored
// state holds (those name c <= C), whatever the order in which the
// subtasks start. Checkpoint ids start again at C+1 after a restore, so a
// lingering id may be one a new subtask is about to use: that subtask is
// the one that answers for it, and has rolled it back by then.

// txnWriter is the sink.TransactionalWriter of one subtask.
type txnWriter[T any] struct {
	s                    *Sink[T]
	ctx                  context.Context
	pool                 *pgxpool.Pool
	stmt                 *statement
	ids                  sink.TransactionIDs
	subtask, parallelism int
	// restored is the checkpoint the job was restored from, 0 on a fresh
	// start.
	restored int64
	// last is the last checkpoint the subtask took its snapshot for, or
	// restored; at is the checkpoint whose snapshot is running, 0
	// outside one (see snapshot).
	last, at int64
	// sawRestored is set when a restored transaction is committed or
	// aborted.
	sawRestored bool
	cleaned     bool // lingering prepared transactions were rolled back
	live        map[*txn]struct{}
	m           flushMetrics
}

func newTxnWriter[T any](s *Sink[T], ctx sink.InitContext, pool *pgxpool.Pool) *txnWriter[T] {
	restored, ok := ctx.RestoredCheckpointID()
	if !ok {
		restored = 0
	}
	return &txnWriter[T]{
		s: s, ctx: ctx.Context(), pool: pool, stmt: newStatement(s), ids: sink.TransactionIDs{Prefix: s.TransactionPrefix},
		subtask: ctx.SubtaskIndex(), parallelism: ctx.Parallelism(),
		restored: restored, last: restored,
		live: map[*txn]struct{}{},
		m:    newFlushMetrics(ctx),
	}
}

// snapshot runs snap, the snapshot of the sink.TwoPhaseCommit writer,
// which pre-commits the open transaction, for checkpoint id: the
// transaction's id names it.
func (w *txnWriter[T]) snapshot(id int64, snap func(int64) ([][]byte, error)) ([][]byte, error) {
	w.at = id
	defer func() { w.at, w.last = 0, max(w.last, id) }()
	return snap(id)
}

// BeginTransaction implements sink.TransactionalWriter. The database
// transaction begins with the first row. The first call, which follows
// the commits of the restored transactions, rolls back the prepared
// transactions this subtask answers for that no restored state holds.
func (w *txnWriter[T]) BeginTransaction() (*txn, error) {
	if !w.cleaned {
		if w.sawRestored && w.restored == 0 {
			return nil, fmt.Errorf("postgres sink: %w: the writer was given restored transactions, but its context reports no restored checkpoint", sink.ErrInvalidSink)
		}
		if err := w.rollbackLingering(); err != nil {
			return nil, err
		}
		w.cleaned = true
	}
	return &txn{}, nil
}

// rollbackLingering rolls back the prepared transactions of the sink's
// prefix that name a checkpoint after the restored one (any, on a fresh
// start) and an old subtask this one answers for (see gid).
func (w *txnWriter[T]) rollbackLingering() error {
	var gids []string
	err := w.s.Retry.do(w.ctx, func(ctx context.Context) error {
		gids = gids[:0]
		rows, err := w.pool.Query(ctx, "SELECT gid FROM pg_prepared_xacts WHERE starts_with(gid, $1) AND database = current_database()", w.s.TransactionPrefix+"-")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var g string
			if err := rows.Scan(&g); err != nil {
				return err
			}
			gids = append(gids, g)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("postgres sink: listing prepared transactions: %w", err)
	}
	for _, g := range gids {
		if !w.ids.Lingering(g, w.subtask, w.parallelism, w.restored) {
			continue
		}
		err := w.s.Retry.do(w.ctx, func(ctx context.Context) error {
			_, err := w.pool.Exec(ctx, "ROLLBACK PREPARED "+literal(g))
			return ignoreGone(err)
		})
		if err != nil {
			return fmt.Errorf("postgres sink: rolling back lingering transaction %s: %w", g, err)
		}
	}
	return nil
}

// ignoreGone turns the error of a prepared transaction that no longer
// exists (SQLSTATE 42704) into success.
func ignoreGone(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42704" {
		return nil
	}
	return err
}

// Write implements sink.TransactionalWriter.
func (w *txnWriter[T]) Write(t *txn, v T, _ sink.Context) error {
	full, err := addRecord(w.stmt, w.s.Row, v)
	if err != nil {
		return fmt.Errorf("postgres sink: %s: %w", w.s.Table, err)
	}
	if full {
		return w.send(t)
	}
	return nil
}

// send writes the buffered rows into t, beginning it in the database if
// needed. A failure inside a transaction is not retried: the transaction
// is lost and the job restarts from its last checkpoint.
func (w *txnWriter[T]) send(t *txn) error {
	if w.stmt.rows == 0 {
		return nil
	}
	if t.conn == nil {
		err := w.s.Retry.do(w.ctx, func(ctx context.Context) error {
			c, err := w.pool.Acquire(ctx)
			if err != nil {
				return err
			}
			if _, err := c.Exec(ctx, "BEGIN"); err != nil {
				c.Release()
				return err
			}
			t.conn = c
			return nil
		})
		if err != nil {
			return fmt.Errorf("postgres sink: beginning transaction %s: %w", t.GID, err)
		}
		t.Written = true
		w.live[t] = struct{}{}
	}
	n := w.stmt.rows
	sql, args := w.stmt.take()
	start := time.Now()
	if _, err := t.conn.Exec(w.ctx, sql, args...); err != nil {
		return fmt.Errorf("postgres sink: writing %d rows into %s in transaction %s: %w", n, w.s.Table, t.GID, err)
	}
	w.m.flushed(n, start)
	return nil
}

// PreCommit implements sink.TransactionalWriter: it writes the buffered
// rows and prepares t under its global id, which frees its connection.
func (w *txnWriter[T]) PreCommit(t *txn) error {
	if err := w.send(t); err != nil {
		return err
	}
	if t.conn == nil {
		return nil
	}
	t.Checkpoint = w.at
	if t.Checkpoint == 0 { // the end of input
		t.Checkpoint = w.last + 1
	}
	t.GID = w.ids.Name(w.subtask, t.Checkpoint)
	_, err := t.conn.Exec(w.ctx, "PREPARE TRANSACTION "+literal(t.GID))
	w.release(t)
	if err != nil {
		return fmt.Errorf("postgres sink: preparing transaction %s: %w", t.GID, err)
	}
	return nil
}

// Commit implements sink.TransactionalWriter: COMMIT PREPARED, where a
// prepared transaction no longer in pg_prepared_xacts was committed
// before (by this writer before a failure, or by a restore).
func (w *txnWriter[T]) Commit(t *txn) error {
	if !w.cleaned {
		w.sawRestored = true
	}
	if !t.Written {
		return nil
	}
	err := w.s.Retry.do(w.ctx, func(ctx context.Context) error {
		var prepared bool
		if err := w.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = $1 AND database = current_database())", t.GID).Scan(&prepared); err != nil {
			return err
		}
		if !prepared {
			return nil
		}
		_, err := w.pool.Exec(ctx, "COMMIT PREPARED "+literal(t.GID))
		return ignoreGone(err)
	})
	if err != nil {
		return fmt.Errorf("postgres sink: committing transaction %s: %w", t.GID, err)
	}
	return nil
}

// Abort implements sink.TransactionalWriter. A live transaction is rolled
// back; a restored one, open at the checkpoint, was not prepared then,
// and the first BeginTransaction rolls it back if the failed attempt
// prepared it later (it names a later checkpoint).
func (w *txnWriter[T]) Abort(t *txn) error {
	if !w.cleaned {
		w.sawRestored = true
	}
	w.stmt.take()
	if t.conn == nil {
		return nil
	}
	// A connection whose ROLLBACK failed is still in the transaction:
	// the pool closes it, which rolls the transaction back.
	_, _ = t.conn.Exec(w.ctx, "ROLLBACK")
	w.release(t)
	return nil
}

// release gives t's connection back to the pool, which closes it if it is
// still in a transaction (rolling that back).
func (w *txnWriter[T]) release(t *txn) {
	t.conn.Release()
	t.conn = nil
	delete(w.live, t)
}

// Close implements sink.TransactionalWriter: prepared transactions stay
// for a restore to commit.
func (w *txnWriter[T]) Close() error {
	for t := range w.live {
		w.release(t)
	}
	w.pool.Close()
	return nil
}
