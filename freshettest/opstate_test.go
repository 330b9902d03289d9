package freshettest_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/state"
)

var (
	bufferState = state.NewList[int]("buffer")
	seenState   = state.NewList[int]("seen")
)

// hookLog records the calls of a function's hooks, from every harness.
type hookLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *hookLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, fmt.Sprintf(format, args...))
}

func (l *hookLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// bufferFn keeps the elements it sees in list state "buffer" and in union
// list state "seen", and emits both when it sees -1.
type bufferFn struct {
	freshet.BaseFunction
	log *hookLog
}

func (f bufferFn) InitializeState(ctx *freshet.StateInitializationContext) error {
	buf, err := freshet.ListState(ctx, bufferState)
	if err != nil {
		return err
	}
	f.log.add("InitializeState subtask=%d restored=%v buffer=%v", ctx.Runtime().SubtaskIndex(), ctx.IsRestored(), buf.Get())
	_, err = freshet.UnionListState(ctx, seenState)
	return err
}

func (f bufferFn) SnapshotState(ctx *freshet.StateSnapshotContext) error {
	f.log.add("SnapshotState subtask=%d checkpoint=%d", ctx.Runtime().SubtaskIndex(), ctx.CheckpointID())
	return nil
}

func (f bufferFn) Open(rc *freshet.RuntimeContext) error {
	f.log.add("Open subtask=%d", rc.SubtaskIndex())
	return nil
}

func (f bufferFn) ProcessElement(ctx *freshet.Context, v int, out freshet.Collector[string]) error {
	buf, err := freshet.ListState(ctx.Runtime(), bufferState)
	if err != nil {
		return err
	}
	seen, err := freshet.UnionListState(ctx.Runtime(), seenState)
	if err != nil {
		return err
	}
	if v < 0 {
		out.Collect(fmt.Sprintf("buffer=%v seen=%v", buf.Get(), seen.Get()))
		return nil
	}
	buf.Add(v)
	seen.Add(v)
	return nil
}

func bufferJob(log *hookLog) func(*freshet.Stream[int]) *freshet.Stream[string] {
	return func(in *freshet.Stream[int]) *freshet.Stream[string] {
		return freshet.Process(in, freshet.ProcessFunction[int, string](bufferFn{log: log}))
	}
}

// snapshotsOf feeds inputs[i] to subtask i of len(inputs) and returns
// their snapshots.
func snapshotsOf(t *testing.T, inputs [][]int) []*freshettest.Snapshot {
	t.Helper()
	var snaps []*freshettest.Snapshot
	for i, in := range inputs {
		h := mustNew(t, bufferJob(&hookLog{}), freshettest.WithSubtask(i, len(inputs)))
		for _, v := range in {
			if err := h.Process(v); err != nil {
				t.Fatal(err)
			}
		}
		s, err := h.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		// Through the encoding, as a snapshot kept in a file.
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		s = &freshettest.Snapshot{}
		if err := s.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, s)
	}
	return snaps
}

// TestOperatorListStateRedistribution restores list state and union list
// state at another parallelism: list state is the old lists concatenated
// and cut evenly, the first subtasks taking one more (Flink's round-robin
// repartitioning), union list state is everything everywhere.
func TestOperatorListStateRedistribution(t *testing.T) {
	cases := []struct {
		name   string
		inputs [][]int
		n      int
		want   []string
	}{
		{"2 to 3", [][]int{{1, 2, 3}, {4, 5}}, 3, []string{
			"buffer=[1 2] seen=[1 2 3 4 5]",
			"buffer=[3 4] seen=[1 2 3 4 5]",
			"buffer=[5] seen=[1 2 3 4 5]",
		}},
		{"3 to 2", [][]int{{1, 2}, {3, 4}, {5}}, 2, []string{
			"buffer=[1 2 3] seen=[1 2 3 4 5]",
			"buffer=[4 5] seen=[1 2 3 4 5]",
		}},
		{"2 to 2", [][]int{{1, 2, 3}, {4, 5}}, 2, []string{
			"buffer=[1 2 3] seen=[1 2 3 4 5]",
			"buffer=[4 5] seen=[1 2 3 4 5]",
		}},
		{"2 to 1", [][]int{{1, 2, 3}, {4, 5}}, 1, []string{
			"buffer=[1 2 3 4 5] seen=[1 2 3 4 5]",
		}},
		{"empty subtask, 3 to 2", [][]int{{1}, {}, {2, 3, 4}}, 2, []string{
			"buffer=[1 2] seen=[1 2 3 4]",
			"buffer=[3 4] seen=[1 2 3 4]",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snaps := snapshotsOf(t, tc.inputs)
			for sub := range tc.n {
				h := mustNew(t, bufferJob(&hookLog{}), freshettest.WithRestore(snaps...), freshettest.WithSubtask(sub, tc.n))
				if err := h.Process(-1); err != nil {
					t.Fatal(err)
				}
				if got := h.Values(); !slices.Equal(got, tc.want[sub:sub+1]) {
					t.Fatalf("subtask %d of %d: got %q, want %q", sub, tc.n, got, tc.want[sub])
				}
			}
		})
	}
}

// TestCheckpointedFunctionHooksOrder checks that InitializeState comes
// before Open, tells a fresh start from a restore and sees the restored
// state, and that a snapshot calls SnapshotState with its checkpoint id.
func TestCheckpointedFunctionHooksOrder(t *testing.T) {
	log := &hookLog{}
	h := mustNew(t, bufferJob(log))
	if got, want := log.take(), []string{"InitializeState subtask=0 restored=false buffer=[]", "Open subtask=0"}; !slices.Equal(got, want) {
		t.Fatalf("opening: calls %q, want %q", got, want)
	}
	for _, v := range []int{7, 8} {
		if err := h.Process(v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Snapshot(); err != nil {
		t.Fatal(err)
	}
	snap, err := h.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := log.take(), []string{"SnapshotState subtask=0 checkpoint=1", "SnapshotState subtask=0 checkpoint=2"}; !slices.Equal(got, want) {
		t.Fatalf("snapshots: calls %q, want %q", got, want)
	}
	mustNew(t, bufferJob(log), freshettest.WithRestore(snap))
	if got, want := log.take(), []string{"InitializeState subtask=0 restored=true buffer=[7 8]", "Open subtask=0"}; !slices.Equal(got, want) {
		t.Fatalf("restoring: calls %q, want %q", got, want)
	}
}

// conflictFn asks for one name as list state and as union list state.
type conflictFn struct{ freshet.BaseFunction }

func (conflictFn) InitializeState(ctx *freshet.StateInitializationContext) error {
	if _, err := freshet.ListState(ctx, bufferState); err != nil {
		return err
	}
	_, err := freshet.UnionListState(ctx, bufferState)
	return err
}

func (conflictFn) SnapshotState(*freshet.StateSnapshotContext) error { return nil }

func (conflictFn) ProcessElement(*freshet.Context, int, freshet.Collector[int]) error { return nil }

func TestOperatorStateUsedTwoWaysFails(t *testing.T) {
	_, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
		return freshet.Process(in, freshet.ProcessFunction[int, int](conflictFn{}))
	})
	if !errors.Is(err, state.ErrIncompatibleState) {
		t.Fatalf("got %v, want state.ErrIncompatibleState", err)
	}
	for _, want := range []string{`"Process"`, "freshettest_test.conflictFn", `"buffer" is a list of int, asked for a union list of int`} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %s", err, want)
		}
	}
}

type lookup struct {
	Key, Value string
}

// lookupFn looks its elements up in the broadcast state "table", which the
// broadcast side fills.
type lookupFn struct{ freshet.BaseFunction }

func (lookupFn) ProcessElement(ctx *freshet.ReadOnlyBroadcastContext, k string, out freshet.Collector[string]) error {
	table := freshet.BroadcastState[string, string](ctx, "table")
	v, ok := table.Get(k)
	out.Collect(fmt.Sprintf("%s=%s/%v (%d entries)", k, v, ok, table.Len()))
	return nil
}

func (lookupFn) ProcessBroadcastElement(ctx *freshet.BroadcastContext, l lookup, _ freshet.Collector[string]) error {
	table := freshet.BroadcastState[string, string](ctx, "table")
	if l.Value == "" {
		table.Remove(l.Key)
		return nil
	}
	table.Put(l.Key, l.Value)
	return nil
}

func lookupJob(a *freshet.Stream[string], b *freshet.Stream[lookup]) *freshet.Stream[string] {
	return freshet.BroadcastProcess(freshet.ConnectBroadcast(a, freshet.NewBroadcastStream(b)), freshet.BroadcastProcessFunction[string, lookup, string](lookupFn{}))
}

// TestBroadcastStateRestore restores broadcast state at parallelism 1, 2
// and 3 from two subtasks that saw the same broadcast elements: every new
// subtask has the same table.
func TestBroadcastStateRestore(t *testing.T) {
	var snaps []*freshettest.Snapshot
	for sub := range 2 {
		h, err := freshettest.New2(lookupJob, freshettest.WithSubtask(sub, 2))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []lookup{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"b", ""}} {
			if err := h.Process2(l); err != nil {
				t.Fatal(err)
			}
		}
		s, err := h.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		// Later broadcast elements are not in the snapshot.
		if err := h.Process2(lookup{"d", "4"}); err != nil {
			t.Fatal(err)
		}
		_ = h.Close()
		snaps = append(snaps, s)
	}
	want := []string{"a=1/true (2 entries)", "b=/false (2 entries)", "c=3/true (2 entries)", "d=/false (2 entries)"}
	for _, n := range []int{1, 2, 3} {
		for sub := range n {
			h, err := freshettest.New2(lookupJob, freshettest.WithRestore(snaps...), freshettest.WithSubtask(sub, n))
			if err != nil {
				t.Fatal(err)
			}
			// A snapshot holds the restored table, though no one read it.
			s, err := h.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"a", "b", "c", "d"} {
				if err := h.Process1(k); err != nil {
					t.Fatal(err)
				}
			}
			if got := h.Values(); !slices.Equal(got, want) {
				t.Fatalf("subtask %d of %d: got %q, want %q", sub, n, got, want)
			}
			_ = h.Close()
			h2, err := freshettest.New2(lookupJob, freshettest.WithRestore(s))
			if err != nil {
				t.Fatal(err)
			}
			if err := h2.Process1("c"); err != nil {
				t.Fatal(err)
			}
			if got := h2.Values(); !slices.Equal(got, []string{"c=3/true (2 entries)"}) {
				t.Fatalf("restored twice: got %q", got)
			}
			_ = h2.Close()
		}
	}
}

// funcTableFn keeps functions, which have no codec, in broadcast state.
type funcTableFn struct{ freshet.BaseFunction }

func (funcTableFn) ProcessElement(*freshet.ReadOnlyBroadcastContext, string, freshet.Collector[string]) error {
	return nil
}

func (funcTableFn) ProcessBroadcastElement(ctx *freshet.BroadcastContext, k string, _ freshet.Collector[string]) error {
	freshet.BroadcastState[string, func() int](ctx, "funcs").Put(k, func() int { return 1 })
	return nil
}

func TestBroadcastStateWithoutCodecFailsTheSnapshot(t *testing.T) {
	h, err := freshettest.New2(func(a *freshet.Stream[string], b *freshet.Stream[string]) *freshet.Stream[string] {
		return freshet.BroadcastProcess(freshet.ConnectBroadcast(a, freshet.NewBroadcastStream(b)), freshet.BroadcastProcessFunction[string, string, string](funcTableFn{}))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// Without a checkpoint, the state works.
	if err := h.Process2("a"); err != nil {
		t.Fatal(err)
	}
	_, err = h.Snapshot()
	if err == nil || !strings.Contains(err.Error(), `broadcast state "funcs" of string to func() int has no codec`) {
		t.Fatalf("Snapshot: got %v, want an error naming the broadcast state", err)
	}
}
