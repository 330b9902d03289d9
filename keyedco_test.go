package freshet_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/state"
)

type order struct {
	ID   string
	Item string
}

type payment struct {
	ID     string
	Amount int
}

// The keyed state of the tests' functions.
var (
	orderState   = state.NewValue[order]("order")
	paymentState = state.NewValue[payment]("payment")
	sumState     = state.NewValue[int]("sum")
	fromState    = state.NewValue[string]("from")
)

// matchFn joins orders with their payments by ID: whichever comes first
// waits in keyed state for 10 ms of event time, then is reported unmatched.
type matchFn struct {
	freshet.BaseFunction
	rejected freshet.OutputTag[payment]
}

func (matchFn) ProcessElement1(ctx *freshet.KeyedContext[string], o order, out freshet.Collector[string]) error {
	pay := state.Value(ctx.State(), paymentState)
	if p, ok := pay.Value(); ok {
		pay.Clear()
		out.Collect(fmt.Sprintf("%s: %s paid %d", ctx.CurrentKey(), o.Item, p.Amount))
		return nil
	}
	state.Value(ctx.State(), orderState).Update(o)
	ts, _ := ctx.Timestamp()
	ctx.TimerService().RegisterEventTimeTimer(ts + 10)
	return nil
}

func (f matchFn) ProcessElement2(ctx *freshet.KeyedContext[string], p payment, out freshet.Collector[string]) error {
	if p.Amount <= 0 {
		freshet.Output(ctx, f.rejected, p)
		return nil
	}
	ord := state.Value(ctx.State(), orderState)
	if o, ok := ord.Value(); ok {
		ord.Clear()
		out.Collect(fmt.Sprintf("%s: %s paid %d", ctx.CurrentKey(), o.Item, p.Amount))
		return nil
	}
	state.Value(ctx.State(), paymentState).Update(p)
	ts, _ := ctx.Timestamp()
	ctx.TimerService().RegisterEventTimeTimer(ts + 10)
	return nil
}

func (matchFn) OnTimer(ctx *freshet.KeyedContext[string], ts int64, out freshet.Collector[string]) error {
	wm := ctx.TimerService().CurrentWatermark()
	if o, ok := state.Value(ctx.State(), orderState).Value(); ok {
		state.Value(ctx.State(), orderState).Clear()
		out.Collect(fmt.Sprintf("%s: %s unpaid (wm %d)", ctx.CurrentKey(), o.Item, wm))
	}
	if p, ok := state.Value(ctx.State(), paymentState).Value(); ok {
		state.Value(ctx.State(), paymentState).Clear()
		out.Collect(fmt.Sprintf("%s: payment %d without order (wm %d)", ctx.CurrentKey(), p.Amount, wm))
	}
	return nil
}

func eventStrings[T any](events []freshettest.Event[T]) []string {
	var got []string
	for _, e := range events {
		got = append(got, e.String())
	}
	return got
}

func TestKeyedCoProcessJoinsWithStateAndTimersOnMinWatermark(t *testing.T) {
	rejected := freshet.NewOutputTag[payment]("rejected")
	h, err := freshettest.New2(func(a *freshet.Stream[order], b *freshet.Stream[payment]) *freshet.Stream[string] {
		c := freshet.ConnectKeyed(freshet.KeyBy(a, func(o order) string { return o.ID }), freshet.KeyBy(b, func(p payment) string { return p.ID }))
		return freshet.KeyedCoProcess(c, freshet.KeyedCoProcessFunction[order, payment, string, string](matchFn{rejected: rejected}))
	}, freshettest.CaptureSideOutput(rejected))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	steps := []error{
		h.Process1At(order{"o1", "book"}, 1), // waits until 11
		h.Process1At(order{"o2", "pen"}, 2),  // waits until 12
		h.Process2At(payment{"o2", 3}, 4),    // joins o2
		h.Process2At(payment{"o3", 5}, 6),    // waits until 16
		h.Process2At(payment{"o4", -1}, 7),   // side output
		h.Watermark1(100),                    // the second input holds the watermark back
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if got, want := eventStrings(h.Events()), []string{"o2: pen paid 3@4"}; !slices.Equal(got, want) {
		t.Fatalf("after Watermark1 only: %v, want %v", got, want)
	}
	if err := h.Watermark2(11); err != nil {
		t.Fatal(err)
	}
	if err := h.Watermark2(20); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"o2: pen paid 3@4",
		"o1: book unpaid (wm 11)@11", "Watermark(11)",
		// o2's timer at 12 finds its state cleared.
		"o3: payment 5 without order (wm 20)@16", "Watermark(20)",
	}
	if got := eventStrings(h.Events()); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	side := freshettest.SideOutput(h, rejected)
	if len(side) != 1 || side[0].Value != (payment{"o4", -1}) || side[0].Timestamp != 7 {
		t.Fatalf("side output %v", side)
	}
	// The watermark never goes back, whichever input lags.
	if err := h.Watermark1(150); err != nil {
		t.Fatal(err)
	}
	if got := h.Watermarks(); !slices.Equal(got, []int64{11, 20}) {
		t.Fatalf("watermarks %v", got)
	}
}

// sumBothFn adds up, per key, the values of both inputs and reports each
// key's total once, at the end of event time.
type sumBothFn struct{ freshet.BaseFunction }

func (sumBothFn) add(ctx *freshet.KeyedContext[int], v int) error {
	st := state.Value(ctx.State(), sumState)
	s, _ := st.Value()
	st.Update(s + v)
	ctx.TimerService().RegisterEventTimeTimer(math.MaxInt64)
	return nil
}

func (f sumBothFn) ProcessElement1(ctx *freshet.KeyedContext[int], v int, _ freshet.Collector[[3]int]) error {
	return f.add(ctx, v)
}

func (f sumBothFn) ProcessElement2(ctx *freshet.KeyedContext[int], v string, _ freshet.Collector[[3]int]) error {
	return f.add(ctx, 1000*len(v))
}

func (sumBothFn) OnTimer(ctx *freshet.KeyedContext[int], _ int64, out freshet.Collector[[3]int]) error {
	s, _ := state.Value(ctx.State(), sumState).Value()
	out.Collect([3]int{ctx.CurrentKey(), s, ctx.Runtime().SubtaskIndex()})
	return nil
}

func TestKeyedCoProcessJobSharesStateOfBothInputsPerKey(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(3))
	nums := freshet.KeyBy(freshet.FromSlice(env, ints(100)), func(v int) int { return v % 10 })
	var words []string
	for i := 0; i < 30; i++ {
		words = append(words, fmt.Sprintf("%d%s", i%10, "xyz"[:i%3+1])) // key = first digit
	}
	wordStream := freshet.FromSlice(env, words).SetParallelism(2)
	keyedWords := freshet.KeyBy(wordStream, func(w string) int { return int(w[0] - '0') })
	got := freshet.Collect(freshet.KeyedCoProcess(freshet.ConnectKeyed(nums, keyedWords), freshet.KeyedCoProcessFunction[int, string, int, [3]int](sumBothFn{})))
	execute(t, env)

	want := map[int]int{}
	for v := range 100 {
		want[v%10] += v
	}
	for _, w := range words {
		want[int(w[0]-'0')] += 1000 * len(w)
	}
	seen := map[int]bool{}
	subtasks := map[int]bool{}
	for _, r := range got.Values() {
		key, sum, sub := r[0], r[1], r[2]
		if seen[key] {
			t.Fatalf("key %d reported twice: its elements reached more than one subtask (%v)", key, got.Values())
		}
		seen[key] = true
		subtasks[sub] = true
		if sum != want[key] {
			t.Errorf("key %d: sum %d, want %d", key, sum, want[key])
		}
	}
	if len(seen) != 10 {
		t.Fatalf("reported %d keys, want 10: %v", len(seen), got.Values())
	}
	if len(subtasks) < 2 {
		t.Fatalf("all keys on one subtask: %v", got.Values())
	}
}

func TestKeyedCoProcessProcessingTimeTimers(t *testing.T) {
	h, err := freshettest.New2(func(a *freshet.Stream[int], b *freshet.Stream[int]) *freshet.Stream[string] {
		c := freshet.ConnectKeyed(freshet.KeyBy(a, func(v int) int { return v }), freshet.KeyBy(b, func(v int) int { return v }))
		return freshet.KeyedCoProcess(c, freshet.KeyedCoProcessFunction[int, int, int, string](procCoFn{}))
	}, freshettest.WithProcessingTime(0))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	check(t, h.Process1(1))
	check(t, h.SetProcessingTime(30))
	check(t, h.Process2(2))
	if err := h.SetProcessingTime(200); err != nil {
		t.Fatal(err)
	}
	want := []string{"1 PROCESSING_TIME 100 input 1", "2 PROCESSING_TIME 130 input 2"}
	if got := h.Values(); !slices.Equal(got, want) {
		t.Fatalf("values %v, want %v", got, want)
	}
}

type procCoFn struct{ freshet.BaseFunction }

func (procCoFn) ProcessElement1(ctx *freshet.KeyedContext[int], v int, _ freshet.Collector[string]) error {
	state.Value(ctx.State(), fromState).Update("input 1")
	ctx.TimerService().RegisterProcessingTimeTimer(ctx.TimerService().CurrentProcessingTime() + 100)
	return nil
}

func (procCoFn) ProcessElement2(ctx *freshet.KeyedContext[int], v int, _ freshet.Collector[string]) error {
	state.Value(ctx.State(), fromState).Update("input 2")
	ctx.TimerService().RegisterProcessingTimeTimer(ctx.TimerService().CurrentProcessingTime() + 100)
	return nil
}

func (procCoFn) OnTimer(ctx *freshet.KeyedContext[int], ts int64, out freshet.Collector[string]) error {
	from, _ := state.Value(ctx.State(), fromState).Value()
	out.Collect(fmt.Sprintf("%d %v %d %s", ctx.CurrentKey(), ctx.TimeDomain(), ts, from))
	return nil
}
