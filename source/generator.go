package source

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// GeneratorSplit is the share of a generator source's indices one split
// produces: Next, Next+Stride, Next+2·Stride, … while below End. Split i of
// p starts at index i with stride p, so the splits together produce every
// index exactly once. Next is the next index to produce, which is all a
// reader needs to resume the split.
type GeneratorSplit struct {
	ID     int
	Stride int64
	Next   int64
	// End is one past the last index; math.MaxInt64 for an unbounded source.
	End int64
}

// SplitID implements Split.
func (s GeneratorSplit) SplitID() string { return "generator-" + strconv.Itoa(s.ID) }

// GeneratorOption configures a GeneratorSource.
type GeneratorOption func(*generatorConfig)

type generatorConfig struct {
	perSecond float64
	count     int64
}

// GeneratorRate limits the whole source to perSecond records per second,
// shared equally between the readers (each reader of p emits at most
// perSecond/p per second). 0, the default, means unlimited. A negative,
// NaN or infinite rate is an error.
func GeneratorRate(perSecond float64) GeneratorOption {
	return func(c *generatorConfig) { c.perSecond = perSecond }
}

// GeneratorCount makes the source bounded: it produces indices 0 to n-1 and
// then ends. 0, the default, means unbounded. A negative count is an error.
func GeneratorCount(n int64) GeneratorOption {
	return func(c *generatorConfig) { c.count = n }
}

// GeneratorSource produces gen(0), gen(1), … like Flink's
// DataGeneratorSource: unbounded unless GeneratorCount is given, and
// optionally rate-limited with GeneratorRate.
//
// At parallelism p, subtask i produces the indices i, i+p, i+2p, …, in
// increasing order; across subtasks every index is produced exactly once.
// Records carry no timestamp of their own. gen is called from every reader's
// goroutine, so it must be safe for concurrent use.
//
// Invalid options are reported by CreateEnumerator and CreateReader (and so
// when the job starts), not by Generator.
type GeneratorSource[T any] struct {
	gen func(index int64) T
	cfg generatorConfig
}

var _ Source[int64, GeneratorSplit] = (*GeneratorSource[int64])(nil)

// Generator returns a source that produces gen(index) for each index.
func Generator[T any](gen func(index int64) T, opts ...GeneratorOption) *GeneratorSource[T] {
	s := &GeneratorSource[T]{gen: gen}
	for _, o := range opts {
		o(&s.cfg)
	}
	return s
}

func (s *GeneratorSource[T]) validate() error {
	switch {
	case s.gen == nil:
		return errors.New("generator source: generator function is nil")
	case math.IsNaN(s.cfg.perSecond) || math.IsInf(s.cfg.perSecond, 0) || s.cfg.perSecond < 0:
		return fmt.Errorf("generator source: records per second must be a finite number >= 0, got %v", s.cfg.perSecond)
	case s.cfg.count < 0:
		return fmt.Errorf("generator source: count must be >= 0, got %d", s.cfg.count)
	}
	return nil
}

// Boundedness implements Source: Bounded when a count was given.
func (s *GeneratorSource[T]) Boundedness() Boundedness {
	if s.cfg.count > 0 {
		return Bounded
	}
	return Unbounded
}

// CreateEnumerator implements Source. It makes one split per subtask and
// assigns split i to subtask i. It fails if an option is invalid.
func (s *GeneratorSource[T]) CreateEnumerator(ctx EnumeratorContext[GeneratorSplit]) (Enumerator[GeneratorSplit], error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	p := ctx.Parallelism()
	if p < 1 {
		return nil, fmt.Errorf("generator source: parallelism must be >= 1, got %d", p)
	}
	end := int64(math.MaxInt64)
	if s.cfg.count > 0 {
		end = s.cfg.count
	}
	splits := make([]GeneratorSplit, 0, p)
	for i := range p {
		if int64(i) < end {
			splits = append(splits, GeneratorSplit{ID: i, Stride: int64(p), Next: int64(i), End: end})
		}
	}
	return NewStatic(ctx, splits), nil
}

// RestoreEnumerator implements Source.
func (s *GeneratorSource[T]) RestoreEnumerator(ctx EnumeratorContext[GeneratorSplit], unassigned []GeneratorSplit) (Enumerator[GeneratorSplit], error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return NewStatic(ctx, unassigned), nil
}

// CreateReader implements Source. It fails if an option is invalid.
func (s *GeneratorSource[T]) CreateReader(ctx ReaderContext) (Reader[T, GeneratorSplit], error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	r := &generatorReader[T]{gen: s.gen, avail: never, now: time.Now, after: afterFunc}
	if s.cfg.perSecond > 0 {
		r.perSecond = s.cfg.perSecond / float64(max(1, ctx.Parallelism()))
	}
	return r, nil
}

type generatorReader[T any] struct {
	gen       func(int64) T
	perSecond float64 // this reader's share; 0 = unlimited
	pace      *pacer  // made at the first poll with a split to read
	// now and after are the clock and timers of the pacing: time.Now and
	// time.AfterFunc, replaced in tests.
	now    func() time.Time
	after  func(d time.Duration, f func()) stopper
	splits []GeneratorSplit
	buf    []T // the values of a poll, handed over as one run
	next   int // split to read from next, round robin
	noMore bool
	closed bool

	// avail is what Available returns: never, or the channel the pending
	// timer closes when tokens are due.
	avail     chan struct{}
	timer     stopper
	timerDone chan struct{} // closed by the timer's function
}

// stopper is a pending timer: a *time.Timer, or a test's.
type stopper interface{ Stop() bool }

func afterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }

func (r *generatorReader[T]) Start(context.Context) error { return nil }

func (r *generatorReader[T]) PollNext(out Output[T]) (InputStatus, error) {
	if r.closed {
		return EndOfInput, ErrReaderClosed
	}
	r.stopTimer()
	if len(r.splits) == 0 {
		if r.noMore {
			return EndOfInput, nil
		}
		return NothingAvailable, nil
	}
	// Round robin over the splits, so that one unbounded split cannot
	// starve another given back after a failure.
	r.next %= len(r.splits)
	sp := &r.splits[r.next]
	var left int64 // indices the split has still to produce
	if sp.Next < sp.End {
		left = (sp.End-sp.Next-1)/sp.Stride + 1
	}
	n := int(min(pollBatch, left))
	if n > 0 && r.perSecond > 0 {
		now := r.now()
		if r.pace == nil {
			r.pace = newPacer(r.perSecond, now)
		}
		var wait time.Duration
		if n, wait = r.pace.take(now, n); n == 0 {
			r.armTimer(min(wait, maxPacerWait))
			return NothingAvailable, nil
		}
	}
	if cap(r.buf) < n {
		r.buf = make([]T, pollBatch)
	}
	vs, gen, i, stride := r.buf[:n], r.gen, sp.Next, sp.Stride
	for k := range vs {
		vs[k] = gen(i)
		i += stride // n ≤ left: only the last step may pass End
	}
	if int64(n) == left {
		sp.Next = sp.End
	} else {
		sp.Next = i
	}
	emit(out, vs)
	clear(vs) // keep no values alive until the next poll
	if sp.Next >= sp.End {
		r.splits = append(r.splits[:r.next], r.splits[r.next+1:]...)
	} else {
		r.next++
	}
	return MoreAvailable, nil
}

// armTimer makes Available ready after d.
func (r *generatorReader[T]) armTimer(d time.Duration) {
	ch, done := make(chan struct{}), make(chan struct{})
	r.avail, r.timerDone = ch, done
	r.timer = r.after(d, func() {
		close(ch)
		close(done)
	})
}

// stopTimer cancels the pending timer, waiting for its function if it has
// already started, so that nothing of the reader runs after Close.
func (r *generatorReader[T]) stopTimer() {
	if r.timer != nil && !r.timer.Stop() {
		<-r.timerDone
	}
	r.timer, r.timerDone, r.avail = nil, nil, never
}

func (r *generatorReader[T]) Available() <-chan struct{} { return r.avail }

func (r *generatorReader[T]) AddSplits(splits []GeneratorSplit) {
	r.splits = append(r.splits, splits...)
}

func (r *generatorReader[T]) NotifyNoMoreSplits() { r.noMore = true }

// SnapshotState implements Reader: the splits left, each at its next index.
func (r *generatorReader[T]) SnapshotState(int64) ([]GeneratorSplit, error) {
	return append([]GeneratorSplit(nil), r.splits...), nil
}

func (r *generatorReader[T]) Close() error {
	r.stopTimer()
	r.closed = true
	return nil
}

// pacer paces a reader with a token bucket, a rate.Limiter used with the
// caller's clock (its time-taking methods), so that it can be tested
// without sleeping. It starts with one token and, like the Guava
// RateLimiter behind Flink's RateLimiterStrategy, holds at most one second
// worth of them, so a reader held up (by backpressure, or by a late
// wake-up) catches up on at most a second. When empty it reserves quantum
// tokens and asks to be woken when they are due: one token at low rates,
// about 1 ms worth at high ones, so a fast reader is woken at most about a
// thousand times a second.
type pacer struct {
	lim      *rate.Limiter
	quantum  int
	reserved int       // tokens reserved, to be taken from due on
	due      time.Time // when the reserved tokens are due
}

// maxPacerWait bounds a single wait, so that absurdly low rates do not
// arm a timer for centuries; the reader simply waits again.
const maxPacerWait = time.Hour

func newPacer(perSecond float64, now time.Time) *pacer {
	burst := int(max(1, min(perSecond, math.MaxInt32))) // one second's worth
	lim := rate.NewLimiter(rate.Limit(perSecond), burst)
	lim.AllowN(now, burst-1) // start with one token
	return &pacer{lim: lim, quantum: int(min(float64(burst), max(1, perSecond/1000)))}
}

// take removes and returns up to want tokens available at now. When there
// are none it reserves the next quantum and returns 0 and how long until
// they are due.
func (p *pacer) take(now time.Time, want int) (int, time.Duration) {
	if p.reserved == 0 {
		if k := min(want, int(p.lim.TokensAt(now))); k > 0 && p.lim.AllowN(now, k) {
			return k, 0
		}
		r := p.lim.ReserveN(now, p.quantum)
		p.reserved, p.due = p.quantum, now.Add(r.DelayFrom(now))
	}
	if now.Before(p.due) {
		return 0, p.due.Sub(now)
	}
	k := min(want, p.reserved)
	p.reserved -= k
	return k, 0
}
