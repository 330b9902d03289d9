package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/sink"
)

// txn is one transaction of an ExactlyOnce sink. In a checkpoint it is
// its global id, its counter and whether it has rows: enough to commit
// it from another process once prepared.
type txn struct {
	GID     string
	Counter int64
	// Written is whether a row was written: an empty transaction is never
	// begun in the database and has nothing to prepare or commit.
	Written bool

	conn *pgxpool.Conn // held from the first write until prepared or aborted
}

type txnCodec struct{}

func (txnCodec) Append(dst []byte, t *txn) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(t.GID)))
	dst = append(dst, t.GID...)
	dst = binary.AppendVarint(dst, t.Counter)
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
	t.Counter, off = c, off+m
	if off >= len(src) || src[off] > 1 {
		return nil, 0, corrupt
	}
	t.Written = src[off] == 1
	return t, off + 1, nil
}

// literal quotes s as an SQL string literal (PREPARE TRANSACTION takes no
// parameters).
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// txnWriter is the sink.TransactionalWriter of one subtask.
type txnWriter[T any] struct {
	s       *Sink[T]
	ctx     context.Context
	pool    *pgxpool.Pool
	stmt    *statement
	prefix  string // of this subtask's global ids: TransactionPrefix-parallelism-subtask-
	next    int64  // counter of the next transaction
	cleaned bool   // lingering prepared transactions were rolled back
	live    map[*txn]struct{}
	m       flushMetrics
}

func newTxnWriter[T any](s *Sink[T], ctx sink.InitContext, pool *pgxpool.Pool) (*txnWriter[T], error) {
	return &txnWriter[T]{
		s: s, ctx: ctx.Context(), pool: pool, stmt: newStatement(s),
		prefix: s.TransactionPrefix + "-" + strconv.Itoa(ctx.Parallelism()) + "-" + strconv.Itoa(ctx.SubtaskIndex()) + "-",
		live:   map[*txn]struct{}{},
		m:      newFlushMetrics(ctx),
	}, nil
}

// BeginTransaction implements sink.TransactionalWriter. The database
// transaction begins with the first row. The first call, which follows
// the commits of the restored transactions, rolls back every prepared
// transaction left under this subtask's ids.
func (w *txnWriter[T]) BeginTransaction() (*txn, error) {
	if !w.cleaned {
		if err := w.rollbackLingering(); err != nil {
			return nil, err
		}
		w.cleaned = true
	}
	t := &txn{GID: w.prefix + strconv.FormatInt(w.next, 10), Counter: w.next}
	w.next++
	return t, nil
}

// rollbackLingering rolls back the prepared transactions whose ids start
// with this subtask's prefix.
func (w *txnWriter[T]) rollbackLingering() error {
	var gids []string
	err := w.s.Retry.do(w.ctx, func(ctx context.Context) error {
		gids = gids[:0]
		rows, err := w.pool.Query(ctx, "SELECT gid FROM pg_prepared_xacts WHERE starts_with(gid, $1) AND database = current_database()", w.prefix)
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
		// Only ids of this subtask: "p-2-1-" must not take "p-2-1-x-…" of
		// another prefix; the rest must be a counter.
		if _, err := strconv.ParseInt(g[len(w.prefix):], 10, 64); err != nil {
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
// rows and prepares t, which frees its connection.
func (w *txnWriter[T]) PreCommit(t *txn) error {
	if err := w.send(t); err != nil {
		return err
	}
	if t.conn == nil {
		return nil
	}
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
	w.next = max(w.next, t.Counter+1)
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
// back; a restored one, open at the checkpoint, was never prepared then,
// and the first BeginTransaction rolls it back if the failed attempt
// prepared it later.
func (w *txnWriter[T]) Abort(t *txn) error {
	w.next = max(w.next, t.Counter+1)
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
