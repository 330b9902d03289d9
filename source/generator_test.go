package source

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func identity(i int64) int64 { return i }

// checkStrided checks that subtask i of p emitted i, i+p, i+2p, … in order.
func checkStrided(t *testing.T, out [][]int64) {
	t.Helper()
	p := int64(len(out))
	for i, vals := range out {
		for k, v := range vals {
			if want := int64(i) + int64(k)*p; v != want {
				t.Fatalf("subtask %d value %d: got index %d, want %d", i, k, v, want)
			}
		}
	}
}

func TestGeneratorBounded(t *testing.T) {
	for _, tc := range []struct {
		p     int
		count int64
	}{{1, 1000}, {3, 1000}, {3, 2}, {4, 1}, {3, 64 * 3}} {
		src := Generator(identity, GeneratorCount(tc.count))
		if src.Boundedness() != Bounded {
			t.Fatalf("count %d: boundedness %v, want bounded", tc.count, src.Boundedness())
		}
		res, err := run(t, t.Context(), src, tc.p, 0)
		if err != nil {
			t.Fatalf("p=%d count=%d: %v", tc.p, tc.count, err)
		}
		for i, ended := range res.ended {
			if !ended {
				t.Fatalf("p=%d count=%d: subtask %d did not end", tc.p, tc.count, i)
			}
		}
		checkStrided(t, res.out)
		all := res.all()
		slices.Sort(all)
		if int64(len(all)) != tc.count {
			t.Fatalf("p=%d count=%d: got %d records", tc.p, tc.count, len(all))
		}
		for i, v := range all {
			if v != int64(i) {
				t.Fatalf("p=%d count=%d: index %d missing or repeated", tc.p, tc.count, i)
			}
		}
	}
}

func TestGeneratorUnbounded(t *testing.T) {
	for _, p := range []int{1, 3} {
		src := Generator(identity, GeneratorCount(0))
		if src.Boundedness() != Unbounded {
			t.Fatalf("boundedness %v, want unbounded", src.Boundedness())
		}
		res, err := run(t, t.Context(), src, p, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(res.all()); n < 10_000 {
			t.Fatalf("p=%d: got %d records, want at least 10000", p, n)
		}
		for i, ended := range res.ended {
			if ended {
				t.Fatalf("p=%d: unbounded subtask %d ended", p, i)
			}
		}
		checkStrided(t, res.out)
	}
}

// fakeTime is the clock and the timers of a paced reader in a test: time
// moves only when the test moves it.
type fakeTime struct {
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at            time.Time
	d             time.Duration
	f             func()
	stopped, done bool
}

func (t *fakeTimer) Stop() bool {
	if t.stopped || t.done {
		return false
	}
	t.stopped = true
	return true
}

func (c *fakeTime) Now() time.Time { return c.now }

func (c *fakeTime) AfterFunc(d time.Duration, f func()) stopper {
	t := &fakeTimer{at: c.now.Add(d), d: d, f: f}
	c.timers = append(c.timers, t)
	return t
}

// pending returns the one timer armed and not stopped or fired, or nil.
func (c *fakeTime) pending(t *testing.T) *fakeTimer {
	t.Helper()
	var p *fakeTimer
	for _, tm := range c.timers {
		if !tm.stopped && !tm.done {
			if p != nil {
				t.Fatal("two timers pending")
			}
			p = tm
		}
	}
	return p
}

// fire moves the clock to tm's time and runs it.
func (c *fakeTime) fire(tm *fakeTimer) {
	c.now = tm.at
	tm.done = true
	tm.f()
}

// pacedReader returns a reader of subtask 0 of p of a generator source
// limited to perSecond, on a fake clock starting at t0, reading its
// unbounded split.
func pacedReader(t *testing.T, perSecond float64, p int) (*generatorReader[int64], *fakeTime) {
	t.Helper()
	r, err := Generator(identity, GeneratorRate(perSecond)).CreateReader(readerCtx{p: p})
	if err != nil {
		t.Fatal(err)
	}
	gr := r.(*generatorReader[int64])
	clk := &fakeTime{now: time.Unix(1000, 0)}
	gr.now, gr.after = clk.Now, clk.AfterFunc
	if err := gr.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	gr.AddSplits([]GeneratorSplit{{ID: 0, Stride: int64(p), Next: 0, End: math.MaxInt64}})
	return gr, clk
}

// drive polls r, firing each timer it arms, until the next timer would
// fire after until; it returns how many records r emitted and the waits it
// asked for.
func drive(t *testing.T, r *generatorReader[int64], clk *fakeTime, out Output[int64], until time.Time) (waits []time.Duration) {
	t.Helper()
	for {
		st, err := r.PollNext(out)
		if err != nil || st == EndOfInput {
			t.Fatalf("poll: %v %v", st, err)
		}
		if st == MoreAvailable {
			continue
		}
		tm := clk.pending(t)
		if tm == nil {
			t.Fatal("NothingAvailable without a timer for the next tokens")
		}
		select {
		case <-r.Available():
			t.Fatal("Available ready before the next tokens are due")
		default:
		}
		if tm.at.After(until) {
			return waits
		}
		waits = append(waits, tm.d)
		clk.fire(tm)
		select {
		case <-r.Available():
		default:
			t.Fatal("Available not ready when the next tokens are due")
		}
	}
}

// TestGeneratorRate paces readers on a fake clock: each of p readers emits
// its share of the rate, one token at the start and then one every
// 1/share seconds, woken by a timer for each.
func TestGeneratorRate(t *testing.T) {
	for _, tc := range []struct {
		p    int
		wait time.Duration
	}{{1, 5 * time.Millisecond}, {4, 20 * time.Millisecond}} {
		r, clk := pacedReader(t, 200, tc.p)
		var out sliceOutput[int64]
		start := clk.now
		waits := drive(t, r, clk, &out, start.Add(10*time.Second))
		share := 200 / tc.p
		if want := 1 + 10*share; len(out.vals) != want {
			t.Fatalf("p=%d: %d records in 10 s, want %d", tc.p, len(out.vals), want)
		}
		for i, v := range out.vals {
			if v != int64(i*tc.p) {
				t.Fatalf("p=%d: record %d is index %d, want %d", tc.p, i, v, i*tc.p)
			}
		}
		if len(waits) != 10*share || slices.ContainsFunc(waits, func(d time.Duration) bool { return d != tc.wait }) {
			t.Fatalf("p=%d: %d waits (%v…), want %d of %v", tc.p, len(waits), waits[:3], 10*share, tc.wait)
		}
		// A reader held up for an hour catches up on its reserved token
		// and one second's worth, not on the hour.
		clk.now = clk.now.Add(time.Hour)
		n := len(out.vals)
		for {
			st, err := r.PollNext(&out)
			if err != nil {
				t.Fatal(err)
			}
			if st == NothingAvailable {
				break
			}
		}
		if got := len(out.vals) - n; got != 1+share {
			t.Fatalf("p=%d: %d records after an hour's pause, want %d", tc.p, got, 1+share)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if tm := clk.pending(t); tm != nil {
			t.Fatalf("p=%d: timer still pending after Close", tc.p)
		}
	}
}

func TestGeneratorRateBounded(t *testing.T) {
	// A rate high enough to take little time still paces and still ends.
	res, err := run(t, t.Context(), Generator(identity, GeneratorRate(20_000), GeneratorCount(500)), 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.all()); n != 500 {
		t.Fatalf("got %d records, want 500", n)
	}
	checkStrided(t, res.out)
}

func TestGeneratorInvalid(t *testing.T) {
	for _, tc := range []struct {
		src  *GeneratorSource[int64]
		want string
	}{
		{Generator(identity, GeneratorRate(-1)), "records per second"},
		{Generator(identity, GeneratorRate(math.NaN())), "records per second"},
		{Generator(identity, GeneratorRate(math.Inf(1))), "records per second"},
		{Generator(identity, GeneratorCount(-3)), "count must be >= 0, got -3"},
		{Generator[int64](nil), "nil"},
	} {
		_, err := tc.src.CreateEnumerator(&harness[GeneratorSplit]{p: 1})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CreateEnumerator: got %v, want an error containing %q", err, tc.want)
		}
		_, err = tc.src.CreateReader(readerCtx{p: 1})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CreateReader: got %v, want an error containing %q", err, tc.want)
		}
	}
}

// TestPacer checks the token bucket of a paced reader on a fake clock.
func TestPacer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	take := func(p *pacer, now time.Time, want int) (int, time.Duration) { return p.take(now, want) }

	p := newPacer(100, t0) // capacity 100, quantum 1
	if k, _ := take(p, t0, 64); k != 1 {
		t.Fatalf("first take: %d, want the 1 initial token", k)
	}
	if k, d := take(p, t0, 64); k != 0 || d != 10*time.Millisecond {
		t.Fatalf("second take: %d and wait %v, want 0 and 10ms", k, d)
	}
	if k, d := take(p, at(5*time.Millisecond), 64); k != 0 || d != 5*time.Millisecond {
		t.Fatalf("take after 5ms: %d and wait %v, want 0 and 5ms", k, d)
	}
	if k, _ := take(p, at(10*time.Millisecond), 64); k != 1 {
		t.Fatalf("take after 10ms: %d, want 1", k)
	}
	k1, _ := take(p, at(time.Hour), 64)
	k2, _ := take(p, at(time.Hour), 64)
	if k1+k2 != 100 {
		t.Fatalf("take after an hour: %d, want capacity 100", k1+k2)
	}

	fast := newPacer(1e6, t0) // capacity 1e6, quantum 1000
	take(fast, t0, 64)
	if k, d := take(fast, t0, 64); k != 0 || d != time.Millisecond {
		t.Fatalf("fast: %d and wait %v, want 0 and 1ms", k, d)
	}
	got := 0
	for {
		k, _ := take(fast, at(time.Millisecond), 64)
		if k == 0 {
			break
		}
		got += k
	}
	if got != 1000 {
		t.Fatalf("fast: %d tokens after 1ms, want 1000", got)
	}
	for {
		k, d := take(fast, at(time.Second), math.MaxInt)
		if k == 0 {
			if d != time.Millisecond {
				t.Fatalf("fast wait after draining the capacity: %v, want 1ms", d)
			}
			break
		}
	}

	slow := newPacer(1e-12, t0)
	take(slow, t0, 1)
	if k, d := take(slow, t0, 1); k != 0 || d < maxPacerWait {
		t.Fatalf("slow: %d and wait %v, want 0 and at least %v", k, d, maxPacerWait)
	}
}

// TestGeneratorReaderClosedWhileWaiting: Close cancels the pending timer
// and the reader cannot be polled after it.
func TestGeneratorReaderClosedWhileWaiting(t *testing.T) {
	r, clk := pacedReader(t, 100, 1)
	var out sliceOutput[int64]
	if st, err := r.PollNext(&out); st != MoreAvailable || err != nil || len(out.vals) != 1 {
		t.Fatalf("first poll: %v %v %v, want MoreAvailable with the one initial token", st, err, out.vals)
	}
	if st, _ := r.PollNext(&out); st != NothingAvailable {
		t.Fatalf("second poll: got %v, want NothingAvailable", st)
	}
	tm := clk.pending(t)
	if tm == nil || tm.d != 10*time.Millisecond {
		t.Fatalf("timer %+v, want one in 10ms", tm)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if !tm.stopped {
		t.Fatal("Close left the timer running")
	}
	if _, err := r.PollNext(&out); !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("poll after Close: got %v, want ErrReaderClosed", err)
	}
}

func BenchmarkGeneratorReader(b *testing.B) {
	r, _ := Generator(identity).CreateReader(readerCtx{p: 1})
	_ = r.Start(context.Background())
	r.AddSplits([]GeneratorSplit{{Stride: 1, End: math.MaxInt64}})
	var out discard[int64]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.PollNext(&out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(out.n)/b.Elapsed().Seconds(), "records/s")
}

type discard[T any] struct{ n int }

func (d *discard[T]) Collect(T)                     { d.n++ }
func (d *discard[T]) CollectWithTimestamp(T, int64) { d.n++ }
