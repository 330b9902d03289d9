package kafka_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/kafka"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

// TestIdlePartitionDoesNotHoldBackWatermark reads a topic with
// per-partition watermarks and idleness: partition 1 gets one record and
// then nothing, partition 0 a hundred records 1 ms apart, partition 2
// none. Once partition 1 is idle the watermark follows partition 0 alone,
// so the 10 ms windows up to its last record fire while the job runs.
func TestIdlePartitionDoesNotHoldBackWatermark(t *testing.T) {
	brokers := newCluster(t, 3, "in")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := []*kgo.Record{{Topic: "in", Partition: 1, Value: []byte("x"), Timestamp: time.UnixMilli(baseTime)}}
	for i := range 100 {
		recs = append(recs, &kgo.Record{Topic: "in", Partition: 0, Value: []byte("x"), Timestamp: time.UnixMilli(baseTime + int64(i))})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Partition 1 goes to reader 0, which becomes idle; 0 and 2 (empty) to
	// reader 1, where the empty partition holds nothing back.
	env := quietEnv(freshet.WithParallelism(2))
	in := freshet.FromSourceWithWatermarks(env, &kafka.Source[string]{
		Brokers: brokers, Topics: []string{"in"}, Deserializer: kafka.Strings,
	}, watermark.ForMonotonousTimestamps[string]().WithIdleness(50*time.Millisecond), "kafka")
	counts := freshet.Collect(freshet.WindowProcess(freshet.WindowAll(in, window.TumblingEventTime[string](10*time.Millisecond, 0)),
		freshet.ProcessWindowFunc(func(ctx *freshet.WindowContext[struct{}, window.TimeWindow], vs []string, out freshet.Collector[[2]int64]) error {
			out.Collect([2]int64{ctx.Window().Start - baseTime, int64(len(vs))})
			return nil
		})))
	jc := execute(t, env, "idle")
	deadline := time.Now().Add(30 * time.Second)
	for counts.Len() < 9 {
		if time.Now().After(deadline) {
			t.Fatalf("windows fired: %v, want 9", counts.Values())
		}
		time.Sleep(5 * time.Millisecond)
	}
	jc.Cancel()
	_ = jc.Wait()
	got := counts.Values()
	slices.SortFunc(got, func(a, b [2]int64) int { return int(a[0] - b[0]) })
	// The watermark reaches 98 (the last record's 99 less 1): the window
	// [90, 100) stays open.
	want := [][2]int64{{0, 11}, {10, 10}, {20, 10}, {30, 10}, {40, 10}, {50, 10}, {60, 10}, {70, 10}, {80, 10}}
	if !slices.Equal(got, want) {
		t.Fatalf("windows %v, want %v", got, want)
	}
}
