package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/kafka"
)

// kafkaRecords is how many 100-byte records the input topic holds.
const kafkaRecords = 200_000

// kafkaInput starts an in-process cluster whose topic "in" (3
// partitions) holds kafkaRecords records of 100 bytes.
func kafkaInput(b *testing.B) []string {
	b.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	val := make([]byte, 100)
	for i := range val {
		val[i] = 'a' + byte(i%26)
	}
	for range kafkaRecords {
		cl.Produce(context.Background(), &kgo.Record{Topic: "in", Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	return brokers
}

// upper is the benchmarks' map: a copy of the value with its first byte
// upper-cased.
func upper(v []byte) []byte {
	out := make([]byte, len(v))
	copy(out, v)
	if len(out) > 0 && out[0] >= 'a' && out[0] <= 'z' {
		out[0] -= 'a' - 'A'
	}
	return out
}

func createOut(b *testing.B, brokers []string, topic string) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 3, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkKafkaPipeline reads 200k 100-byte records from a topic of an
// in-process kfake cluster, maps them and writes them to another topic:
// a Freshet job at parallelism 1 with an at-least-once and an exactly-once
// sink (checkpoints every 500 ms), and loop, the same reads and writes
// made with franz-go in one goroutine. Run it with -benchtime=1x: every
// iteration moves the whole topic.
func BenchmarkKafkaPipeline(b *testing.B) {
	brokers := kafkaInput(b)
	n := 0
	freshetJob := func(g kafka.DeliveryGuarantee) func(b *testing.B) {
		return func(b *testing.B) {
			run(b, kafkaRecords*b.N, func() error {
				for range b.N {
					n++
					out := fmt.Sprintf("out-%d", n)
					createOut(b, brokers, out)
					env := freshet.NewEnv(freshet.WithParallelism(1), quiet,
						freshet.WithCheckpointing(500*time.Millisecond, freshet.CheckpointStorage(b.TempDir())))
					in := freshet.FromSource(env, &kafka.Source[[]byte]{
						Brokers: brokers, Topics: []string{"in"}, Deserializer: kafka.Values, Bounded: true,
					}, "in").UID("in")
					freshet.SinkTo(freshet.Map(in, upper), &kafka.Sink[[]byte]{
						Brokers: brokers, DeliveryGuarantee: g, TransactionalIDPrefix: out,
						Serializer: func(v []byte) (*kgo.Record, error) { return &kgo.Record{Topic: out, Value: v}, nil },
					}, "out")
					if err := env.Execute(context.Background(), "kafka"); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	b.Run("freshet/at-least-once", freshetJob(kafka.AtLeastOnce))
	b.Run("freshet/exactly-once", freshetJob(kafka.ExactlyOnce))
	b.Run("loop", func(b *testing.B) {
		run(b, kafkaRecords*b.N, func() error {
			for range b.N {
				n++
				out := fmt.Sprintf("out-%d", n)
				createOut(b, brokers, out)
				if err := kafkaLoop(brokers, out); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// kafkaLoop copies topic in to out through upper with one consumer and one
// producer in one goroutine, waiting for every write at the end.
func kafkaLoop(brokers []string, out string) error {
	ctx := context.Background()
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("in"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cons.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer prod.Close()
	var mu sync.Mutex
	var perr error
	for read := 0; read < kafkaRecords; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			return err
		}
		fs.EachRecord(func(r *kgo.Record) {
			read++
			prod.Produce(ctx, &kgo.Record{Topic: out, Value: upper(r.Value)}, func(_ *kgo.Record, err error) {
				mu.Lock()
				if err != nil && perr == nil {
					perr = err
				}
				mu.Unlock()
			})
		})
	}
	if err := prod.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	return perr
}
