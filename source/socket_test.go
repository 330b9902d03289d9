package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const socketConnFn = "source.(*socketConn)"

// serve listens on 127.0.0.1 and, for each connection accepted, writes
// content and then closes the connection, or, if hold is true, keeps it open
// until the test ends. It returns the address.
func serve(t *testing.T, content string, hold bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close() // also unblocks a Write to a reader that stopped reading
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				if _, err := c.Write([]byte(content)); err == nil && !hold {
					c.Close()
				}
			})
		}
	})
	return ln.Addr().String()
}

// closedAddr returns a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestSocket(t *testing.T) {
	var b strings.Builder
	want := []string{"first", "crlf", ""}
	b.WriteString("first\ncrlf\r\n\n")
	for i := range 5000 {
		line := fmt.Sprintf("line %d", i)
		want = append(want, line)
		b.WriteString(line + "\n")
	}
	b.WriteString("no newline")
	want = append(want, "no newline")
	addr := serve(t, b.String(), false)

	for _, p := range []int{1, 3} {
		src := Socket(addr)
		if src.Boundedness() != Unbounded {
			t.Fatalf("boundedness %v", src.Boundedness())
		}
		res, err := run(t, t.Context(), src, p, 0)
		if err != nil {
			t.Fatalf("p=%d: %v", p, err)
		}
		for i, ended := range res.ended {
			if !ended {
				t.Fatalf("p=%d: subtask %d did not end", p, i)
			}
		}
		if !slices.Equal(res.out[0], want) {
			t.Fatalf("p=%d: got %d lines, want %d", p, len(res.out[0]), len(want))
		}
		for i := 1; i < p; i++ {
			if len(res.out[i]) != 0 {
				t.Fatalf("p=%d: subtask %d read %d lines", p, i, len(res.out[i]))
			}
		}
	}
	waitGone(t, socketConnFn)
}

func TestSocketLongLine(t *testing.T) {
	long := strings.Repeat("s", 17<<20)
	addr := serve(t, "a\n"+long+"\nb\n", false)
	res, err := run(t, t.Context(), Socket(addr), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := res.all()
	if len(got) != 3 || got[0] != "a" || got[1] != long || got[2] != "b" {
		t.Fatalf("got %d lines, lengths %v", len(got), lineLengths(got))
	}
}

// startSocketReader makes a reader of src and gives it the split.
func startSocketReader(t *testing.T, src *SocketSource) Reader[string, SocketSplit] {
	t.Helper()
	r, err := src.CreateReader(readerCtx{p: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.AddSplits([]SocketSplit{{Addr: src.addr}})
	return r
}

// pollUntil polls r, waiting on Available, until cond holds of what it
// emitted or polling fails or ends.
func pollUntil(t *testing.T, r Reader[string, SocketSplit], out *sliceOutput[string], cond func() bool) (InputStatus, error) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		st, err := r.PollNext(out)
		if err != nil || st == EndOfInput || cond() {
			return st, err
		}
		if st == NothingAvailable {
			select {
			case <-r.Available():
			case <-timeout:
				t.Fatal("timed out polling")
			}
		}
	}
}

func closePromptly(t *testing.T, r interface{ Close() error }) {
	t.Helper()
	start := time.Now()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	waitGone(t, socketConnFn)
}

func TestSocketCloseWhileConnected(t *testing.T) {
	addr := serve(t, "hello\n", true)
	r := startSocketReader(t, Socket(addr))
	var out sliceOutput[string]
	st, err := pollUntil(t, r, &out, func() bool { return len(out.vals) == 1 })
	if err != nil || st == EndOfInput || out.vals[0] != "hello" {
		t.Fatalf("got %v %v %q", st, err, out.vals)
	}
	// The peer is quiet but connected: nothing more, and no end.
	if st, err := r.PollNext(&out); st != NothingAvailable || err != nil {
		t.Fatalf("got %v %v, want NothingAvailable", st, err)
	}
	closePromptly(t, r)
	if _, err := r.PollNext(&out); !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("poll after Close: got %v", err)
	}
}

func TestSocketCloseWhileRetrying(t *testing.T) {
	r := startSocketReader(t, Socket(closedAddr(t), SocketRetries(-1, 5*time.Millisecond)))
	var out sliceOutput[string]
	if st, err := r.PollNext(&out); st != NothingAvailable || err != nil {
		t.Fatalf("got %v %v, want NothingAvailable", st, err)
	}
	conn := r.(*socketReader).conn
	waitFor(t, "two failed connection attempts", func() bool { return conn.failed.Load() >= 2 })
	closePromptly(t, r)
}

// waitFor fails t unless cond becomes true within 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s", what)
		}
	}
}

func TestSocketCloseWithBackpressure(t *testing.T) {
	// The peer sends more than the reader queues; nobody polls.
	addr := serve(t, strings.Repeat("x\n", 1<<20), true)
	r := startSocketReader(t, Socket(addr))
	var out sliceOutput[string]
	if _, err := pollUntil(t, r, &out, func() bool { return len(out.vals) > 0 }); err != nil {
		t.Fatal(err)
	}
	conn := r.(*socketReader).conn
	waitFor(t, "full queue of lines", func() bool { return len(conn.batches) == cap(conn.batches) })
	closePromptly(t, r)
}

func TestSocketJobCancelled(t *testing.T) {
	addr := serve(t, "hello\n", true)
	src := Socket(addr)
	r, err := src.CreateReader(readerCtx{p: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r.AddSplits([]SocketSplit{{Addr: addr}})
	var out sliceOutput[string]
	if _, err := pollUntil(t, r, &out, func() bool { return len(out.vals) == 1 }); err != nil {
		t.Fatal(err)
	}
	cancel()
	// The reading goroutine stops when the job's context ends, even before
	// Close; PollNext then reports why.
	waitGone(t, socketConnFn)
	if _, err := pollUntil(t, r, &out, func() bool { return false }); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("got %v, want an error naming %s", err, addr)
	}
	closePromptly(t, r)
}

func TestSocketConnectError(t *testing.T) {
	addr := closedAddr(t)
	_, err := run(t, t.Context(), Socket(addr), 1, 0)
	if err == nil || !strings.Contains(err.Error(), addr) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("got %v, want connection refused naming %s", err, addr)
	}
	start := time.Now()
	_, err = run(t, t.Context(), Socket(addr, SocketRetries(3, 10*time.Millisecond)), 1, 0)
	if err == nil || !strings.Contains(err.Error(), "connecting to "+addr) {
		t.Fatalf("with retries: got %v, want an error naming %s", err, addr)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("3 retries 10ms apart gave up after %v", d)
	}
	waitGone(t, socketConnFn)
}

func TestSocketRetryConnects(t *testing.T) {
	addr := closedAddr(t)
	r := startSocketReader(t, Socket(addr, SocketRetries(-1, 5*time.Millisecond)))
	defer r.Close()
	r.NotifyNoMoreSplits()
	var out sliceOutput[string]
	if st, err := r.PollNext(&out); st != NothingAvailable || err != nil {
		t.Fatalf("got %v %v", st, err)
	}
	// The first attempt fails: the connection below is made by a retry.
	conn := r.(*socketReader).conn
	waitFor(t, "failed connection attempt", func() bool { return conn.failed.Load() >= 1 })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("late\n"))
		c.Close()
	}()
	st, err := pollUntil(t, r, &out, func() bool { return false })
	if st != EndOfInput || err != nil || !slices.Equal(out.vals, []string{"late"}) {
		t.Fatalf("got %v %v %q", st, err, out.vals)
	}
}

func TestSocketInvalid(t *testing.T) {
	for _, src := range []*SocketSource{Socket(""), Socket("127.0.0.1:1", SocketRetries(1, -time.Second))} {
		if _, err := src.CreateEnumerator(&harness[SocketSplit]{p: 1}); err == nil {
			t.Errorf("%q: CreateEnumerator: no error", src.addr)
		}
		if _, err := src.CreateReader(readerCtx{p: 1}); err == nil {
			t.Errorf("%q: CreateReader: no error", src.addr)
		}
	}
}
