package kafka_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/kafka"
	"github.com/freshet-io/freshet/source"
)

// TestTransactionTimeoutAboveBrokerMax: an exactly-once sink whose
// producers' transaction timeout exceeds the brokers'
// transaction.max.timeout.ms fails the job when its writers are created,
// and one within it writes.
func TestTransactionTimeoutAboveBrokerMax(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "out"),
		kfake.BrokerConfigs(map[string]string{"transaction.max.timeout.ms": "5000"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	for _, tc := range []struct {
		name    string
		opts    []kgo.Opt
		wantErr bool
	}{
		{"default 40s", nil, true},
		{"5s", []kgo.Opt{kgo.TransactionTimeout(5 * time.Second)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := quietEnv()
			nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(10)), "numbers")
			freshet.SinkTo(nums, &kafka.Sink[int64]{
				Brokers: brokers, Serializer: stringRecord("out"), DeliveryGuarantee: kafka.ExactlyOnce,
				TransactionalIDPrefix: "timeout-" + tc.name, ClientOptions: tc.opts,
			}, "kafka")
			err := execute(t, env, "timeout").Wait()
			if tc.wantErr != (err != nil) || err != nil && (!errors.Is(err, kafka.ErrTransactionTimeout) || !strings.Contains(err.Error(), "5000 ms")) {
				t.Fatalf("job ended with %v, want ErrTransactionTimeout: %v", err, tc.wantErr)
			}
		})
	}
}

// TestRestoreAtLowerParallelismAbortsRemovedSubtasks: a job at
// parallelism 3 writes exactly once and is stopped after a savepoint;
// a transaction is then left open under the next id of its subtask 2, as a
// crash would. The job restored at parallelism 2 aborts it (subtask 0
// answers for old subtask 2), so read_committed consumers read all the
// output and never the open transaction's record.
func TestRestoreAtLowerParallelismAbortsRemovedSubtasks(t *testing.T) {
	brokers := newCluster(t, 3, "in", "out")
	produce(t, brokers, "in", 3, 30)
	job := func(par int, opts ...freshet.Option) *freshet.JobClient {
		env := quietEnv(append([]freshet.Option{freshet.WithParallelism(par),
			freshet.WithCheckpointing(20*time.Millisecond, freshet.CheckpointStorage(t.TempDir()))}, opts...)...)
		in := freshet.FromSource(env, &kafka.Source[string]{
			Brokers: brokers, Topics: []string{"in"}, Deserializer: kafka.Strings, PartitionDiscovery: -1,
		}, "in").UID("in")
		freshet.SinkTo(in, &kafka.Sink[string]{
			Brokers: brokers, DeliveryGuarantee: kafka.ExactlyOnce, TransactionalIDPrefix: "rescale",
			Serializer: func(v string) (*kgo.Record, error) { return &kgo.Record{Topic: "out", Value: []byte(v)}, nil },
		}, "out").UID("out")
		return execute(t, env, "rescale")
	}
	jc := job(3)
	checkOnce(t, readTopic(t, brokers, "out", 30, true), 30)
	sp, err := jc.TriggerSavepoint(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	jc.Cancel()
	_ = jc.Wait()

	// Leave a transaction open under subtask 2's next unused id.
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	txns, err := kadm.NewClient(adm).ListTransactions(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for _, id := range txns.TransactionalIDs() {
		if n, ok := strings.CutPrefix(id, "rescale-2-"); ok {
			i, _ := strconv.Atoi(n)
			next = max(next, i+1)
		}
	}
	if next == 0 {
		t.Fatalf("subtask 2 used no transactional id: %v", txns.TransactionalIDs())
	}
	open, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("rescale-2-"+strconv.Itoa(next)))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := open.ProduceSync(context.Background(), &kgo.Record{Topic: "out", Partition: 0, Value: []byte("lingering")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	for i := 30; i < 60; i++ {
		produceOne(t, adm, "in", strconv.Itoa(i))
	}
	jc = job(2, freshet.WithRestoreFrom(sp))
	got := readTopic(t, brokers, "out", 60, true)
	jc.Cancel()
	_ = jc.Wait()
	if slices.Contains(got, "lingering") {
		t.Fatal("read the record of the open transaction")
	}
	checkOnce(t, got, 60)
}

func produceOne(t *testing.T, cl *kgo.Client, topic, v string) {
	t.Helper()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
