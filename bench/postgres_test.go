package bench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/postgres"
	"github.com/freshet-io/freshet/source"
)

// pgBatch is the rows per statement of both sides of BenchmarkPostgresSink.
const pgBatch = 1000

// pgRow is the row of a record, called by every side: (k, v) =
// (genFn(i), mapFn(genFn(i))).
var pgRow = func(v int64) ([]any, error) { return []any{v, mapFn(v)}, nil }

// BenchmarkPostgresSink measures connector/postgres writing one row per
// record into a table with a primary key at parallelism 1, against loops
// writing the same rows with pgx in one goroutine:
//
//   - freshet: the AtLeastOnce sink, multi-row upserts of pgBatch rows;
//   - freshet-2pc: the ExactlyOnce sink with a checkpoint every second
//     (prepared transactions of multi-row upserts);
//   - loop: the same multi-row upserts of pgBatch rows, built by hand;
//   - loop-pgxbatch: pgBatch single-row upserts queued in a pgx.Batch (one
//     round trip, one statement per row), the alternative the sink does
//     not use.
//
// It needs the server of scripts/postgres.sh (FRESHET_POSTGRES_DSN).
func BenchmarkPostgresSink(b *testing.B) {
	dsn := os.Getenv("FRESHET_POSTGRES_DSN")
	if dsn == "" {
		b.Skip(`FRESHET_POSTGRES_DSN is not set: run eval "$(sh scripts/postgres.sh)" from the repository root (installs and starts PostgreSQL on 127.0.0.1:54329)`)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	const tbl = "bench_postgres_sink"
	reset := func(b *testing.B) {
		if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+tbl+"; CREATE UNLOGGED TABLE "+tbl+" (k bigint PRIMARY KEY, v bigint NOT NULL)"); err != nil {
			b.Fatal(err)
		}
	}
	check := func(b *testing.B) {
		var n, sum int64
		if err := pool.QueryRow(ctx, "SELECT count(*), coalesce(sum(v), 0) FROM "+tbl).Scan(&n, &sum); err != nil {
			b.Fatal(err)
		}
		var want int64
		for i := range int64(b.N) {
			want += mapFn(genFn(i))
		}
		if n != int64(b.N) || sum != want {
			b.Fatalf("table holds %d rows summing to %d, want %d summing to %d", n, sum, b.N, want)
		}
	}
	defer func() { _, _ = pool.Exec(ctx, "DROP TABLE IF EXISTS "+tbl) }()
	job := func(g postgres.DeliveryGuarantee) func(*testing.B) {
		return func(b *testing.B) {
			reset(b)
			opts := []freshet.Option{quiet, freshet.WithParallelism(1), freshet.WithBatchSize(256)}
			if g == postgres.ExactlyOnce {
				opts = append(opts, freshet.WithCheckpointing(1e9, freshet.CheckpointStorage(b.TempDir())))
			}
			env := freshet.NewEnv(opts...)
			s := freshet.FromSource(env, source.Generator(genFn, source.GeneratorCount(int64(b.N))), "Generator").UID("generator")
			freshet.SinkTo(s, &postgres.Sink[int64]{
				DSN: dsn, Table: tbl, Columns: []string{"k", "v"}, KeyColumns: []string{"k"}, Row: pgRow,
				BatchSize: pgBatch, DeliveryGuarantee: g, TransactionPrefix: "bench",
			}, "Postgres").UID("postgres")
			run(b, b.N, func() error { return env.Execute(ctx, "postgres") })
			check(b)
		}
	}
	b.Run("freshet", job(postgres.AtLeastOnce))
	b.Run("freshet-2pc", job(postgres.ExactlyOnce))
	upsert := func(rows int) string {
		var sb strings.Builder
		sb.WriteString("INSERT INTO " + tbl + " (k, v) VALUES ")
		for r := range rows {
			if r > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("($" + strconv.Itoa(2*r+1) + ", $" + strconv.Itoa(2*r+2) + ")")
		}
		return sb.String() + " ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
	}
	b.Run("loop", func(b *testing.B) {
		reset(b)
		full := upsert(pgBatch)
		run(b, b.N, func() error {
			args := make([]any, 0, 2*pgBatch)
			for i := int64(0); i < int64(b.N); i++ {
				row, _ := pgRow(genFn(i))
				args = append(args, row...)
				if len(args) == 2*pgBatch || i == int64(b.N)-1 {
					sql := full
					if len(args) < 2*pgBatch {
						sql = upsert(len(args) / 2)
					}
					if _, err := pool.Exec(ctx, sql, args...); err != nil {
						return err
					}
					args = args[:0]
				}
			}
			return nil
		})
		check(b)
	})
	b.Run("loop-pgxbatch", func(b *testing.B) {
		reset(b)
		one := upsert(1)
		run(b, b.N, func() error {
			var batch pgx.Batch
			for i := int64(0); i < int64(b.N); i++ {
				row, _ := pgRow(genFn(i))
				batch.Queue(one, row...)
				if batch.Len() == pgBatch || i == int64(b.N)-1 {
					if err := pool.SendBatch(ctx, &batch).Close(); err != nil {
						return err
					}
					batch = pgx.Batch{}
				}
			}
			return nil
		})
		check(b)
	})
}
