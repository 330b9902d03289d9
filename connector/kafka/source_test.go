package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/connectortest"
	"github.com/freshet-io/freshet/connector/kafka"
	"github.com/freshet-io/freshet/state"
)

// baseTime is the timestamp of the first record the tests produce; record
// i has baseTime+i.
const baseTime = 1_700_000_000_000

// newCluster starts an in-process cluster with topics of partitions
// partitions each and returns its addresses.
func newCluster(t *testing.T, partitions int32, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// produce writes values "0" … "n-1" to topic, value i to partition
// i mod partitions with timestamp baseTime+i.
func produce(t *testing.T, brokers []string, topic string, partitions, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range n {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(strconv.Itoa(i)),
			Timestamp: time.UnixMilli(baseTime + int64(i))}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

func quietEnv(opts ...freshet.Option) *freshet.Env {
	return freshet.NewEnv(append([]freshet.Option{freshet.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
}

func execute(t *testing.T, env *freshet.Env, name string) *freshet.JobClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	jc, err := env.ExecuteAsync(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return jc
}

type stamped struct {
	V  string
	TS int64
}

// TestBoundedReadsEveryRecord reads a 3-partition topic at parallelism 2
// up to the offsets seen at start: every record arrives once, with its
// Kafka timestamp as event time, and records produced later are not read.
func TestBoundedReadsEveryRecord(t *testing.T) {
	const n = 3000
	brokers := newCluster(t, 3, "in")
	produce(t, brokers, "in", 3, n)
	env := quietEnv(freshet.WithParallelism(2))
	src := freshet.FromSource(env, &kafka.Source[string]{
		Brokers: brokers, Topics: []string{"in"}, Deserializer: kafka.Strings, Bounded: true,
	}, "kafka")
	withTS := freshet.Process(src, freshet.ProcessFunc(func(ctx *freshet.Context, v string, out freshet.Collector[stamped]) error {
		ts, _ := ctx.Timestamp()
		out.Collect(stamped{v, ts})
		return nil
	}))
	got := freshet.Collect(withTS)
	if err := execute(t, env, "bounded").Wait(); err != nil {
		t.Fatal(err)
	}
	vals := got.Values()
	if len(vals) != n {
		t.Fatalf("read %d records, want %d", len(vals), n)
	}
	seen := make([]bool, n)
	for _, s := range vals {
		i, err := strconv.Atoi(s.V)
		if err != nil || i < 0 || i >= n || seen[i] {
			t.Fatalf("unexpected or repeated record %q", s.V)
		}
		seen[i] = true
		if s.TS != baseTime+int64(i) {
			t.Fatalf("record %d has event time %d, want %d", i, s.TS, baseTime+int64(i))
		}
	}
	if bs := got.BySubtask(); len(bs) != 2 {
		t.Fatalf("records came from %d subtasks, want 2", len(bs))
	}
	checkNoReaderGoroutines(t)
}

// checkNoReaderGoroutines fails if a reader's fetching goroutine outlives
// its job.
func checkNoReaderGoroutines(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(5 * time.Second)
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "connector/kafka.(*reader[") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a reader goroutine outlived its job:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStartingOffsets checks where a fresh bounded job starts.
func TestStartingOffsets(t *testing.T) {
	const n = 30
	brokers := newCluster(t, 3, "in")
	produce(t, brokers, "in", 3, n)
	// The group has committed offset 5 on partition 0 only.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var os kadm.Offsets
	os.AddOffset("in", 0, 5, -1)
	if resp, err := kadm.NewClient(cl).CommitOffsets(context.Background(), "g", os); err == nil && resp.Error() != nil || err != nil {
		t.Fatalf("committing offsets: %v %v", err, resp.Error())
	}
	cases := []struct {
		name  string
		start kafka.StartingOffsets
		want  int // records read
	}{
		{"earliest", kafka.Earliest(), n},
		{"latest", kafka.Latest(), 0},
		{"timestamp", kafka.AtTimestamp(baseTime + 15), n - 15},
		// Partition 0 from offset 5 (5 of its 10 records), 1 and 2 from the end.
		{"committed-latest", kafka.Committed(kafka.FromLatest), 5},
		{"committed-earliest", kafka.Committed(kafka.FromEarliest), n - 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := quietEnv(freshet.WithParallelism(2))
			got := freshet.Collect(freshet.FromSource(env, &kafka.Source[string]{
				Brokers: brokers, Topics: []string{"in"}, Deserializer: kafka.Strings, Bounded: true, StartingOffsets: tc.start, GroupID: "g",
			}, "kafka"))
			if err := execute(t, env, tc.name).Wait(); err != nil {
				t.Fatal(err)
			}
			if got.Len() != tc.want {
				t.Fatalf("read %d records, want %d", got.Len(), tc.want)
			}
		})
	}
}

// TestBadRecordFailsJob: a record the deserializer rejects fails the job
// with an error naming its topic, partition and offset.
func TestBadRecordFailsJob(t *testing.T) {
	brokers := newCluster(t, 3, "in")
	produce(t, brokers, "in", 3, 30)
	env := quietEnv(freshet.WithParallelism(1))
	freshet.Collect(freshet.FromSource(env, &kafka.Source[int]{
		Brokers: brokers, Topics: []string{"in"}, Bounded: true,
		Deserializer: func(r *kgo.Record) (int, error) {
			if string(r.Value) == "13" {
				return 0, errors.New("unlucky")
			}
			return strconv.Atoi(string(r.Value))
		},
	}, "kafka"))
	err := execute(t, env, "bad").Wait()
	if err == nil || !strings.Contains(err.Error(), "in-1 at offset 4") || !strings.Contains(err.Error(), "unlucky") {
		t.Fatalf("job ended with %v, want an error naming in-1 at offset 4", err)
	}
}

// TestInvalidSource lists configurations Validate rejects, and checks
// that a job with one fails naming the problem.
func TestInvalidSource(t *testing.T) {
	str := kafka.Strings
	cases := []struct {
		name string
		src  kafka.Source[string]
		want string
	}{
		{"no brokers", kafka.Source[string]{Topics: []string{"a"}, Deserializer: str}, "no brokers"},
		{"no topics", kafka.Source[string]{Brokers: []string{"x:1"}, Deserializer: str}, "no topics"},
		{"empty topic", kafka.Source[string]{Brokers: []string{"x:1"}, Topics: []string{""}, Deserializer: str}, "topic 0 is empty"},
		{"no deserializer", kafka.Source[string]{Brokers: []string{"x:1"}, Topics: []string{"a"}}, "no deserializer"},
		{"committed without group", kafka.Source[string]{Brokers: []string{"x:1"}, Topics: []string{"a"}, Deserializer: str,
			StartingOffsets: kafka.Committed(kafka.FromEarliest)}, "needs a group id"},
		{"bad reset", kafka.Source[string]{Brokers: []string{"x:1"}, Topics: []string{"a"}, Deserializer: str, GroupID: "g",
			StartingOffsets: kafka.Committed(kafka.FromTimestamp)}, "reset to timestamp"},
		{"topics and pattern", kafka.Source[string]{Brokers: []string{"x:1"}, Topics: []string{"a"}, TopicPattern: regexp.MustCompile("a"),
			Deserializer: str}, "both topics and a topic pattern"},
		{"stopping unbounded", kafka.Source[string]{Brokers: []string{"x:1"}, Topics: []string{"a"}, Deserializer: str,
			StoppingOffsets: map[string]map[int32]int64{"a": {0: 1}}}, "stopping offsets need a bounded source"},
		{"specific reset", kafka.Source[string]{Brokers: []string{"x:1"}, Topics: []string{"a"}, Deserializer: str,
			StartingOffsets: kafka.StartingOffsets{Kind: kafka.FromSpecific, Reset: kafka.FromCommitted}}, "specific offsets reset to committed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.src.Validate()
			if !errors.Is(err, kafka.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig saying %q", err, tc.want)
			}
			env := quietEnv()
			freshet.Collect(freshet.FromSource(env, &tc.src, "kafka"))
			// The configuration is checked when the job is built.
			if err := env.Execute(context.Background(), "invalid"); !errors.Is(err, freshet.ErrInvalidProgram) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Execute = %v, want an invalid program saying %q", err, tc.want)
			}
		})
	}
	t.Run("missing topic", func(t *testing.T) {
		brokers := newCluster(t, 1, "other")
		env := quietEnv()
		freshet.Collect(freshet.FromSource(env, &kafka.Source[string]{Brokers: brokers, Topics: []string{"nope"}, Deserializer: str, Bounded: true}, "kafka"))
		if err := execute(t, env, "missing").Wait(); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("job ended with %v, want an error naming the topic", err)
		}
	})
}

type keySum struct {
	K      int
	Sum, N int64
}

var (
	sumState = state.NewValue[int64]("sum")
	nState   = state.NewValue[int64]("n")
)

var errInjected = errors.New("injected failure")

// TestRestoreResumesExactly sums the records of a 3-partition topic per
// key in keyed state, failing the first attempts once a checkpoint has
// completed: the totals equal the input's, so the restored readers
// resumed at the checkpointed offsets with no record lost or repeated.
func TestRestoreResumesExactly(t *testing.T) {
	const n, keys, failures = 6000, 5, 2
	brokers := newCluster(t, 3, "in")
	produce(t, brokers, "in", 3, n)
	env := quietEnv(freshet.WithParallelism(2),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(10, 10*time.Millisecond)),
		freshet.WithCheckpointing(20*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	var armed atomic.Bool
	var failed atomic.Int32
	var seen sync.Map // attempt → *atomic.Int64
	nums := freshet.FromSource(env, &kafka.Source[int64]{
		Brokers: brokers, Topics: []string{"in"}, Bounded: true,
		Deserializer: func(r *kgo.Record) (int64, error) { return strconv.ParseInt(string(r.Value), 10, 64) },
	}, "kafka").UID("kafka")
	checked := freshet.Process(nums, freshet.ProcessFunc(func(ctx *freshet.Context, v int64, out freshet.Collector[int64]) error {
		a := ctx.Runtime().Attempt()
		c, _ := seen.LoadOrStore(a, new(atomic.Int64))
		// Slow enough, until the failures, for checkpoints to complete mid-input.
		if a < failures {
			time.Sleep(200 * time.Microsecond)
		}
		if c.(*atomic.Int64).Add(1) > n/6 && a < failures && armed.Load() && failed.CompareAndSwap(int32(a), int32(a+1)) {
			armed.Store(false)
			return fmt.Errorf("attempt %d: %w", a, errInjected)
		}
		out.Collect(v)
		return nil
	})).UID("check")
	sums := freshet.KeyedProcess(freshet.KeyBy(checked, func(v int64) int { return int(v % keys) }),
		freshet.KeyedProcessFuncWithTimers(
			func(ctx *freshet.KeyedContext[int], v int64, _ freshet.Collector[keySum]) error {
				sum, cnt := state.Value(ctx.State(), sumState), state.Value(ctx.State(), nState)
				s, _ := sum.Value()
				c, _ := cnt.Value()
				if c == 0 {
					ctx.TimerService().RegisterEventTimeTimer(math.MaxInt64)
				}
				sum.Update(s + v)
				cnt.Update(c + 1)
				return nil
			},
			func(ctx *freshet.KeyedContext[int], _ int64, out freshet.Collector[keySum]) error {
				s, _ := state.Value(ctx.State(), sumState).Value()
				c, _ := state.Value(ctx.State(), nState).Value()
				out.Collect(keySum{K: ctx.CurrentKey(), Sum: s, N: c})
				return nil
			})).UID("sums")
	out := &connectortest.Attempts[keySum]{}
	freshet.SinkTo(sums, out, "sums")
	jc := execute(t, env, "restore")
	// Arm the failure once the current attempt has completed a checkpoint.
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
	want := map[int]keySum{}
	for i := range int64(n) {
		k := want[int(i%keys)]
		k.K, k.Sum, k.N = int(i%keys), k.Sum+i, k.N+1
		want[int(i%keys)] = k
	}
	got := connectortest.LastByKey(out, func(v keySum) int { return v.K })
	keysGot := slices.Sorted(func(yield func(int) bool) {
		for k := range got {
			if !yield(k) {
				return
			}
		}
	})
	if len(got) != keys {
		t.Fatalf("totals for keys %v, want %d keys", keysGot, keys)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("key %d: got %+v, want %+v", k, got[k], w)
		}
	}
}
