package postgres_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/postgres"
	"github.com/freshet-io/freshet/source"
)

type kv struct{ K, V int64 }

func kvRow(r kv) ([]any, error) { return []any{r.K, r.V}, nil }

// TestUpsertUnderFailures upserts (i mod keys, i) for i in [0, n) from a
// job that fails 5 times at random records after checkpoints: the table
// holds, for every key, its last value, as one pass would have left it.
func TestUpsertUnderFailures(t *testing.T) {
	const n, keys = 4000, 300
	p := pool(t, dsn(t, dsnVar))
	tbl := newTable(t, p, "k bigint PRIMARY KEY, v bigint NOT NULL")
	f := newInjector(t, 5, 300)
	env := failingEnv(t, freshet.WithParallelism(2))
	// One generator subtask, so that each key's values reach their sink
	// subtask in order.
	nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n)), "numbers").
		SetParallelism(1).UID("numbers")
	checked := freshet.Process(nums, freshet.ProcessFunc(func(ctx *freshet.Context, v int64, out freshet.Collector[kv]) error {
		if err := f.check(ctx.Runtime().Attempt()); err != nil {
			return err
		}
		out.Collect(kv{K: v % keys, V: v})
		return nil
	})).SetParallelism(1).UID("check")
	keyed := freshet.KeyBy(checked, func(r kv) int64 { return r.K }).Stream()
	freshet.SinkTo(keyed, &postgres.Sink[kv]{
		DSN: dsn(t, dsnVar), Table: tbl, Columns: []string{"k", "v"}, KeyColumns: []string{"k"}, Row: kvRow,
		BatchSize: 64,
	}, "postgres").UID("postgres")
	jc := execute(t, env, "upsert")
	f.watch(jc)
	f.wait(t, jc)
	got := pairs(t, p, tbl)
	if len(got) != keys {
		t.Fatalf("%d rows, want %d", len(got), keys)
	}
	for k, r := range got {
		if want := [2]int64{int64(k), int64(k) + (n-1-int64(k))/keys*keys}; r != want {
			t.Fatalf("row %d is %v, want %v", k, r, want)
		}
	}
}

// TestExactlyOnceUnderFailures inserts 0 … n-1 with plain INSERTs in
// prepared transactions from a job that fails 5 times: the table holds
// every number once, and no prepared transaction is left.
func TestExactlyOnceUnderFailures(t *testing.T) {
	const n = 4000
	p := pool(t, dsn(t, dsnVar))
	tbl := newTable(t, p, "k bigint NOT NULL, v bigint NOT NULL")
	prefix := "eo-" + tbl
	f := newInjector(t, 5, 300)
	env := failingEnv(t, freshet.WithParallelism(2))
	nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n)), "numbers").UID("numbers")
	checked := freshet.Process(nums, freshet.ProcessFunc(func(ctx *freshet.Context, v int64, out freshet.Collector[kv]) error {
		if err := f.check(ctx.Runtime().Attempt()); err != nil {
			return err
		}
		out.Collect(kv{K: v, V: 2 * v})
		return nil
	})).UID("check")
	freshet.SinkTo(checked, &postgres.Sink[kv]{
		DSN: dsn(t, dsnVar), Table: tbl, Columns: []string{"k", "v"}, Row: kvRow,
		DeliveryGuarantee: postgres.ExactlyOnce, TransactionPrefix: prefix, BatchSize: 50,
	}, "postgres").UID("postgres")
	jc := execute(t, env, "exactly-once")
	f.watch(jc)
	f.wait(t, jc)
	checkOnce(t, pairs(t, p, tbl), n)
	if g := prepared(t, p, prefix); len(g) > 0 {
		t.Fatalf("prepared transactions left: %v", g)
	}
}

// checkOnce fails unless got is (i, 2i) for i in [0, n), each once.
func checkOnce(t *testing.T, got [][2]int64, n int) {
	t.Helper()
	if len(got) != n {
		dups := 0
		for i := 1; i < len(got); i++ {
			if got[i] == got[i-1] {
				dups++
			}
		}
		t.Fatalf("%d rows for %d numbers (%d repeated)", len(got), n, dups)
	}
	for i, r := range got {
		if want := [2]int64{int64(i), 2 * int64(i)}; r != want {
			t.Fatalf("row %d is %v, want %v", i, r, want)
		}
	}
}

// TestExactlyOnceRollsBackLingering: on a fresh start, prepared
// transactions under the sink's ids, whatever subtask they name (left by
// a job that failed for good, here at parallelism 3), are rolled back
// when the writer starts; one of another prefix is not.
func TestExactlyOnceRollsBackLingering(t *testing.T) {
	p := pool(t, dsn(t, dsnVar))
	tbl := newTable(t, p, "k bigint NOT NULL, v bigint NOT NULL")
	prefix := "linger-" + tbl
	for i, gid := range []string{prefix + "-0-7", prefix + "-2-9", prefix + "-0-x-1"} {
		tx, err := p.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(t.Context(), "INSERT INTO "+tbl+" VALUES ($1, $2)", -1-i, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(t.Context(), "PREPARE TRANSACTION '"+gid+"'"); err != nil {
			t.Fatal(err)
		}
		_ = tx.Rollback(t.Context()) // ends pgx's view of it; the prepared one stays
	}
	t.Cleanup(func() { exec(t, p, "ROLLBACK PREPARED '"+prefix+"-0-x-1'") })
	env := quietEnv()
	nums := freshet.FromSource(env, source.Generator(func(i int64) kv { return kv{K: i, V: 2 * i} }, source.GeneratorCount(10)), "numbers")
	freshet.SinkTo(nums, &postgres.Sink[kv]{
		DSN: dsn(t, dsnVar), Table: tbl, Columns: []string{"k", "v"}, Row: kvRow,
		DeliveryGuarantee: postgres.ExactlyOnce, TransactionPrefix: prefix,
	}, "postgres")
	if err := execute(t, env, "lingering").Wait(); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, pairs(t, p, tbl), 10)
	if g := prepared(t, p, prefix); len(g) != 1 || g[0] != prefix+"-0-x-1" {
		t.Fatalf("prepared transactions %v, want only %s-0-x-1", g, prefix)
	}
}

// TestUpsertLastRowOfKeyWins: rows of one key in a batch leave the last.
func TestUpsertLastRowOfKeyWins(t *testing.T) {
	p := pool(t, dsn(t, dsnVar))
	tbl := newTable(t, p, "k bigint PRIMARY KEY, v bigint NOT NULL")
	env := quietEnv()
	var in []kv
	for i := range 100 {
		in = append(in, kv{K: int64(i % 7), V: int64(i)})
	}
	freshet.SinkTo(freshet.FromElements(env, in...), &postgres.Sink[kv]{
		DSN: dsn(t, dsnVar), Table: tbl, Columns: []string{"k", "v"}, KeyColumns: []string{"k"}, Row: kvRow, BatchSize: 30,
	}, "postgres")
	if err := execute(t, env, "last-wins").Wait(); err != nil {
		t.Fatal(err)
	}
	got := pairs(t, p, tbl)
	for k := range 7 {
		last := int64(k + (99-k)/7*7)
		if got[k] != [2]int64{int64(k), last} {
			t.Fatalf("key %d: %v, want value %s", k, got[k], strconv.FormatInt(last, 10))
		}
	}
}

// TestUpsertRetriesLostConnections terminates the sink's connections
// (up to 3 times) while the job writes: the writer retries its batches on
// new connections, and the job ends without a restart with the exact
// table.
func TestUpsertRetriesLostConnections(t *testing.T) {
	const n, keys = 3000, 100
	d := dsn(t, dsnVar)
	p := pool(t, d)
	tbl := newTable(t, p, "k bigint PRIMARY KEY, v bigint NOT NULL")
	app := "freshet_" + tbl
	env := quietEnv()
	nums := freshet.FromSource(env, source.Generator(func(i int64) kv { return kv{K: i % keys, V: i} },
		source.GeneratorCount(n), source.GeneratorRate(1500)), "numbers")
	freshet.SinkTo(nums, &postgres.Sink[kv]{
		DSN: d + "&application_name=" + app, Table: tbl, Columns: []string{"k", "v"}, KeyColumns: []string{"k"}, Row: kvRow,
		BatchSize: 20, Retry: postgres.Retry{Attempts: 10, Backoff: 5 * time.Millisecond},
	}, "postgres")
	jc := execute(t, env, "retries")
	killed := 0
	for done := false; killed < 3 && !done; {
		select {
		case <-jc.Done():
			done = true
			continue
		case <-time.After(20 * time.Millisecond):
		}
		var k int
		if err := p.QueryRow(t.Context(), "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&k); err != nil {
			t.Fatal(err)
		}
		killed += k
	}
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("the job ended before a connection was terminated")
	}
	if jc.Restarts() != 0 {
		t.Fatalf("%d restarts, want none", jc.Restarts())
	}
	got := pairs(t, p, tbl)
	for k := range keys {
		if want := [2]int64{int64(k), int64(k) + (n-1-int64(k))/keys*keys}; got[k] != want {
			t.Fatalf("row %d is %v, want %v", k, got[k], want)
		}
	}
}
