package nexmark

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
	"golang.org/x/time/rate"
)

// Split is a share of the generator's event numbers: the runs of Run
// consecutive numbers whose run index is ID modulo Stride, below End.
// Next is the next event number the split emits, all a reader needs to
// resume it. With Stride 1 a split is the plain range [Next, End).
type Split struct {
	ID     int
	Next   int64
	End    int64 // one past the last event number; math.MaxInt64 when unbounded
	Run    int64
	Stride int64
}

// SplitID implements source.Split.
func (s Split) SplitID() string { return "nexmark-" + strconv.Itoa(s.ID) }

// Done reports whether the split has no events left.
func (s Split) Done() bool { return s.Next >= s.End }

// advance moves Next to the split's next event number.
func (s *Split) advance() {
	s.Next++
	if s.Stride > 1 && s.Next%s.Run == 0 {
		s.Next += (s.Stride - 1) * s.Run
	}
}

// Generator is the Nexmark event generator as a replayable, splittable
// source: at parallelism p it makes p splits of interleaved runs of event
// numbers (see GeneratorConfig.SplitRun), and checkpoints record each
// split's next event number. Event n is a pure function of the config and
// n, so a restored or re-split job emits the same events.
type Generator struct {
	cfg GeneratorConfig // as given; validated when the job starts
	gen *eventGen
}

var _ source.Source[Event, Split] = (*Generator)(nil)

// NewGenerator returns a generator of the events cfg describes. It fails if
// cfg is invalid.
func NewGenerator(cfg GeneratorConfig) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Generator{cfg: cfg, gen: newEventGen(cfg)}, nil
}

// Config returns the generator's config with its defaults filled in.
func (g *Generator) Config() GeneratorConfig { return g.gen.cfg }

// Event returns event number n, as the source emits it.
func (g *Generator) Event(n int64) Event { return g.gen.Event(n) }

// Boundedness implements source.Source: bounded when Events > 0.
func (g *Generator) Boundedness() source.Boundedness {
	if g.cfg.Events > 0 {
		return source.Bounded
	}
	return source.Unbounded
}

// Splits returns the p splits a job of parallelism p reads.
func (g *Generator) Splits(p int) []Split {
	cfg := g.gen.cfg
	end := int64(math.MaxInt64)
	if cfg.Events > 0 {
		end = cfg.Events
	}
	var out []Split
	for i := range p {
		if first := int64(i) * cfg.SplitRun; first < end {
			out = append(out, Split{ID: i, Next: first, End: end, Run: cfg.SplitRun, Stride: int64(p)})
		}
	}
	return out
}

// CreateEnumerator implements source.Source: split i goes to subtask i.
func (g *Generator) CreateEnumerator(ctx source.EnumeratorContext[Split]) (source.Enumerator[Split], error) {
	if ctx.Parallelism() < 1 {
		return nil, fmt.Errorf("nexmark: parallelism must be >= 1, got %d", ctx.Parallelism())
	}
	return source.NewStatic(ctx, g.Splits(ctx.Parallelism())), nil
}

// RestoreEnumerator implements source.Source.
func (g *Generator) RestoreEnumerator(ctx source.EnumeratorContext[Split], unassigned []Split) (source.Enumerator[Split], error) {
	return source.NewStatic(ctx, unassigned), nil
}

// CreateReader implements source.Source.
func (g *Generator) CreateReader(ctx source.ReaderContext) (source.Reader[Event, Split], error) {
	r := &reader{gen: g.gen, outs: map[string]source.Output[Event]{}, avail: make(chan struct{})}
	if rt := g.cfg.Rate; rt > 0 {
		perReader := rt / float64(max(1, ctx.Parallelism()))
		burst := int(max(1, min(perReader/100, pollBatch))) // about 10 ms worth
		r.lim = rate.NewLimiter(rate.Limit(perReader), burst)
	}
	return r, nil
}

// Watermarks is the watermark strategy for generated events: event time is
// Event.Time, and it never goes back within a split, so the watermark
// trails the latest event time by 1 ms.
func Watermarks() watermark.Strategy[Event] {
	return watermark.ForMonotonousTimestamps[Event]().
		WithTimestampAssigner(func(e Event, _ int64) int64 { return e.Time })
}

// Events adds a Nexmark generator source to env, with event-time
// timestamps and watermarks. Its UID is "nexmark-source", and every
// stateful operator of the queries has a UID too, so a query's savepoints
// stay valid as the program changes around them.
func Events(env *freshet.Env, cfg GeneratorConfig) (*freshet.Stream[Event], error) {
	g, err := NewGenerator(cfg)
	if err != nil {
		return nil, err
	}
	return freshet.FromSourceWithWatermarks(env, g, Watermarks(), "Nexmark").UID("nexmark-source"), nil
}

// pollBatch is how many events a reader emits per poll at most.
const pollBatch = 256

// reader reads its splits round robin, a poll's batch at a time, each
// split through its own output so that each has its own watermark.
type reader struct {
	gen    *eventGen
	splits []Split
	outs   map[string]source.Output[Event]
	next   int
	noMore bool

	lim   *rate.Limiter // nil when unlimited
	ready int           // tokens reserved, to be spent from due on
	due   time.Time
	avail chan struct{}
	mu    sync.Mutex // guards timer against Close
	timer *time.Timer
}

func (r *reader) Start(context.Context) error { return nil }

func (r *reader) PollNext(out source.Output[Event]) (source.InputStatus, error) {
	if len(r.splits) == 0 {
		if r.noMore {
			return source.EndOfInput, nil
		}
		return source.NothingAvailable, nil
	}
	n := pollBatch
	if r.lim != nil {
		now := time.Now()
		if r.ready == 0 {
			k := r.lim.Burst()
			r.due = now.Add(r.lim.ReserveN(now, k).DelayFrom(now))
			r.ready = k
		}
		if now.Before(r.due) {
			r.wakeAfter(r.due.Sub(now))
			return source.NothingAvailable, nil
		}
		n = min(n, r.ready)
	}
	r.next %= len(r.splits)
	sp := &r.splits[r.next]
	o := r.output(out, sp.SplitID())
	observe, every := r.gen.cfg.Observe, r.gen.cfg.ObserveEvery
	k := 0
	for ; k < n && !sp.Done(); k++ {
		e := r.gen.Event(sp.Next)
		if observe != nil && sp.Next%every == 0 {
			observe(sp.Next, e.Time)
		}
		o.CollectWithTimestamp(e, e.Time)
		sp.advance()
	}
	if r.lim != nil {
		r.ready -= k
	}
	if sp.Done() {
		if so, ok := out.(source.SplitOutputs[Event]); ok {
			so.ReleaseSplit(sp.SplitID())
		}
		delete(r.outs, sp.SplitID())
		r.splits = append(r.splits[:r.next], r.splits[r.next+1:]...)
	} else {
		r.next++
	}
	return source.MoreAvailable, nil
}

// output is the split's own output when out has them.
func (r *reader) output(out source.Output[Event], id string) source.Output[Event] {
	so, ok := out.(source.SplitOutputs[Event])
	if !ok {
		return out
	}
	o, ok := r.outs[id]
	if !ok {
		o = so.ForSplit(id)
		r.outs[id] = o
	}
	return o
}

// wakeAfter makes Available ready after d.
func (r *reader) wakeAfter(d time.Duration) {
	ch := make(chan struct{})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
	}
	r.avail = ch
	r.timer = time.AfterFunc(d, func() { close(ch) })
}

func (r *reader) Available() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.avail
}

func (r *reader) AddSplits(splits []Split) { r.splits = append(r.splits, splits...) }

func (r *reader) NotifyNoMoreSplits() { r.noMore = true }

// SnapshotState implements source.Reader: the splits left, each at its
// next event number.
func (r *reader) SnapshotState(int64) ([]Split, error) {
	return append([]Split(nil), r.splits...), nil
}

func (r *reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
	}
	return nil
}
