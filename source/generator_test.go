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

func TestGeneratorRate(t *testing.T) {
	for _, p := range []int{1, 3} {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		res, err := run(t, ctx, Generator(identity, GeneratorRate(200)), p, 0)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("p=%d: %d records", p, len(res.all()))
		// 200/s for 0.5 s is 100, plus one token per reader at the start.
		if n := len(res.all()); n < 40 || n > 160 {
			t.Fatalf("p=%d: 200/s for 0.5s gave %d records, want about 100", p, n)
		}
		checkStrided(t, res.out)
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

// TestGeneratorReaderTimer drives a reader by hand, on a fake clock: a
// reader out of tokens returns NothingAvailable with an Available channel
// that becomes ready, and Close cancels a pending timer.
func TestGeneratorReaderTimer(t *testing.T) {
	src := Generator(identity, GeneratorRate(100))
	r, err := src.CreateReader(readerCtx{p: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	r.(*generatorReader[int64]).now = func() time.Time { return now }
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var out sliceOutput[int64]
	if st, _ := r.PollNext(&out); st != NothingAvailable {
		t.Fatalf("without splits: got %v, want NothingAvailable", st)
	}
	r.AddSplits([]GeneratorSplit{{ID: 0, Stride: 1, Next: 0, End: math.MaxInt64}})
	if st, err := r.PollNext(&out); st != MoreAvailable || err != nil || len(out.vals) != 1 {
		t.Fatalf("first poll: %v %v %v, want MoreAvailable with the one initial token", st, err, out.vals)
	}
	if st, _ := r.PollNext(&out); st != NothingAvailable {
		t.Fatalf("second poll: got %v, want NothingAvailable", st)
	}
	select {
	case <-r.Available():
	case <-time.After(5 * time.Second):
		t.Fatal("Available not ready after the next token was due")
	}
	now = now.Add(10 * time.Millisecond)
	if st, _ := r.PollNext(&out); st != MoreAvailable || !slices.Equal(out.vals, []int64{0, 1}) {
		t.Fatalf("after wait: %v %v", st, out.vals)
	}
	if st, _ := r.PollNext(&out); st != NothingAvailable {
		t.Fatalf("got %v, want NothingAvailable", st)
	}
	// Close with the timer pending.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PollNext(&out); !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("poll after Close: got %v, want ErrReaderClosed", err)
	}
}

func TestPacer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	p := newPacer(100, t0) // capacity 100, quantum 1
	if k := p.take(t0, 64); k != 1 {
		t.Fatalf("first take: %d, want the 1 initial token", k)
	}
	if k := p.take(t0, 64); k != 0 {
		t.Fatalf("second take: %d, want 0", k)
	}
	if d := p.wait(t0); d != 10*time.Millisecond {
		t.Fatalf("wait: %v, want 10ms", d)
	}
	if k := p.take(at(10*time.Millisecond), 64); k != 1 {
		t.Fatalf("take after 10ms: %d, want 1", k)
	}
	if k := p.take(at(time.Hour), 64) + p.take(at(time.Hour), 64); k != 100 {
		t.Fatalf("take after an hour: %d, want capacity 100", k)
	}
	p.refund(1)
	if k := p.take(at(time.Hour), 64); k != 1 {
		t.Fatalf("take after refund: %d, want 1", k)
	}

	fast := newPacer(1e6, t0) // capacity 1e6, quantum 1000
	fast.take(t0, 64)
	if d := fast.wait(t0); d != time.Millisecond {
		t.Fatalf("fast wait: %v, want 1ms", d)
	}
	got := 0
	for fast.take(at(time.Millisecond), 64) > 0 {
		got++
	}
	if got != 1000/64+1 {
		t.Fatalf("fast: %d takes after 1ms, want %d", got, 1000/64+1)
	}
	fast.take(at(time.Second), math.MaxInt)
	if d := fast.wait(at(time.Second)); d != time.Millisecond {
		t.Fatalf("fast wait after draining the capacity: %v, want 1ms", d)
	}

	slow := newPacer(1e-12, t0)
	slow.take(t0, 1)
	if d := slow.wait(t0); d != maxPacerWait {
		t.Fatalf("slow wait: %v, want %v", d, maxPacerWait)
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
