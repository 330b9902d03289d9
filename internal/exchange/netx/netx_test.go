package netx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/operator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newManager returns a manager listening on a loopback port, closed when
// the test ends.
func newManager(t *testing.T, opts ...Option) *Manager {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(ln, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func chanID(i int) ChannelID {
	return ChannelID{Job: "job", Attempt: 1, ProducerVertex: 1, ProducerSubtask: i, ConsumerVertex: 2, ConsumerSubtask: 0, Channel: i}
}

// failures collects the errors given to registered channels.
type failures struct {
	mu   sync.Mutex
	errs map[int]error
	ch   chan int
	sig  chan struct{} // one per failure, for gate.Next's wake
}

func newFailures() *failures {
	return &failures{errs: map[int]error{}, ch: make(chan int, 100), sig: make(chan struct{}, 100)}
}

func (f *failures) fn(i int) func(error) {
	return func(err error) {
		f.mu.Lock()
		f.errs[i] = err
		f.mu.Unlock()
		f.ch <- i
		f.sig <- struct{}{}
	}
}

func (f *failures) wait(t *testing.T) (int, error) {
	t.Helper()
	select {
	case i := <-f.ch:
		f.mu.Lock()
		defer f.mu.Unlock()
		return i, f.errs[i]
	case <-time.After(10 * time.Second):
		t.Fatal("no channel failed")
		return 0, nil
	}
}

// script is what every channel of TestDelivery carries: typed batches
// (encoded by the Writer), encoded ones, and every kind of event.
func script(ch int) []exchange.Envelope {
	var s []exchange.Envelope
	for i := range 3 {
		s = append(s, exchange.Envelope{Kind: exchange.KindRecords, Count: 2})
		s = append(s, exchange.Envelope{Kind: exchange.KindEncoded, Count: 1, Bytes: []byte(fmt.Sprintf("ch%d-%d", ch, i))})
	}
	return append(s,
		exchange.Envelope{Kind: exchange.KindWatermark, Watermark: int64(100 + ch)},
		exchange.Envelope{Kind: exchange.KindIdle},
		exchange.Envelope{Kind: exchange.KindActive},
		exchange.Envelope{Kind: exchange.KindBarrier, Checkpoint: 7},
		exchange.Envelope{Kind: exchange.KindBarrier, Checkpoint: 8, Savepoint: true},
		exchange.Envelope{Kind: exchange.KindCancelBarrier, Checkpoint: 9},
		exchange.Envelope{Kind: exchange.KindRecords, Count: 2},
		exchange.Envelope{Kind: exchange.KindEndOfData},
		exchange.Envelope{Kind: exchange.KindEndOfInput},
	)
}

// batchOf makes the typed batch of a script's KindRecords envelope.
func batchOf(ch, n int) *exchange.Batch[int64] {
	b := exchange.PoolFor[int64]().Get().(*exchange.Batch[int64])
	b.Records = append(b.Records[:0], operator.Record[int64]{Value: int64(ch*1000 + n), Timestamp: int64(n)}, operator.Record[int64]{Value: -int64(n), Timestamp: 1})
	return b
}

// describe renders an envelope as the receiver sees it, decoding batches.
func describe(t *testing.T, e exchange.Envelope) string {
	t.Helper()
	switch e.Kind {
	case exchange.KindEncoded:
		if e.Count == 2 {
			var b exchange.Batch[int64]
			if err := exchange.DecodeBatch(codec.Must[int64](), e.Bytes, &b); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			return fmt.Sprintf("records%v", b.Records)
		}
		return fmt.Sprintf("encoded(%d,%s)", e.Count, e.Bytes)
	case exchange.KindWatermark:
		return fmt.Sprintf("watermark(%d)", e.Watermark)
	case exchange.KindBarrier, exchange.KindCancelBarrier:
		return fmt.Sprintf("%s(%d,%v,prio=%v)", e.Kind, e.Checkpoint, e.Savepoint, e.Priority)
	}
	return e.Kind.String()
}

func TestDelivery(t *testing.T) {
	for _, timeout := range []time.Duration{0, time.Millisecond, DefaultBufferTimeout} {
		t.Run(fmt.Sprintf("timeout=%s", timeout), func(t *testing.T) {
			const channels = 8
			recv := newManager(t, WithProcessID("tm-2"))
			send := newManager(t, WithProcessID("tm-1"), WithBufferTimeout(timeout), WithBufferSize(256), WithBuffers(1), WithBacklog(1))
			gate := exchange.NewGate(channels, 2)
			fails := newFailures()
			ctx := context.Background()
			enc, err := EncoderFor[int64]()
			if err != nil {
				t.Fatal(err)
			}
			// Half the channels register before their producer opens them,
			// half after.
			for i := 0; i < channels; i += 2 {
				if err := recv.Register(chanID(i), gate.Channel(i), fails.fn(i)); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, channels)
			for i := range channels {
				w, err := send.Writer(ctx, recv.Addr().String(), chanID(i), enc)
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer w.Close()
					for n, e := range script(i) {
						if e.Kind == exchange.KindRecords {
							e.Batch = batchOf(i, n)
						}
						if err := w.Send(ctx, e); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			for i := 1; i < channels; i += 2 {
				if err := recv.Register(chanID(i), gate.Channel(i), fails.fn(i)); err != nil {
					t.Fatal(err)
				}
			}
			got := make([][]string, channels)
			for ended := 0; ended < channels; {
				e, woken, err := gate.Next(ctx, nil, fails.sig)
				if err != nil {
					t.Fatal(err)
				}
				if woken {
					i := <-fails.ch
					t.Fatalf("channel %d failed: %v", i, fails.errs[i])
				}
				got[e.Channel] = append(got[e.Channel], describe(t, e))
				if e.Kind == exchange.KindEndOfInput {
					ended++
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for i := range channels {
				var want []string
				for n, e := range script(i) {
					if e.Kind == exchange.KindRecords {
						want = append(want, fmt.Sprintf("records%v", batchOf(i, n).Records))
						continue
					}
					if e.Kind == exchange.KindEncoded && e.Count == 1 {
						want = append(want, fmt.Sprintf("encoded(1,%s)", e.Bytes))
						continue
					}
					want = append(want, describe(t, e))
				}
				if strings.Join(got[i], " ") != strings.Join(want, " ") {
					t.Errorf("channel %d got\n%v\nwant\n%v", i, got[i], want)
				}
			}
			select {
			case i := <-fails.ch:
				t.Fatalf("channel %d failed: %v", i, fails.errs[i])
			default:
			}
		})
	}
}

// TestConcurrentOpens opens many channels at once from several goroutines
// over one connection: the receiver sees them opened in the order of
// their numbers, and every channel delivers its end of input.
func TestConcurrentOpens(t *testing.T) {
	const n = 32
	recv, send := newManager(t), newManager(t)
	gate := exchange.NewGate(n, 4)
	fails := newFailures()
	for i := range n {
		if err := recv.Register(chanID(i), gate.Channel(i), fails.fn(i)); err != nil {
			t.Fatal(err)
		}
	}
	addr := recv.Addr().String()
	ctx := context.Background()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			w, err := send.Writer(ctx, addr, chanID(i), nil)
			if err == nil {
				err = w.Send(ctx, exchange.Envelope{Kind: exchange.KindEndOfInput})
				w.Close()
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ended := make([]bool, n)
	for range n {
		e, _, err := gate.Next(ctx, nil, fails.sig)
		if err != nil || e.Kind != exchange.KindEndOfInput {
			_, ferr := fails.wait(t)
			t.Fatalf("got %v (%v), want end of input; a channel failed with %v", e.Kind, err, ferr)
		}
		if ended[e.Channel] {
			t.Fatalf("channel %d ended twice", e.Channel)
		}
		ended[e.Channel] = true
	}
}

// TestNewAttemptForgetsEarlier opens channels of attempt 1 that no
// consumer registers, one of which its producer then abandons: registering
// a channel of attempt 2 forgets both, closing the one still open, whose
// producer learns it on its next Send.
func TestNewAttemptForgetsEarlier(t *testing.T) {
	recv, send := newManager(t), newManager(t)
	addr := recv.Addr().String()
	ctx := context.Background()
	open := func(id ChannelID) *Writer {
		t.Helper()
		w, err := send.Writer(ctx, addr, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	old0, old1 := chanID(0), chanID(1)
	w0, w1 := open(old0), open(old1)
	defer w0.Close()
	w1.Close() // before its end of input: the receiver records the failure
	waitFor(t, "the receiver to hold the channel opened and the one failed", func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		return recv.mu.pending[old0] != nil && recv.mu.failed[old1] != nil
	})
	next := chanID(0)
	next.Attempt = 2
	gate := exchange.NewGate(1, 4)
	if err := recv.Register(next, gate.Channel(0), func(error) {}); err != nil {
		t.Fatal(err)
	}
	recv.mu.Lock()
	left := len(recv.mu.pending) + len(recv.mu.failed)
	recv.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d channels of attempt 1 left after attempt 2 registered", left)
	}
	waitFor(t, "the producer of attempt 1 to learn its channel closed", w0.failed.Load)
	if err := w0.Send(ctx, exchange.Envelope{Kind: exchange.KindWatermark, Watermark: 1}); !errors.Is(err, ErrChannelClosed) {
		t.Fatalf("Send on the closed channel of attempt 1: got %v, want ErrChannelClosed", err)
	}
}
