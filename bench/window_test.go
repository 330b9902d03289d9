package bench

import (
	"context"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

// The window benchmarks key records by value mod windowKeys and give record
// i the event time i/perMilli ms, so every 1 s window holds
// 1000*perMilli records: windowRecords/windowKeys per key.
// watermarkEvery is the auto-watermark interval of the window benchmarks:
// like the loops, which close a window as soon as the next one starts, the
// job's watermark follows event time closely, so few windows are open at
// once (with the default 200 ms, a million records' worth of windows would
// wait for each watermark).
const watermarkEvery = 5 * time.Millisecond

// sinkCtx is the sink context the loops pass to discard.
var sinkCtx sink.Context

const (
	windowKeys = 10_000
	perMilli   = 100
)

var (
	windowKey  = func(v int64) int64 { return v % windowKeys }
	windowTime = func(v int64, _ int64) int64 { return v / perMilli }
)

// countAgg counts a window's records; its result is the count.
type countAgg struct{}

func (countAgg) CreateAccumulator() int64     { return 0 }
func (countAgg) Add(_ int64, acc int64) int64 { return acc + 1 }
func (countAgg) Merge(a, b int64) int64       { return a + b }
func (countAgg) GetResult(acc int64) int64    { return acc }

// sumAgg sums a window's values.
type sumAgg struct{}

func (sumAgg) CreateAccumulator() int64     { return 0 }
func (sumAgg) Add(v int64, acc int64) int64 { return acc + v }
func (sumAgg) Merge(a, b int64) int64       { return a + b }
func (sumAgg) GetResult(acc int64) int64    { return acc }

func timestamped(env *freshet.Env, n int) *freshet.Stream[int64] {
	src := freshet.FromSource(env, source.Generator(genFn, source.GeneratorCount(int64(n))), "generator")
	return freshet.AssignTimestampsAndWatermarks(src,
		watermark.ForMonotonousTimestamps[int64]().WithTimestampAssigner(windowTime))
}

// BenchmarkTumblingWindowCount counts records per key in 1 s tumbling
// event-time windows over 10,000 keys.
func BenchmarkTumblingWindowCount(b *testing.B) {
	b.Run("freshet", func(b *testing.B) {
		env := freshet.NewEnv(quiet, freshet.WithParallelism(1), freshet.WithAutoWatermarkInterval(watermarkEvery))
		k := freshet.KeyBy(timestamped(env, b.N), windowKey)
		counts := freshet.WindowAggregate(freshet.Window(k, window.TumblingEventTime[int64](time.Second, 0)), countAgg{})
		out := &discard{}
		freshet.SinkTo[int64](counts, out, "discard")
		run(b, b.N, func() error { return env.Execute(context.Background(), "tumbling count") })
		if out.sum.Load() != int64(b.N) {
			b.Fatalf("windows counted %d records, want %d", out.sum.Load(), b.N)
		}
	})
	b.Run("loop", func(b *testing.B) {
		out := &discard{}
		run(b, b.N, func() error {
			type kw struct{ key, start int64 }
			counts := map[kw]int64{}
			w, _ := out.CreateWriter(nil)
			var current int64 = -1
			flush := func() {
				for k, c := range counts {
					_ = w.Write(c, sinkCtx)
					delete(counts, k)
				}
			}
			for i := int64(0); i < int64(b.N); i++ {
				v := genFn(i)
				ts := windowTime(v, 0)
				start := ts - ts%1000
				if start != current {
					flush() // the watermark passed the previous window
					current = start
				}
				counts[kw{windowKey(v), start}]++
			}
			flush()
			return w.Close()
		})
		if out.sum.Load() != int64(b.N) {
			b.Fatalf("loop counted %d records, want %d", out.sum.Load(), b.N)
		}
	})
}

// BenchmarkSlidingWindowAggregate sums values per key in 1 s windows
// sliding by 100 ms (each record is in 10 windows) over 10,000 keys.
func BenchmarkSlidingWindowAggregate(b *testing.B) {
	const size, slide = 1000, 100
	b.Run("freshet", func(b *testing.B) {
		env := freshet.NewEnv(quiet, freshet.WithParallelism(1), freshet.WithAutoWatermarkInterval(watermarkEvery))
		k := freshet.KeyBy(timestamped(env, b.N), windowKey)
		sums := freshet.WindowAggregate(freshet.Window(k, window.SlidingEventTime[int64](size*time.Millisecond, slide*time.Millisecond, 0)), sumAgg{})
		out := &discard{}
		freshet.SinkTo[int64](sums, out, "discard")
		run(b, b.N, func() error { return env.Execute(context.Background(), "sliding sum") })
		b.ReportMetric(float64(out.count.Load()), "windows")
	})
	b.Run("loop", func(b *testing.B) {
		out := &discard{}
		run(b, b.N, func() error {
			windows := map[int64]map[int64]int64{} // window start -> key -> sum
			w, _ := out.CreateWriter(nil)
			var lastSlide int64 = -1 << 62
			fire := func(upTo int64) { // emit the windows ending at or before upTo
				for start, sums := range windows {
					if start+size <= upTo {
						for _, s := range sums {
							_ = w.Write(s, sinkCtx)
						}
						delete(windows, start)
					}
				}
			}
			for i := int64(0); i < int64(b.N); i++ {
				v := genFn(i)
				ts := windowTime(v, 0)
				if cur := ts - ts%slide; cur != lastSlide {
					fire(ts)
					lastSlide = cur
				}
				key := windowKey(v)
				for start := ts - ts%slide; start > ts-size; start -= slide {
					sums := windows[start]
					if sums == nil {
						sums = map[int64]int64{}
						windows[start] = sums
					}
					sums[key] += v
				}
			}
			fire(1 << 62)
			return w.Close()
		})
		b.ReportMetric(float64(out.count.Load()), "windows")
	})
}
