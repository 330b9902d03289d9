// Command kafka counts page views per user in event-time windows, reading
// them from one Kafka topic and writing the counts exactly once to another.
//
//	go run ./examples/kafka                        # an in-process cluster
//	go run ./examples/kafka --brokers host:9092    # a real cluster
//
// Without --brokers it starts an in-process cluster (franz-go's kfake).
// Either way it produces sample views to the topic "views", runs the job
// (a bounded Kafka source with per-partition watermarks, a tumbling
// one-minute event-time window per user, an exactly-once Kafka sink to
// "view-counts"), reads the counts back with read_committed isolation and
// prints them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/kafka"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

const (
	viewsTopic  = "views"
	countsTopic = "view-counts"
)

// start is the event time of the first sample view.
var start = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

var users = []string{"alice", "bob", "carol"}

// sampleViews are 30 views, one every 7 s from start; view i is by
// users[(i+i*i/7)%3].
func sampleViews() []*kgo.Record {
	var recs []*kgo.Record
	for i := range 30 {
		u := users[(i+i*i/7)%3]
		recs = append(recs, &kgo.Record{Topic: viewsTopic, Key: []byte(u), Value: []byte(u),
			Timestamp: start.Add(time.Duration(i) * 7 * time.Second)})
	}
	return recs
}

// Count is the number of views of a user in a window.
type Count struct {
	User       string
	Start, End int64 // the window, ms since the epoch
	Views      int64
}

func (c Count) String() string {
	return fmt.Sprintf("%s-%s %-5s %d", time.UnixMilli(c.Start).UTC().Format("15:04"), time.UnixMilli(c.End).UTC().Format("15:04"), c.User, c.Views)
}

// Pipeline counts the views of views per user and one-minute window.
func Pipeline(views *freshet.Stream[string]) *freshet.Stream[Count] {
	byUser := freshet.KeyBy(views, func(u string) string { return u })
	return freshet.WindowProcess(freshet.Window(byUser, window.TumblingEventTime[string](time.Minute, 0)),
		freshet.ProcessWindowFunc(func(ctx *freshet.WindowContext[string, window.TimeWindow], vs []string, out freshet.Collector[Count]) error {
			w := ctx.Window()
			out.Collect(Count{User: ctx.Key(), Start: w.Start, End: w.End, Views: int64(len(vs))})
			return nil
		}))
}

func run(ctx context.Context, brokers []string, out io.Writer) error {
	if len(brokers) == 0 {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, viewsTopic, countsTopic))
		if err != nil {
			return fmt.Errorf("starting an in-process cluster: %w", err)
		}
		defer c.Close()
		brokers = c.ListenAddrs()
	} else if err := createTopics(ctx, brokers); err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	// Only the views produced now are counted: the job starts at the
	// offsets the topic has before them.
	before, err := kadm.NewClient(cl).ListEndOffsets(ctx, viewsTopic)
	if err == nil {
		err = before.Error()
	}
	if err != nil {
		return fmt.Errorf("listing the offsets of %s: %w", viewsTopic, err)
	}
	startAt := map[string]map[int32]int64{viewsTopic: {}}
	before.Each(func(o kadm.ListedOffset) { startAt[viewsTopic][o.Partition] = o.Offset })
	if err := cl.ProduceSync(ctx, sampleViews()...).FirstErr(); err != nil {
		return fmt.Errorf("producing the sample views: %w", err)
	}
	countsBefore, err := kadm.NewClient(cl).ListEndOffsets(ctx, countsTopic)
	if err == nil {
		err = countsBefore.Error()
	}
	if err != nil {
		return fmt.Errorf("listing the offsets of %s: %w", countsTopic, err)
	}

	env := freshet.NewEnv(freshet.WithParallelism(2),
		freshet.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	views := freshet.FromSourceWithWatermarks(env, &kafka.Source[string]{
		Brokers: brokers, Topics: []string{viewsTopic}, Deserializer: kafka.Strings, Bounded: true,
		StartingOffsets: kafka.Offsets(startAt),
	}, watermark.ForMonotonousTimestamps[string](), "views").UID("views")
	freshet.SinkTo(Pipeline(views), &kafka.Sink[Count]{
		Brokers: brokers, DeliveryGuarantee: kafka.ExactlyOnce,
		TransactionalIDPrefix: "view-counts-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		Serializer: func(c Count) (*kgo.Record, error) {
			return &kgo.Record{Topic: countsTopic, Key: []byte(c.User), Value: []byte(c.String())}, nil
		},
	}, "view-counts").UID("view-counts")
	if err := env.Execute(ctx, "view counts"); err != nil {
		return err
	}
	counts, err := readCommitted(ctx, brokers, countsBefore)
	if err != nil {
		return err
	}
	slices.Sort(counts)
	for _, c := range counts {
		fmt.Fprintln(out, c)
	}
	return nil
}

func createTopics(ctx context.Context, brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, 3, -1, nil, viewsTopic, countsTopic)
	if err != nil {
		return fmt.Errorf("creating topics: %w", err)
	}
	for _, t := range resp.Sorted() {
		if t.Err != nil && !strings.Contains(t.Err.Error(), "TOPIC_ALREADY_EXISTS") {
			return fmt.Errorf("creating topic %s: %w", t.Topic, t.Err)
		}
	}
	return nil
}

// readCommitted reads the counts written after from with read_committed
// isolation, up to the topic's end offsets now.
func readCommitted(ctx context.Context, brokers []string, from kadm.ListedOffsets) ([]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// The last stable offsets: every transaction before them has ended.
	ends, err := adm.ListCommittedOffsets(ctx, countsTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing the offsets of %s: %w", countsTopic, err)
	}
	parts := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	from.Each(func(o kadm.ListedOffset) {
		if e, _ := ends.Lookup(countsTopic, o.Partition); e.Offset > o.Offset {
			parts[o.Partition] = kgo.NewOffset().At(o.Offset)
			left[o.Partition] = e.Offset
		}
	})
	if len(parts) == 0 {
		return nil, nil
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{countsTopic: parts}))
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out []string
	for len(left) > 0 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, errors.New("reading the counts back: timed out")
		}
		if err := fs.Err(); err != nil {
			return nil, fmt.Errorf("reading the counts back: %w", err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			// The high watermark past the last record read, less
			// transaction markers, means the partition is read.
			if end, ok := left[p.Partition]; ok && p.LastStableOffset >= end && (p.Records[len(p.Records)-1].Offset+2 >= end) {
				delete(left, p.Partition)
			}
		})
	}
	return out, nil
}

func main() {
	brokers := flag.String("brokers", "", "comma-separated Kafka brokers (host:port); none starts an in-process cluster")
	flag.Parse()
	var bs []string
	if *brokers != "" {
		bs = strings.Split(*brokers, ",")
	}
	if err := run(context.Background(), bs, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kafka:", err)
		os.Exit(1)
	}
}
