package postgres_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/freshet-io/freshet/connector/postgres"
	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/sink"
)

type initCtx struct {
	ctx                   context.Context
	subtask, par, attempt int
	restored              int64 // checkpoint, 0 for a fresh start
	metrics               *metric.Group
}

func (c initCtx) Context() context.Context { return c.ctx }
func (c initCtx) SubtaskIndex() int        { return c.subtask }
func (c initCtx) Parallelism() int         { return max(c.par, 1) }
func (c initCtx) Attempt() int             { return c.attempt }
func (c initCtx) Metrics() *metric.Group   { return c.metrics }

func (c initCtx) RestoredCheckpointID() (int64, bool) { return c.restored, c.restored > 0 }

// TestExactlyOnceRestore drives an exactly-once writer as the runtime
// does through checkpoints 1 and 2, closes it with a transaction open
// (a failure), and restores a new writer from each checkpoint: from 1,
// whose transaction was committed, the commit is not repeated and the
// transaction prepared at checkpoint 2, which did not complete, is rolled
// back; from 2, whose completion was never notified, its transaction is
// committed. The restored writer then writes the rest once.
func TestExactlyOnceRestore(t *testing.T) {
	for _, restoreFrom := range []int64{1, 2} {
		t.Run("checkpoint "+strconv.FormatInt(restoreFrom, 10), func(t *testing.T) {
			d := dsn(t, dsnVar)
			p := pool(t, d)
			tbl := newTable(t, p, "k bigint NOT NULL, v bigint NOT NULL")
			snk := &postgres.Sink[kv]{
				DSN: d, Table: tbl, Columns: []string{"k", "v"}, Row: kvRow,
				DeliveryGuarantee: postgres.ExactlyOnce, TransactionPrefix: "restore-" + tbl, BatchSize: 4,
			}
			write := func(w sink.Writer[kv], from, to int64) {
				t.Helper()
				for i := from; i < to; i++ {
					if err := w.Write(kv{K: i, V: 2 * i}, sink.Context{}); err != nil {
						t.Fatal(err)
					}
				}
			}
			w, hooks, err := snk.CreateCheckpointedWriter(initCtx{ctx: t.Context()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			write(w, 0, 10)
			st1, err := hooks.SnapshotState(1)
			if err != nil {
				t.Fatal(err)
			}
			write(w, 10, 20)
			st2, err := hooks.SnapshotState(2)
			if err != nil {
				t.Fatal(err)
			}
			if err := hooks.NotifyCheckpointComplete(1); err != nil {
				t.Fatal(err)
			}
			write(w, 20, 30)
			if err := w.Close(); err != nil { // the failure: 20 … 29 are rolled back
				t.Fatal(err)
			}
			if g := prepared(t, p, snk.TransactionPrefix); len(g) != 1 {
				t.Fatalf("prepared transactions %v after the failure, want checkpoint 2's", g)
			}
			checkOnce(t, pairs(t, p, tbl), 10)

			st, resume := st1, int64(10)
			if restoreFrom == 2 {
				st, resume = st2, 20
			}
			w, hooks, err = snk.CreateCheckpointedWriter(initCtx{ctx: t.Context(), attempt: 1, restored: restoreFrom}, st)
			if err != nil {
				t.Fatal(err)
			}
			if g := prepared(t, p, snk.TransactionPrefix); len(g) != 0 {
				t.Fatalf("prepared transactions %v after the restore, want none", g)
			}
			checkOnce(t, pairs(t, p, tbl), int(resume))
			write(w, resume, 40)
			if err := w.Flush(true); err != nil {
				t.Fatal(err)
			}
			if err := hooks.NotifyCheckpointComplete(sink.EndOfInput); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			checkOnce(t, pairs(t, p, tbl), 40)
			if g := prepared(t, p, snk.TransactionPrefix); len(g) != 0 {
				t.Fatalf("prepared transactions %v at the end, want none", g)
			}
		})
	}
}

// TestExactlyOnceRescale restores a parallelism-1 writer's checkpoint at
// parallelism 2, its state going to the new subtask 1: the new subtask 0,
// which answers for the old subtask 0's ids, starts first and must not
// roll back its prepared transaction, which the new subtask 1 commits.
func TestExactlyOnceRescale(t *testing.T) {
	d := dsn(t, dsnVar)
	p := pool(t, d)
	tbl := newTable(t, p, "k bigint NOT NULL, v bigint NOT NULL")
	snk := &postgres.Sink[kv]{
		DSN: d, Table: tbl, Columns: []string{"k", "v"}, Row: kvRow,
		DeliveryGuarantee: postgres.ExactlyOnce, TransactionPrefix: "rescale-" + tbl,
	}
	w, hooks, err := snk.CreateCheckpointedWriter(initCtx{ctx: t.Context()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(10) {
		if err := w.Write(kv{K: i, V: 2 * i}, sink.Context{}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := hooks.SnapshotState(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w0, _, err := snk.CreateCheckpointedWriter(initCtx{ctx: t.Context(), subtask: 0, par: 2, attempt: 1, restored: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w0.Close()
	w1, _, err := snk.CreateCheckpointedWriter(initCtx{ctx: t.Context(), subtask: 1, par: 2, attempt: 1, restored: 1}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer w1.Close()
	checkOnce(t, pairs(t, p, tbl), 10)
}

// TestUpsertFlushes: an upsert writer sends its batch when it is full,
// on the first write after FlushInterval, and at a checkpoint.
func TestUpsertFlushes(t *testing.T) {
	d := dsn(t, dsnVar)
	p := pool(t, d)
	tbl := newTable(t, p, "k bigint PRIMARY KEY, v bigint NOT NULL")
	count := func() int {
		t.Helper()
		return len(pairs(t, p, tbl))
	}
	cases := []struct {
		name     string
		interval time.Duration
		batch    int
		after    []int // rows in the table after each of 3 writes
	}{
		{"interval passed", time.Nanosecond, 100, []int{1, 2, 3}},
		{"batch full", -1, 2, []int{0, 2, 2}},
		{"neither", time.Hour, 100, []int{0, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exec(t, p, "TRUNCATE "+tbl)
			w, hooks, err := (&postgres.Sink[kv]{
				DSN: d, Table: tbl, Columns: []string{"k", "v"}, KeyColumns: []string{"k"}, Row: kvRow,
				BatchSize: tc.batch, FlushInterval: tc.interval,
			}).CreateCheckpointedWriter(initCtx{ctx: t.Context()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			for i, want := range tc.after {
				if err := w.Write(kv{K: int64(i), V: 1}, sink.Context{}); err != nil {
					t.Fatal(err)
				}
				if got := count(); got != want {
					t.Fatalf("after write %d: %d rows, want %d", i, got, want)
				}
			}
			if _, err := hooks.SnapshotState(1); err != nil {
				t.Fatal(err)
			}
			if got := count(); got != 3 {
				t.Fatalf("after the checkpoint: %d rows, want 3", got)
			}
		})
	}
}

// TestFlushMetrics counts the rows each delivery guarantee's writer sends
// and times the latest statement that sent them.
func TestFlushMetrics(t *testing.T) {
	for _, g := range []postgres.DeliveryGuarantee{postgres.AtLeastOnce, postgres.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			d := dsn(t, dsnVar)
			p := pool(t, d)
			tbl := newTable(t, p, "k bigint PRIMARY KEY, v bigint NOT NULL")
			snk := &postgres.Sink[kv]{
				DSN: d, Table: tbl, Columns: []string{"k", "v"}, KeyColumns: []string{"k"}, Row: kvRow,
				DeliveryGuarantee: g, TransactionPrefix: "metrics-" + tbl, BatchSize: 4, FlushInterval: -1,
			}
			m := metric.NewGroup()
			w, hooks, err := snk.CreateCheckpointedWriter(initCtx{ctx: t.Context(), metrics: m}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			for i := range int64(10) {
				if err := w.Write(kv{K: i, V: 2 * i}, sink.Context{}); err != nil {
					t.Fatal(err)
				}
			}
			// Two full batches of 4 went out as they filled; the
			// checkpoint sends the last 2.
			if got := m.Counter("rowsFlushed").Count(); got != 8 {
				t.Errorf("rowsFlushed %d before the checkpoint, want 8", got)
			}
			if _, err := hooks.SnapshotState(1); err != nil {
				t.Fatal(err)
			}
			if hooks.NotifyCheckpointComplete != nil {
				if err := hooks.NotifyCheckpointComplete(1); err != nil {
					t.Fatal(err)
				}
			}
			if got := m.Counter("rowsFlushed").Count(); got != 10 {
				t.Errorf("rowsFlushed %d after the checkpoint, want 10", got)
			}
			if l := m.Gauge("flushLatencyMillis").Value(); l <= 0 || l > 60_000 {
				t.Errorf("flushLatencyMillis %v, want the latest statement's time", l)
			}
			checkOnce(t, pairs(t, p, tbl), 10)
		})
	}
}
