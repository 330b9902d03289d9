package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/connectortest"
	"github.com/freshet-io/freshet/connector/kafka"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
)

// TestExactlyOnceRestoreAtAnotherParallelism runs a job at parallelism 3
// whose checkpoints complete but whose writers never hear of it (the
// notifications are lost), so their transactions stay open, and which
// fails for good at the snapshot of a later checkpoint, after every
// subtask has pre-committed a transaction with records for it. Restored
// from its last completed checkpoint at parallelism 1 and at 4, the job
// commits the transactions that checkpoint holds, in whichever subtasks
// its state went to, and aborts the lingering ones, those of old
// subtasks 1 and 2 too: once it has finished, no transaction of the sink
// is open, each partition's last stable offset is its high watermark,
// and a read_committed consumer reads every record exactly once.
func TestExactlyOnceRestoreAtAnotherParallelism(t *testing.T) {
	for _, p := range []int{1, 4} {
		t.Run("parallelism "+strconv.Itoa(p), func(t *testing.T) {
			const n = 6000
			brokers := newCluster(t, 3, "out")
			adm := newAdmin(t, brokers)
			snk := &kafka.Sink[int64]{
				Brokers: brokers, Serializer: stringRecord("out"),
				DeliveryGuarantee: kafka.ExactlyOnce, TransactionalIDPrefix: "rescaled",
			}
			job := func(p int, snk sink.Sink[int64], rate float64, opts ...freshet.Option) *freshet.Env {
				env := quietEnv(append([]freshet.Option{freshet.WithParallelism(p), freshet.WithRestartStrategy(freshet.NoRestart())}, opts...)...)
				gen := []source.GeneratorOption{source.GeneratorCount(n)}
				if rate > 0 {
					gen = append(gen, source.GeneratorRate(rate))
				}
				nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, gen...), "numbers").UID("numbers")
				freshet.SinkTo(nums, snk, "kafka").UID("kafka")
				return env
			}

			f := &failAfterPreCommit{Sink: snk, adm: adm, Snapshots: connectortest.NewSnapshots(3)}
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
			open := ongoing(t, adm, snk.TransactionalIDPrefix)
			for sub := range 3 {
				for _, c := range []int64{last.ID, failed} {
					if id := fmt.Sprintf("%s-%d-%d", snk.TransactionalIDPrefix, sub, c); !slices.Contains(open, id) {
						t.Fatalf("open transactions %v after the failure, want %s among them", open, id)
					}
				}
			}
			if stable, end := offsets(t, adm); stable >= end {
				t.Fatalf("after the failure the last stable offsets add up to %d, the high watermarks to %d: want open transactions holding them back", stable, end)
			}
			t.Logf("failed at checkpoint %d, restoring checkpoint %d at parallelism %d; open: %v", failed, last.ID, p, open)

			env = job(p, snk, 0, freshet.WithCheckpointing(25*time.Millisecond, freshet.CheckpointStorage(t.TempDir())),
				freshet.WithRestoreFrom(last.Path))
			if err := execute(t, env, "rescaled-"+strconv.Itoa(p)).Wait(); err != nil {
				t.Fatalf("restored at parallelism %d: %v", p, err)
			}
			if open := ongoing(t, adm, snk.TransactionalIDPrefix); len(open) != 0 {
				t.Fatalf("open transactions %v after the restored job finished, want none", open)
			}
			if stable, end := offsets(t, adm); stable != end {
				t.Fatalf("the last stable offsets add up to %d, the high watermarks to %d", stable, end)
			}
			checkOnce(t, readTopic(t, brokers, "out", n, true), n)
		})
	}
}

func newAdmin(t *testing.T, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// ongoing lists the transactional ids of prefix with a transaction open.
func ongoing(t *testing.T, adm *kadm.Client, prefix string) []string {
	t.Helper()
	ids, err := ongoingIDs(context.Background(), adm, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func ongoingIDs(ctx context.Context, adm *kadm.Client, prefix string) ([]string, error) {
	listed, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		return nil, fmt.Errorf("listing transactions: %w", err)
	}
	var ids []string
	for _, id := range listed.TransactionalIDs() {
		if strings.HasPrefix(id, prefix+"-") {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// offsets adds up the last stable offsets and the high watermarks of the
// partitions of topic out.
func offsets(t *testing.T, adm *kadm.Client) (stable, end int64) {
	t.Helper()
	ctx := context.Background()
	lso, err := adm.ListCommittedOffsets(ctx, "out")
	if err != nil {
		t.Fatal(err)
	}
	hwm, err := adm.ListEndOffsets(ctx, "out")
	if err != nil {
		t.Fatal(err)
	}
	lso.Each(func(o kadm.ListedOffset) { stable += o.Offset })
	hwm.Each(func(o kadm.ListedOffset) { end += o.Offset })
	return stable, end
}

// failAfterPreCommit fails its job after every subtask pre-committed a
// transaction with records (connectortest.Snapshots.FailAfterPreCommits).
type failAfterPreCommit struct {
	*kafka.Sink[int64]
	adm *kadm.Client

	*connectortest.Snapshots
}

func (f *failAfterPreCommit) CreateCheckpointedWriter(ctx sink.InitContext, restored [][]byte) (sink.Writer[int64], sink.CheckpointHooks, error) {
	w, hooks, err := f.Sink.CreateCheckpointedWriter(ctx, restored)
	if err != nil {
		return nil, hooks, err
	}
	// The transaction has records if it is open under its id (it names
	// checkpoint id when the subtask took the one before).
	return w, f.FailAfterPreCommits(ctx, hooks, errInjected, func(ctx context.Context, sub int, id int64) (bool, error) {
		open, err := ongoingIDs(ctx, f.adm, f.TransactionalIDPrefix)
		return slices.Contains(open, sink.TransactionIDs{Prefix: f.TransactionalIDPrefix}.Name(sub, id)), err
	}), nil
}

// TestFreshStartAbortsLingeringTransactions: transactions left open under
// the sink's prefix by an earlier run, at an index the new job has and at
// one it has not, are aborted when the job starts without a checkpoint
// (before the brokers would time them out), while one of a longer prefix
// is left alone: only that one holds the last stable offset back, and
// once it is aborted too, the job's records and none of theirs are read.
func TestFreshStartAbortsLingeringTransactions(t *testing.T) {
	const n = 1000
	brokers := newCluster(t, 1, "out")
	adm := newAdmin(t, brokers)
	for _, id := range []string{"fresh-0-3", "fresh-5-1", "fresh-x-0-1"} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(id))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "out", Value: []byte("lingering " + id)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	env := quietEnv(freshet.WithParallelism(2))
	nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n)), "numbers")
	freshet.SinkTo(nums, &kafka.Sink[int64]{
		Brokers: brokers, Serializer: stringRecord("out"), DeliveryGuarantee: kafka.ExactlyOnce, TransactionalIDPrefix: "fresh",
	}, "kafka")
	if err := execute(t, env, "fresh").Wait(); err != nil {
		t.Fatal(err)
	}
	if open := ongoing(t, adm, "fresh"); !slices.Equal(open, []string{"fresh-x-0-1"}) {
		t.Fatalf("open transactions %v after the job, want only fresh-x-0-1", open)
	}
	// The other prefix's record, the third, holds the last stable offset.
	if stable, end := offsets(t, adm); stable != 2 || end <= n+3 {
		t.Fatalf("last stable offset %d, high watermark %d; want 2 and more than %d", stable, end, n+3)
	}
	abort, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("fresh-x-0-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer abort.Close()
	if _, _, err := abort.ProducerID(context.Background()); err != nil {
		t.Fatal(err)
	}
	if stable, end := offsets(t, adm); stable != end {
		t.Fatalf("last stable offset %d, high watermark %d after the last open transaction was aborted", stable, end)
	}
	checkOnce(t, readTopic(t, brokers, "out", n, true), n)
}
