package netx

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet/internal/exchange"
)

// pair returns a Writer and the gate channel 0 it feeds, through two
// managers on loopback.
func pair(t *testing.T, ctx context.Context, opts ...Option) (*Writer, *exchange.Gate) {
	t.Helper()
	recv := newManager(t)
	send := newManager(t, opts...)
	gate := exchange.NewGate(1, 4)
	fails := newFailures()
	t.Cleanup(func() {
		select {
		case <-fails.ch:
			t.Errorf("channel failed: %v", fails.errs[0])
		default:
		}
	})
	if err := recv.Register(chanID(0), gate.Channel(0), fails.fn(0)); err != nil {
		t.Fatal(err)
	}
	w, err := send.Writer(ctx, recv.Addr().String(), chanID(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	return w, gate
}

func TestBufferTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Run("flushed after the timeout", func(t *testing.T) {
		const timeout = 30 * time.Millisecond
		w, gate := pair(t, ctx, WithBufferTimeout(timeout))
		start := time.Now()
		if err := w.Send(ctx, encoded(1)); err != nil {
			t.Fatal(err)
		}
		e, _, err := gate.Next(ctx, nil, nil)
		if err != nil || string(e.Bytes) != "1" {
			t.Fatalf("got %+v, %v", e, err)
		}
		if d := time.Since(start); d < timeout {
			t.Errorf("a partly filled buffer arrived after %s, before the timeout %s", d, timeout)
		}
	})
	t.Run("flushed by an event or Flush", func(t *testing.T) {
		w, gate := pair(t, ctx, WithBufferTimeout(time.Hour))
		for _, e := range []exchange.Envelope{encoded(1), {Kind: exchange.KindWatermark, Watermark: 5}} {
			if err := w.Send(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range []exchange.Kind{exchange.KindEncoded, exchange.KindWatermark} {
			if e, _, err := gate.Next(ctx, nil, nil); err != nil || e.Kind != want {
				t.Fatalf("got %+v, %v; want %s", e, err, want)
			}
		}
		if err := w.Send(ctx, encoded(2)); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if e, _, err := gate.Next(ctx, nil, nil); err != nil || string(e.Bytes) != "2" {
			t.Fatalf("after Flush got %+v, %v", e, err)
		}
	})
	t.Run("envelopes larger than a buffer", func(t *testing.T) {
		w, gate := pair(t, ctx, WithBufferTimeout(time.Hour), WithBufferSize(256), WithMaxFrameSize(4096))
		small, large := []byte("small"), bytes.Repeat([]byte("x"), 1000)
		for _, b := range [][]byte{small, large, small} {
			if err := w.Send(ctx, exchange.Envelope{Kind: exchange.KindEncoded, Count: 1, Bytes: b}); err != nil {
				t.Fatal(err)
			}
		}
		err := w.Send(ctx, exchange.Envelope{Kind: exchange.KindEncoded, Count: 1, Bytes: make([]byte, 5000)})
		if err == nil || !strings.Contains(err.Error(), "exceeds the maximum frame size") {
			t.Errorf("sending 5000 bytes with frames of 4096: %v, want an error", err)
		}
		if err := w.Send(ctx, exchange.Envelope{Kind: exchange.KindEndOfInput}); err != nil {
			t.Fatal(err)
		}
		for _, want := range [][]byte{small, large, small} {
			if e, _, err := gate.Next(ctx, nil, nil); err != nil || !bytes.Equal(e.Bytes, want) {
				t.Fatalf("got %d bytes (%v), want %d", len(e.Bytes), err, len(want))
			}
		}
		if e, _, err := gate.Next(ctx, nil, nil); err != nil || e.Kind != exchange.KindEndOfInput {
			t.Fatalf("got %+v, %v; want end-of-input", e, err)
		}
	})
}
