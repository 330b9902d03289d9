package netx

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/freshet-io/freshet/internal/exchange"
)

func encoded(i int) exchange.Envelope {
	return exchange.Envelope{Kind: exchange.KindEncoded, Count: 1, Bytes: []byte(fmt.Sprint(i))}
}

// produce sends n encoded envelopes then end-of-input, waiting for room
// as a subtask does.
func produce(ctx context.Context, w *Writer, from, n int) error {
	for i := from; i < n; i++ {
		for !w.IsAvailable() {
			select {
			case <-w.Available():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := w.Send(ctx, encoded(i)); err != nil {
			return err
		}
	}
	return w.Send(ctx, exchange.Envelope{Kind: exchange.KindEndOfInput})
}

// TestSlowConsumer: a consumer that does not read backpressures its own
// producer only; the other channels on the connection run to their end.
func TestSlowConsumer(t *testing.T) {
	const fast, records = 3, 200
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recv := newManager(t, WithBuffers(2))
	send := newManager(t, WithBufferTimeout(0), WithBacklog(2))
	slowGate := exchange.NewGate(1, 2)
	gate := exchange.NewGate(fast, 2)
	fails := newFailures()
	slowID := ChannelID{Job: "job", ConsumerVertex: 3}
	if err := recv.Register(slowID, slowGate.Channel(0), fails.fn(-1)); err != nil {
		t.Fatal(err)
	}
	slow, err := send.Writer(ctx, recv.Addr().String(), slowID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	// The system holds 6 envelopes: 2 in the gate, one in each of the
	// receiver's 2 buffers, 2 in the sender's backlog; then the channel
	// stays unavailable.
	const sent = 6
	for i := range sent {
		for !slow.IsAvailable() {
			select {
			case <-slow.Available():
			case <-ctx.Done():
				t.Fatalf("envelope %d: the slow channel has no room", i)
			}
		}
		if err := slow.Send(ctx, encoded(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the slow channel to be unavailable", func() bool { return !slow.IsAvailable() })

	var wg sync.WaitGroup
	errs := make(chan error, fast)
	for i := range fast {
		if err := recv.Register(chanID(i), gate.Channel(i), fails.fn(i)); err != nil {
			t.Fatal(err)
		}
		w, err := send.Writer(ctx, recv.Addr().String(), chanID(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.Close()
			errs <- produce(ctx, w, 0, records)
		}()
	}
	got := make([]int, fast)
	for ended := 0; ended < fast; {
		e, _, err := gate.Next(ctx, nil, nil)
		if err != nil {
			t.Fatalf("reading the fast channels: %v (got %v)", err, got)
		}
		switch e.Kind {
		case exchange.KindEncoded:
			if string(e.Bytes) != fmt.Sprint(got[e.Channel]) {
				t.Fatalf("channel %d: got %s, want %d", e.Channel, e.Bytes, got[e.Channel])
			}
			got[e.Channel]++
		case exchange.KindEndOfInput:
			ended++
		}
	}
	wg.Wait()
	for range fast {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range got {
		if n != records {
			t.Errorf("fast channel %d got %d records, want %d", i, n, records)
		}
	}
	if slow.IsAvailable() {
		t.Error("the slow channel became available while its consumer read nothing")
	}
	if q := slowGate.Queued(0); q != 2 {
		t.Errorf("the slow gate holds %d envelopes, want its capacity 2", q)
	}

	// Once its consumer reads, the slow channel delivers everything.
	errc := make(chan error, 1)
	go func() { errc <- produce(ctx, slow, sent, 50) }()
	for i := 0; ; i++ {
		e, _, err := slowGate.Next(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == exchange.KindEndOfInput {
			if i != 50 {
				t.Fatalf("the slow channel ended after %d envelopes, want 50", i)
			}
			break
		}
		if string(e.Bytes) != fmt.Sprint(i) {
			t.Fatalf("slow channel: got %s, want %d", e.Bytes, i)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	select {
	case i := <-fails.ch:
		t.Fatalf("channel %d failed: %v", i, fails.errs[i])
	default:
	}
}

// notifying tells when a priority event reached the gate channel.
type notifying struct {
	exchange.ChannelWriter
	prio chan struct{}
}

func (n *notifying) Send(ctx context.Context, e exchange.Envelope) error {
	err := n.ChannelWriter.Send(ctx, e)
	if e.Priority {
		n.prio <- struct{}{}
	}
	return err
}

// TestPriorityEvent: an unaligned checkpoint's barrier overtakes the
// buffers queued on the way, needing no credit.
func TestPriorityEvent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recv := newManager(t, WithBuffers(2))
	send := newManager(t, WithBufferTimeout(0), WithBacklog(2))
	gate := exchange.NewGate(1, 2)
	target := &notifying{ChannelWriter: gate.Channel(0), prio: make(chan struct{}, 1)}
	fails := newFailures()
	if err := recv.Register(chanID(0), target, fails.fn(0)); err != nil {
		t.Fatal(err)
	}
	w, err := send.Writer(ctx, recv.Addr().String(), chanID(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	sent := 0
	for ; w.IsAvailable(); sent++ {
		if err := w.Send(ctx, encoded(sent)); err != nil {
			t.Fatal(err)
		}
	}
	barrier := exchange.Envelope{Kind: exchange.KindBarrier, Checkpoint: 3, Priority: true}
	if err := w.Send(ctx, barrier); err != nil {
		t.Fatal(err)
	}
	select {
	case <-target.prio:
	case <-ctx.Done():
		t.Fatal("the priority barrier did not arrive while the channel was backpressured")
	}
	e, _, err := gate.Next(ctx, nil, nil)
	if err != nil || e.Kind != exchange.KindBarrier || !e.Priority || e.Checkpoint != 3 {
		t.Fatalf("first envelope %+v (%v), want the priority barrier", e, err)
	}
	go func() { _ = produce(ctx, w, sent, sent+5) }()
	for i := 0; i < sent+5; i++ {
		e, _, err := gate.Next(ctx, nil, nil)
		if err != nil || string(e.Bytes) != fmt.Sprint(i) {
			t.Fatalf("envelope %d: %+v (%v)", i, e, err)
		}
	}
	if e, _, err := gate.Next(ctx, nil, nil); err != nil || e.Kind != exchange.KindEndOfInput {
		t.Fatalf("last envelope %+v (%v), want end-of-input", e, err)
	}
}

// waitFor polls until cond holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestUnalignedBarrier: a priority barrier overtakes envelopes still in the
// network and carries the producer's count of what was sent before it;
// Gate.Spill then gets exactly those, more than the gate channel holds,
// which the network keeps delivering although the channel is full.
func TestUnalignedBarrier(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recv := newManager(t, WithBuffers(2))
	send := newManager(t, WithBufferTimeout(0), WithBacklog(2))
	gate := exchange.NewGate(1, 2)
	target := &notifying{ChannelWriter: gate.RemoteChannel(0), prio: make(chan struct{}, 1)}
	fails := newFailures()
	if err := recv.Register(chanID(0), target, fails.fn(0)); err != nil {
		t.Fatal(err)
	}
	w, err := send.Writer(ctx, recv.Addr().String(), chanID(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// 6 envelopes fill the gate channel (2), the receiver's buffers (2)
	// and the sender's backlog (2).
	const sent = 6
	for i := range sent {
		for !w.IsAvailable() {
			<-w.Available()
		}
		if err := w.Send(ctx, encoded(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the channel to be unavailable", func() bool { return !w.IsAvailable() })
	if err := w.Send(ctx, exchange.Envelope{Kind: exchange.KindBarrier, Checkpoint: 1, Priority: true}); err != nil {
		t.Fatal(err)
	}
	<-target.prio
	e, _, err := gate.Next(ctx, nil, nil)
	if err != nil || e.Kind != exchange.KindBarrier || e.Seq != int64(sent) {
		t.Fatalf("first envelope %+v (%v), want the barrier with Seq %d", e, err, sent)
	}
	spilled, err := gate.Spill(ctx, 0, e.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if len(spilled) != sent {
		t.Fatalf("spilled %d envelopes, want %d", len(spilled), sent)
	}
	for i, s := range spilled {
		if string(s.Bytes) != fmt.Sprint(i) {
			t.Fatalf("spilled envelope %d is %s", i, s.Bytes)
		}
	}
	go func() { _ = produce(ctx, w, sent, sent+10) }()
	for i := 0; i < sent+10; i++ {
		e, _, err := gate.Next(ctx, nil, nil)
		if err != nil || string(e.Bytes) != fmt.Sprint(i) {
			t.Fatalf("envelope %d: %+v (%v)", i, e, err)
		}
	}
	if e, _, err := gate.Next(ctx, nil, nil); err != nil || e.Kind != exchange.KindEndOfInput {
		t.Fatalf("last envelope %+v (%v), want end-of-input", e, err)
	}
}

// TestReleasedBytes: a consumer that releases each encoded envelope's
// bytes once it has read them reads every envelope intact while the
// receiver reuses its slabs (several megabytes cross the connection, many
// times a slab), including those it holds on to: the last few, and every
// 50th until the end.
func TestReleasedBytes(t *testing.T) {
	const n, size, window = 1000, 10 << 10, 3
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recv := newManager(t)
	send := newManager(t, WithBufferTimeout(0))
	gate := exchange.NewGate(1, 4)
	if err := recv.Register(chanID(0), gate.Channel(0), newFailures().fn(0)); err != nil {
		t.Fatal(err)
	}
	w, err := send.Writer(ctx, recv.Addr().String(), chanID(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	body := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8)}, size/2) }
	errs := make(chan error, 1)
	go func() {
		for i := range n {
			for !w.IsAvailable() {
				select {
				case <-w.Available():
				case <-ctx.Done():
					errs <- ctx.Err()
					return
				}
			}
			if err := w.Send(ctx, exchange.Envelope{Kind: exchange.KindEncoded, Count: 1, Bytes: body(i)}); err != nil {
				errs <- err
				return
			}
		}
		errs <- w.Send(ctx, exchange.Envelope{Kind: exchange.KindEndOfInput})
	}()
	held := map[int]*exchange.Envelope{} // read, not yet released
	release := func(i int) {
		t.Helper()
		e := held[i]
		delete(held, i)
		if e.Owner == nil {
			t.Fatalf("envelope %d has no owner", i)
		}
		if !bytes.Equal(e.Bytes, body(i)) {
			t.Fatalf("envelope %d was overwritten before its release", i)
		}
		e.ReleaseBytes()
	}
	for i := 0; ; i++ {
		e, _, err := gate.Next(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == exchange.KindEndOfInput {
			if i != n {
				t.Fatalf("end of input after %d envelopes, want %d", i, n)
			}
			break
		}
		held[i] = &e
		if j := i - window; j >= 0 && j%50 != 0 {
			release(j)
		}
	}
	for i := range n {
		if held[i] != nil {
			release(i)
		}
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}
