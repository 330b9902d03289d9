package kafka_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/kafka"
)

// TestKafkaToKafkaExactlyOnce copies a topic of three partitions to
// another through a keyed running sum at parallelism 2, exactly once, in
// a job that fails at a random record in each of its first six attempts:
// a read_committed consumer of the output sees every input record's
// running sum once, and the sums per key are those of a single run.
func TestKafkaToKafkaExactlyOnce(t *testing.T) {
	const n, keys, failures = 3000, 7, 6
	brokers := newCluster(t, 3, "in", "out")
	produce(t, brokers, "in", 3, n)

	env := quietEnv(freshet.WithParallelism(2),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(20, 5*time.Millisecond)),
		freshet.WithCheckpointing(20*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	var at [failures]int64
	for i := range at {
		at[i] = 1 + rand.Int64N(n/(2*2*failures))
	}
	var counts [failures + 1]atomic.Int64
	var failed atomic.Int32
	in := freshet.FromSource(env, &kafka.Source[int64]{
		Brokers: brokers, Topics: []string{"in"}, Bounded: true,
		Deserializer: func(r *kgo.Record) (int64, error) { return strconv.ParseInt(string(r.Value), 10, 64) },
	}, "kafka-in").UID("kafka-in")
	checked := freshet.Process(in, freshet.ProcessFunc(func(ctx *freshet.Context, v int64, out freshet.Collector[int64]) error {
		a := min(ctx.Runtime().Attempt(), failures)
		time.Sleep(20 * time.Microsecond) // spread the input over several checkpoints
		if a < failures && counts[a].Add(1) == at[a] {
			failed.Add(1)
			return fmt.Errorf("attempt %d: %w", a, errInjected)
		}
		out.Collect(v)
		return nil
	})).UID("check")
	// Each key's running sum of the values: the output of a single run
	// is one line per input value, and its last line per key the key's
	// total.
	type sum struct{ Key, Value, Sum int64 }
	sums := freshet.Reduce(freshet.KeyBy(freshet.Map(checked, func(v int64) sum { return sum{Key: v % keys, Value: v, Sum: v} }),
		func(s sum) int64 { return s.Key }),
		func(acc, s sum) sum { return sum{Key: s.Key, Value: s.Value, Sum: acc.Sum + s.Value} }).UID("sums")
	freshet.SinkTo(sums, &kafka.Sink[sum]{
		Brokers: brokers, DeliveryGuarantee: kafka.ExactlyOnce, TransactionalIDPrefix: "copy",
		Serializer: func(s sum) (*kgo.Record, error) {
			return &kgo.Record{Topic: "out", Value: fmt.Appendf(nil, "%d %d", s.Value, s.Sum)}, nil
		},
	}, "kafka-out").UID("kafka-out")
	if err := execute(t, env, "kafka-to-kafka").Wait(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if got := failed.Load(); got < 5 {
		t.Fatalf("%d injected failures, want at least 5", got)
	}
	got := readTopic(t, brokers, "out", n, true)
	seen := map[int64]int64{}
	total := map[int64]int64{}
	for _, line := range got {
		var v, s int64
		if _, err := fmt.Sscanf(line, "%d %d", &v, &s); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		if _, dup := seen[v]; dup {
			t.Fatalf("value %d written twice", v)
		}
		seen[v] = s
		total[v%keys] = max(total[v%keys], s)
	}
	if len(seen) != n {
		t.Fatalf("%d values written, want %d", len(seen), n)
	}
	for k := range int64(keys) {
		var want int64
		for v := k; v < n; v += keys {
			want += v
		}
		if total[k] != want {
			t.Errorf("key %d: final sum %d, want %d", k, total[k], want)
		}
	}
}
