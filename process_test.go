package freshet_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/state"
)

// timeoutFn is Flink's classic "count, and report keys silent for 10 ms of
// event time" keyed process function.
type timeoutFn struct{ freshet.BaseFunction }

type countAt struct {
	Count int
	Last  int64
}

var countState = state.NewValue[countAt]("count")

func (timeoutFn) ProcessElement(ctx *freshet.KeyedContext[string], v string, out freshet.Collector[string]) error {
	st := state.Value(ctx.State(), countState)
	c, _ := st.Value()
	ts, _ := ctx.Timestamp()
	c.Count++
	c.Last = ts
	st.Update(c)
	ctx.TimerService().RegisterEventTimeTimer(ts + 10)
	return nil
}

func (timeoutFn) OnTimer(ctx *freshet.KeyedContext[string], ts int64, out freshet.Collector[string]) error {
	c, _ := state.Value(ctx.State(), countState).Value()
	if ts == c.Last+10 {
		out.Collect(fmt.Sprintf("%s:%d:%v", ctx.CurrentKey(), c.Count, ctx.TimeDomain()))
	}
	return nil
}

func TestKeyedProcessEventTimeTimersAndState(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[string]) *freshet.Stream[string] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(s string) string { return s }), freshet.KeyedProcessFunction[string, string, string](timeoutFn{}))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	check(t, h.ProcessAt("a", 1))
	check(t, h.ProcessAt("b", 2))
	check(t, h.ProcessAt("a", 5))  // a's timer for 11 becomes stale, 15 is current
	check(t, h.Watermark(11))      // fires a@11 (stale, no output)
	check(t, h.ProcessAt("b", 12)) // b's 12 timer is stale now
	check(t, h.Watermark(15))      // fires a@15
	check(t, h.Watermark(22))      // fires b@22
	var got []string
	for _, e := range h.Events() {
		got = append(got, e.String())
	}
	want := []string{"Watermark(11)", "a:2:EVENT_TIME@15", "Watermark(15)", "b:2:EVENT_TIME@22", "Watermark(22)"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

type procTimerFn struct{ freshet.BaseFunction }

func (procTimerFn) ProcessElement(ctx *freshet.KeyedContext[int], v int, out freshet.Collector[int]) error {
	now := ctx.TimerService().CurrentProcessingTime()
	ctx.TimerService().RegisterProcessingTimeTimer(now + 100)
	ctx.TimerService().RegisterProcessingTimeTimer(now + 100) // deduplicated
	if v < 0 {
		ctx.TimerService().DeleteProcessingTimeTimer(now + 100)
	}
	return nil
}

func (procTimerFn) OnTimer(ctx *freshet.KeyedContext[int], ts int64, out freshet.Collector[int]) error {
	if _, has := ctx.Timestamp(); has || ctx.TimeDomain() != freshet.ProcessingTime {
		return errors.New("processing-time timer output must have no timestamp")
	}
	out.Collect(ctx.CurrentKey()*1000 + int(ts))
	return nil
}

func TestKeyedProcessProcessingTimeTimers(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(v int) int { return v }), freshet.KeyedProcessFunction[int, int, int](procTimerFn{}))
	}, freshettest.WithProcessingTime(0))
	if err != nil {
		t.Fatal(err)
	}
	check(t, h.Process(1))
	check(t, h.SetProcessingTime(50))
	check(t, h.Process(2))
	check(t, h.Process(-3)) // registers and deletes its timer
	if err := h.SetProcessingTime(120); err != nil {
		t.Fatal(err)
	}
	if got := h.Values(); !slices.Equal(got, []int{1100}) {
		t.Fatalf("after 120: %v", got)
	}
	if err := h.SetProcessingTime(200); err != nil {
		t.Fatal(err)
	}
	if got := h.Values(); !slices.Equal(got, []int{1100, 2150}) {
		t.Fatalf("after 200: %v", got)
	}
}

func TestTimersOnUnkeyedStreamFail(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
		return freshet.Process(in, freshet.ProcessFunc(func(ctx *freshet.Context, v int, out freshet.Collector[int]) error {
			ctx.TimerService().RegisterEventTimeTimer(5)
			return nil
		}))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Process(1); !errors.Is(err, freshet.ErrTimersNeedKeys) {
		t.Fatalf("Process = %v, want ErrTimersNeedKeys", err)
	}
}

var odd = freshet.NewOutputTag[int]("odd")

type coFn struct{ freshet.BaseFunction }

func (coFn) ProcessElement1(ctx *freshet.Context, v int, out freshet.Collector[string]) error {
	if v%2 == 1 {
		freshet.Output(ctx, odd, v)
		return nil
	}
	out.Collect(fmt.Sprintf("int %d wm=%d", v, ctx.TimerService().CurrentWatermark()))
	return nil
}

func (coFn) ProcessElement2(ctx *freshet.Context, v string, out freshet.Collector[string]) error {
	out.Collect(fmt.Sprintf("str %s wm=%d", v, ctx.TimerService().CurrentWatermark()))
	return nil
}

func TestCoProcessSideOutputAndCombinedWatermark(t *testing.T) {
	h, err := freshettest.New2(func(a *freshet.Stream[int], b *freshet.Stream[string]) *freshet.Stream[string] {
		return freshet.CoProcess(freshet.Connect(a, b), freshet.CoProcessFunction[int, string, string](coFn{}))
	}, freshettest.CaptureSideOutput(odd))
	if err != nil {
		t.Fatal(err)
	}
	check(t, h.Watermark1(10))
	check(t, h.Process1(2))
	check(t, h.Watermark2(7))
	check(t, h.Process2("x"))
	check(t, h.Process1(3))
	var got []string
	for _, e := range h.Events() {
		got = append(got, e.String())
	}
	want := []string{"int 2 wm=-9223372036854775808", "Watermark(7)", "str x wm=7"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if side := freshettest.SideOutput(h, odd); len(side) != 1 || side[0].Value != 3 {
		t.Fatalf("side output %v", side)
	}
}

type wmReporter struct{ freshet.BaseFunction }

func (wmReporter) ProcessElement1(ctx *freshet.Context, v int, out freshet.Collector[int64]) error {
	return nil
}

func (wmReporter) ProcessElement2(ctx *freshet.Context, v int64, out freshet.Collector[int64]) error {
	out.Collect(ctx.TimerService().CurrentWatermark())
	return nil
}

// wmSink records the watermark the sink had seen at each record.
type wmSink struct {
	mu  *sync.Mutex
	wms *[]int64
}

func (w wmSink) CreateWriter(sink.InitContext) (sink.Writer[int64], error) { return w, nil }
func (w wmSink) Write(_ int64, c sink.Context) error {
	w.mu.Lock()
	*w.wms = append(*w.wms, c.Watermark)
	w.mu.Unlock()
	return nil
}
func (wmSink) Flush(bool) error { return nil }
func (wmSink) Close() error     { return nil }

// TestTwoInputWatermarkIsMinimumInJob checks, in a running job, that a
// two-input operator's event time is the minimum of its inputs: the first
// input ends at once (its watermark jumps to the end), the second has no
// watermarks, so neither the operator nor anything downstream may see event
// time move while the second input runs.
func TestTwoInputWatermarkIsMinimumInJob(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(1))
	a := freshet.FromElements(env, 1, 2, 3)
	b := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(50), source.GeneratorRate(500)), "slow")
	seen := freshet.CoProcess(freshet.Connect(a, b), freshet.CoProcessFunction[int, int64, int64](wmReporter{}))
	var mu sync.Mutex
	var sinkWMs []int64
	freshet.SinkTo[int64](seen, wmSink{&mu, &sinkWMs}, "watermarks").DisableChaining()
	execute(t, env)
	if len(sinkWMs) != 50 {
		t.Fatalf("got %d values, want 50", len(sinkWMs))
	}
	for _, wm := range sinkWMs {
		if wm != math.MinInt64 {
			t.Fatalf("downstream saw watermark %d while the second input had none", wm)
		}
	}
}
