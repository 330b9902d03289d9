package freshet_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

// halfSilent is an unbounded source of two splits: split 0 emits the
// timestamps 0..9999 and then stays silent, split 1 never emits. Neither
// ends, so only idleness lets event time advance.
type halfSilent struct{}

type hsSplit struct{ ID int }

func (s hsSplit) SplitID() string { return string(rune('a' + s.ID)) }

func (halfSilent) Boundedness() source.Boundedness { return source.Unbounded }
func (halfSilent) CreateEnumerator(ctx source.EnumeratorContext[hsSplit]) (source.Enumerator[hsSplit], error) {
	return source.NewStatic(ctx, []hsSplit{{0}, {1}}), nil
}
func (halfSilent) CreateReader(source.ReaderContext) (source.Reader[int64, hsSplit], error) {
	return &hsReader{}, nil
}

type hsReader struct {
	emitting bool
	next     int64
}

func (r *hsReader) Start(context.Context) error { return nil }
func (r *hsReader) PollNext(out source.Output[int64]) (source.InputStatus, error) {
	if !r.emitting || r.next >= 10000 {
		return source.NothingAvailable, nil
	}
	for i := 0; i < 100; i++ {
		out.CollectWithTimestamp(r.next, r.next)
		r.next++
	}
	return source.MoreAvailable, nil
}
func (r *hsReader) Available() <-chan struct{} { return nil }
func (r *hsReader) AddSplits(s []hsSplit) {
	for _, sp := range s {
		if sp.ID == 0 {
			r.emitting = true
		}
	}
}
func (r *hsReader) NotifyNoMoreSplits() {}
func (r *hsReader) Close() error        { return nil }

func runHalfSilent(t *testing.T, strategy watermark.Strategy[int64], wait time.Duration) []winCount {
	t.Helper()
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithAutoWatermarkInterval(10*ms))
	src := freshet.FromSourceWithWatermarks[int64, hsSplit](env, halfSilent{}, strategy, "half silent")
	wins := freshet.WindowAggregateProcess(freshet.WindowAll(src, window.TumblingEventTime[int64](time.Second, 0)), intCount{},
		freshet.ProcessWindowFunc[int, struct{}, window.TimeWindow, winCount](countWindows[struct{}]))
	got := freshet.Collect(wins)
	client, err := env.ExecuteAsync(context.Background(), "idleness")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for got.Len() < 9 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	client.Cancel()
	_ = client.Wait()
	vs := got.Values() // the sink runs at parallelism 2: order by window
	slices.SortFunc(vs, func(a, b winCount) int { return int(a.Start - b.Start) })
	return vs
}

func TestIdleSplitDoesNotHoldBackEventTime(t *testing.T) {
	strategy := watermark.ForMonotonousTimestamps[int64]().WithIdleness(50 * ms)
	got := runHalfSilent(t, strategy, 10*time.Second)
	var want []winCount
	for k := int64(0); k < 9; k++ {
		want = append(want, winCount{k * 1000, (k + 1) * 1000, 1000})
	}
	// Window [9000, 10000) needs event time 9999, which the last record
	// (timestamp 9999) does not give: monotonous watermarks are ts - 1.
	if !slices.Equal(got, want) {
		t.Fatalf("windows %v, want %v", got, want)
	}
}

func TestSilentSplitHoldsBackEventTimeWithoutIdleness(t *testing.T) {
	got := runHalfSilent(t, watermark.ForMonotonousTimestamps[int64](), 300*time.Millisecond)
	if len(got) != 0 {
		t.Fatalf("windows fired although one split never advanced event time: %v", got)
	}
}

// fastThenSlow is an unbounded source of one split whose reader reads two
// partitions through their own split outputs: "fast" gets far ahead in
// event time, "slow" emits a little more a while later; then both stay
// silent for good.
type fastThenSlow struct{}

func (fastThenSlow) Boundedness() source.Boundedness { return source.Unbounded }
func (fastThenSlow) CreateEnumerator(ctx source.EnumeratorContext[hsSplit]) (source.Enumerator[hsSplit], error) {
	return source.NewStatic(ctx, []hsSplit{{0}}), nil
}
func (fastThenSlow) CreateReader(source.ReaderContext) (source.Reader[int64, hsSplit], error) {
	return &fastThenSlowReader{}, nil
}

type fastThenSlowReader struct {
	split bool
	step  int
	until time.Time
}

func (r *fastThenSlowReader) Start(context.Context) error { return nil }
func (r *fastThenSlowReader) PollNext(out source.Output[int64]) (source.InputStatus, error) {
	if !r.split {
		return source.NothingAvailable, nil
	}
	so := out.(source.SplitOutputs[int64])
	switch r.step {
	case 0:
		so.ForSplit("fast").CollectWithTimestamp(500, 500)
		so.ForSplit("fast").CollectWithTimestamp(1500, 1500)
		so.ForSplit("slow").CollectWithTimestamp(100, 100)
		r.step++
		r.until = time.Now().Add(30 * time.Millisecond)
	case 1:
		if time.Now().Before(r.until) {
			return source.NothingAvailable, nil
		}
		// The slow partition is the last to emit, so it is the last to go
		// idle: the combined watermark then follows it alone (149) until
		// it goes idle too.
		so.ForSplit("slow").CollectWithTimestamp(150, 150)
		r.step++
	}
	return source.NothingAvailable, nil
}
func (r *fastThenSlowReader) Available() <-chan struct{} {
	if r.step != 1 {
		return nil // woken by the source's timers only
	}
	ch := make(chan struct{})
	time.AfterFunc(time.Until(r.until), func() { close(ch) })
	return ch
}
func (r *fastThenSlowReader) AddSplits([]hsSplit) { r.split = true }
func (r *fastThenSlowReader) NotifyNoMoreSplits() {}
func (r *fastThenSlowReader) Close() error        { return nil }

// TestAllSplitsIdleForwardHighestWatermark: when every split of a source
// subtask has gone idle, the subtask forwards the highest split watermark
// (fast's 1499) before it tells downstream it is idle, so the window
// [0, 1000) fires although the split that went idle last is at 149. The
// window [1000, 2000) needs 1999 and never fires.
func TestAllSplitsIdleForwardHighestWatermark(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(1), freshet.WithAutoWatermarkInterval(10*ms))
	strategy := watermark.ForMonotonousTimestamps[int64]().WithIdleness(50 * ms)
	src := freshet.FromSourceWithWatermarks[int64, hsSplit](env, fastThenSlow{}, strategy, "fast then slow")
	wins := freshet.WindowAggregateProcess(freshet.WindowAll(src, window.TumblingEventTime[int64](time.Second, 0)), intCount{},
		freshet.ProcessWindowFunc[int, struct{}, window.TimeWindow, winCount](countWindows[struct{}]))
	got := freshet.Collect(wins)
	client, err := env.ExecuteAsync(context.Background(), "all splits idle")
	if err != nil {
		t.Fatal(err)
	}
	for d := time.Now().Add(10 * time.Second); got.Len() < 1 && time.Now().Before(d); {
		time.Sleep(5 * time.Millisecond)
	}
	client.Cancel()
	_ = client.Wait()
	if want := []winCount{{0, 1000, 3}}; !slices.Equal(got.Values(), want) {
		t.Fatalf("windows %v, want %v", got.Values(), want)
	}
}
