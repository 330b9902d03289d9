package freshet_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/internal/bridge"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/window"
)

// stateSpy is the heap state backend that also keeps every table and timer
// queue it creates by name, so a test can see what an operator leaves in
// its state (what a checkpoint would hold).
type stateSpy struct {
	tables map[string]interface{ Len() int }
}

func (s *stateSpy) Name() string { return "spy" }

func (s *stateSpy) NewTable(spec statebackend.TableSpec) (any, error) {
	t, err := spec.InMemory(0)
	if err != nil {
		return nil, err
	}
	s.tables["table "+spec.Name] = t.(interface{ Len() int })
	return t, nil
}

func (s *stateSpy) NewTimerQueue(spec statebackend.TimerSpec) (any, error) {
	q := spec.InMemory()
	s.tables["timers "+spec.Name] = q.(interface{ Len() int })
	return q, nil
}

// nonEmpty lists the tables and timer queues holding entries, with their sizes.
func (s *stateSpy) nonEmpty() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(s.tables)) {
		if n := s.tables[name].Len(); n > 0 {
			out = append(out, fmt.Sprintf("%s: %d", name, n))
		}
	}
	return out
}

// noClock is a processing-time service for event-time operators.
type noClock struct{}

func (noClock) Now() int64                   { return 0 }
func (noClock) Schedule(int64, func() error) {}

// captured is an operator output keeping the records it is given.
type captured[T any] struct{ values []T }

func (c *captured[T]) Collect(r operator.Record[T]) { c.values = append(c.values, r.Value) }
func (c *captured[T]) EmitWatermark(int64)          {}

// TestSessionWindowLateElementsLeaveNoState: a key whose session-window
// elements are all late keeps no state at all, in particular no empty set
// of merging windows; a key with live windows keeps them until they are
// cleaned up.
func TestSessionWindowLateElementsLeaveNoState(t *testing.T) {
	env := freshet.NewEnv()
	late := freshet.NewOutputTag[ev]("late")
	k := freshet.KeyBy(freshet.FromElements(env, ev{}), func(e ev) string { return e.Key })
	sums := freshet.WindowReduce(freshet.Window(k, window.EventTimeSession[ev](10*ms)).SideOutputLateData(late), sumVal)
	_, n, ok := bridge.Graph(sums)
	if !ok {
		t.Fatal("no operator behind the window stream")
	}
	op, err := n.NewOperator()
	if err != nil {
		t.Fatal(err)
	}
	var out captured[ev]
	lateOut := &captured[ev]{}
	if err := op.Setup(&out, map[string]any{late.ID(): lateOut}); err != nil {
		t.Fatal(err)
	}
	spy := &stateSpy{tables: map[string]interface{ Len() int }{}}
	if err := op.Open(&operator.Context{Ctx: t.Context(), TaskName: n.Name, Parallelism: 1, MaxParallelism: 128,
		KeyGroupEnd: 127, Timers: noClock{}, Backend: spy, Failure: operator.NewFailure(new(int), nil)}); err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	w := op.(operator.OneInput[ev])
	push := func(evs ...ev) {
		t.Helper()
		for _, e := range evs {
			if err := w.ProcessElement(operator.Record[ev]{Value: e, Timestamp: e.TS}); err != nil {
				t.Fatal(err)
			}
		}
	}
	check(t, w.ProcessWatermark(100))

	// Only late elements for a: sessions [5,15), [20,30) and [22,32), all
	// ending before the watermark.
	push(ev{"a", 1, 5}, ev{"a", 2, 20}, ev{"a", 3, 22})
	if got := spy.nonEmpty(); len(got) != 0 {
		t.Fatalf("state left after only late elements: %v", got)
	}
	if len(lateOut.values) != 3 || len(out.values) != 0 {
		t.Fatalf("late output %v, main output %v; want the 3 elements late and nothing fired", lateOut.values, out.values)
	}

	// b has a live session; a late element of b leaves it alone.
	push(ev{"b", 4, 150}, ev{"b", 5, 30})
	want := []string{"table merging-windows: 1", "table window-contents: 1", "timers window-timers/event: 1"}
	if got := spy.nonEmpty(); !slices.Equal(got, want) {
		t.Fatalf("state with one live session: %v, want %v", got, want)
	}
	check(t, w.ProcessWatermark(159)) // b's session [150,160) fires and is cleaned up
	if got := spy.nonEmpty(); len(got) != 0 {
		t.Fatalf("state left after the last session was cleaned up: %v", got)
	}
	if !slices.Equal(out.values, []ev{{"b", 4, 150}}) || len(lateOut.values) != 4 {
		t.Fatalf("main output %v, late output %v", out.values, lateOut.values)
	}
}
