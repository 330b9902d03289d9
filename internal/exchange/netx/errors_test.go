package netx

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet/internal/exchange"
)

// rawPeer dials m and shakes hands, as a sending process would.
func rawPeer(t *testing.T, m *Manager) (net.Conn, *frameReader) {
	t.Helper()
	nc, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if _, err := nc.Write(appendHello(nil, "raw")); err != nil {
		t.Fatal(err)
	}
	r := newFrameReader(nc)
	f, err := r.next(1 << 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseHello(f); err != nil {
		t.Fatal(err)
	}
	return nc, r
}

// waitClosed reads from a peer's connection until the other side closes it.
func waitClosed(t *testing.T, nc net.Conn, r *frameReader) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatalf("the connection was not closed: %v", err)
	}
}

func rawBuffer(ch uint32, body ...byte) []byte {
	b := appendHeader(nil, frameBuffer, 8+len(body))
	b = binary.BigEndian.AppendUint32(b, ch)
	b = binary.BigEndian.AppendUint32(b, 0)
	return append(b, body...)
}

// TestMalformedFrames: a peer that breaks the protocol fails its
// connection and every channel on it with an error naming the peer and
// what was wrong, and nothing panics.
func TestMalformedFrames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bytes []byte
		close bool // then close the connection
		want  string
	}{
		{name: "unknown type", bytes: appendHeader(nil, 99, 0), want: "unknown frame type 99"},
		{name: "oversized", bytes: appendHeader(nil, frameBuffer, DefaultMaxFrameSize+1), want: "exceeds the maximum"},
		{name: "truncated payload", bytes: append(appendHeader(nil, frameBuffer, 100), 1, 2, 3), close: true, want: "truncated buffer frame"},
		{name: "truncated header", bytes: []byte{0, 0}, close: true, want: "truncated frame header"},
		{name: "unopened channel", bytes: rawBuffer(9, byte(exchange.KindIdle), 0), want: "never opened"},
		{name: "bad envelope kind", bytes: rawBuffer(1, 200, 0), want: "malformed envelope"},
		{name: "short batch", bytes: rawBuffer(1, byte(exchange.KindEncoded), 0, 1, 0, 0, 0, 9, 1), want: "malformed encoded batch"},
		{name: "empty buffer", bytes: rawBuffer(1), want: "no envelopes"},
		{name: "credit to a receiver", bytes: appendChanInt(nil, frameCredit, 1, 1), want: "unexpected credit frame"},
		{name: "second hello", bytes: appendHello(nil, "again"), want: "unexpected hello frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recv := newManager(t)
			gate := exchange.NewGate(1, 2)
			fails := newFailures()
			if err := recv.Register(chanID(0), gate.Channel(0), fails.fn(0)); err != nil {
				t.Fatal(err)
			}
			nc, r := rawPeer(t, recv)
			msg := appendChanString(nil, frameOpen, 1, string(chanID(0).append(nil)))
			msg = append(msg, tc.bytes...)
			if _, err := nc.Write(msg); err != nil {
				t.Fatal(err)
			}
			if tc.close {
				nc.(*net.TCPConn).CloseWrite()
			}
			_, err := fails.wait(t)
			if !errors.Is(err, ErrConnection) || !errors.Is(err, ErrProtocol) {
				t.Errorf("error %v does not wrap ErrConnection and ErrProtocol", err)
			}
			for _, want := range []string{nc.LocalAddr().String(), `process "raw"`, tc.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			waitClosed(t, nc, r)
		})
	}
}

// TestBadHandshake: a connection that does not start with a valid hello
// is closed.
func TestBadHandshake(t *testing.T) {
	for name, hello := range map[string][]byte{
		"bad magic":   appendFrame(nil, frameHello, func(b []byte) []byte { return append(b, "HTTP/1.1"...) }),
		"old version": appendFrame(nil, frameHello, func(b []byte) []byte { return append(b, 'F', 'R', 'S', 'H', 0, 0, 0) }),
		"not a hello": appendChanInt(nil, frameCredit, 1, 1),
		"garbage":     []byte("GET / HTTP/1.1\r\n\r\n"),
	} {
		t.Run(name, func(t *testing.T) {
			recv := newManager(t)
			nc, err := net.Dial("tcp", recv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := nc.Write(hello); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, nc, newFrameReader(nc))
		})
	}
}

// TestReceiverBreaksProtocol: a sender whose receiver sends nonsense fails
// its channels.
func TestReceiverBreaksProtocol(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		r := newFrameReader(nc)
		if _, err := r.next(1 << 10); err != nil {
			return
		}
		nc.Write(appendHello(nil, "liar"))
		nc.Write(appendChanString(nil, frameOpen, 1, "x"))
		io.Copy(io.Discard, r)
	}()
	send := newManager(t, WithBufferTimeout(0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The connection fails at opening the channel or at a later Send.
	w, err := send.Writer(ctx, ln.Addr().String(), chanID(0), nil)
	if err == nil {
		err = sendUntilError(ctx, w)
	}
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "unexpected open frame") || !strings.Contains(err.Error(), `process "liar"`) {
		t.Errorf("Send failed with %v, want a protocol error naming the open frame and the peer", err)
	}
	send.Close()
	<-done
}

// sendUntilError sends watermarks until Send fails (the connection has no
// credit, so Send blocks after the backlog and overdraft until it fails).
func sendUntilError(ctx context.Context, w *Writer) error {
	for i := 0; ; i++ {
		if err := w.Send(ctx, exchange.Envelope{Kind: exchange.KindWatermark, Watermark: int64(i)}); err != nil {
			return err
		}
	}
}

// TestDeadPeer: a peer that goes away fails the channels on both sides.
func TestDeadPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Run("receiver", func(t *testing.T) {
		recv := newManager(t)
		send := newManager(t, WithBufferTimeout(0))
		w, err := send.Writer(ctx, recv.Addr().String(), chanID(0), nil)
		if err != nil {
			t.Fatal(err)
		}
		recv.Close()
		err = sendUntilError(ctx, w)
		if !errors.Is(err, ErrConnection) || !strings.Contains(err.Error(), recv.Addr().String()) {
			t.Errorf("Send failed with %v, want ErrConnection naming the peer", err)
		}
		if !w.IsAvailable() {
			t.Error("a failed channel is not available (Send must be called to learn why)")
		}
	})
	t.Run("sender", func(t *testing.T) {
		recv := newManager(t)
		send := newManager(t, WithBufferTimeout(0))
		gate := exchange.NewGate(2, 2)
		fails := newFailures()
		for i := range 2 {
			if err := recv.Register(chanID(i), gate.Channel(i), fails.fn(i)); err != nil {
				t.Fatal(err)
			}
			w, err := send.Writer(ctx, recv.Addr().String(), chanID(i), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Send(ctx, encoded(i)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 {
			if e, _, err := gate.Next(ctx, nil, nil); err != nil || e.Kind != exchange.KindEncoded {
				t.Fatalf("envelope %d: %+v, %v", i, e, err)
			}
		}
		send.Close()
		seen := map[int]bool{}
		for range 2 {
			i, err := fails.wait(t)
			seen[i] = true
			if !errors.Is(err, ErrConnection) || !strings.Contains(err.Error(), "reading") {
				t.Errorf("channel %d failed with %v, want ErrConnection from reading", i, err)
			}
		}
		if !seen[0] || !seen[1] {
			t.Errorf("failed channels %v, want both", seen)
		}
	})
}

// TestProducerAbandons: a producer that closes its channel before its end
// of input fails the consumer's channel, and only it.
func TestProducerAbandons(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recv := newManager(t)
	send := newManager(t, WithBufferTimeout(0))
	gate := exchange.NewGate(1, 2)
	fails := newFailures()
	if err := recv.Register(chanID(0), gate.Channel(0), fails.fn(0)); err != nil {
		t.Fatal(err)
	}
	w, err := send.Writer(ctx, recv.Addr().String(), chanID(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := fails.wait(t); !errors.Is(err, ErrChannelClosed) {
		t.Errorf("channel failed with %v, want ErrChannelClosed", err)
	}
	if err := w.Send(ctx, encoded(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}
