package freshet_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/state"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

// A word count: split lines into words, key by word, keep a running sum.
func Example() {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	lines := freshet.FromElements(env, "to be or not to be", "that is the question")
	type count struct {
		Word string
		N    int
	}
	words := freshet.FlatMap(lines, func(line string, out freshet.Collector[count]) {
		for _, w := range strings.Fields(line) {
			out.Collect(count{w, 1})
		}
	})
	counts := freshet.Sum(freshet.KeyBy(words, func(c count) string { return c.Word }), freshet.FieldOf[count, int]("N"))
	result := freshet.Collect(counts)
	if err := env.Execute(context.Background(), "word count"); err != nil {
		fmt.Println(err)
		return
	}
	final := map[string]int{}
	for _, c := range result.Values() {
		final[c.Word] = max(final[c.Word], c.N)
	}
	fmt.Println(final["to"], final["be"], final["question"])
	// Output: 2 2 1
}

// Event-time tumbling windows over out-of-order clicks.
func ExampleWindow() {
	type click struct {
		User string
		At   int64 // ms
	}
	env := freshet.NewEnv()
	clicks := []click{{"ann", 1000}, {"bob", 1500}, {"ann", 900}, {"ann", 2100}, {"bob", 2999}}
	in := freshet.FromSourceWithWatermarks(env, source.FromSlice(clicks),
		watermark.ForBoundedOutOfOrderness[click](time.Second).WithTimestampAssigner(func(c click, _ int64) int64 { return c.At }),
		"clicks")
	perUser := freshet.KeyBy(in, func(c click) string { return c.User })
	counts := freshet.WindowProcess(freshet.Window(perUser, window.TumblingEventTime[click](time.Second, 0)),
		freshet.ProcessWindowFunc(
			func(ctx *freshet.WindowContext[string, window.TimeWindow], cs []click, out freshet.Collector[string]) error {
				out.Collect(fmt.Sprintf("%s [%d,%d): %d", ctx.Key(), ctx.Window().Start, ctx.Window().End, len(cs)))
				return nil
			}))
	result := freshet.Collect(counts)
	if err := env.Execute(context.Background(), "clicks per second"); err != nil {
		fmt.Println(err)
		return
	}
	lines := result.Values()
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// ann [0,1000): 1
	// ann [1000,2000): 1
	// ann [2000,3000): 1
	// bob [1000,2000): 1
	// bob [2000,3000): 1
}

// A keyed process function from two function literals: Go infers every
// type from them. A user's first click sets an event-time timer 10 s later;
// when it fires, the user's clicks so far are emitted and the count starts
// again. A timer fires when the watermark passes it: here, with the click
// that moves event time beyond it (which is counted first).
func ExampleKeyedProcessFuncWithTimers() {
	type click struct {
		User string
		At   int64 // ms
	}
	// The count of a user's clicks, keyed state declared once.
	clickCount := state.NewValue[int]("clicks")
	env := freshet.NewEnv(freshet.WithParallelism(1), freshet.WithLogger(slog.New(slog.DiscardHandler)))
	clicks := freshet.AssignTimestampsAndWatermarks(
		freshet.FromElements(env, click{"ann", 1_000}, click{"bob", 2_000}, click{"ann", 5_000}, click{"bob", 15_000}, click{"ann", 16_000}),
		// A watermark after every click: event time is the latest click.
		watermark.Punctuated(func(c click, ts int64) (int64, bool) { return ts, true }).
			WithTimestampAssigner(func(c click, _ int64) int64 { return c.At }))
	counts := freshet.KeyedProcess(freshet.KeyBy(clicks, func(c click) string { return c.User }),
		freshet.KeyedProcessFuncWithTimers(
			func(ctx *freshet.KeyedContext[string], c click, out freshet.Collector[string]) error {
				n := state.Value(ctx.State(), clickCount)
				v, _ := n.Value()
				if v == 0 {
					ctx.TimerService().RegisterEventTimeTimer(c.At + 10_000)
				}
				n.Update(v + 1)
				return nil
			},
			func(ctx *freshet.KeyedContext[string], ts int64, out freshet.Collector[string]) error {
				n := state.Value(ctx.State(), clickCount)
				v, _ := n.Value()
				out.Collect(fmt.Sprintf("%s: %d clicks by %d", ctx.CurrentKey(), v, ts))
				n.Clear()
				return nil
			}))
	got := freshet.Collect(counts)
	if err := env.Execute(context.Background(), "click counts"); err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range got.Values() {
		fmt.Println(s)
	}
	// Output:
	// ann: 2 clicks by 11000
	// bob: 2 clicks by 12000
	// ann: 1 clicks by 26000
}

// batch is the operator list state of batcher.
var batch = state.NewList[string]("batch")

// batcher emits its elements in batches of size, keeping the batch being
// filled in operator list state so that it survives a restore.
type batcher struct {
	freshet.BaseFunction
	size int
}

func (batcher) InitializeState(ctx *freshet.StateInitializationContext) error {
	_, err := freshet.ListState(ctx, batch)
	return err
}

// SnapshotState has nothing to do: the batch is in state all along.
func (batcher) SnapshotState(*freshet.StateSnapshotContext) error { return nil }

func (b batcher) ProcessElement(ctx *freshet.Context, v string, out freshet.Collector[[]string]) error {
	buf, err := freshet.ListState(ctx.Runtime(), batch)
	if err != nil {
		return err
	}
	buf.Add(v)
	if buf.Len() == b.size {
		out.Collect(buf.Get())
		buf.Clear()
	}
	return nil
}

// A function keeps a partial batch in operator list state: restored from
// a snapshot, it completes the batch.
func ExampleListState() {
	build := func(in *freshet.Stream[string]) *freshet.Stream[[]string] {
		return freshet.Process(in, freshet.ProcessFunction[string, []string](batcher{size: 3}))
	}
	h, err := freshettest.New(build)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = h.Process("a")
	_ = h.Process("b")
	snap, err := h.Snapshot()
	_ = h.Close()
	if err != nil {
		fmt.Println(err)
		return
	}
	restored, err := freshettest.New(build, freshettest.WithRestore(snap))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer restored.Close()
	_ = restored.Process("c")
	fmt.Println(restored.Values())
	// Output: [[a b c]]
}

// A job with exactly-once checkpoints: every 200 ms its state is
// snapshotted into a directory; should a record fail it, the job restarts
// from the latest checkpoint, its source rewound, and the counts still
// come out exact.
func ExampleWithCheckpointing() {
	dir, err := os.MkdirTemp("", "checkpoints")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	var failed atomic.Bool
	env := freshet.NewEnv(
		freshet.WithParallelism(2),
		freshet.WithCheckpointing(200*time.Millisecond, freshet.CheckpointStorage(dir)),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(3, 10*time.Millisecond)),
		freshet.WithLogger(slog.New(slog.DiscardHandler)))
	nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i },
		source.GeneratorCount(4000), source.GeneratorRate(4000)), "numbers")
	evenOdd := freshet.Map(nums, func(v int64) string {
		if v == 2500 && !failed.Swap(true) {
			panic("a bad record, once") // the job restarts from a checkpoint
		}
		return [...]string{"even", "odd"}[v%2]
	})
	type count struct {
		Key string
		N   int
	}
	ones := freshet.Map(evenOdd, func(k string) count { return count{k, 1} })
	sums := freshet.Sum(freshet.KeyBy(ones, func(c count) string { return c.Key }), freshet.FieldOf[count, int]("N"))
	result := freshet.Collect(sums)
	jc, err := env.ExecuteAsync(context.Background(), "checkpointed count")
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := jc.Wait(); err != nil {
		fmt.Println(err)
		return
	}
	final := map[string]int{}
	for _, c := range result.Values() {
		final[c.Key] = max(final[c.Key], c.N)
	}
	_, ok := jc.LatestCheckpoint()
	fmt.Println(final["even"], final["odd"], jc.Restarts(), ok)
	// Output: 2000 2000 1 true
}
