package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/connectortest"
	"github.com/freshet-io/freshet/connector/postgres"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
)

// TestExactlyOnceRestoreAtAnotherParallelism runs a job at parallelism 3
// whose checkpoints complete but whose writers never hear of it (the
// notifications are lost), so their transactions stay prepared, and
// which fails for good at the snapshot of a later checkpoint, after every
// subtask has prepared its transaction of that checkpoint. Restored from
// its last completed checkpoint at parallelism 1 and at 4, the job
// commits the transactions that checkpoint holds, in whichever subtasks
// its state went to, and rolls back the lingering ones, those of old
// subtasks 1 and 2 too: once it has finished, the table holds every row
// exactly once and no transaction of the sink is left prepared.
func TestExactlyOnceRestoreAtAnotherParallelism(t *testing.T) {
	for _, p := range []int{1, 4} {
		t.Run("parallelism "+strconv.Itoa(p), func(t *testing.T) {
			const n = 6000
			d := dsn(t, dsnVar)
			pg := pool(t, d)
			tbl := newTable(t, pg, "k bigint NOT NULL, v bigint NOT NULL")
			snk := &postgres.Sink[kv]{
				DSN: d, Table: tbl, Columns: []string{"k", "v"}, Row: kvRow,
				DeliveryGuarantee: postgres.ExactlyOnce, TransactionPrefix: "rescaled-" + tbl, BatchSize: 16,
			}
			job := func(p int, snk sink.Sink[kv], rate float64, opts ...freshet.Option) *freshet.Env {
				env := quietEnv(append([]freshet.Option{freshet.WithParallelism(p), freshet.WithRestartStrategy(freshet.NoRestart())}, opts...)...)
				gen := []source.GeneratorOption{source.GeneratorCount(n)}
				if rate > 0 {
					gen = append(gen, source.GeneratorRate(rate))
				}
				nums := freshet.FromSource(env, source.Generator(func(i int64) kv { return kv{K: i, V: 2 * i} }, gen...), "numbers").UID("numbers")
				freshet.SinkTo(nums, snk, "postgres").UID("postgres")
				return env
			}

			f := &failAfterPrepare{Sink: snk, pg: pg, Snapshots: connectortest.NewSnapshots(3)}
			env := job(3, f, 3000, freshet.WithCheckpointing(25*time.Millisecond, freshet.CheckpointStorage(t.TempDir()),
				freshet.ExternalizedCheckpoints(freshet.RetainOnFailure)))
			jc := execute(t, env, "rescaled-3")
			if err := jc.Wait(); err == nil || !strings.Contains(err.Error(), errInjected.Error()) {
				t.Fatalf("the job at parallelism 3 ended with %v, want the injected failure", err)
			}
			failed := f.FailedAt()
			last, ok := jc.LatestCheckpoint()
			if !ok || last.Path == "" || last.ID != failed-1 {
				t.Fatalf("latest completed checkpoint %+v, want %d", last, failed-1)
			}
			// Held by the checkpoint restored, and lingering.
			left := prepared(t, pg, snk.TransactionPrefix)
			for sub := range 3 {
				for _, c := range []int64{last.ID, failed} {
					if g := fmt.Sprintf("%s-%d-%d", snk.TransactionPrefix, sub, c); !slices.Contains(left, g) {
						t.Fatalf("prepared transactions %v after the failure, want %s among them", left, g)
					}
				}
			}
			t.Logf("failed at checkpoint %d, restoring checkpoint %d at parallelism %d; prepared: %v", failed, last.ID, p, left)

			env = job(p, snk, 0, freshet.WithCheckpointing(25*time.Millisecond, freshet.CheckpointStorage(t.TempDir())),
				freshet.WithRestoreFrom(last.Path))
			if err := execute(t, env, "rescaled-"+strconv.Itoa(p)).Wait(); err != nil {
				t.Fatalf("restored at parallelism %d: %v", p, err)
			}
			if g := prepared(t, pg, snk.TransactionPrefix); len(g) != 0 {
				t.Fatalf("prepared transactions %v after the restored job finished, want none", g)
			}
			checkOnce(t, pairs(t, pg, tbl), n)
		})
	}
}

// failAfterPrepare fails its job after every subtask prepared a
// transaction with rows (connectortest.Snapshots.FailAfterPreCommits).
type failAfterPrepare struct {
	*postgres.Sink[kv]
	pg *pgxpool.Pool

	*connectortest.Snapshots
}

func (f *failAfterPrepare) CreateCheckpointedWriter(ctx sink.InitContext, restored [][]byte) (sink.Writer[kv], sink.CheckpointHooks, error) {
	w, hooks, err := f.Sink.CreateCheckpointedWriter(ctx, restored)
	if err != nil {
		return nil, hooks, err
	}
	// The transaction has rows if it is prepared under its id.
	return w, f.FailAfterPreCommits(ctx, hooks, errInjected, func(ctx context.Context, sub int, id int64) (bool, error) {
		var written bool
		g := sink.TransactionIDs{Prefix: f.TransactionPrefix}.Name(sub, id)
		err := f.pg.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = $1)", g).Scan(&written)
		return written, err
	}), nil
}
