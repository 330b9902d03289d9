package kafka_test

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/kafka"
)

// produceNamed writes values "topic:from" … "topic:to-1" to topic,
// value i to partition i mod partitions.
func produceNamed(t *testing.T, brokers []string, topic string, partitions, from, to int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(topic + ":" + strconv.Itoa(i)),
			Timestamp: time.UnixMilli(baseTime + int64(i))})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

func createTopic(t *testing.T, brokers []string, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating topic %s: %v", topic, err)
	}
}

func named(topic string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, topic+":"+strconv.Itoa(i))
	}
	return out
}

// waitFor polls until got holds every value of want, then until two more
// checkpoints of jc completed (the readers kept polling meanwhile), and
// returns got's values sorted.
func waitFor(t *testing.T, jc *freshet.JobClient, got *freshet.Collected[string], want []string) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		seen := map[string]bool{}
		for _, v := range got.Values() {
			seen[v] = true
		}
		all := true
		for _, w := range want {
			all = all && seen[w]
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %v, want %v", slices.Sorted(maps.Keys(seen)), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c0, _ := jc.LatestCheckpoint()
	for c, _ := jc.LatestCheckpoint(); c.ID < c0.ID+2; c, _ = jc.LatestCheckpoint() {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoints complete")
		}
		time.Sleep(5 * time.Millisecond)
	}
	vs := got.Values()
	slices.Sort(vs)
	return vs
}

// TestPatternDiscoveryAndRestore reads the topics matching ev-.* with
// partition discovery every 50 ms: a topic created while the job runs is
// read from its start; after a stop with a savepoint, records and topics
// added meanwhile are read by the restored job, and nothing read before
// the savepoint is read again.
func TestPatternDiscoveryAndRestore(t *testing.T) {
	brokers := newCluster(t, 2, "ev-a", "other")
	produceNamed(t, brokers, "ev-a", 2, 0, 10)
	produceNamed(t, brokers, "other", 2, 0, 5)
	job := func(opts ...freshet.Option) (*freshet.JobClient, *freshet.Collected[string]) {
		env := quietEnv(append([]freshet.Option{freshet.WithParallelism(2),
			freshet.WithCheckpointing(20*time.Millisecond, freshet.CheckpointStorage(t.TempDir()))}, opts...)...)
		got := freshet.Collect(freshet.FromSource(env, &kafka.Source[string]{
			Brokers: brokers, TopicPattern: regexp.MustCompile(`^ev-`), Deserializer: kafka.Strings,
			PartitionDiscovery: 50 * time.Millisecond, Logger: quietLog,
		}, "kafka").UID("kafka"))
		return execute(t, env, "discovery"), got
	}
	jc, got := job()
	waitFor(t, jc, got, named("ev-a", 0, 10))
	createTopic(t, brokers, "ev-b", 3)
	produceNamed(t, brokers, "ev-b", 3, 0, 9)
	want1 := slices.Sorted(slices.Values(append(named("ev-a", 0, 10), named("ev-b", 0, 9)...)))
	if vs := waitFor(t, jc, got, want1); !slices.Equal(vs, want1) {
		t.Fatalf("first run read %v, want %v", vs, want1)
	}
	sp, err := jc.StopWithSavepoint(context.Background(), t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	if vs := got.Values(); len(vs) != len(want1) {
		t.Fatalf("first run read %d records by its end, want %d", len(vs), len(want1))
	}
	produceNamed(t, brokers, "ev-a", 2, 10, 14)
	produceNamed(t, brokers, "ev-b", 3, 9, 12)
	createTopic(t, brokers, "ev-c", 1)
	produceNamed(t, brokers, "ev-c", 1, 0, 4)
	jc, got = job(freshet.WithRestoreFrom(sp))
	want2 := slices.Sorted(slices.Values(append(append(named("ev-a", 10, 14), named("ev-b", 9, 12)...), named("ev-c", 0, 4)...)))
	vs := waitFor(t, jc, got, want2)
	jc.Cancel()
	_ = jc.Wait()
	if !slices.Equal(vs, want2) {
		t.Fatalf("restored run read %v, want %v", vs, want2)
	}
	checkNoReaderGoroutines(t)
}

// TestBoundedPatternAndSpecificOffsets: a bounded source reads the topics
// matching its pattern at start, from specific offsets (others from the
// earliest) to specific stopping offsets (others to the end at start),
// and no topic created later.
func TestBoundedPatternAndSpecificOffsets(t *testing.T) {
	brokers := newCluster(t, 3, "in-a", "in-b", "out")
	produceNamed(t, brokers, "in-a", 3, 0, 30) // 10 a partition
	produceNamed(t, brokers, "in-b", 3, 0, 6)  // 2 a partition
	produceNamed(t, brokers, "out", 3, 0, 3)
	env := quietEnv(freshet.WithParallelism(2))
	got := freshet.Collect(freshet.FromSource(env, &kafka.Source[string]{
		Brokers: brokers, TopicPattern: regexp.MustCompile(`^in-`), Deserializer: kafka.Strings, Bounded: true,
		PartitionDiscovery: 10 * time.Millisecond,
		StartingOffsets:    kafka.Offsets(map[string]map[int32]int64{"in-a": {0: 7, 1: 2}}),
		StoppingOffsets:    map[string]map[int32]int64{"in-a": {1: 4, 2: 1}, "in-b": {0: 0}},
	}, "kafka"))
	if err := execute(t, env, "specific").Wait(); err != nil {
		t.Fatal(err)
	}
	var want []string
	// in-a partition 0 (values 0, 3, …, 27) from offset 7; partition 1
	// (1, 4, …) offsets 2 and 3; partition 2 (2, 5, …) offset 0.
	for _, i := range []int{21, 24, 27, 7, 10, 2} {
		want = append(want, fmt.Sprintf("in-a:%d", i))
	}
	// in-b: partition 0 stops at once; 1 and 2 read to the end.
	want = append(want, "in-b:1", "in-b:4", "in-b:2", "in-b:5")
	slices.Sort(want)
	vs := got.Values()
	slices.Sort(vs)
	if !slices.Equal(vs, want) {
		t.Fatalf("read %v, want %v", vs, want)
	}
}
