package freshet_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

type winCount struct {
	Start, End int64
	N          int
}

func countWindows[K comparable](ctx *freshet.WindowContext[K, window.TimeWindow], n []int, out freshet.Collector[winCount]) error {
	w := ctx.Window()
	out.Collect(winCount{w.Start, w.End, n[0]})
	return nil
}

type intCount struct{}

func (intCount) CreateAccumulator() int { return 0 }
func (intCount) Add(_ int64, a int) int { return a + 1 }
func (intCount) Merge(a, b int) int     { return a + b }
func (intCount) GetResult(a int) int    { return a }

func TestIngestionTimeWindowsCountEverything(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithAutoWatermarkInterval(5*time.Millisecond))
	gen := source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(3000), source.GeneratorRate(20000))
	src := freshet.FromSourceWithWatermarks(env, gen, watermark.IngestionTime[int64](), "ingest")
	wins := freshet.WindowAggregateProcess(freshet.WindowAll(src, window.TumblingEventTime[int64](20*ms, 0)), intCount{},
		freshet.ProcessWindowFunc[int, struct{}, window.TimeWindow, winCount](countWindows[struct{}]))
	got := freshet.Collect(wins)
	execute(t, env)
	total := 0
	for _, w := range got.Values() {
		if w.End-w.Start != 20 || w.Start%20 != 0 {
			t.Fatalf("window %+v is not a 20 ms tumbling window", w)
		}
		total += w.N
	}
	if total != 3000 || len(got.Values()) < 3 {
		t.Fatalf("%d windows counted %d records, want 3000 over several windows", len(got.Values()), total)
	}
}

type countingSink struct{ n *atomic.Int64 }

func (c countingSink) CreateWriter(sink.InitContext) (sink.Writer[winCount], error) { return c, nil }
func (c countingSink) Write(w winCount, _ sink.Context) error {
	if w.End-w.Start == 30 && w.N > 0 {
		c.n.Add(1)
	}
	return nil
}
func (countingSink) Flush(bool) error { return nil }
func (countingSink) Close() error     { return nil }

func TestProcessingTimeWindowsFireOnTheClock(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	gen := source.Generator(func(i int64) int64 { return i }, source.GeneratorRate(5000))
	src := freshet.FromSource(env, gen, "unbounded")
	k := freshet.KeyBy(src, func(v int64) int64 { return v % 2 })
	wins := freshet.WindowAggregateProcess(freshet.Window(k, window.TumblingProcessingTime[int64](30*ms, 0)), intCount{},
		freshet.ProcessWindowFunc[int, int64, window.TimeWindow, winCount](countWindows[int64]))
	var fired atomic.Int64
	freshet.SinkTo[winCount](wins, countingSink{&fired}, "count")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := env.ExecuteAsync(ctx, "processing time")
	if err != nil {
		t.Fatal(err)
	}
	// The source never ends and no watermark ever passes: only the clock
	// can fire these windows.
	for fired.Load() < 6 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	client.Cancel()
	_ = client.Wait()
	if fired.Load() < 6 {
		t.Fatalf("only %d processing-time windows fired", fired.Load())
	}
}
