// Command rescale stops a stateful job with a savepoint and resumes it at
// another parallelism: the counts continue where they stopped, exactly.
//
//	go run ./examples/rescale
//
// The job counts a stream of page views per page in keyed state, with
// checkpoints every 200 ms. After a moment it is stopped with a savepoint
// at parallelism 2, the savepoint's keyed state is read offline, and the
// same program resumes from it at parallelism 3 and runs to the end of its
// input, printing each page's final count.
package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"math"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/savepoint"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/state"
)

const (
	views = 60_000
	pages = 6
)

var count = state.NewValue[int64]("views")

// pageCount is a page's final count.
type pageCount struct {
	Page  string
	Count int64
}

// job counts views per page and emits each page's count at the end of input.
func job(parallelism int, out *collector, opts ...freshet.Option) *freshet.Env {
	env := freshet.NewEnv(append([]freshet.Option{
		freshet.WithParallelism(parallelism),
		freshet.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	}, opts...)...)
	gen := source.Generator(func(i int64) string { return fmt.Sprintf("page-%d", i%pages) },
		source.GeneratorCount(views), source.GeneratorRate(30_000))
	viewsOf := freshet.FromSource(env, gen, "views").UID("views")
	counts := freshet.KeyedProcess(freshet.KeyBy(viewsOf, func(p string) string { return p }),
		freshet.KeyedProcessFuncWithTimers(
			func(ctx *freshet.KeyedContext[string], _ string, _ freshet.Collector[pageCount]) error {
				c := state.Value(ctx.State(), count)
				n, _ := c.Value()
				if n == 0 {
					ctx.TimerService().RegisterEventTimeTimer(math.MaxInt64) // at the end of input
				}
				c.Update(n + 1)
				return nil
			},
			func(ctx *freshet.KeyedContext[string], _ int64, out freshet.Collector[pageCount]) error {
				n, _ := state.Value(ctx.State(), count).Value()
				out.Collect(pageCount{ctx.CurrentKey(), n})
				return nil
			})).UID("counter")
	freshet.SinkTo(counts, out, "counts")
	return env
}

func main() {
	res, err := run(context.Background(), 700*time.Millisecond)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stopped at parallelism 2 with a savepoint: %s\n", res.path)
	fmt.Printf("the savepoint holds %d views counted so far\n", res.sofar)
	fmt.Println("resumed at parallelism 3; final counts:")
	for _, pc := range res.final {
		fmt.Printf("  %s %d\n", pc.Page, pc.Count)
	}
}

// result is what run saw.
type result struct {
	path  string      // the savepoint
	sofar int64       // views counted in it
	final []pageCount // each page's count at the end, by page
}

// run starts the job at parallelism 2, stops it with a savepoint after
// pause, reads the savepoint, and resumes it at parallelism 3 to the end.
func run(ctx context.Context, pause time.Duration) (result, error) {
	var res result
	dir, err := os.MkdirTemp("", "savepoints")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	jc, err := job(2, &collector{}, freshet.WithCheckpointing(200*time.Millisecond, freshet.CheckpointStorage(dir))).ExecuteAsync(ctx, "page views")
	if err != nil {
		return res, err
	}
	time.Sleep(pause)
	if res.path, err = jc.StopWithSavepoint(ctx, dir, false); err != nil {
		return res, err
	}
	if err := jc.Wait(); err != nil {
		return res, err
	}

	sp, err := savepoint.Open(ctx, res.path)
	if err != nil {
		return res, err
	}
	sofar, err := savepoint.ValueState[string](ctx, sp, "counter", count)
	_ = sp.Close()
	if err != nil {
		return res, err
	}
	for _, n := range sofar {
		res.sofar += n
	}

	final := &collector{}
	if err := job(3, final, freshet.WithRestoreFrom(res.path)).Execute(ctx, "page views"); err != nil {
		return res, err
	}
	res.final = final.sorted()
	return res, nil
}

// collector is a sink keeping what it gets.
type collector struct {
	mu  sync.Mutex
	got []pageCount
}

func (c *collector) CreateWriter(sink.InitContext) (sink.Writer[pageCount], error) { return c, nil }

func (c *collector) Write(v pageCount, _ sink.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, v)
	return nil
}

func (c *collector) Flush(bool) error { return nil }
func (c *collector) Close() error     { return nil }

func (c *collector) sorted() []pageCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]pageCount(nil), c.got...)
	sort.Slice(out, func(i, j int) bool { return out[i].Page < out[j].Page })
	return out
}
