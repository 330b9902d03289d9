package kafka_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/connectortest"
	"github.com/freshet-io/freshet/connector/kafka"
)

func decodeRecord(r *kgo.Record) (connectortest.Record, error) { return connectortest.Decode(r.Value) }

// restartableCluster is an in-process cluster on a fixed loopback port
// that keeps its data in a directory, so a test can stop it and start it
// again with its topics, offsets and transactions.
type restartableCluster struct {
	mu   sync.Mutex
	c    *kfake.Cluster
	opts []kfake.Opt
}

func newRestartableCluster(t *testing.T, partitions int32, topics ...string) (*restartableCluster, []string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	rc := &restartableCluster{opts: []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(t.TempDir()),
		kfake.SeedTopics(partitions, topics...)}}
	if rc.c, err = kfake.NewCluster(rc.opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.c.Close()
	})
	return rc, rc.c.ListenAddrs()
}

// restart closes the cluster and starts it again from its data.
func (rc *restartableCluster) restart(t *testing.T) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.c.Close()
	c, err := kfake.NewCluster(rc.opts...)
	if err != nil {
		t.Errorf("restarting the cluster: %v", err)
		return
	}
	rc.c = c
}

// TestSourceConformance runs the connectors' conformance suite on the
// source.
func TestSourceConformance(t *testing.T) {
	const partitions = 3
	connectortest.RunSource(t, connectortest.Source{
		Partitions: partitions,
		Guarantee:  connectortest.ExactlyOnce,
		Ordered:    true,
		Setup: func(t *testing.T) connectortest.SourceScenario {
			rc, brokers := newRestartableCluster(t, partitions, "in")
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cl.Close)
			return connectortest.SourceScenario{
				Publish: func(t *testing.T, partition int, payloads [][]byte) {
					recs := make([]*kgo.Record, len(payloads))
					for i, p := range payloads {
						recs[i] = &kgo.Record{Topic: "in", Partition: int32(partition), Value: p}
					}
					if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
						t.Fatalf("producing: %v", err)
					}
				},
				Stream: func(env *freshet.Env) *freshet.Stream[connectortest.Record] {
					return freshet.FromSource(env, &kafka.Source[connectortest.Record]{
						Brokers: brokers, Topics: []string{"in"}, Deserializer: decodeRecord, Bounded: true,
					}, "kafka")
				},
				Restart: rc.restart,
			}
		},
	})
}

// TestSinkConformance runs the connectors' conformance suite on the sink
// with each guarantee, reading back with a read_committed consumer.
func TestSinkConformance(t *testing.T) {
	for _, g := range []kafka.DeliveryGuarantee{kafka.AtLeastOnce, kafka.ExactlyOnce} {
		t.Run(g.String(), func(t *testing.T) {
			guarantee := connectortest.ExactlyOnce
			if g == kafka.AtLeastOnce {
				guarantee = connectortest.AtLeastOnce
			}
			connectortest.RunSink(t, connectortest.Sink{
				Guarantee: guarantee,
				Ordered:   true,
				Setup: func(t *testing.T) connectortest.SinkScenario {
					rc, brokers := newRestartableCluster(t, 4, "out")
					return connectortest.SinkScenario{
						Attach: func(s *freshet.Stream[connectortest.Record], bad func(connectortest.Record) bool) {
							freshet.SinkTo(s, &kafka.Sink[connectortest.Record]{
								Brokers: brokers, DeliveryGuarantee: g, TransactionalIDPrefix: "conformance",
								Serializer: func(r connectortest.Record) (*kgo.Record, error) {
									if bad(r) {
										return nil, connectortest.ErrBadRecord
									}
									return &kgo.Record{Topic: "out", Partition: int32(r.Partition), Value: r.Encode()}, nil
								},
								ClientOptions: []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner())},
							}, "kafka").UID("kafka")
						},
						ReadBack: func(t *testing.T) []connectortest.Record {
							return readCommitted(t, brokers, "out")
						},
						Restart: rc.restart,
					}
				},
			})
		})
	}
}

// readCommitted reads topic from the start with read_committed isolation
// until half a second brings nothing more after a record, or three seconds
// nothing at all (a client's first fetch, on a loaded machine, may take
// longer than half a second).
func readCommitted(t *testing.T, brokers []string, topic string) []connectortest.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	byPart := map[int32][]connectortest.Record{}
	var parts []int32
	deadline := time.Now().Add(20 * time.Second)
	for quiet := time.Now().Add(3 * time.Second); time.Now().Before(quiet) && time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			rec, err := connectortest.Decode(r.Value)
			if err != nil {
				t.Errorf("partition %d offset %d: %v", r.Partition, r.Offset, err)
				return
			}
			if _, ok := byPart[r.Partition]; !ok {
				parts = append(parts, r.Partition)
			}
			byPart[r.Partition] = append(byPart[r.Partition], rec)
			quiet = time.Now().Add(500 * time.Millisecond)
		})
	}
	var out []connectortest.Record
	for _, p := range parts {
		out = append(out, byPart[p]...)
	}
	return out
}
