package nats_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/connectortest"
	natsconn "github.com/freshet-io/freshet/connector/nats"
)

// restartable is a JetStream server on a fixed loopback port and store
// directory, which a test can stop and start again with its data.
type restartable struct {
	t    *testing.T
	opts server.Options
	mu   sync.Mutex
	ns   *server.Server
}

func startRestartable(t *testing.T) *restartable {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &restartable{t: t, opts: server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	}}
	r.start()
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.ns.Shutdown()
		r.ns.WaitForShutdown()
	})
	return r
}

func (r *restartable) start() {
	opts := r.opts
	ns, err := server.NewServer(&opts)
	if err != nil {
		r.t.Errorf("creating nats server: %v", err)
		return
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		r.t.Errorf("nats server not ready within 10s")
	}
	r.ns = ns
}

func (r *restartable) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", r.opts.Port) }

// restart stops the server and starts it again on the same port and store.
func (r *restartable) restart(*testing.T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ns.Shutdown()
	r.ns.WaitForShutdown()
	r.start()
}

func decodeMsg(m jetstream.Msg) (connectortest.Record, error) { return connectortest.Decode(m.Data()) }

// TestSourceConformance runs the connectors' conformance suite on the
// source, at parallelism 1 and 3. Across failures it is exactly once at
// any parallelism (see Source); at 1 it also keeps order, as one consumer
// delivers in order, while at 3 the readers share the messages.
func TestSourceConformance(t *testing.T) {
	for _, p := range []int{1, 3} {
		t.Run("parallelism-"+strconv.Itoa(p), func(t *testing.T) {
			connectortest.RunSource(t, connectortest.Source{
				Partitions:  3,
				Parallelism: p,
				Guarantee:   connectortest.ExactlyOnce,
				Ordered:     p == 1,
				Setup: func(t *testing.T) connectortest.SourceScenario {
					srv := startRestartable(t)
					js := connect(t, srv.url())
					createStream(t, js, "IN", "in.>")
					return connectortest.SourceScenario{
						Publish: func(t *testing.T, partition int, payloads [][]byte) {
							ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
							defer cancel()
							for _, p := range payloads {
								if _, err := js.Publish(ctx, "in."+strconv.Itoa(partition), p); err != nil {
									t.Fatal(err)
								}
							}
						},
						Stream: func(env *freshet.Env) *freshet.Stream[connectortest.Record] {
							return freshet.FromSource(env, natsconn.NewSource(srv.url(), "IN", "conformance", decodeMsg,
								natsconn.SourceStopWhenDrained(), natsconn.SourceFetchBatch(25), natsconn.SourceAckWait(2*time.Second)), "nats")
						},
						Restart: srv.restart,
					}
				},
			})
		})
	}
}

// TestSinkConformance runs the connectors' conformance suite on the sink:
// its input replays in order (one source subtask, partitioned by key), so
// it is exactly once.
func TestSinkConformance(t *testing.T) {
	connectortest.RunSink(t, connectortest.Sink{
		Guarantee: connectortest.ExactlyOnce,
		Ordered:   true,
		Setup: func(t *testing.T) connectortest.SinkScenario {
			srv := startRestartable(t)
			js := connect(t, srv.url())
			stream := createStream(t, js, "OUT", "out.>")
			return connectortest.SinkScenario{
				Attach: func(s *freshet.Stream[connectortest.Record], bad func(connectortest.Record) bool) {
					ser := func(r connectortest.Record) (string, []byte, error) {
						if bad(r) {
							return "", nil, fmt.Errorf("serializing %s: %w", r, connectortest.ErrBadRecord)
						}
						return "out." + strconv.Itoa(r.Partition), r.Encode(), nil
					}
					freshet.SinkTo(s, natsconn.NewSink(srv.url(), "conformance", ser), "nats").UID("nats")
				},
				ReadBack: func(t *testing.T) []connectortest.Record {
					var out []connectortest.Record
					for _, b := range readAll(t, stream) {
						r, err := connectortest.Decode(b)
						if err != nil {
							t.Fatal(err)
						}
						out = append(out, r)
					}
					return out
				},
				Restart: srv.restart,
			}
		},
	})
}
