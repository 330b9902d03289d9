package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/kafka"
	"github.com/freshet-io/freshet/source"
)

// readTopic consumes topic from the start until it has read want records
// and then a little longer, to see any extra ones; committed reads with
// read_committed isolation.
func readTopic(t *testing.T, brokers []string, topic string, want int, committed bool) []string {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []string
	deadline := time.Now().Add(20 * time.Second)
	var extra time.Time
	for {
		now := time.Now()
		if now.After(deadline) || !extra.IsZero() && now.After(extra) {
			return out
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
		if len(out) >= want && extra.IsZero() {
			extra = time.Now().Add(300 * time.Millisecond)
		}
	}
}

func stringRecord(topic string) func(int64) (*kgo.Record, error) {
	return func(v int64) (*kgo.Record, error) {
		return &kgo.Record{Topic: topic, Value: []byte(strconv.FormatInt(v, 10))}, nil
	}
}

// checkOnce fails unless got holds "0" … "n-1" once each.
func checkOnce(t *testing.T, got []string, n int) {
	t.Helper()
	count := make([]int, n)
	for _, s := range got {
		i, err := strconv.Atoi(s)
		if err != nil || i < 0 || i >= n {
			t.Fatalf("unexpected record %q", s)
		}
		count[i]++
	}
	var missing, dup int
	for _, c := range count {
		switch {
		case c == 0:
			missing++
		case c > 1:
			dup++
		}
	}
	if missing > 0 || dup > 0 {
		t.Fatalf("read %d records: %d of %d values missing, %d repeated", len(got), missing, n, dup)
	}
}

// TestSinkWritesEveryRecord writes a bounded stream with each guarantee.
func TestSinkWritesEveryRecord(t *testing.T) {
	const n = 2000
	for _, g := range []kafka.DeliveryGuarantee{kafka.None, kafka.AtLeastOnce, kafka.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			brokers := newCluster(t, 3, "out")
			env := quietEnv(freshet.WithParallelism(2))
			nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n)), "numbers")
			freshet.SinkTo(nums, &kafka.Sink[int64]{
				Brokers: brokers, Serializer: stringRecord("out"), DeliveryGuarantee: g, TransactionalIDPrefix: "every",
			}, "kafka")
			if err := execute(t, env, "sink").Wait(); err != nil {
				t.Fatal(err)
			}
			checkOnce(t, readTopic(t, brokers, "out", n, g == kafka.ExactlyOnce), n)
		})
	}
}

// failingJob writes "0" … "n-1" to topic out through a sink with
// guarantee g from a job that checkpoints every 20 ms and fails twice
// after checkpoints.
func failingJob(t *testing.T, brokers []string, n int, g kafka.DeliveryGuarantee) {
	t.Helper()
	const failures = 2
	env := quietEnv(freshet.WithParallelism(2),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(10, 10*time.Millisecond)),
		freshet.WithCheckpointing(20*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	var armed atomic.Bool
	var failed atomic.Int32
	var processed [failures + 1]atomic.Int64
	nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(int64(n))), "numbers").UID("numbers")
	checked := freshet.Process(nums, freshet.ProcessFunc(func(ctx *freshet.Context, v int64, out freshet.Collector[int64]) error {
		a := min(ctx.Runtime().Attempt(), failures)
		// Slow enough, until the failures, for checkpoints to complete mid-input.
		if a < failures {
			time.Sleep(200 * time.Microsecond)
		}
		if processed[a].Add(1) > int64(n/6) && a < failures && armed.Load() && failed.CompareAndSwap(int32(a), int32(a+1)) {
			armed.Store(false)
			return fmt.Errorf("attempt %d: %w", a, errInjected)
		}
		out.Collect(v)
		return nil
	})).UID("check")
	freshet.SinkTo(checked, &kafka.Sink[int64]{
		Brokers: brokers, Serializer: stringRecord("out"), DeliveryGuarantee: g, TransactionalIDPrefix: "eo",
	}, "kafka").UID("kafka")
	jc := execute(t, env, "failing-"+g.String())
	go func() {
		var last int64
		for {
			select {
			case <-jc.Done():
				return
			case <-time.After(2 * time.Millisecond):
			}
			if c, ok := jc.LatestCheckpoint(); ok && c.ID > last && int(failed.Load()) == jc.Restarts() {
				last = c.ID
				armed.Store(true)
			}
		}
	}()
	if err := jc.Wait(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if got := failed.Load(); got != failures || jc.Restarts() != failures {
		t.Fatalf("%d injected failures, %d restarts; want %d", got, jc.Restarts(), failures)
	}
}

// TestExactlyOnceUnderFailures: after a failing job, a read_committed
// consumer sees every number once, and so does the bounded source reading
// committed records, while a read_uncommitted consumer also sees the
// records of aborted transactions.
func TestExactlyOnceUnderFailures(t *testing.T) {
	const n = 6000
	brokers := newCluster(t, 3, "out")
	failingJob(t, brokers, n, kafka.ExactlyOnce)
	checkOnce(t, readTopic(t, brokers, "out", n, true), n)
	// The bounded source reads the same, stepping over transaction markers.
	env := quietEnv(freshet.WithParallelism(2))
	back := freshet.Collect(freshet.FromSource(env, &kafka.Source[string]{
		Brokers: brokers, Topics: []string{"out"}, Deserializer: kafka.Strings, Bounded: true,
		ClientOptions: []kgo.Opt{kgo.FetchIsolationLevel(kgo.ReadCommitted())},
	}, "kafka"))
	if err := execute(t, env, "read-back").Wait(); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, back.Values(), n)
	all := readTopic(t, brokers, "out", n, false)
	t.Logf("read_uncommitted saw %d records, %d of them aborted", len(all), len(all)-n)
}

// TestAtLeastOnceUnderFailures: after a failing job every number is in
// the topic at least once.
func TestAtLeastOnceUnderFailures(t *testing.T) {
	const n = 6000
	brokers := newCluster(t, 3, "out")
	failingJob(t, brokers, n, kafka.AtLeastOnce)
	got := readTopic(t, brokers, "out", n, false)
	seen := make([]bool, n)
	for _, s := range got {
		i, err := strconv.Atoi(s)
		if err != nil || i < 0 || i >= n {
			t.Fatalf("unexpected record %q", s)
		}
		seen[i] = true
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("value %d is missing from %d records", i, len(got))
		}
	}
	t.Logf("%d records for %d values", len(got), n)
}

// TestUnboundedReadsNewRecords reads a topic from the latest offsets with
// an unbounded source: records produced after the job started arrive,
// and the job runs until cancelled.
func TestUnboundedReadsNewRecords(t *testing.T) {
	const n = 300
	brokers := newCluster(t, 3, "in")
	produce(t, brokers, "in", 3, 50) // before the start: not read
	env := quietEnv(freshet.WithParallelism(2))
	var count atomic.Int64
	read := freshet.FromSource(env, &kafka.Source[string]{
		Brokers: brokers, Topics: []string{"in"}, Deserializer: kafka.Strings, StartingOffsets: kafka.Latest(),
	}, "kafka")
	got := freshet.Collect(freshet.Map(read, func(s string) string { count.Add(1); return s }))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "unbounded")
	if err != nil {
		t.Fatal(err)
	}
	// The readers start at the end offsets listed when the job starts;
	// produce until records arrive, then the rest.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sent := 0
	for count.Load() == 0 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "in", Value: []byte("probe")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		sent++
		time.Sleep(10 * time.Millisecond)
	}
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "in", Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for count.Load() < int64(n+1) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-jc.Done():
		t.Fatalf("unbounded job ended: %v", jc.Wait())
	default:
	}
	jc.Cancel()
	_ = jc.Wait()
	checkNoReaderGoroutines(t)
	var nums int
	for _, v := range got.Values() {
		if v != "probe" {
			nums++
			if i, err := strconv.Atoi(v); err != nil || i < 0 || i >= n {
				t.Fatalf("read %q, produced before the start or never", v)
			}
		}
	}
	if nums != n {
		t.Fatalf("read %d new records, want %d", nums, n)
	}
}

func TestInvalidSink(t *testing.T) {
	ser := stringRecord("x")
	cases := []struct {
		name string
		snk  kafka.Sink[int64]
		want string
	}{
		{"no brokers", kafka.Sink[int64]{Serializer: ser}, "no brokers"},
		{"no serializer", kafka.Sink[int64]{Brokers: []string{"x:1"}}, "no serializer"},
		{"no prefix", kafka.Sink[int64]{Brokers: []string{"x:1"}, Serializer: ser, DeliveryGuarantee: kafka.ExactlyOnce}, "transactional id prefix"},
		{"bad guarantee", kafka.Sink[int64]{Brokers: []string{"x:1"}, Serializer: ser, DeliveryGuarantee: 9}, "unknown delivery guarantee"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.snk.Validate()
			if !errors.Is(err, kafka.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig saying %q", err, tc.want)
			}
			env := quietEnv()
			freshet.SinkTo(freshet.FromElements(env, int64(1)), &tc.snk, "kafka")
			// The configuration is checked when the job is built.
			if err := env.Execute(context.Background(), "invalid"); !errors.Is(err, freshet.ErrInvalidProgram) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Execute = %v, want an invalid program saying %q", err, tc.want)
			}
		})
	}
}
