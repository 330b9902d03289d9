package nats

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/freshet-io/freshet/metric"
)

// unreachableConsumer answers its first fetches with no responders (a
// consumer briefly unreachable), then with empty batches.
type unreachableConsumer struct {
	jetstream.Consumer
	failures int64 // fetches that find no responders; -1: every one
	fetches  atomic.Int64
	after    func(n int64) // called with the count after each fetch
}

type emptyBatch struct{ msgs chan jetstream.Msg }

func (b emptyBatch) Messages() <-chan jetstream.Msg { return b.msgs }
func (b emptyBatch) Error() error                   { return nil }

func (c *unreachableConsumer) Fetch(int, ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	n := c.fetches.Add(1)
	defer c.after(n)
	if c.failures < 0 || n <= c.failures {
		return nil, nats.ErrNoResponders
	}
	b := emptyBatch{msgs: make(chan jetstream.Msg)}
	close(b.msgs)
	return b, nil
}

func (c *unreachableConsumer) Info(context.Context) (*jetstream.ConsumerInfo, error) {
	return &jetstream.ConsumerInfo{}, nil
}

// TestFetchRetriesNoResponders: a reader whose fetches find no responders
// for a while goes on once they find the consumer again, and fails naming
// the error once they have not for fetchRetryFor.
func TestFetchRetriesNoResponders(t *testing.T) {
	defer func(f, p time.Duration) { fetchRetryFor, fetchRetryPause = f, p }(fetchRetryFor, fetchRetryPause)
	fetchRetryFor, fetchRetryPause = 300*time.Millisecond, 10*time.Millisecond
	newReader := func() *reader[int] {
		return &reader[int]{src: &Source[int]{durable: "d", cfg: sourceConfig{ackWait: 3 * time.Second, batch: 10}},
			msgs: make(chan []jetstream.Msg, 1), notify: make(chan struct{}, 1), pending: new(metric.Gauge)}
	}

	r := newReader()
	ctx, cancel := context.WithCancel(context.Background())
	cons := &unreachableConsumer{failures: 3, after: func(n int64) {
		if n == 6 {
			cancel()
		}
	}}
	r.wg.Add(1)
	r.fetch(ctx, cons)
	if err := r.mu.err; err != nil {
		t.Fatalf("three fetches without responders failed the reader: %v", err)
	}
	if n := cons.fetches.Load(); n != 6 {
		t.Fatalf("%d fetches, want 6", n)
	}

	r = newReader()
	cons = &unreachableConsumer{failures: -1, after: func(int64) {}}
	start := time.Now()
	r.wg.Add(1)
	r.fetch(context.Background(), cons)
	if err := r.mu.err; !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("a consumer never reached: %v, want no responders", err)
	}
	if d := time.Since(start); d < fetchRetryFor {
		t.Fatalf("failed after %s, before fetchRetryFor %s", d, fetchRetryFor)
	}
}
