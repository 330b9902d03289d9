package freshet_test

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/state"
	"github.com/freshet-io/freshet/window"
)

type kv struct {
	K string
	V int
}

type meanAcc struct{ Sum, N int }

type meanOf struct{}

func (meanOf) CreateAccumulator() meanAcc   { return meanAcc{} }
func (meanOf) Add(v int, a meanAcc) meanAcc { return meanAcc{a.Sum + v, a.N + 1} }
func (meanOf) GetResult(a meanAcc) float64  { return float64(a.Sum) / float64(a.N) }
func (meanOf) Merge(a, b meanAcc) meanAcc   { return meanAcc{a.Sum + b.Sum, a.N + b.N} }

func evenOdd(v int) string {
	if v%2 == 0 {
		return "even"
	}
	return "odd"
}

// Every kind of keyed state, declared once.
var (
	seenCount = state.NewValue("count", state.WithDefault(100))
	seenList  = state.NewList[int]("list")
	lastByOdd = state.NewMap[string, int]("last")
	runSum    = state.NewReducing("sum", func(a, b int) int { return a + b })
	runMean   = state.NewAggregating[int, meanAcc, float64]("mean", meanOf{})
)

// allStates keeps every kind of state per key and reports it after each
// element; a negative value clears the key's state.
func allStates(ctx *freshet.KeyedContext[string], e kv, out freshet.Collector[string]) error {
	st := ctx.State()
	count, list, last := state.Value(st, seenCount), state.List(st, seenList), state.Map(st, lastByOdd)
	sum, mean := state.Reducing(st, runSum), state.Aggregating(st, runMean)
	if e.V < 0 {
		count.Clear()
		list.Clear()
		for _, k := range slices.Sorted(maps.Keys(maps.Collect(last.All()))) {
			last.Remove(k)
		}
		sum.Clear()
		mean.Clear()
		out.Collect(fmt.Sprintf("%s reset (map len %d)", ctx.CurrentKey(), last.Len()))
		return nil
	}
	n, _ := count.Value()
	count.Update(n + 1)
	list.Add(e.V)
	last.Put(evenOdd(e.V), e.V)
	sum.Add(e.V)
	mean.Add(e.V)
	n, _ = count.Value()
	s, _ := sum.Get()
	m, _ := mean.Get()
	lm := map[string]int{}
	for k, v := range last.All() {
		lm[k] = v
	}
	out.Collect(fmt.Sprintf("%s count=%d list=%v map=%v sum=%d mean=%.1f", ctx.CurrentKey(), n, list.Get(), lm, s, m))
	return nil
}

// TestKeyedStateKinds runs every kind of state through a keyed process
// function: each key sees only its own state, the value state starts at
// its default, and cleared state starts again.
func TestKeyedStateKinds(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[kv]) *freshet.Stream[string] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(e kv) string { return e.K }), freshet.KeyedProcessFunc(allStates))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, e := range []kv{{"a", 1}, {"b", 10}, {"a", 2}, {"a", -1}, {"a", 4}, {"b", 20}} {
		check(t, h.Process(e))
	}
	want := []string{
		"a count=101 list=[1] map=map[odd:1] sum=1 mean=1.0",
		"b count=101 list=[10] map=map[even:10] sum=10 mean=10.0",
		"a count=102 list=[1 2] map=map[even:2 odd:1] sum=3 mean=1.5",
		"a reset (map len 0)",
		"a count=101 list=[4] map=map[even:4] sum=4 mean=4.0",
		"b count=102 list=[10 20] map=map[even:20] sum=30 mean=15.0",
	}
	if got := h.Values(); !slices.Equal(got, want) {
		t.Fatalf("values\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestStateWrongTypeFailsJob: using a state name with a descriptor of
// another kind fails the job with an error naming the state and the
// operator, in a job and in the harness.
func TestStateWrongTypeFailsJob(t *testing.T) {
	asValue, asList := state.NewValue[int]("x"), state.NewList[int]("x")
	fn := freshet.KeyedProcessFunc(func(ctx *freshet.KeyedContext[int], v int, out freshet.Collector[int]) error {
		if v == 2 {
			state.List(ctx.State(), asList).Add(v)
		} else {
			state.Value(ctx.State(), asValue).Update(v)
		}
		out.Collect(v)
		return nil
	})
	const want = `state "x" is used as ListState[int] but was declared as ValueState[int]`

	env := freshet.NewEnv(freshet.WithParallelism(1), freshet.WithLogger(slog.New(slog.DiscardHandler)))
	k := freshet.KeyBy(freshet.FromElements(env, 1, 2, 3), func(v int) int { return v })
	freshet.Collect(freshet.KeyedProcess(k, fn).Name("mixed state"))
	err := env.Execute(t.Context(), t.Name())
	var oe *freshet.OperatorError
	if !errors.Is(err, state.ErrIncompatibleState) || !errors.As(err, &oe) || oe.Operator != "mixed state" || !strings.Contains(err.Error(), want) {
		t.Fatalf("Execute = %v, want ErrIncompatibleState in operator \"mixed state\" saying %q", err, want)
	}

	h, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(v int) int { return v }), fn)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	check(t, h.Process(1))
	if err := h.Process(2); !errors.Is(err, state.ErrIncompatibleState) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Process(2) = %v, want %q", err, want)
	}
}

// TestStateWithoutCodecFailsJob: a state whose type has no codec fails the
// job when it is first used, naming the state; WithCodec is the way out.
func TestStateWithoutCodecFailsJob(t *testing.T) {
	type withFunc struct{ F func() }
	d := state.NewValue[withFunc]("callbacks")
	h, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(v int) int { return v }),
			freshet.KeyedProcessFunc(func(ctx *freshet.KeyedContext[int], v int, out freshet.Collector[int]) error {
				state.Value(ctx.State(), d).Update(withFunc{})
				return nil
			}))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	err = h.Process(1)
	if !errors.Is(err, state.ErrIncompatibleState) || !errors.Is(err, codec.ErrUnsupported) || !strings.Contains(err.Error(), `"callbacks"`) {
		t.Fatalf("Process = %v, want ErrIncompatibleState naming \"callbacks\"", err)
	}
}

// mapVisitFn keeps, per key, its last even and odd value in map state; a
// broadcast "drop-odd" removes every key's odd entry with
// ApplyToKeyedState, and "list" reports the keys that still have state.
type mapVisitFn struct {
	freshet.NoBroadcastTimers[string, string]
}

func (mapVisitFn) ProcessElement(ctx *freshet.KeyedReadOnlyBroadcastContext[string], e kv, _ freshet.Collector[string]) error {
	state.Map(ctx.State(), lastByOdd).Put(evenOdd(e.V), e.V)
	return nil
}

func (mapVisitFn) ProcessBroadcastElement(ctx *freshet.KeyedBroadcastContext[string], cmd string, out freshet.Collector[string]) error {
	var seen []string
	err := ctx.ApplyToKeyedState(lastByOdd, func(key string, st state.Store) error {
		m := state.Map(st, lastByOdd)
		if cmd == "drop-odd" {
			m.Remove("odd")
		}
		seen = append(seen, fmt.Sprintf("%s=%v", key, maps.Collect(m.All())))
		return nil
	})
	slices.Sort(seen)
	out.Collect(fmt.Sprintf("%s: %s", cmd, strings.Join(seen, " ")))
	return err
}

// TestApplyToKeyedStateMapState: map state written back by Put and
// emptied by Remove keeps ApplyToKeyedState's index of keys exact.
func TestApplyToKeyedStateMapState(t *testing.T) {
	h, err := freshettest.New2(func(a *freshet.Stream[kv], b *freshet.Stream[string]) *freshet.Stream[string] {
		return freshet.KeyedBroadcastProcess(
			freshet.ConnectKeyedBroadcast(freshet.KeyBy(a, func(e kv) string { return e.K }), freshet.NewBroadcastStream(b)),
			freshet.KeyedBroadcastProcessFunction[kv, string, string, string](mapVisitFn{}))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, e := range []kv{{"a", 1}, {"a", 2}, {"b", 3}, {"c", 4}} {
		check(t, h.Process1(e))
	}
	check(t, h.Process2("list"))
	check(t, h.Process2("drop-odd"))
	check(t, h.Process2("list"))
	want := []string{
		"list: a=map[even:2 odd:1] b=map[odd:3] c=map[even:4]",
		"drop-odd: a=map[even:2] b=map[] c=map[even:4]",
		"list: a=map[even:2] c=map[even:4]",
	}
	if got := h.Values(); !slices.Equal(got, want) {
		t.Fatalf("values\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var (
	firingSizes   = state.NewList[int]("sizes")
	elementsTotal = state.NewReducing("total", func(a, b int) int { return a + b })
)

// sizesFn keeps, per window, the sizes of its firings (list state in
// WindowState) and, per key, the elements of all its firings (reducing
// state in GlobalState).
type sizesFn struct {
	freshet.BaseWindowFunction[string, window.TimeWindow]
}

func (sizesFn) Process(ctx *freshet.WindowContext[string, window.TimeWindow], elements []ev, out freshet.Collector[string]) error {
	sizes := state.List(ctx.WindowState(), firingSizes)
	sizes.Add(len(elements))
	total := state.Reducing(ctx.GlobalState(), elementsTotal)
	total.Add(len(elements))
	n, _ := total.Get()
	w := ctx.Window()
	out.Collect(fmt.Sprintf("%s [%d,%d) sizes=%v total=%d", ctx.Key(), w.Start, w.End, sizes.Get(), n))
	return nil
}

// TestWindowStateIsPerKeyAndWindow: window state belongs to one key and
// window and goes with the window; global state is the key's across its
// windows.
func TestWindowStateIsPerKeyAndWindow(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[ev]) *freshet.Stream[string] {
		k := freshet.KeyBy(in, func(e ev) string { return e.Key })
		return freshet.WindowProcess(freshet.Window(k, window.TumblingEventTime[ev](10*ms, 0)).AllowedLateness(10*ms),
			freshet.ProcessWindowFunction[ev, string, window.TimeWindow, string](sizesFn{}))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, step := range []any{ev{"a", 0, 1}, ev{"b", 0, 2}, ev{"a", 0, 3}, int64(9), ev{"a", 0, 4}, ev{"a", 0, 12}, int64(19), int64(30), ev{"a", 0, 5}, ev{"b", 0, 31}} {
		switch s := step.(type) {
		case ev:
			check(t, h.ProcessAt(s, s.TS))
		case int64:
			check(t, h.Watermark(s))
		}
	}
	check(t, h.EndInput())
	want := []string{
		"a [0,10) sizes=[2 3] total=5", // fired again by the late element at 4
		"a [0,10) sizes=[2] total=2",
		"a [10,20) sizes=[1] total=6",
		"b [0,10) sizes=[1] total=1",
		"b [30,40) sizes=[1] total=2",
	}
	if got := slices.Sorted(slices.Values(h.Values())); !slices.Equal(got, want) {
		t.Fatalf("values\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
