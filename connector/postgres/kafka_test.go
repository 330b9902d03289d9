package postgres_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/kafka"
	"github.com/freshet-io/freshet/connector/postgres"
)

// kafkaNumbers starts an in-process Kafka cluster with topic "in" of 3
// partitions holding "0" … "n-1", value i in partition i mod 3.
func kafkaNumbers(t *testing.T, n int) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range n {
		recs[i] = &kgo.Record{Topic: "in", Partition: int32(i % 3), Value: []byte(strconv.Itoa(i))}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
	return brokers
}

// TestKafkaToPostgres runs Kafka → job → PostgreSQL at parallelism 2 with
// 5 failures at random records, for both guarantees: the exactly-once
// table holds every record once, the upsert table every key's last
// value.
func TestKafkaToPostgres(t *testing.T) {
	const n, keys = 3000, 300 // keys is a multiple of the 3 partitions: a key's records share one
	for _, g := range []postgres.DeliveryGuarantee{postgres.AtLeastOnce, postgres.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			d := dsn(t, dsnVar)
			p := pool(t, d)
			cols := "k bigint NOT NULL, v bigint NOT NULL"
			if g == postgres.AtLeastOnce {
				cols = "k bigint PRIMARY KEY, v bigint NOT NULL"
			}
			tbl := newTable(t, p, cols)
			brokers := kafkaNumbers(t, n)
			f := newInjector(t, 5, 250)
			env := failingEnv(t, freshet.WithParallelism(2))
			nums := freshet.FromSource(env, &kafka.Source[int64]{
				Brokers: brokers, Topics: []string{"in"}, Bounded: true,
				Deserializer: func(r *kgo.Record) (int64, error) { return strconv.ParseInt(string(r.Value), 10, 64) },
			}, "kafka").UID("kafka")
			rows := freshet.Process(nums, freshet.ProcessFunc(func(ctx *freshet.Context, v int64, out freshet.Collector[kv]) error {
				if err := f.check(ctx.Runtime().Attempt()); err != nil {
					return err
				}
				if g == postgres.AtLeastOnce {
					out.Collect(kv{K: v % keys, V: v})
				} else {
					out.Collect(kv{K: v, V: 2 * v})
				}
				return nil
			})).UID("rows")
			snk := &postgres.Sink[kv]{
				DSN: d, Table: tbl, Columns: []string{"k", "v"}, Row: kvRow, BatchSize: 100,
				DeliveryGuarantee: g, TransactionPrefix: "kafka-" + tbl,
			}
			if g == postgres.AtLeastOnce {
				snk.KeyColumns = []string{"k"}
			}
			freshet.SinkTo(freshet.KeyBy(rows, func(r kv) int64 { return r.K }).Stream(), snk, "postgres").UID("postgres")
			jc := execute(t, env, "kafka-postgres")
			f.watch(jc)
			f.wait(t, jc)
			got := pairs(t, p, tbl)
			if g == postgres.ExactlyOnce {
				checkOnce(t, got, n)
				if gids := prepared(t, p, snk.TransactionPrefix); len(gids) > 0 {
					t.Fatalf("prepared transactions left: %v", gids)
				}
				return
			}
			if len(got) != keys {
				t.Fatalf("%d rows, want %d", len(got), keys)
			}
			for k, r := range got {
				if want := [2]int64{int64(k), int64(k) + (n-1-int64(k))/keys*keys}; r != want {
					t.Fatalf("row %d is %v, want %v", k, r, want)
				}
			}
		})
	}
}
