package freshet_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/state"
	"github.com/freshet-io/freshet/window"
)

// Mixins with a checkpoint method of the wrong shape.
type (
	initNoError struct{}
	onlyInit    struct{}
	notifyInt   struct{}
	ptrHooks    struct{}
)

func (initNoError) InitializeState(*freshet.StateInitializationContext)     {}
func (initNoError) SnapshotState(*freshet.StateSnapshotContext) error       { return nil }
func (onlyInit) InitializeState(*freshet.StateInitializationContext) error  { return nil }
func (notifyInt) NotifyCheckpointComplete(int) error                        { return nil }
func (notifyInt) NotifyCheckpointAborted(int64) error                       { return nil }
func (*ptrHooks) InitializeState(*freshet.StateInitializationContext) error { return nil }
func (*ptrHooks) SnapshotState(*freshet.StateSnapshotContext) error         { return nil }

type (
	initNoErrorFn struct {
		freshet.BaseFunction
		initNoError
	}
	onlyInitFn struct {
		freshet.BaseFunction
		onlyInit
	}
	notifyIntFn struct {
		freshet.BaseFunction
		notifyInt
	}
	ptrHooksFn struct {
		freshet.BaseFunction
		ptrHooks
	}
)

func (initNoErrorFn) ProcessElement(*freshet.Context, int, freshet.Collector[int]) error { return nil }
func (onlyInitFn) ProcessElement(*freshet.Context, int, freshet.Collector[int]) error    { return nil }
func (notifyIntFn) ProcessElement(*freshet.Context, int, freshet.Collector[int]) error   { return nil }
func (ptrHooksFn) ProcessElement(*freshet.Context, int, freshet.Collector[int]) error    { return nil }

// The other function families, each with InitializeState of no result.
type (
	keyedBadFn struct {
		freshet.NoTimers[int, int]
		initNoError
	}
	coBadFn struct {
		freshet.BaseFunction
		initNoError
	}
	keyedCoBadFn struct {
		freshet.NoTimers[int, int]
		initNoError
	}
	broadcastBadFn struct {
		freshet.BaseFunction
		initNoError
	}
	keyedBroadcastBadFn struct {
		freshet.NoBroadcastTimers[int, int]
		initNoError
	}
	windowBadFn struct {
		freshet.BaseWindowFunction[int, window.TimeWindow]
		initNoError
	}
	joinBadFn struct {
		freshet.BaseFunction
		initNoError
	}
)

func (keyedBadFn) ProcessElement(*freshet.KeyedContext[int], int, freshet.Collector[int]) error {
	return nil
}
func (coBadFn) ProcessElement1(*freshet.Context, int, freshet.Collector[int]) error { return nil }
func (coBadFn) ProcessElement2(*freshet.Context, int, freshet.Collector[int]) error { return nil }
func (keyedCoBadFn) ProcessElement1(*freshet.KeyedContext[int], int, freshet.Collector[int]) error {
	return nil
}
func (keyedCoBadFn) ProcessElement2(*freshet.KeyedContext[int], int, freshet.Collector[int]) error {
	return nil
}
func (broadcastBadFn) ProcessElement(*freshet.ReadOnlyBroadcastContext, int, freshet.Collector[int]) error {
	return nil
}
func (broadcastBadFn) ProcessBroadcastElement(*freshet.BroadcastContext, int, freshet.Collector[int]) error {
	return nil
}
func (keyedBroadcastBadFn) ProcessElement(*freshet.KeyedReadOnlyBroadcastContext[int], int, freshet.Collector[int]) error {
	return nil
}
func (keyedBroadcastBadFn) ProcessBroadcastElement(*freshet.KeyedBroadcastContext[int], int, freshet.Collector[int]) error {
	return nil
}
func (windowBadFn) Process(*freshet.WindowContext[int, window.TimeWindow], []int, freshet.Collector[int]) error {
	return nil
}
func (joinBadFn) ProcessElement(*freshet.JoinContext, int, int, freshet.Collector[int]) error {
	return nil
}

// TestCheckpointMethodOfWrongSignatureIsInvalid builds programs whose
// functions have a checkpoint method the runtime would not call: each is
// an invalid program whose error names the operator, the function type,
// the method with its signature and the one wanted.
func TestCheckpointMethodOfWrongSignatureIsInvalid(t *testing.T) {
	const wantInit = "InitializeState(*freshet.StateInitializationContext) error"
	cases := []struct {
		name  string
		build func(in *freshet.Stream[int]) *freshet.Stream[int]
		want  []string
	}{
		{"Process InitializeState without error", func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.Process(in, freshet.ProcessFunction[int, int](initNoErrorFn{}))
		}, []string{`operator "Process"`, "freshet_test.initNoErrorFn", "method InitializeState(*freshet.StateInitializationContext),", "CheckpointedFunction wants " + wantInit}},
		{"Process SnapshotState missing", func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.Process(in, freshet.ProcessFunction[int, int](onlyInitFn{}))
		}, []string{"freshet_test.onlyInitFn", "has method " + wantInit + " but no SnapshotState(*freshet.StateSnapshotContext) error", "does not implement freshet.CheckpointedFunction"}},
		{"Process NotifyCheckpointComplete of int", func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.Process(in, freshet.ProcessFunction[int, int](notifyIntFn{}))
		}, []string{"freshet_test.notifyIntFn", "method NotifyCheckpointComplete(int) error", "CheckpointListener wants NotifyCheckpointComplete(int64) error"}},
		{"Process methods on the pointer", func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.Process(in, freshet.ProcessFunction[int, int](ptrHooksFn{}))
		}, []string{"freshet_test.ptrHooksFn", "InitializeState(*freshet.StateInitializationContext) error on its pointer type *freshet_test.ptrHooksFn only", "pass a pointer"}},
		{"KeyedProcess", func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.KeyedProcess(freshet.KeyBy(in, ident), freshet.KeyedProcessFunction[int, int, int](keyedBadFn{}))
		}, []string{`operator "KeyedProcess"`, "freshet_test.keyedBadFn"}},
		{"CoProcess", func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.CoProcess(freshet.Connect(in, in), freshet.CoProcessFunction[int, int, int](coBadFn{}))
		}, []string{`operator "CoProcess"`, "freshet_test.coBadFn"}},
		{"KeyedCoProcess", func(in *freshet.Stream[int]) *freshet.Stream[int] {
			k := freshet.KeyBy(in, ident)
			return freshet.KeyedCoProcess(freshet.ConnectKeyed(k, k), freshet.KeyedCoProcessFunction[int, int, int, int](keyedCoBadFn{}))
		}, []string{`operator "KeyedCoProcess"`, "freshet_test.keyedCoBadFn"}},
		{"BroadcastProcess", func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.BroadcastProcess(freshet.ConnectBroadcast(in, freshet.NewBroadcastStream(in)), freshet.BroadcastProcessFunction[int, int, int](broadcastBadFn{}))
		}, []string{`operator "BroadcastProcess"`, "freshet_test.broadcastBadFn"}},
		{"KeyedBroadcastProcess", func(in *freshet.Stream[int]) *freshet.Stream[int] {
			c := freshet.ConnectKeyedBroadcast(freshet.KeyBy(in, ident), freshet.NewBroadcastStream(in))
			return freshet.KeyedBroadcastProcess(c, freshet.KeyedBroadcastProcessFunction[int, int, int, int](keyedBroadcastBadFn{}))
		}, []string{`operator "KeyedBroadcastProcess"`, "freshet_test.keyedBroadcastBadFn"}},
		{"WindowProcess", func(in *freshet.Stream[int]) *freshet.Stream[int] {
			w := freshet.Window(freshet.KeyBy(in, ident), window.TumblingEventTime[int](time.Second, 0))
			return freshet.WindowProcess(w, freshet.ProcessWindowFunction[int, int, window.TimeWindow, int](windowBadFn{}))
		}, []string{`operator "Window(Process)"`, "freshet_test.windowBadFn"}},
		{"IntervalJoinProcess", func(in *freshet.Stream[int]) *freshet.Stream[int] {
			j := freshet.IntervalJoin(freshet.KeyBy(in, ident), freshet.KeyBy(in, ident)).Between(-time.Second, time.Second)
			return freshet.IntervalJoinProcess(j, freshet.ProcessJoinFunction[int, int, int](joinBadFn{}))
		}, []string{`operator "IntervalJoin"`, "freshet_test.joinBadFn"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := freshet.NewEnv(freshet.WithParallelism(1))
			freshet.Collect(tc.build(freshet.FromElements(env, 1, 2)))
			_, err := env.ExecutionPlan(t.Name())
			if !errors.Is(err, freshet.ErrInvalidProgram) {
				t.Fatalf("ExecutionPlan: got %v, want ErrInvalidProgram", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not say %q", err, want)
				}
			}
			if err := env.Execute(context.Background(), t.Name()); !errors.Is(err, freshet.ErrInvalidProgram) {
				t.Fatalf("Execute: got %v, want ErrInvalidProgram", err)
			}
		})
	}
}

func ident(v int) int { return v }

// listenerLog is what listenerFn saw, from every subtask.
type listenerLog struct {
	mu        sync.Mutex
	snapshots map[int][]int64 // by subtask
	completes map[int][]int64
	aborted   []int64
	// failAt, if set, is a checkpoint subtask 0 fails to snapshot.
	failAt int64
}

// listenerFn passes its elements on and logs its checkpoint calls.
type listenerFn struct {
	freshet.BaseFunction
	log *listenerLog
}

func (f listenerFn) InitializeState(*freshet.StateInitializationContext) error { return nil }

func (f listenerFn) SnapshotState(ctx *freshet.StateSnapshotContext) error {
	f.log.mu.Lock()
	defer f.log.mu.Unlock()
	sub := ctx.Runtime().SubtaskIndex()
	if sub == 0 && ctx.CheckpointID() == f.log.failAt {
		return errInjected
	}
	f.log.snapshots[sub] = append(f.log.snapshots[sub], ctx.CheckpointID())
	return nil
}

func (f listenerFn) NotifyCheckpointComplete(id int64) error {
	f.log.mu.Lock()
	defer f.log.mu.Unlock()
	// The notification carries no subtask: the id is checked against
	// every subtask's snapshots below.
	f.log.completes[0] = append(f.log.completes[0], id)
	return nil
}

func (f listenerFn) NotifyCheckpointAborted(id int64) error {
	f.log.mu.Lock()
	defer f.log.mu.Unlock()
	f.log.aborted = append(f.log.aborted, id)
	return nil
}

func (f listenerFn) ProcessElement(_ *freshet.Context, v int64, out freshet.Collector[int64]) error {
	out.Collect(v)
	return nil
}

// TestNotifyCheckpointAbortedInJob fails one checkpoint's snapshot in one
// subtask: the checkpoint fails, the function is told it was aborted, and
// later checkpoints complete.
func TestNotifyCheckpointAbortedInJob(t *testing.T) {
	const failAt = 2
	log := &listenerLog{snapshots: map[int][]int64{}, completes: map[int][]int64{}, failAt: failAt}
	env := freshet.NewEnv(freshet.WithParallelism(2),
		freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(t.TempDir()), freshet.TolerableCheckpointFailures(1)))
	src := source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(3000), source.GeneratorRate(4000))
	freshet.Collect(freshet.Process(freshet.FromSource(env, src, "numbers"), freshet.ProcessFunction[int64, int64](listenerFn{log: log})))
	jc := runToEnd(t, env)
	for _, c := range jc.Checkpoints() {
		if c.ID == failAt && c.Status == freshet.CheckpointCompleted {
			t.Fatalf("checkpoint %d completed: %+v", failAt, c)
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if !slices.Contains(log.aborted, failAt) {
		t.Fatalf("notified of aborted checkpoints %v, want %d among them", log.aborted, failAt)
	}
	if slices.Contains(log.completes[0], failAt) {
		t.Fatalf("notified that checkpoint %d completed", failAt)
	}
	if len(log.completes[0]) == 0 || slices.Max(log.completes[0]) < failAt {
		t.Fatalf("notified of completed checkpoints %v, want one after %d", log.completes[0], failAt)
	}
}

// TestNotifyCheckpointCompleteInJob runs a job with checkpoints: the
// function is told of completed checkpoints, each of which it had
// snapshotted, and which the job reports as completed.
func TestNotifyCheckpointCompleteInJob(t *testing.T) {
	const n = 3000
	log := &listenerLog{snapshots: map[int][]int64{}, completes: map[int][]int64{}}
	env := freshet.NewEnv(freshet.WithParallelism(2),
		freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	src := source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n), source.GeneratorRate(4000))
	out := freshet.Collect(freshet.Process(freshet.FromSource(env, src, "numbers"), freshet.ProcessFunction[int64, int64](listenerFn{log: log})))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := len(out.Values()); got != n {
		t.Fatalf("got %d values, want %d", got, n)
	}
	completed := map[int64]bool{}
	for _, c := range jc.Checkpoints() {
		if c.Status == freshet.CheckpointCompleted {
			completed[c.ID] = true
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	notified := log.completes[0]
	if len(notified) == 0 {
		t.Fatalf("no checkpoint completion notified; checkpoints %+v", jc.Checkpoints())
	}
	for _, id := range notified {
		if !completed[id] {
			t.Fatalf("notified that checkpoint %d completed; the job's completed checkpoints are %v", id, completed)
		}
		for sub := range 2 {
			if ids := log.snapshots[sub]; len(ids) > 0 && id > slices.Max(ids) {
				continue // the subtask had finished: it owes later checkpoints nothing
			}
			if !slices.Contains(log.snapshots[sub], id) {
				t.Fatalf("notified that checkpoint %d completed; subtask %d snapshotted %v", id, sub, log.snapshots[sub])
			}
		}
	}
	for sub, ids := range log.snapshots {
		if !slices.IsSorted(ids) {
			t.Fatalf("subtask %d snapshotted checkpoints %v, out of order", sub, ids)
		}
	}
}

var subtaskCountState = state.NewList[int64]("count")

// subtaskCount is the count of records one subtask of subtaskCounter saw.
type subtaskCount struct{ Subtask, Count int64 }

// subtaskCounter counts the records its subtask sees in list state (one
// element, whatever the redistribution gave it summed up) and emits the
// running count, failing at random records of its first attempts.
type subtaskCounter struct {
	freshet.BaseFunction
	f *failer
}

func (subtaskCounter) InitializeState(ctx *freshet.StateInitializationContext) error {
	l, err := freshet.ListState(ctx, subtaskCountState)
	if err != nil {
		return err
	}
	var sum int64
	for _, c := range l.Get() {
		sum += c
	}
	l.Update([]int64{sum})
	return nil
}

func (subtaskCounter) SnapshotState(*freshet.StateSnapshotContext) error { return nil }

func (c subtaskCounter) ProcessElement(ctx *freshet.Context, _ int64, out freshet.Collector[subtaskCount]) error {
	if err := c.f.check(ctx.Runtime().Attempt()); err != nil {
		return err
	}
	l, err := freshet.ListState(ctx.Runtime(), subtaskCountState)
	if err != nil {
		return err
	}
	n := l.Get()[0] + 1
	l.Update([]int64{n})
	out.Collect(subtaskCount{Subtask: int64(ctx.Runtime().SubtaskIndex()), Count: n})
	return nil
}

var maxCountState = state.NewValue[int64]("max")

// TestOperatorListStateExactlyOnceUnderFailures counts records per
// subtask in operator list state under injected failures: the last count
// of each subtask, kept downstream in keyed state, adds up to the number
// of records exactly.
func TestOperatorListStateExactlyOnceUnderFailures(t *testing.T) {
	const (
		n = 20000
		p = 2
	)
	f := newFailer(4, n/20, n/10, 7)
	out := &collectSink[keyCount]{}
	env := freshet.NewEnv(freshet.WithParallelism(p),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(50, 10*time.Millisecond)),
		freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	src := source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n), source.GeneratorRate(20000))
	counts := freshet.Process(freshet.FromSource(env, src, "numbers"), freshet.ProcessFunction[int64, subtaskCount](subtaskCounter{f: f})).UID("subtask-counter")
	last := freshet.KeyedProcess(freshet.KeyBy(counts, func(c subtaskCount) int64 { return c.Subtask }),
		freshet.KeyedProcessFuncWithTimers(
			func(ctx *freshet.KeyedContext[int64], c subtaskCount, _ freshet.Collector[keyCount]) error {
				m := state.Value(ctx.State(), maxCountState)
				if old, _ := m.Value(); c.Count > old {
					m.Update(c.Count)
				}
				ctx.TimerService().RegisterEventTimeTimer(math.MaxInt64)
				return nil
			},
			func(ctx *freshet.KeyedContext[int64], _ int64, out freshet.Collector[keyCount]) error {
				m, _ := state.Value(ctx.State(), maxCountState).Value()
				out.Collect(keyCount{Key: int(ctx.CurrentKey()), Count: int(m)})
				return nil
			})).UID("last-count")
	freshet.SinkTo(last, out, "counts")
	jc := runToEnd(t, env)
	if got := jc.Restarts(); got < 4 || f.failed.Load() < 4 {
		t.Fatalf("restarted %d times after %d injected failures, want at least 4", got, f.failed.Load())
	}
	if last := f.processed(jc.Restarts()); last >= n {
		t.Fatalf("the last attempt processed %d records, want fewer than %d (a restore)", last, n)
	}
	got := sortedCounts(out.last())
	total := 0
	for _, kc := range got {
		total += kc.Count
	}
	if len(got) != p || total != n {
		t.Fatalf("counts by subtask %v add up to %d, want %d subtasks adding up to %d", got, total, p, n)
	}
}

func runToEnd(t *testing.T, env *freshet.Env) *freshet.JobClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	jc, err := env.ExecuteAsync(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	completed := 0
	for _, c := range jc.Checkpoints() {
		if c.Status == freshet.CheckpointCompleted {
			completed++
		}
	}
	if completed == 0 {
		t.Fatalf("no checkpoint completed: %+v", jc.Checkpoints())
	}
	return jc
}

var (
	scaledSumState = state.NewValue[int]("sum")
	pendingState   = state.NewList[int]("pending")
)

// scalingFn sums its key's elements times the broadcast rule "mult",
// keeping elements that come before the rule pending in keyed state, and
// emits the sum when input ends.
type scalingFn struct {
	freshet.BaseFunction
	f *failer
}

func (s scalingFn) ProcessElement(ctx *freshet.KeyedReadOnlyBroadcastContext[int], v int64, _ freshet.Collector[keyCount]) error {
	if err := s.f.check(ctx.Runtime().Attempt()); err != nil {
		return err
	}
	ctx.TimerService().RegisterEventTimeTimer(math.MaxInt64)
	mult, ok := freshet.BroadcastState[string, int](ctx, "rules").Get("mult")
	if !ok {
		state.List(ctx.State(), pendingState).Add(int(v))
		return nil
	}
	sum := state.Value(ctx.State(), scaledSumState)
	old, _ := sum.Value()
	sum.Update(old + int(v)*mult)
	return nil
}

func (scalingFn) ProcessBroadcastElement(ctx *freshet.KeyedBroadcastContext[int], r rule, _ freshet.Collector[keyCount]) error {
	freshet.BroadcastState[string, int](ctx, "rules").Put(r.Name, r.Value)
	return ctx.ApplyToKeyedState(pendingState, func(_ int, st state.Store) error {
		pending := state.List(st, pendingState)
		sum := state.Value(st, scaledSumState)
		s, _ := sum.Value()
		for _, v := range pending.Get() {
			s += v * r.Value
		}
		sum.Update(s)
		pending.Clear()
		return nil
	})
}

func (scalingFn) OnTimer(ctx *freshet.KeyedReadOnlyBroadcastContext[int], _ int64, out freshet.Collector[keyCount]) error {
	s, _ := state.Value(ctx.State(), scaledSumState).Value()
	out.Collect(keyCount{Key: ctx.CurrentKey(), Count: s})
	return nil
}

// TestBroadcastStateExactlyOnceUnderFailures applies a broadcast rule,
// sent once, to a keyed stream under injected failures: the attempts
// after a restore have the rule only from the restored broadcast state,
// and the sums are those of a run without failures.
func TestBroadcastStateExactlyOnceUnderFailures(t *testing.T) {
	const (
		n    = 20000
		keys = 20
		p    = 2
	)
	f := newFailer(4, n/20, n/10, 11)
	out := &collectSink[keyCount]{}
	env := freshet.NewEnv(freshet.WithParallelism(p),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(50, 10*time.Millisecond)),
		freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	src := source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n), source.GeneratorRate(20000))
	nums := freshet.KeyBy(freshet.FromSource(env, src, "numbers"), func(v int64) int { return int(v % keys) })
	rules := freshet.NewBroadcastStream(freshet.FromElements(env, rule{"mult", 3}))
	sums := freshet.KeyedBroadcastProcess(freshet.ConnectKeyedBroadcast(nums, rules),
		freshet.KeyedBroadcastProcessFunction[int64, rule, int, keyCount](scalingFn{f: f})).UID("scaling")
	freshet.SinkTo(sums, out, "sums")
	jc := runToEnd(t, env)
	if got := jc.Restarts(); got < 4 || f.failed.Load() < 4 {
		t.Fatalf("restarted %d times after %d injected failures, want at least 4", got, f.failed.Load())
	}
	want := make([]keyCount, keys)
	for v := range n {
		want[v%keys].Key = v % keys
		want[v%keys].Count += 3 * v
	}
	if got := sortedCounts(out.last()); !slices.Equal(got, want) {
		t.Fatalf("sums %v\nwant %v", got, want)
	}
}

var (
	keptState      = state.NewList[int64]("kept")
	keptUnionState = state.NewList[int64]("kept-union")
)

// keepLog is what keepFn snapshotted and was restored with, by checkpoint
// (0 for the restore) and subtask.
type keepLog struct {
	mu       sync.Mutex
	list     map[int64]map[int][]int64
	union    map[int64]map[int][]int64
	restored bool
}

func (l *keepLog) put(id int64, sub int, list, union []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.list[id] == nil {
		l.list[id], l.union[id] = map[int][]int64{}, map[int][]int64{}
	}
	l.list[id][sub], l.union[id][sub] = list, union
}

// keepFn keeps every element in list state and in union list state.
type keepFn struct {
	freshet.BaseFunction
	log *keepLog
}

func (f keepFn) lists(ctx freshet.OperatorStateContext) (*freshet.OperatorListState[int64], *freshet.OperatorListState[int64], error) {
	l, err := freshet.ListState(ctx, keptState)
	if err != nil {
		return nil, nil, err
	}
	u, err := freshet.UnionListState(ctx, keptUnionState)
	return l, u, err
}

func (f keepFn) InitializeState(ctx *freshet.StateInitializationContext) error {
	l, u, err := f.lists(ctx)
	if err != nil {
		return err
	}
	if ctx.IsRestored() {
		f.log.put(0, ctx.Runtime().SubtaskIndex(), l.Get(), u.Get())
	}
	// Each subtask keeps only its own elements in the union list; what it
	// was given of the others is in the log.
	u.Clear()
	return nil
}

func (f keepFn) SnapshotState(ctx *freshet.StateSnapshotContext) error {
	l, u, err := f.lists(ctx)
	if err != nil {
		return err
	}
	f.log.put(ctx.CheckpointID(), ctx.Runtime().SubtaskIndex(), l.Get(), u.Get())
	return nil
}

func (f keepFn) ProcessElement(ctx *freshet.Context, v int64, _ freshet.Collector[int64]) error {
	l, u, err := f.lists(ctx.Runtime())
	if err != nil {
		return err
	}
	l.Add(v)
	u.Add(v)
	return nil
}

func keepJob(t *testing.T, p int, log *keepLog, opts ...freshet.Option) *freshet.Env {
	env := freshet.NewEnv(append([]freshet.Option{freshet.WithParallelism(p),
		freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)...)
	src := source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(100000), source.GeneratorRate(2000))
	kept := freshet.Process(freshet.FromSource(env, src, "numbers").UID("numbers"), freshet.ProcessFunction[int64, int64](keepFn{log: log})).UID("keep")
	freshet.SinkTo(kept, &collectSink[int64]{}, "none")
	return env
}

// TestOperatorStateRescaledOnRestoreFromCheckpoint restores a job of
// parallelism 2 at parallelism 3 from a retained checkpoint: the list
// state the three subtasks get is the two old lists concatenated and cut
// evenly, and each gets all of the union list state.
func TestOperatorStateRescaledOnRestoreFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	before := &keepLog{list: map[int64]map[int][]int64{}, union: map[int64]map[int][]int64{}}
	env := keepJob(t, 2, before, freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(dir),
		freshet.ExternalizedCheckpoints(freshet.RetainOnCancellation)))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "keep")
	if err != nil {
		t.Fatal(err)
	}
	// Cancel once a few checkpoints have state in them.
	for {
		if c, ok := jc.LatestCheckpoint(); ok && c.ID >= 3 {
			break
		}
		select {
		case <-jc.Done():
			t.Fatalf("job ended before three checkpoints: %v", jc.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	jc.Cancel()
	_ = jc.Wait()
	last, ok := jc.LatestCheckpoint()
	if !ok || last.Path == "" {
		t.Fatalf("no retained checkpoint: %+v", jc.Checkpoints())
	}

	after := &keepLog{list: map[int64]map[int][]int64{}, union: map[int64]map[int][]int64{}}
	env = keepJob(t, 3, after, freshet.WithRestoreFrom(last.Path))
	jc, err = env.ExecuteAsync(ctx, "keep-rescaled")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		jc.Cancel()
		_ = jc.Wait()
	}()
	for {
		after.mu.Lock()
		n := len(after.list[0])
		after.mu.Unlock()
		if n == 3 {
			break
		}
		select {
		case <-jc.Done():
			t.Fatalf("restored job ended before every subtask was restored: %v", jc.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}

	before.mu.Lock()
	old := before.list[last.ID]
	oldUnion := before.union[last.ID]
	before.mu.Unlock()
	after.mu.Lock()
	defer after.mu.Unlock()
	all := append(slices.Clone(old[0]), old[1]...)
	if len(all) == 0 {
		t.Fatalf("checkpoint %d holds no elements", last.ID)
	}
	// Flink's even split: 3 parts, the first len%3 one longer.
	from := 0
	for sub := range 3 {
		k := len(all) / 3
		if sub < len(all)%3 {
			k++
		}
		if got, want := after.list[0][sub], all[from:from+k]; !slices.Equal(got, want) {
			t.Fatalf("subtask %d restored list state of %d elements %v…, want %d from %d", sub, len(got), head(got), k, from)
		}
		from += k
		if got, want := after.union[0][sub], append(slices.Clone(oldUnion[0]), oldUnion[1]...); !slices.Equal(got, want) {
			t.Fatalf("subtask %d restored union list state of %d elements, want %d", sub, len(got), len(want))
		}
	}
}

func head(v []int64) []int64 { return v[:min(len(v), 5)] }

// badCheckpointedSink has CreateCheckpointedWriter without the restored
// state, so it is not a sink.Checkpointed.
type badCheckpointedSink struct{ freshet.PrintSink[int] }

func (badCheckpointedSink) CreateCheckpointedWriter(sink.InitContext) (sink.Writer[int], sink.CheckpointHooks, error) {
	return nil, sink.CheckpointHooks{}, nil
}

func TestSinkCheckpointMethodOfWrongSignatureIsInvalid(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(1))
	freshet.SinkTo[int](freshet.FromElements(env, 1, 2), &badCheckpointedSink{}, "bad sink")
	err := env.Execute(context.Background(), "bad-sink")
	if !errors.Is(err, freshet.ErrInvalidProgram) {
		t.Fatalf("got %v, want ErrInvalidProgram", err)
	}
	for _, want := range []string{"bad sink", "*freshet_test.badCheckpointedSink has method CreateCheckpointedWriter(sink.InitContext) (sink.Writer[int], sink.CheckpointHooks, error)", "sink.Checkpointed wants CreateCheckpointedWriter(sink.InitContext, [][]uint8)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// listenerWriter has NotifyCheckpointComplete but its sink is a plain
// sink.Sink, which never calls it.
type listenerWriter struct{ sink.Writer[int] }

func (listenerWriter) NotifyCheckpointComplete(int64) error { return nil }

type listenerSink struct{}

func (listenerSink) CreateWriter(ctx sink.InitContext) (sink.Writer[int], error) {
	w, err := (&freshet.PrintSink[int]{W: io.Discard}).CreateWriter(ctx)
	return listenerWriter{w}, err
}

func TestPlainSinkWriterWithCheckpointMethodFails(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(1), freshet.WithLogger(slog.New(slog.DiscardHandler)))
	freshet.SinkTo[int](freshet.FromElements(env, 1, 2), listenerSink{}, "listener sink")
	err := env.Execute(context.Background(), "listener-sink")
	if !errors.Is(err, freshet.ErrInvalidProgram) || !strings.Contains(err.Error(), "has method NotifyCheckpointComplete, but its sink does not implement sink.Checkpointed") {
		t.Fatalf("got %v, want ErrInvalidProgram naming NotifyCheckpointComplete", err)
	}
}
