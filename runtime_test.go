package freshet_test

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
)

// endless is an unbounded source emitting 0, 1, 2, … as fast as it is
// polled; produced counts what it emitted across subtasks.
type endless struct{ produced *atomic.Int64 }

type endlessSplit struct{}

func (endlessSplit) SplitID() string { return "endless" }

func (e endless) Boundedness() source.Boundedness { return source.Unbounded }
func (e endless) CreateEnumerator(ctx source.EnumeratorContext[endlessSplit]) (source.Enumerator[endlessSplit], error) {
	return source.NewStatic(ctx, nil), nil
}
func (e endless) CreateReader(source.ReaderContext) (source.Reader[int64, endlessSplit], error) {
	return &endlessReader{produced: e.produced}, nil
}

type endlessReader struct {
	n        int64
	produced *atomic.Int64
}

func (r *endlessReader) Start(context.Context) error { return nil }
func (r *endlessReader) PollNext(out source.Output[int64]) (source.InputStatus, error) {
	for i := 0; i < 64; i++ {
		out.Collect(r.n)
		r.n++
	}
	r.produced.Add(64)
	return source.MoreAvailable, nil
}
func (r *endlessReader) Available() <-chan struct{} { return nil }
func (r *endlessReader) AddSplits([]endlessSplit)   {}
func (r *endlessReader) NotifyNoMoreSplits()        {}
func (r *endlessReader) Close() error               { return nil }

// slowSink sleeps on every record and counts them.
type slowSink struct {
	delay time.Duration
	seen  *atomic.Int64
}

func (s slowSink) CreateWriter(sink.InitContext) (sink.Writer[int64], error) { return s, nil }
func (s slowSink) Write(int64, sink.Context) error {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.seen.Add(1)
	return nil
}
func (s slowSink) Flush(bool) error { return nil }
func (s slowSink) Close() error     { return nil }

func TestCancelStopsUnboundedJobWithoutLeaks(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, p := range []int{1, 3} {
		env := freshet.NewEnv(freshet.WithParallelism(p))
		var produced, seen atomic.Int64
		s := freshet.FromSource[int64, endlessSplit](env, endless{&produced}, "endless")
		keyed := freshet.Sum(freshet.KeyBy(s, func(v int64) int64 { return v % 7 }), freshet.Self[int64]())
		freshet.SinkTo[int64](keyed, slowSink{seen: &seen}, "count")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- env.Execute(ctx, "endless") }()
		for deadline := time.Now().Add(10 * time.Second); seen.Load() < 10000; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("p=%d: the sink saw %d records in 10s, want 10000 before cancelling", p, seen.Load())
			}
		}
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Execute after cancel = %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("job did not stop within 5s of cancel")
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("p=%d: stopping took %v", p, d)
		}
	}
}

func TestBackpressureBoundsMemory(t *testing.T) {
	defer goleak.VerifyNone(t)
	env := freshet.NewEnv(freshet.WithParallelism(1), freshet.WithChaining(false))
	var produced, seen atomic.Int64
	s := freshet.FromSource[int64, endlessSplit](env, endless{&produced}, "fast")
	m := freshet.Map(s, func(v int64) int64 { return v + 1 })
	freshet.SinkTo[int64](m.Rebalance(), slowSink{delay: 20 * time.Microsecond, seen: &seen}, "slow").SetParallelism(1)
	client, err := env.ExecuteAsync(context.Background(), "backpressure")
	if err != nil {
		t.Fatal(err)
	}
	if got := client.Status(); got != freshet.JobRunning {
		t.Errorf("status %v, want RUNNING", got)
	}
	time.Sleep(300 * time.Millisecond)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap1 := ms.HeapAlloc
	p1, s1 := produced.Load(), seen.Load()
	time.Sleep(700 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap2 := ms.HeapAlloc
	p2, s2 := produced.Load(), seen.Load()
	client.Cancel()
	if err := client.Wait(); err != nil {
		t.Fatalf("Wait after Cancel = %v", err)
	}
	if got := client.Status(); got != freshet.JobCanceled {
		t.Errorf("status %v, want CANCELED", got)
	}
	// The source may only run ahead of the sink by what the bounded queues
	// and batches hold: a few batches per channel, never millions.
	if lag := p2 - s2; lag > 20000 {
		t.Errorf("source ran %d records ahead of the slow sink", lag)
	}
	if s2 <= s1 || p2 <= p1 {
		t.Errorf("no progress: produced %d->%d, seen %d->%d", p1, p2, s1, s2)
	}
	if heap2 > heap1+8<<20 {
		t.Errorf("heap grew from %d to %d bytes while backpressured", heap1, heap2)
	}
}

func TestExecutionPlanJSON(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	s := freshet.Map(freshet.FromSlice(env, ints(10)), double).Name("double")
	k := freshet.Sum(freshet.KeyBy(s, func(v int) int { return v % 2 }), freshet.Self[int]())
	freshet.Collect(k)
	plan, err := env.ExecutionPlan("plan")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Nodes []struct {
			ID           int    `json:"id"`
			Type         string `json:"type"`
			Parallelism  int    `json:"parallelism"`
			Predecessors []struct {
				ID           int    `json:"id"`
				ShipStrategy string `json:"ship_strategy"`
			} `json:"predecessors"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(plan), &p); err != nil {
		t.Fatalf("plan is not JSON: %v\n%s", err, plan)
	}
	if len(p.Nodes) != 4 {
		t.Fatalf("plan has %d nodes, want 4:\n%s", len(p.Nodes), plan)
	}
	var strategies []string
	for _, n := range p.Nodes {
		for _, pr := range n.Predecessors {
			strategies = append(strategies, pr.ShipStrategy)
		}
	}
	if want := []string{"FORWARD", "HASH", "FORWARD"}; !slices.Equal(strategies, want) {
		t.Errorf("ship strategies %v, want %v\n%s", strategies, want, plan)
	}
}

type point struct {
	Name string
	XY   [2]float64
	Tags map[string][]int
	Next *point
}

func TestForcedSerializationRoundTripsTypes(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithForcedSerialization())
	in := []point{{Name: "a", XY: [2]float64{1, 2}, Tags: map[string][]int{"x": {1}}}, {Name: "b", Next: &point{Name: "c"}}}
	s := freshet.Map(freshet.FromSlice(env, in).Rebalance(), func(p point) point { return p })
	got := freshet.Collect(freshet.KeyBy(s, func(p point) string { return p.Name }).Stream())
	execute(t, env)
	vs := got.Values()
	slices.SortFunc(vs, func(a, b point) int { return strings.Compare(a.Name, b.Name) })
	if len(vs) != 2 || vs[0].Tags["x"][0] != 1 || vs[0].XY[1] != 2 || vs[1].Next.Name != "c" {
		t.Fatalf("values did not survive encoding: %+v", vs)
	}
}

func TestForcedSerializationRejectsTypeWithoutCodec(t *testing.T) {
	type secret struct{ hidden func() }
	env := freshet.NewEnv(freshet.WithForcedSerialization())
	freshet.Collect(freshet.Map(freshet.FromElements(env, 1), func(int) secret { return secret{} }).Rebalance())
	err := env.Execute(context.Background(), "no codec")
	if !errors.Is(err, freshet.ErrInvalidProgram) {
		t.Fatalf("Execute = %v, want ErrInvalidProgram about the codec", err)
	}
}

// batchSource's readers hand each split's values over with CollectAll.
type batchSource struct{ values []int64 }

func (b batchSource) Boundedness() source.Boundedness { return source.Bounded }
func (b batchSource) CreateEnumerator(ctx source.EnumeratorContext[hsSplit]) (source.Enumerator[hsSplit], error) {
	return source.NewStatic(ctx, []hsSplit{{0}, {1}}), nil
}
func (b batchSource) CreateReader(source.ReaderContext) (source.Reader[int64, hsSplit], error) {
	return &batchReader{values: b.values}, nil
}

type batchReader struct {
	values []int64
	splits []hsSplit
	done   bool
}

func (r *batchReader) Start(context.Context) error { return nil }
func (r *batchReader) PollNext(out source.Output[int64]) (source.InputStatus, error) {
	if len(r.splits) == 0 {
		if r.done {
			return source.EndOfInput, nil
		}
		return source.NothingAvailable, nil
	}
	sp := r.splits[0]
	r.splits = r.splits[1:]
	half := r.values[sp.ID*len(r.values)/2 : (sp.ID+1)*len(r.values)/2]
	out.(source.BatchOutput[int64]).CollectAll(half)
	return source.MoreAvailable, nil
}
func (r *batchReader) Available() <-chan struct{} { return nil }
func (r *batchReader) AddSplits(s []hsSplit)      { r.splits = append(r.splits, s...) }
func (r *batchReader) NotifyNoMoreSplits()        { r.done = true }
func (r *batchReader) Close() error               { return nil }

func TestReaderBatchOutput(t *testing.T) {
	values := make([]int64, 1000) // more than one run of records
	for i := range values {
		values[i] = int64(i)
	}
	for _, withWatermarks := range []bool{false, true} {
		env := freshet.NewEnv(freshet.WithParallelism(2))
		var s *freshet.Stream[int64]
		if withWatermarks {
			s = freshet.FromSourceWithWatermarks[int64, hsSplit](env, batchSource{values}, watermark.ForMonotonousTimestamps[int64]().
				WithTimestampAssigner(func(v int64, _ int64) int64 { return v }), "batches")
		} else {
			s = freshet.FromSource[int64, hsSplit](env, batchSource{values}, "batches")
		}
		got := freshet.Collect(freshet.Map(s, func(v int64) int64 { return v * 2 }))
		execute(t, env)
		vs := got.Values()
		slices.Sort(vs)
		if len(vs) != 1000 || vs[0] != 0 || vs[999] != 1998 {
			t.Fatalf("watermarks=%v: got %d values", withWatermarks, len(vs))
		}
	}
}

func (e endless) RestoreEnumerator(ctx source.EnumeratorContext[endlessSplit], _ []endlessSplit) (source.Enumerator[endlessSplit], error) {
	return e.CreateEnumerator(ctx)
}

func (*endlessReader) SnapshotState(int64) ([]endlessSplit, error) { return nil, nil }

func (*batchReader) SnapshotState(int64) ([]hsSplit, error) { return nil, nil }

func (b batchSource) RestoreEnumerator(ctx source.EnumeratorContext[hsSplit], _ []hsSplit) (source.Enumerator[hsSplit], error) {
	return b.CreateEnumerator(ctx)
}

// TestProcessingTimersFireUnderBackpressure: a keyed process function whose
// downstream sink is blocked stops taking input, yet its processing-time
// timer fires (the subtask runs its timers as mail while it waits for room).
func TestProcessingTimersFireUnderBackpressure(t *testing.T) {
	defer goleak.VerifyNone(t)
	env := freshet.NewEnv(freshet.WithParallelism(1), freshet.WithChannelCapacity(1), freshet.WithBatchSize(1))
	var produced, processed, written atomic.Int64
	var armed atomic.Bool
	var atFire struct{ processed, written int64 }
	fired := make(chan struct{})
	release := make(chan struct{})
	s := freshet.FromSource[int64, endlessSplit](env, endless{&produced}, "endless")
	timed := freshet.KeyedProcess(freshet.KeyBy(s, func(v int64) int64 { return v % 3 }),
		freshet.KeyedProcessFuncWithTimers(
			func(ctx *freshet.KeyedContext[int64], v int64, out freshet.Collector[int64]) error {
				processed.Add(1)
				if armed.CompareAndSwap(false, true) {
					ts := ctx.TimerService()
					ts.RegisterProcessingTimeTimer(ts.CurrentProcessingTime() + 20)
				}
				out.Collect(v)
				return nil
			},
			func(ctx *freshet.KeyedContext[int64], ts int64, out freshet.Collector[int64]) error {
				if written.Load() == 0 {
					// The first record has not reached the sink yet.
					ctx.TimerService().RegisterProcessingTimeTimer(ts + 20)
					return nil
				}
				atFire.processed, atFire.written = processed.Load(), written.Load()
				close(fired)
				return nil
			}))
	// Rebalance keeps the blocking sink out of the process function's
	// chain, so it is the exchange between them that fills.
	freshet.SinkTo[int64](timed.Rebalance(), blockingSink{written: &written, release: release}, "blocked")
	client, err := env.ExecuteAsync(context.Background(), "timers under backpressure")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		close(release)
		client.Cancel()
		_ = client.Wait()
		t.Fatal("the processing-time timer did not fire within 10s while the sink was blocked")
	}
	close(release)
	client.Cancel()
	if err := client.Wait(); err != nil {
		t.Fatalf("Wait after Cancel = %v", err)
	}
	// The sink is blocked in its first write. The process function takes
	// an element only while the sink's channel (capacity 1, one record a
	// batch) is empty, that is after the sink took every record before:
	// so it took the first element, and perhaps the second, no more.
	if atFire.written != 1 {
		t.Errorf("the sink had started %d writes when the timer fired, want 1 (blocked)", atFire.written)
	}
	if atFire.processed < 1 || atFire.processed > 2 {
		t.Errorf("the process function had taken %d elements when the timer fired, want 1 or 2: it kept taking input under backpressure", atFire.processed)
	}
}

// blockingSink's writer counts writes and blocks in each until release is
// closed.
type blockingSink struct {
	written *atomic.Int64
	release chan struct{}
}

func (s blockingSink) CreateWriter(sink.InitContext) (sink.Writer[int64], error) { return s, nil }
func (s blockingSink) Write(int64, sink.Context) error {
	s.written.Add(1)
	<-s.release
	return nil
}
func (s blockingSink) Flush(bool) error { return nil }
func (s blockingSink) Close() error     { return nil }
