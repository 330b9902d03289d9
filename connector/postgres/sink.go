package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/sink"
)

// DeliveryGuarantee is what a Sink promises about its rows after failures.
type DeliveryGuarantee uint8

const (
	// AtLeastOnce upserts rows in batches flushed at every checkpoint: a
	// completed checkpoint covers every row before it, and rows after it
	// are upserted again after a failure, which leaves the same table
	// since an upsert of a key is idempotent.
	AtLeastOnce DeliveryGuarantee = iota
	// ExactlyOnce writes each checkpoint's rows in one transaction per
	// subtask, prepared (PREPARE TRANSACTION) at the checkpoint and
	// committed (COMMIT PREPARED) when it completes.
	ExactlyOnce
)

func (g DeliveryGuarantee) String() string {
	switch g {
	case AtLeastOnce:
		return "at-least-once"
	case ExactlyOnce:
		return "exactly-once"
	}
	return "DeliveryGuarantee(" + strconv.Itoa(int(g)) + ")"
}

// Defaults of a Sink's batching.
const (
	DefaultBatchSize     = 1000
	DefaultFlushInterval = time.Second
)

// maxParams is PostgreSQL's limit on the parameters of one statement.
const maxParams = 65535

// Sink writes records to a PostgreSQL table, one row per record, with the
// values Row makes of it for Columns.
//
// With AtLeastOnce (the default) rows are upserted, INSERT … ON CONFLICT
// (KeyColumns) DO UPDATE, in multi-row statements of up to BatchSize rows
// (fewer when BatchSize × columns would pass PostgreSQL's 65535
// parameters). Within a batch the last row of a key wins, as it would row
// by row. A batch is sent when it is full, on the first write after
// FlushInterval has passed since the last flush (the sink API has no
// timer: an idle stream's rows wait for the next checkpoint), at every
// checkpoint and at the end of input. A batch that fails with a transient
// error (see Transient) is sent again after a back-off, as Retry says.
//
// With ExactlyOnce rows are written on sink.TwoPhaseCommit: every subtask
// writes the rows between two checkpoints in one database transaction
// (plain INSERTs, or upserts when KeyColumns are set), prepared at the
// checkpoint under the global id TransactionPrefix-subtask-checkpoint and
// committed with COMMIT PREPARED when the checkpoint completes; the last
// transaction of a bounded input is prepared at its end and names the
// checkpoint after the subtask's last one. A commit is idempotent: a
// prepared id that is no longer in pg_prepared_xacts was committed. After
// a restore from checkpoint C, at the same or another parallelism, the
// transactions the restored state holds are committed by the subtasks the
// state went to, and every other prepared transaction of the prefix,
// which names a checkpoint after C whatever subtask it names, is rolled
// back, once: new subtask k of p rolls back those naming old subtasks i
// with i mod p == k, before it prepares one of its own, so it never rolls
// back what another subtask commits or prepares. A fresh start rolls back
// every prepared transaction of the prefix. An id is the prefix and two
// numbers, so the ids of prefixes "p" and "p-1" never mix.
// The server's max_prepared_transactions must be above 0, and at least the
// sink's parallelism times the checkpoints that may be pending at once.
// Prepared transactions hold their locks until committed: key the stream
// by KeyColumns so that two subtasks never write the same row.
//
// Validate checks the configuration; the runtime has no hook to call it
// when the job is built, so CreateWriter calls it, and then connects (with
// retries, an error naming host:port) and checks that the table has the
// columns.
type Sink[T any] struct {
	// DSN is a PostgreSQL connection string, URL or key=value. Required.
	DSN string
	// Table is the table written, "name" or "schema.name". Required.
	Table string
	// Columns are the columns Row gives values for. Required.
	Columns []string
	// KeyColumns are the conflict target of the upsert, a unique index or
	// primary key of Table, a subset of Columns. Required for
	// AtLeastOnce; with ExactlyOnce, rows are upserted when set and
	// inserted when not.
	KeyColumns []string
	// Row returns the values of a record's row, one per column, in the
	// order of Columns. Required. It may reuse its slice between calls. An
	// error fails the job, wrapped in one that names the table.
	Row func(T) ([]any, error)
	// DeliveryGuarantee defaults to AtLeastOnce.
	DeliveryGuarantee DeliveryGuarantee
	// TransactionPrefix starts the global ids of the prepared
	// transactions of an ExactlyOnce sink; two jobs must not share one.
	// Required for ExactlyOnce, at most 150 bytes.
	TransactionPrefix string
	// BatchSize is how many rows a statement writes at most; 0 means
	// DefaultBatchSize.
	BatchSize int
	// FlushInterval is how long an AtLeastOnce batch waits at most for a
	// write to send it (see above); 0 means DefaultFlushInterval, a
	// negative value never flushes on time.
	FlushInterval time.Duration
	// Retry says how transient errors are retried; the zero value means
	// DefaultRetry.
	Retry Retry
}

var _ sink.Checkpointed[string] = (*Sink[string])(nil)

// Validate reports what is wrong with the sink's configuration, without
// connecting.
func (s *Sink[T]) Validate() error {
	_, err := s.poolConfig()
	return err
}

func (s *Sink[T]) poolConfig() (*pgxpool.Config, error) {
	var errs []error
	if s.Table == "" {
		errs = append(errs, errors.New("no table"))
	}
	if len(s.Columns) == 0 {
		errs = append(errs, errors.New("no columns"))
	}
	if s.Row == nil {
		errs = append(errs, errors.New("no row function"))
	}
	cols := map[string]bool{}
	for _, c := range s.Columns {
		if c == "" || cols[c] {
			errs = append(errs, fmt.Errorf("column %q is empty or repeated", c))
		}
		cols[c] = true
	}
	for _, k := range s.KeyColumns {
		if !cols[k] {
			errs = append(errs, fmt.Errorf("key column %q is not one of the columns", k))
		}
	}
	if s.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("batch size %d is negative", s.BatchSize))
	}
	switch s.DeliveryGuarantee {
	case AtLeastOnce:
		if len(s.KeyColumns) == 0 {
			errs = append(errs, errors.New("at-least-once upserts need key columns"))
		}
	case ExactlyOnce:
		if s.TransactionPrefix == "" {
			errs = append(errs, errors.New("exactly-once needs a transaction prefix"))
		} else if len(s.TransactionPrefix) > 150 {
			errs = append(errs, fmt.Errorf("transaction prefix of %d bytes is longer than 150", len(s.TransactionPrefix)))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown delivery guarantee %v", s.DeliveryGuarantee))
	}
	cfg, err := parseDSN(s.DSN, 3)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: sink: %w", ErrInvalidConfig, err)
	}
	return cfg, nil
}

// CreateWriter implements sink.Sink. The runtime calls
// CreateCheckpointedWriter instead.
func (s *Sink[T]) CreateWriter(ctx sink.InitContext) (sink.Writer[T], error) {
	w, _, err := s.CreateCheckpointedWriter(ctx, nil)
	return w, err
}

// CreateCheckpointedWriter implements sink.Checkpointed.
func (s *Sink[T]) CreateCheckpointedWriter(ctx sink.InitContext, restored [][]byte) (sink.Writer[T], sink.CheckpointHooks, error) {
	cfg, err := s.poolConfig()
	if err != nil {
		return nil, sink.CheckpointHooks{}, err
	}
	pool, err := s.open(ctx.Context(), cfg)
	if err != nil {
		return nil, sink.CheckpointHooks{}, fmt.Errorf("postgres sink: %w", err)
	}
	if s.DeliveryGuarantee == ExactlyOnce {
		var tw *txnWriter[T]
		tp := &sink.TwoPhaseCommit[T, *txn]{
			Codec: txnCodec{},
			NewWriter: func(ictx sink.InitContext) (sink.TransactionalWriter[T, *txn], error) {
				tw = newTxnWriter(s, ictx, pool)
				return tw, nil
			},
		}
		w, hooks, err := tp.CreateCheckpointedWriter(ctx, restored)
		if err != nil {
			if tw == nil { // the state did not decode: no writer owns the pool
				pool.Close()
			}
			return nil, hooks, fmt.Errorf("postgres sink: %w", err)
		}
		snap := hooks.SnapshotState
		hooks.SnapshotState = func(id int64) ([][]byte, error) { return tw.snapshot(id, snap) }
		return w, hooks, nil
	}
	w := &upsertWriter[T]{s: s, ctx: ctx.Context(), pool: pool, stmt: newStatement(s), last: time.Now(), m: newFlushMetrics(ctx)}
	hooks := sink.CheckpointHooks{
		SnapshotState: func(id int64) ([][]byte, error) {
			if err := w.flush(); err != nil {
				return nil, fmt.Errorf("postgres sink: flushing at checkpoint %d: %w", id, err)
			}
			return nil, nil
		},
	}
	return w, hooks, nil
}

// open connects and checks the table; an ExactlyOnce sink also checks
// that the server allows prepared transactions.
func (s *Sink[T]) open(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	pool, err := connect(ctx, cfg, s.Retry)
	if err != nil {
		return nil, err
	}
	if err := checkColumns(ctx, pool, s.Table, s.Columns, s.Retry); err != nil {
		pool.Close()
		return nil, err
	}
	if s.DeliveryGuarantee == ExactlyOnce {
		var mpt string
		err := s.Retry.do(ctx, func(ctx context.Context) error {
			return pool.QueryRow(ctx, "SHOW max_prepared_transactions").Scan(&mpt)
		})
		if err == nil && mpt == "0" {
			err = fmt.Errorf("%w (server %s)", ErrNoPreparedTransactions, address(cfg))
		}
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("checking max_prepared_transactions: %w", err)
		}
	}
	return pool, nil
}

// statement builds the SQL of a sink's batches and buffers their
// arguments.
type statement struct {
	table, cols, conflict string
	ncols                 int
	keyIdx                []int
	maxRows               int
	args                  []any
	rows                  int
	keys                  map[string]int // key → row in args, for upserts
	key                   []byte         // scratch for a row's key
	sql                   map[int]string
}

func newStatement[T any](s *Sink[T]) *statement {
	st := &statement{table: table(s.Table), ncols: len(s.Columns), sql: map[int]string{}}
	q := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		q[i] = ident(c)
	}
	st.cols = strings.Join(q, ", ")
	batch := s.BatchSize
	if batch == 0 {
		batch = DefaultBatchSize
	}
	st.maxRows = max(1, min(batch, maxParams/len(s.Columns)))
	if len(s.KeyColumns) > 0 {
		keys := map[string]bool{}
		kq := make([]string, len(s.KeyColumns))
		for i, k := range s.KeyColumns {
			keys[k], kq[i] = true, ident(k)
		}
		for i, c := range s.Columns {
			if keys[c] {
				st.keyIdx = append(st.keyIdx, i)
			}
		}
		var set []string
		for _, c := range s.Columns {
			if !keys[c] {
				set = append(set, ident(c)+" = EXCLUDED."+ident(c))
			}
		}
		st.conflict = " ON CONFLICT (" + strings.Join(kq, ", ") + ")"
		if len(set) == 0 {
			st.conflict += " DO NOTHING"
		} else {
			st.conflict += " DO UPDATE SET " + strings.Join(set, ", ")
		}
		st.keys = map[string]int{}
	}
	return st
}

// addRecord buffers the row of v; it reports whether the batch is full.
func addRecord[T any](st *statement, row func(T) ([]any, error), v T) (bool, error) {
	r, err := row(v)
	if err != nil {
		return false, fmt.Errorf("making a row: %w", err)
	}
	return st.add(r)
}

// add buffers a row; it reports whether the batch is full.
func (st *statement) add(row []any) (bool, error) {
	if len(row) != st.ncols {
		return false, fmt.Errorf("row function returned %d values for %d columns", len(row), st.ncols)
	}
	if st.keys != nil {
		// A statement may not upsert a key twice: the later row replaces
		// the earlier, as it would have row by row.
		st.key = st.key[:0]
		for _, i := range st.keyIdx {
			st.key = appendKey(st.key, row[i])
		}
		if r, ok := st.keys[string(st.key)]; ok {
			copy(st.args[r*st.ncols:], row)
			return false, nil
		}
		st.keys[string(st.key)] = st.rows
	}
	st.args = append(st.args, row...)
	st.rows++
	return st.rows >= st.maxRows, nil
}

// appendKey appends v to a batch's key of a row: its type, then its
// value, common types without fmt.
func appendKey(dst []byte, v any) []byte {
	switch v := v.(type) {
	case int64:
		return strconv.AppendInt(append(dst, 'q'), v, 10)
	case int32:
		return strconv.AppendInt(append(dst, 'l'), int64(v), 10)
	case int:
		return strconv.AppendInt(append(dst, 'i'), int64(v), 10)
	case string:
		return append(append(strconv.AppendInt(append(dst, 's'), int64(len(v)), 10), ':'), v...)
	}
	return fmt.Appendf(dst, "%T:%v\x00", v, v)
}

// take returns the buffered batch's SQL and arguments and empties it; the
// arguments stay valid until the next add.
func (st *statement) take() (string, []any) {
	n := st.rows
	sql, ok := st.sql[n]
	if !ok {
		var b strings.Builder
		b.WriteString("INSERT INTO " + st.table + " (" + st.cols + ") VALUES ")
		p := 1
		for r := range n {
			if r > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for c := range st.ncols {
				if c > 0 {
					b.WriteString(", ")
				}
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(p))
				p++
			}
			b.WriteByte(')')
		}
		b.WriteString(st.conflict)
		sql = b.String()
		if n == st.maxRows || len(st.sql) < 8 {
			st.sql[n] = sql
		}
	}
	args := st.args
	st.args, st.rows = st.args[:0], 0
	clear(st.keys)
	return sql, args
}

// flushMetrics are a writer's metrics: rowsFlushed counts the rows sent
// to the database, flushLatencyMillis is how long the latest statement
// that sent them took (with its retries).
type flushMetrics struct {
	rows    *metric.Counter
	latency *metric.Gauge
}

func newFlushMetrics(ctx sink.InitContext) flushMetrics {
	m := ctx.Metrics()
	return flushMetrics{rows: m.Counter("rowsFlushed"), latency: m.Gauge("flushLatencyMillis")}
}

// flushed records a flush of n rows that began at start.
func (m flushMetrics) flushed(n int, start time.Time) {
	m.rows.Add(int64(n))
	m.latency.Set(float64(time.Since(start).Microseconds()) / 1000)
}

// upsertWriter is the writer of an AtLeastOnce sink.
type upsertWriter[T any] struct {
	s    *Sink[T]
	ctx  context.Context
	pool *pgxpool.Pool
	stmt *statement
	last time.Time // of the last flush
	m    flushMetrics
}

func (w *upsertWriter[T]) Write(v T, _ sink.Context) error {
	full, err := addRecord(w.stmt, w.s.Row, v)
	if err != nil {
		return fmt.Errorf("postgres sink: %s: %w", w.s.Table, err)
	}
	iv := w.s.FlushInterval
	if iv == 0 {
		iv = DefaultFlushInterval
	}
	if full || iv > 0 && time.Since(w.last) >= iv {
		if err := w.flush(); err != nil {
			return fmt.Errorf("postgres sink: %w", err)
		}
	}
	return nil
}

// flush upserts the buffered rows, retrying transient errors.
func (w *upsertWriter[T]) flush() error {
	w.last = time.Now()
	if w.stmt.rows == 0 {
		return nil
	}
	n := w.stmt.rows
	sql, args := w.stmt.take()
	start := time.Now()
	err := w.s.Retry.do(w.ctx, func(ctx context.Context) error {
		_, err := w.pool.Exec(ctx, sql, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("upserting %d rows into %s: %w", n, w.s.Table, err)
	}
	w.m.flushed(n, start)
	return nil
}

func (w *upsertWriter[T]) Flush(bool) error {
	if err := w.flush(); err != nil {
		return fmt.Errorf("postgres sink: %w", err)
	}
	return nil
}

func (w *upsertWriter[T]) Close() error {
	w.pool.Close()
	return nil
}
