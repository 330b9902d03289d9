package taskmanager

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/exchange/netx"
)

func newNetManager(t *testing.T, id string) *netx.Manager {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := netx.NewManager(ln, netx.WithProcessID(id))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestNetworkDataPlaneNeedsAnAddress(t *testing.T) {
	p := NewNetworkDataPlane(newNetManager(t, "tm-0"))
	_, err := p.Channel(context.Background(), DataChannel{Job: "job", ConsumerVertex: 2, ConsumerSubtask: 1, TaskManager: "tm-9"})
	if err == nil || !strings.Contains(err.Error(), "no data address of TaskManager tm-9") {
		t.Fatalf("got %v, want an error naming TaskManager tm-9", err)
	}
}

// TestNetworkDataPlaneChannel sends records and end of input from one
// TaskManager's data plane to another's gate, then fails a channel by
// closing the sending side's manager: the receiving side's failure names
// the producer's TaskManager.
func TestNetworkDataPlaneChannel(t *testing.T) {
	send, recv := NewNetworkDataPlane(newNetManager(t, "tm-0")), newNetManager(t, "tm-1")
	gate := exchange.NewGate(2, 4)
	failed := make(chan error, 2)
	ch := func(i int) DataChannel {
		return DataChannel{Job: "job", Attempt: 3, ProducerVertex: 1, ProducerSubtask: i, ConsumerVertex: 2, Channel: i}
	}
	for i := range 2 {
		in := ch(i)
		in.TaskManager = "tm-0"
		stop, err := NewNetworkDataPlane(recv).Receive(in, gate.RemoteChannel(i), func(err error) { failed <- err })
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	ctx := context.Background()
	var ws []DataWriter
	for i := range 2 {
		out := ch(i)
		out.TaskManager, out.Address = "tm-1", recv.Addr().String()
		w, err := send.Channel(ctx, out)
		if err != nil {
			t.Fatal(err)
		}
		if !w.Remote() {
			t.Fatal("a network channel is not remote: its batches would not be encoded")
		}
		if c, ok := w.(exchange.CopyingChannel); !ok || !c.CopiesBytes() {
			t.Fatal("a network channel does not copy what it is sent: its batches would each be encoded into a new buffer")
		}
		ws = append(ws, w)
	}
	// What was sent is copied: the sender may reuse it once Send returns.
	sent := []byte{0}
	if err := ws[0].Send(ctx, exchange.Envelope{Kind: exchange.KindEncoded, Bytes: sent, Count: 0}); err != nil {
		t.Fatal(err)
	}
	sent[0] = 7
	if err := ws[0].Send(ctx, exchange.Envelope{Kind: exchange.KindEndOfInput}); err != nil {
		t.Fatal(err)
	}
	ws[0].Close()
	for _, want := range []exchange.Kind{exchange.KindEncoded, exchange.KindEndOfInput} {
		e, _, err := gate.Next(ctx, nil, nil)
		if err != nil || e.Kind != want || e.Channel != 0 {
			t.Fatalf("got %v on channel %d (%v), want %v on channel 0", e.Kind, e.Channel, err, want)
		}
		if want == exchange.KindEncoded && !bytes.Equal(e.Bytes, []byte{0}) {
			t.Fatalf("got bytes %v, want [0] as sent", e.Bytes)
		}
	}
	// Channel 1's producer goes away before its end of input.
	ws[1].Close()
	select {
	case err := <-failed:
		if !errors.Is(err, netx.ErrChannelClosed) || !strings.Contains(err.Error(), "from TaskManager tm-0") {
			t.Fatalf("got %v, want a closed channel naming TaskManager tm-0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the receiving side did not fail")
	}
}
