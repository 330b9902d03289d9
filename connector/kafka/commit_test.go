package kafka_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/kafka"
)

var quietLog = slog.New(slog.DiscardHandler)

// groupOffsets returns the offsets group has committed for topic, by
// partition.
func groupOffsets(t *testing.T, brokers []string, group, topic string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err == nil {
		err = resp.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[int32]int64{}
	}
	if err != nil {
		t.Fatalf("fetching the offsets of group %q: %v", group, err)
	}
	out := map[int32]int64{}
	for p, o := range resp[topic] {
		out[p] = o.At
	}
	return out
}

// TestOffsetsCommittedOnCheckpoint runs an unbounded job with checkpoints
// over a 3-partition topic of 300 records: once every record is read and
// a checkpoint has completed, the group's committed offsets are the
// checkpoint's, the end of every partition, and never past it before.
func TestOffsetsCommittedOnCheckpoint(t *testing.T) {
	const n, parts = 300, 3
	brokers := newCluster(t, parts, "in")
	produce(t, brokers, "in", parts, n)
	env := quietEnv(freshet.WithParallelism(2),
		freshet.WithCheckpointing(20*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	got := freshet.Collect(freshet.FromSource(env, &kafka.Source[string]{
		Brokers: brokers, Topics: []string{"in"}, Deserializer: kafka.Strings, GroupID: "mon",
		Logger: quietLog,
	}, "kafka"))
	jc := execute(t, env, "commits")
	want := map[int32]int64{0: n / parts, 1: n / parts, 2: n / parts}
	deadline := time.Now().Add(30 * time.Second)
	for {
		os := groupOffsets(t, brokers, "mon", "in")
		for p, o := range os {
			if o > want[p] {
				t.Fatalf("partition %d committed at %d, past its end %d", p, o, want[p])
			}
		}
		if len(os) == parts && os[0] == want[0] && os[1] == want[1] && os[2] == want[2] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed offsets %v, want %v", os, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	jc.Cancel()
	_ = jc.Wait()
	checkNoReaderGoroutines(t)
	if got.Len() != n {
		t.Fatalf("read %d records, want %d", got.Len(), n)
	}
	if os := groupOffsets(t, brokers, "mon", "in"); len(os) != parts || os[0] != want[0] || os[1] != want[1] || os[2] != want[2] {
		t.Fatalf("after the job, committed offsets %v, want %v", os, want)
	}
}

// TestOffsetCommitsDisabled: with DisableOffsetCommits the group commits
// nothing.
func TestOffsetCommitsDisabled(t *testing.T) {
	brokers := newCluster(t, 1, "in")
	produce(t, brokers, "in", 1, 10)
	env := quietEnv(freshet.WithCheckpointing(10*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	got := freshet.Collect(freshet.FromSource(env, &kafka.Source[string]{
		Brokers: brokers, Topics: []string{"in"}, Deserializer: kafka.Strings, GroupID: "mon", DisableOffsetCommits: true, Logger: quietLog,
	}, "kafka"))
	jc := execute(t, env, "no-commits")
	for got.Len() < 10 {
		time.Sleep(5 * time.Millisecond)
	}
	// Wait for two checkpoints after the last record.
	first := int64(-1)
	for {
		if c, ok := jc.LatestCheckpoint(); ok {
			if first < 0 {
				first = c.ID
			} else if c.ID >= first+2 {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	jc.Cancel()
	_ = jc.Wait()
	if os := groupOffsets(t, brokers, "mon", "in"); len(os) != 0 {
		t.Fatalf("committed offsets %v, want none", os)
	}
}
