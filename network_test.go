package freshet_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/internal/exchange/netx"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/state"
)

// keySum is a key's final sum, read from state at the end of input.
type keySum struct {
	Key int
	Sum int64
}

var keySumState = state.NewValue[int64]("sum")

// sumJob sums the numbers 0 to n-1 per key (the number modulo keys) and
// emits each key's sum from state when input ends; f, when not nil, fails
// the attempts it is set up to fail.
func sumJob(p int, n int64, keys int, rate float64, f *failer, out *collectSink[keySum], opts ...freshet.Option) *freshet.Env {
	opts = append([]freshet.Option{
		freshet.WithParallelism(p),
		freshet.WithTaskManagers(2),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(50, 10*time.Millisecond)),
		freshet.WithLogger(slog.New(slog.DiscardHandler)),
	}, opts...)
	env := freshet.NewEnv(opts...)
	nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n), source.GeneratorRate(rate)), "numbers")
	sums := freshet.KeyedProcess(freshet.KeyBy(nums, func(v int64) int { return int(v % int64(keys)) }),
		freshet.KeyedProcessFuncWithTimers(
			func(ctx *freshet.KeyedContext[int], v int64, _ freshet.Collector[keySum]) error {
				if f != nil {
					if err := f.check(ctx.Runtime().Attempt()); err != nil {
						return err
					}
				}
				s := state.Value(ctx.State(), keySumState)
				k, ok := s.Value()
				if !ok {
					ctx.TimerService().RegisterEventTimeTimer(math.MaxInt64)
				}
				s.Update(k + v)
				return nil
			},
			func(ctx *freshet.KeyedContext[int], _ int64, out freshet.Collector[keySum]) error {
				k, _ := state.Value(ctx.State(), keySumState).Value()
				out.Collect(keySum{Key: ctx.CurrentKey(), Sum: k})
				return nil
			})).UID("summer")
	freshet.SinkTo(sums, out, "sums")
	return env
}

// checkSums checks that got holds the sum of every key of 0 to n-1 exactly.
func checkSums(t *testing.T, got map[int]keySum, n int64, keys int) {
	t.Helper()
	if len(got) != keys {
		t.Fatalf("got the sums of %d keys, want %d", len(got), keys)
	}
	for k := range keys {
		// k, k+keys, …, below n.
		m := (n - int64(k) + int64(keys) - 1) / int64(keys)
		want := keySum{Key: k, Sum: int64(k)*m + int64(keys)*m*(m-1)/2}
		if got[k] != want {
			t.Fatalf("key %d: got %+v, want %+v", k, got[k], want)
		}
	}
}

// lastSums is each key's sum from the last attempt that emitted it.
func lastSums(c *collectSink[keySum]) map[int]keySum {
	c.mu.Lock()
	defer c.mu.Unlock()
	latest := map[int]int{}
	out := map[int]keySum{}
	for a, vals := range c.vals {
		for _, ks := range vals {
			if prev, ok := latest[ks.Key]; !ok || a > prev {
				latest[ks.Key], out[ks.Key] = a, ks
			}
		}
	}
	return out
}

// tap is the listener of a TaskManager's data connections in a test: it
// counts the connections it accepts and can inject a frame into what one
// of them reads, after a number of the peer's frames.
type tap struct {
	net.Listener
	accepted atomic.Int32
	// inject, when set, is the frame the first connection of any tap to
	// carry after frames of its peer reads next; with cut, that
	// connection is closed there instead, as if its peer had gone.
	// injected tells that one was.
	inject   []byte
	cut      bool
	after    int
	injected *atomic.Bool
}

func (l *tap) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	return &tapConn{Conn: c, tap: l}, nil
}

// tapConn follows the frames of what it reads (a 4-byte length and a type
// byte, then the payload), so that its tap can inject one between two.
type tapConn struct {
	net.Conn
	tap     *tap
	frames  int
	hdr     int    // header bytes of the current frame seen
	length  []byte // the current frame's length bytes
	rem     int    // payload bytes of the current frame still to come
	pending []byte // bytes read and not yet returned
	inject  []byte // injected bytes not yet returned
	buf     []byte
}

func (c *tapConn) Read(p []byte) (int, error) {
	if len(c.inject) > 0 {
		n := copy(p, c.inject)
		c.inject = c.inject[n:]
		return n, nil
	}
	atBoundary := c.hdr == 0 && c.rem == 0
	if len(c.pending) == 0 {
		if atBoundary && (c.tap.inject != nil || c.tap.cut) && c.frames >= c.tap.after && c.tap.injected.CompareAndSwap(false, true) {
			if c.tap.cut {
				c.Conn.Close()
				return 0, io.EOF
			}
			c.inject = c.tap.inject
			return c.Read(p)
		}
		if len(c.buf) < len(p) {
			c.buf = make([]byte, len(p))
		}
		n, err := c.Conn.Read(c.buf[:len(p)])
		if n == 0 {
			return 0, err
		}
		c.pending = c.buf[:n]
	}
	// Return up to the end of the current frame, so that an injection
	// lands between two frames.
	n := 0
	for n < len(p) && n < len(c.pending) {
		switch {
		case c.rem > 0:
			k := min(c.rem, len(p)-n, len(c.pending)-n)
			c.rem -= k
			n += k
		default:
			b := c.pending[n]
			n++
			c.hdr++
			if c.hdr <= 4 {
				c.length = append(c.length, b)
			}
			if c.hdr == 5 {
				c.rem = int(binary.BigEndian.Uint32(c.length))
				c.hdr, c.length = 0, c.length[:0]
			}
		}
		if c.hdr == 0 && c.rem == 0 {
			c.frames++
			break
		}
	}
	copy(p, c.pending[:n])
	c.pending = c.pending[n:]
	return n, nil
}

// taps returns a listen function for WithTestNetwork that makes every
// TaskManager's listener a tap, and the taps by TaskManager.
func taps(t *testing.T, inject []byte, cut bool, after int) (func(string) (net.Listener, error), map[string]*tap) {
	t.Helper()
	var mu sync.Mutex
	out := map[string]*tap{}
	injected := new(atomic.Bool)
	listen := func(tm string) (net.Listener, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		l := &tap{Listener: ln, inject: inject, cut: cut, after: after, injected: injected}
		mu.Lock()
		out[tm] = l
		mu.Unlock()
		return l, nil
	}
	return listen, out
}

// TestNetworkKeyedSum runs a keyed sum at parallelism 4 over two
// TaskManagers joined by the network data plane: every record crosses a
// loopback TCP connection or stays in its TaskManager, and the sums are
// exact.
func TestNetworkKeyedSum(t *testing.T) {
	defer goleak.VerifyNone(t)
	const (
		n    = 200000
		keys = 100
	)
	listen, tms := taps(t, nil, false, 0)
	out := &collectSink[keySum]{}
	env := sumJob(4, n, keys, 0, nil, out, freshet.WithTestNetwork(listen))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := env.Execute(ctx, "network-sum"); err != nil {
		t.Fatal(err)
	}
	checkSums(t, lastSums(out), n, keys)
	if len(tms) != 2 {
		t.Fatalf("%d TaskManagers listened for data connections, want 2", len(tms))
	}
	for id, l := range tms {
		if got := l.accepted.Load(); got != 1 {
			t.Errorf("TaskManager %s accepted %d data connections, want 1 (from the other)", id, got)
		}
	}
}

// TestNetworkExactlyOnceUnderFailures runs the keyed sum over the network
// data plane with aligned checkpoints and injected failures: the last
// attempt restores from a checkpoint and the sums are exact.
func TestNetworkExactlyOnceUnderFailures(t *testing.T) {
	const (
		n    = 30000
		keys = 50
	)
	for i, tc := range []struct {
		name string
		opts []freshet.CheckpointOption
	}{
		{"aligned", nil},
		// Barriers overtake the buffers in flight, on the wire as
		// priority events.
		{"unaligned", []freshet.CheckpointOption{freshet.UnalignedCheckpoints()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The last failure only once a checkpoint completed in its
			// attempt, so that the last attempt restores.
			f := newFailer(3, n/12, n/8, uint64(7+i))
			f.armed, f.armFrom = new(atomic.Bool), 2
			out := &collectSink[keySum]{}
			ckOpts := append([]freshet.CheckpointOption{freshet.CheckpointStorage(t.TempDir())}, tc.opts...)
			env := sumJob(4, n, keys, 20000, f, out, freshet.WithNetworkDataPlane(), freshet.WithCheckpointing(100*time.Millisecond, ckOpts...))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			jc, err := env.ExecuteAsync(ctx, "network-sum-"+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			f.armAfterCheckpoints(jc)
			if err := jc.Wait(); err != nil {
				t.Fatalf("job failed: %v", err)
			}
			if got := jc.Restarts(); got < 3 || f.failed.Load() < 3 {
				t.Fatalf("restarted %d times after %d injected failures, want at least 3", got, f.failed.Load())
			}
			if last := f.processed(jc.Restarts()); last >= n {
				t.Fatalf("the last attempt processed %d records, want fewer than %d (a restore)", last, n)
			}
			checkSums(t, lastSums(out), n, keys)
		})
	}
}

// TestNetworkConnectionFailures breaks a data connection while the job
// runs, with a truncated buffer frame injected into it or by closing it as
// if its peer had gone: the subtasks using it fail with an error naming
// the peer, and the job restarts and finishes with exact sums.
func TestNetworkConnectionFailures(t *testing.T) {
	const (
		n    = 200000
		keys = 100
	)
	for _, tc := range []struct {
		name   string
		inject []byte
		cut    bool
		// want is what the failure of the side that found the
		// connection broken says, after naming the peer.
		want  string
		match error
	}{
		// A buffer frame of 3 bytes: too short for its channel number.
		{"truncated frame", []byte{0, 0, 0, 3, 3, 0, 0, 0}, false, "malformed buffer channel", netx.ErrProtocol},
		{"peer gone", nil, true, "connection closed by peer", netx.ErrConnection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			listen, tms := taps(t, tc.inject, tc.cut, 16)
			logger, logs := newLogger()
			out := &collectSink[keySum]{}
			env := sumJob(4, n, keys, 0, nil, out, freshet.WithTestNetwork(listen), freshet.WithLogger(logger))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			jc, err := env.ExecuteAsync(ctx, "network-failure")
			if err != nil {
				t.Fatal(err)
			}
			if err := jc.Wait(); err != nil {
				t.Fatalf("job failed: %v", err)
			}
			if !tms["tm-0"].injected.Load() {
				t.Fatal("the connection was not broken")
			}
			if jc.Restarts() < 1 {
				t.Fatalf("the job did not restart after the connection broke")
			}
			checkSums(t, lastSums(out), n, keys)
			// The receiving side found what was wrong: its subtasks
			// fail with an error naming the peer's TaskManager and
			// address.
			var cause error
			for _, e := range logs.where("subtask failed") {
				if err, ok := e.Attrs["error"].Any().(error); ok && errors.Is(err, tc.match) && strings.Contains(err.Error(), tc.want) {
					cause = err
					break
				}
			}
			if cause == nil {
				t.Fatalf("no subtask failed with %q; failures: %v", tc.want, logs.where("subtask failed"))
			}
			msg := cause.Error()
			if !errors.Is(cause, netx.ErrConnection) || !strings.Contains(msg, `(process "tm-`) || !strings.Contains(msg, "TaskManager tm-") {
				t.Fatalf("failure %q does not name the peer", msg)
			}
			t.Logf("failure: %v", cause)
		})
	}
}

// heldSink's writers block in their first write until release is
// closed, then count what they write.
type heldSink struct {
	blocked chan struct{}
	release chan struct{}
	once    sync.Once
	n       atomic.Int64
}

func (s *heldSink) CreateWriter(sink.InitContext) (sink.Writer[int64], error) { return s, nil }

func (s *heldSink) Write(int64, sink.Context) error {
	s.once.Do(func() {
		close(s.blocked)
		<-s.release
	})
	s.n.Add(1)
	return nil
}
func (s *heldSink) Flush(bool) error { return nil }
func (s *heldSink) Close() error     { return nil }

// tallySink counts what it writes.
type tallySink struct{ n atomic.Int64 }

func (s *tallySink) CreateWriter(sink.InitContext) (sink.Writer[int64], error) { return s, nil }
func (s *tallySink) Write(int64, sink.Context) error                           { s.n.Add(1); return nil }
func (s *tallySink) Flush(bool) error                                          { return nil }
func (s *tallySink) Close() error                                              { return nil }

// TestNetworkSlowConsumer runs two independent pipelines whose sources
// share one TaskManager and whose sinks share the other, so both channels
// share one connection. While one sink does not read, its source is held
// back by the flow control, and the other pipeline runs to its end.
func TestNetworkSlowConsumer(t *testing.T) {
	defer goleak.VerifyNone(t)
	const n = 400000
	slow := &heldSink{blocked: make(chan struct{}), release: make(chan struct{})}
	released := false
	defer func() {
		if !released {
			close(slow.release)
		}
	}()
	fast := &tallySink{}
	var emittedA atomic.Int64
	listen, tms := taps(t, nil, false, 0)
	env := freshet.NewEnv(freshet.WithTaskManagers(2), freshet.WithTestNetwork(listen), freshet.WithLogger(slog.New(slog.DiscardHandler)))
	a := freshet.Map(freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n)), "a"),
		func(v int64) int64 { emittedA.Add(1); return v })
	freshet.SinkTo(a, slow, "slow").SlotSharingGroup("sinks")
	b := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n)), "b")
	freshet.SinkTo(b, fast, "fast").SlotSharingGroup("sinks")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "network-slow-consumer")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-slow.blocked:
	case <-jc.Done():
		t.Fatalf("job ended before the slow sink wrote: %v", jc.Err())
	}
	for fast.n.Load() < n {
		select {
		case <-jc.Done():
			t.Fatalf("job ended with the fast sink at %d records: %v", fast.n.Load(), jc.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	// The slow pipeline's source emitted what the buffers between it and
	// its sink hold, and waits.
	if got := emittedA.Load(); got >= n/2 {
		t.Fatalf("the slow sink's source emitted %d of %d records while the sink read none", got, n)
	}
	if got := tms["tm-1"].accepted.Load(); got != 1 {
		t.Fatalf("the sinks' TaskManager accepted %d data connections, want 1", got)
	}
	t.Logf("the slow sink's source emitted %d records while blocked", emittedA.Load())
	close(slow.release)
	released = true
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := slow.n.Load(); got != n {
		t.Fatalf("the slow sink wrote %d records, want %d", got, n)
	}
}
