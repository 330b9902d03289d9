package freshet_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/state"
)

type rule struct {
	Name  string
	Value int
}

// thresholdFn passes the elements at or above the broadcast rule "min".
type thresholdFn struct {
	freshet.BaseFunction
	noRule  freshet.OutputTag[int]
	ruleLog freshet.OutputTag[string]
}

func (f thresholdFn) ProcessElement(ctx *freshet.ReadOnlyBroadcastContext, v int, out freshet.Collector[string]) error {
	limit, ok := freshet.BroadcastState[string, int](ctx, "rules").Get("min")
	if !ok {
		freshet.Output(ctx, f.noRule, v)
		return nil
	}
	if v >= limit {
		out.Collect(fmt.Sprint(v))
	}
	return nil
}

func (f thresholdFn) ProcessBroadcastElement(ctx *freshet.BroadcastContext, r rule, _ freshet.Collector[string]) error {
	rules := freshet.BroadcastState[string, int](ctx, "rules")
	rules.Put(r.Name, r.Value)
	freshet.Output(ctx, f.ruleLog, fmt.Sprintf("%s=%d (%d rules)", r.Name, r.Value, rules.Len()))
	return nil
}

func TestBroadcastProcessAppliesRulesInOrderInHarness(t *testing.T) {
	fn := thresholdFn{noRule: freshet.NewOutputTag[int]("no-rule"), ruleLog: freshet.NewOutputTag[string]("rules")}
	h, err := freshettest.New2(func(a *freshet.Stream[int], b *freshet.Stream[rule]) *freshet.Stream[string] {
		return freshet.BroadcastProcess(freshet.ConnectBroadcast(a, freshet.NewBroadcastStream(b)), freshet.BroadcastProcessFunction[int, rule, string](fn))
	}, freshettest.CaptureSideOutput(fn.noRule), freshettest.CaptureSideOutput(fn.ruleLog))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	steps := []error{
		h.Process1At(5, 1), // no rule yet
		h.Process2At(rule{"min", 10}, 2),
		h.Process1At(12, 3),
		h.Process1At(7, 4), // filtered
		h.Process2At(rule{"min", 6}, 5),
		h.Process1At(7, 6),
		h.Watermark1(10), // held back by the broadcast input
		h.Watermark2(8),
		h.Watermark2(20),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := []string{"12@3", "7@6", "Watermark(8)", "Watermark(10)"}
	if got := eventStrings(h.Events()); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if got := freshettest.SideOutput(h, fn.noRule); len(got) != 1 || got[0].Value != 5 || got[0].Timestamp != 1 {
		t.Fatalf("no-rule side output %v", got)
	}
	var log []string
	for _, r := range freshettest.SideOutput(h, fn.ruleLog) {
		log = append(log, fmt.Sprintf("%s@%d", r.Value, r.Timestamp))
	}
	if want := []string{"min=10 (1 rules)@2", "min=6 (1 rules)@5"}; !slices.Equal(log, want) {
		t.Fatalf("rule side output %v, want %v", log, want)
	}
}

// gatedThresholdFn is thresholdFn for a job: an element before the rule
// fails, and ruleSeen is closed once every subtask has the rule.
type gatedThresholdFn struct {
	freshet.BaseFunction
	subtasksWithRule *atomic.Int32
	ruleSeen         chan struct{}
}

func (gatedThresholdFn) ProcessElement(ctx *freshet.ReadOnlyBroadcastContext, v int, out freshet.Collector[[2]int]) error {
	limit, ok := freshet.BroadcastState[string, int](ctx, "rules").Get("min")
	if !ok {
		return fmt.Errorf("element %d before the rule", v)
	}
	if v >= limit {
		out.Collect([2]int{v, ctx.Runtime().SubtaskIndex()})
	}
	return nil
}

func (f gatedThresholdFn) ProcessBroadcastElement(ctx *freshet.BroadcastContext, r rule, _ freshet.Collector[[2]int]) error {
	freshet.BroadcastState[string, int](ctx, "rules").Put(r.Name, r.Value)
	if f.subtasksWithRule.Add(1) == int32(ctx.Runtime().Parallelism()) {
		close(f.ruleSeen)
	}
	return nil
}

func TestBroadcastProcessJobRuleReachesEverySubtask(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	fn := gatedThresholdFn{subtasksWithRule: new(atomic.Int32), ruleSeen: make(chan struct{})}
	// The elements wait until both subtasks have the rule, so the result
	// does not depend on how the two inputs interleave.
	elements := freshet.Map(freshet.FromSlice(env, ints(20)), func(v int) int {
		select {
		case <-fn.ruleSeen:
		case <-time.After(10 * time.Second):
			panic("the rule did not reach both subtasks")
		}
		return v
	}).Rebalance()
	rules := freshet.NewBroadcastStream(freshet.FromElements(env, rule{"min", 5}))
	got := freshet.Collect(freshet.BroadcastProcess(freshet.ConnectBroadcast(elements, rules), freshet.BroadcastProcessFunction[int, rule, [2]int](fn)))
	execute(t, env)

	var values []int
	subtasks := map[int]bool{}
	for _, r := range got.Values() {
		values = append(values, r[0])
		subtasks[r[1]] = true
	}
	if want := ints(20)[5:]; !slices.Equal(sorted(values), want) {
		t.Fatalf("values %v, want %v", sorted(values), want)
	}
	if len(subtasks) != 2 {
		t.Fatalf("subtasks that applied the rule: %v, want both", subtasks)
	}
	if n := fn.subtasksWithRule.Load(); n != 2 {
		t.Fatalf("%d subtasks received the rule, want 2", n)
	}
}

// bufferingFn is Flink's keyed broadcast pattern that misses no element:
// elements that arrive before the rule wait in keyed state, and the rule's
// arrival releases them with ApplyToKeyedState.
type bufferingFn struct {
	freshet.NoBroadcastTimers[int, [3]int]
}

// The keyed state of the tests' functions.
var (
	bufferState = state.NewList[int]("buffer")
	maxState    = state.NewValue[int]("max")
)

func (bufferingFn) ProcessElement(ctx *freshet.KeyedReadOnlyBroadcastContext[int], v int, out freshet.Collector[[3]int]) error {
	limit, ok := freshet.BroadcastState[string, int](ctx, "rules").Get("min")
	if !ok {
		state.List(ctx.State(), bufferState).Add(v)
		return nil
	}
	if v >= limit {
		out.Collect([3]int{v, ctx.CurrentKey(), ctx.Runtime().SubtaskIndex()})
	}
	return nil
}

func (bufferingFn) ProcessBroadcastElement(ctx *freshet.KeyedBroadcastContext[int], r rule, out freshet.Collector[[3]int]) error {
	freshet.BroadcastState[string, int](ctx, "rules").Put(r.Name, r.Value)
	return ctx.ApplyToKeyedState(bufferState, func(key int, st state.Store) error {
		buf := state.List(st, bufferState)
		for _, v := range buf.Get() {
			if v >= r.Value {
				out.Collect([3]int{v, key, ctx.Runtime().SubtaskIndex()})
			}
		}
		buf.Clear()
		return nil
	})
}

func TestKeyedBroadcastProcessJobIsExactWhateverTheInterleaving(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	keyed := freshet.KeyBy(freshet.FromSlice(env, ints(40)), func(v int) int { return v % 8 })
	rules := freshet.NewBroadcastStream(freshet.FromElements(env, rule{"min", 10}))
	got := freshet.Collect(freshet.KeyedBroadcastProcess(freshet.ConnectKeyedBroadcast(keyed, rules), freshet.KeyedBroadcastProcessFunction[int, rule, int, [3]int](bufferingFn{})))
	execute(t, env)

	var values []int
	subtaskOf := map[int]int{}
	for _, r := range got.Values() {
		v, key, sub := r[0], r[1], r[2]
		values = append(values, v)
		if key != v%8 {
			t.Fatalf("value %d with key %d", v, key)
		}
		if s, ok := subtaskOf[key]; ok && s != sub {
			t.Fatalf("key %d on subtasks %d and %d", key, s, sub)
		}
		subtaskOf[key] = sub
	}
	if want := ints(40)[10:]; !slices.Equal(sorted(values), want) {
		t.Fatalf("values %v, want %v", sorted(values), want)
	}
	subtasks := map[int]bool{}
	for _, s := range subtaskOf {
		subtasks[s] = true
	}
	if len(subtasks) != 2 {
		t.Fatalf("keys by subtask %v: want both subtasks to apply the rule", subtaskOf)
	}
}

// writeOnElementFn changes broadcast state where it may not.
type writeOnElementFn struct{ freshet.BaseFunction }

func (writeOnElementFn) ProcessElement(ctx *freshet.ReadOnlyBroadcastContext, v int, _ freshet.Collector[int]) error {
	freshet.BroadcastState[string, int](ctx, "rules").Put("min", v)
	return nil
}

func (writeOnElementFn) ProcessBroadcastElement(*freshet.BroadcastContext, rule, freshet.Collector[int]) error {
	return nil
}

func TestBroadcastStateIsReadOnlyOnTheElementSide(t *testing.T) {
	h, err := freshettest.New2(func(a *freshet.Stream[int], b *freshet.Stream[rule]) *freshet.Stream[int] {
		return freshet.BroadcastProcess(freshet.ConnectBroadcast(a, freshet.NewBroadcastStream(b)), freshet.BroadcastProcessFunction[int, rule, int](writeOnElementFn{}))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Process2(rule{"min", 1}); err != nil {
		t.Fatal(err)
	}
	err = h.Process1(3)
	if !errors.Is(err, freshet.ErrBroadcastStateReadOnly) || !strings.Contains(err.Error(), `Put on broadcast state "rules"`) {
		t.Fatalf("Process1 = %v, want ErrBroadcastStateReadOnly naming the state", err)
	}

	// In a job, the violation fails the job.
	env := freshet.NewEnv(freshet.WithParallelism(2))
	rules := freshet.NewBroadcastStream(freshet.FromElements(env, rule{"min", 1}))
	freshet.Collect(freshet.BroadcastProcess(freshet.ConnectBroadcast(freshet.FromSlice(env, ints(10)), rules), freshet.BroadcastProcessFunction[int, rule, int](writeOnElementFn{})))
	err = env.Execute(t.Context(), t.Name())
	var opErr *freshet.OperatorError
	if !errors.Is(err, freshet.ErrBroadcastStateReadOnly) || !errors.As(err, &opErr) || opErr.Operator != "BroadcastProcess" {
		t.Fatalf("Execute = %v, want ErrBroadcastStateReadOnly from operator BroadcastProcess", err)
	}
}

type typeClashFn struct{ freshet.BaseFunction }

func (typeClashFn) ProcessElement(ctx *freshet.ReadOnlyBroadcastContext, v int, out freshet.Collector[int]) error {
	n, _ := freshet.BroadcastState[string, string](ctx, "rules").Get("min")
	out.Collect(len(n))
	return nil
}

func (typeClashFn) ProcessBroadcastElement(ctx *freshet.BroadcastContext, r rule, _ freshet.Collector[int]) error {
	freshet.BroadcastState[string, int](ctx, "rules").Put(r.Name, r.Value)
	return nil
}

func TestBroadcastStateOfAnotherTypeFails(t *testing.T) {
	h, err := freshettest.New2(func(a *freshet.Stream[int], b *freshet.Stream[rule]) *freshet.Stream[int] {
		return freshet.BroadcastProcess(freshet.ConnectBroadcast(a, freshet.NewBroadcastStream(b)), freshet.BroadcastProcessFunction[int, rule, int](typeClashFn{}))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	check(t, h.Process2(rule{"min", 1}))
	if err := h.Process1(3); err == nil || !strings.Contains(err.Error(), `broadcast state "rules" holds a map[string]int, not a map[string]string`) {
		t.Fatalf("Process1 = %v", err)
	}
}

type sensorReading struct {
	ID   string
	Temp int
}

type command struct {
	Op    string // "threshold", "report" or "reset"
	Value int
}

// alertFn keeps each sensor's maximum temperature and, 10 ms of event time
// after a reading, reports it if it is above the broadcast threshold.
type alertFn struct {
	freshet.BaseFunction
	resets freshet.OutputTag[string]
}

func (alertFn) ProcessElement(ctx *freshet.KeyedReadOnlyBroadcastContext[string], r sensorReading, _ freshet.Collector[string]) error {
	st := state.Value(ctx.State(), maxState)
	if m, ok := st.Value(); !ok || r.Temp > m {
		st.Update(r.Temp)
	}
	ts, _ := ctx.Timestamp()
	ctx.TimerService().RegisterEventTimeTimer(ts + 10)
	return nil
}

func (f alertFn) ProcessBroadcastElement(ctx *freshet.KeyedBroadcastContext[string], c command, out freshet.Collector[string]) error {
	switch c.Op {
	case "threshold":
		freshet.BroadcastState[string, int](ctx, "config").Put("threshold", c.Value)
	case "report":
		keys, total := 0, 0
		err := ctx.ApplyToKeyedState(maxState, func(_ string, st state.Store) error {
			m, _ := state.Value(st, maxState).Value()
			keys++
			total += m
			return nil
		})
		out.Collect(fmt.Sprintf("report: %d keys, total %d", keys, total))
		return err
	case "reset":
		return ctx.ApplyToKeyedState(maxState, func(key string, st state.Store) error {
			state.Value(st, maxState).Clear()
			freshet.Output(ctx, f.resets, key)
			return nil
		})
	case "timer":
		ctx.TimerService().RegisterEventTimeTimer(int64(c.Value))
	}
	return nil
}

func (alertFn) OnTimer(ctx *freshet.KeyedReadOnlyBroadcastContext[string], ts int64, out freshet.Collector[string]) error {
	st := state.Value(ctx.State(), maxState)
	m, ok := st.Value()
	if !ok {
		return nil
	}
	st.Clear()
	limit, _ := freshet.BroadcastState[string, int](ctx, "config").Get("threshold")
	if m > limit {
		out.Collect(fmt.Sprintf("%s: %d > %d (%v)", ctx.CurrentKey(), m, limit, ctx.TimeDomain()))
	}
	return nil
}

func TestKeyedBroadcastProcessTimersStateAndApplyToKeyedState(t *testing.T) {
	resets := freshet.NewOutputTag[string]("resets")
	h, err := freshettest.New2(func(a *freshet.Stream[sensorReading], b *freshet.Stream[command]) *freshet.Stream[string] {
		c := freshet.ConnectKeyedBroadcast(freshet.KeyBy(a, func(r sensorReading) string { return r.ID }), freshet.NewBroadcastStream(b))
		return freshet.KeyedBroadcastProcess(c, freshet.KeyedBroadcastProcessFunction[sensorReading, command, string, string](alertFn{resets: resets}))
	}, freshettest.CaptureSideOutput(resets))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	steps := []error{
		h.Process2At(command{Op: "threshold", Value: 50}, 0),
		h.Process1At(sensorReading{"a", 40}, 1), // a's timer at 11
		h.Process1At(sensorReading{"b", 70}, 2), // b's timer at 12
		h.Process1At(sensorReading{"c", 90}, 3), // c's timer at 13
		h.Process1At(sensorReading{"a", 60}, 3), // a's timer at 13
		h.Process2At(command{Op: "report"}, 4),
		h.Watermark1(100), // held back by the broadcast input: nothing fires
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if got, want := eventStrings(h.Events()), []string{"report: 3 keys, total 220@4"}; !slices.Equal(got, want) {
		t.Fatalf("before the broadcast watermark: %v, want %v", got, want)
	}
	steps = []error{
		h.Watermark2(11), // a: 60 > 50
		h.Process2At(command{Op: "threshold", Value: 80}, 11),
		h.Process2At(command{Op: "reset"}, 11), // clears b and c; a has no state left
		h.Process2At(command{Op: "report"}, 11),
		h.Watermark2(20), // b and c were reset: nothing fires with output
		h.Process1At(sensorReading{"b", 85}, 25),
		h.Watermark2(40), // b: 85 > 80
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := []string{
		"report: 3 keys, total 220@4",
		"a: 60 > 50 (EVENT_TIME)@11", "Watermark(11)",
		"report: 0 keys, total 0@11",
		"Watermark(20)",
		"b: 85 > 80 (EVENT_TIME)@35", "Watermark(40)",
	}
	if got := eventStrings(h.Events()); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	var reset []string
	for _, r := range freshettest.SideOutput(h, resets) {
		reset = append(reset, r.Value)
	}
	if slices.Sort(reset); !slices.Equal(reset, []string{"b", "c"}) {
		t.Fatalf("reset keys %v, want [b c]", reset)
	}

	// The broadcast side has no current key to set a timer for.
	if err := h.Process2(command{Op: "timer", Value: 50}); !errors.Is(err, freshet.ErrTimersNeedKeys) {
		t.Fatalf("timer from the broadcast side = %v, want ErrTimersNeedKeys", err)
	}
}

// writeOnTimerFn changes broadcast state in OnTimer, where it is read-only.
type writeOnTimerFn struct{ freshet.BaseFunction }

func (writeOnTimerFn) ProcessElement(ctx *freshet.KeyedReadOnlyBroadcastContext[int], v int, _ freshet.Collector[int]) error {
	ctx.TimerService().RegisterEventTimeTimer(int64(v))
	return nil
}

func (writeOnTimerFn) ProcessBroadcastElement(*freshet.KeyedBroadcastContext[int], int, freshet.Collector[int]) error {
	return nil
}

func (writeOnTimerFn) OnTimer(ctx *freshet.KeyedReadOnlyBroadcastContext[int], ts int64, _ freshet.Collector[int]) error {
	freshet.BroadcastState[int, int](ctx, "seen").Remove(ctx.CurrentKey())
	return nil
}

func TestKeyedBroadcastStateIsReadOnlyInOnTimer(t *testing.T) {
	h, err := freshettest.New2(func(a *freshet.Stream[int], b *freshet.Stream[int]) *freshet.Stream[int] {
		c := freshet.ConnectKeyedBroadcast(freshet.KeyBy(a, func(v int) int { return v }), freshet.NewBroadcastStream(b))
		return freshet.KeyedBroadcastProcess(c, freshet.KeyedBroadcastProcessFunction[int, int, int, int](writeOnTimerFn{}))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	check(t, h.Process1At(5, 1))
	check(t, h.Watermark1(10))
	if err := h.Watermark2(10); !errors.Is(err, freshet.ErrBroadcastStateReadOnly) {
		t.Fatalf("Watermark2 = %v, want ErrBroadcastStateReadOnly", err)
	}
}

// keyCounter remembers every key it sees and, for each broadcast element,
// emits how many keys have state.
type keyCounter struct {
	freshet.NoBroadcastTimers[int, int]
}

var seenKey = state.NewValue[bool]("seen")

func (keyCounter) ProcessElement(ctx *freshet.KeyedReadOnlyBroadcastContext[int], v int, _ freshet.Collector[int]) error {
	state.Value(ctx.State(), seenKey).Update(true)
	return nil
}

func (keyCounter) ProcessBroadcastElement(ctx *freshet.KeyedBroadcastContext[int], _ int, out freshet.Collector[int]) error {
	n := 0
	err := ctx.ApplyToKeyedState(seenKey, func(int, state.Store) error { n++; return nil })
	out.Collect(n)
	return err
}

// TestApplyToKeyedStateVisitsRestoredKeys: after a restore, the keys whose
// state came from the snapshot are visited too.
func TestApplyToKeyedStateVisitsRestoredKeys(t *testing.T) {
	build := func(a *freshet.Stream[int], b *freshet.Stream[int]) *freshet.Stream[int] {
		k := freshet.KeyBy(a, func(v int) int { return v })
		return freshet.KeyedBroadcastProcess(freshet.ConnectKeyedBroadcast(k, freshet.NewBroadcastStream(b)), freshet.KeyedBroadcastProcessFunction[int, int, int, int](keyCounter{}))
	}
	h, err := freshettest.New2(build)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int{1, 2, 3, 2} {
		if err := h.Process1(v); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := h.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := freshettest.New2(build, freshettest.WithRestore(snap))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Process2(0); err != nil {
		t.Fatal(err)
	}
	if err := r.Process1(4); err != nil {
		t.Fatal(err)
	}
	if err := r.Process2(0); err != nil {
		t.Fatal(err)
	}
	if got := r.Values(); !slices.Equal(got, []int{3, 4}) {
		t.Fatalf("keys with state after the restore %v, want [3 4]", got)
	}
}
