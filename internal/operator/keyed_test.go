package operator

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/freshet-io/freshet/state"
)

// manualClock is a processing-time service whose time a test sets.
type manualClock struct{ now int64 }

func (c *manualClock) Now() int64                   { return c.now }
func (c *manualClock) Schedule(int64, func() error) {}

func newTestStore(t *testing.T) (*StateStore[string, struct{}], *Scope[string, struct{}], *manualClock) {
	t.Helper()
	cur := 0
	clock := &manualClock{}
	c := &Context{MaxParallelism: 128, Failure: NewFailure(&cur, nil), Timers: clock}
	scope := &Scope[string, struct{}]{}
	s := NewStateStore(c, "", scope)
	t.Cleanup(func() {
		if err := c.Failure.err; err != nil {
			t.Fatalf("the store failed: %v", err)
		}
	})
	return s, scope, clock
}

// TestStateStoreTTLCleanupOnAccess: reading an expired value removes its
// entry from the backend's table; state without incremental cleanup keeps
// the expired entries nobody reads.
func TestStateStoreTTLCleanupOnAccess(t *testing.T) {
	s, scope, clock := newTestStore(t)
	d := state.NewValue[int]("v").WithTTL(state.TTL{Duration: 100 * time.Millisecond})
	for _, k := range []string{"a", "b", "c"} {
		scope.Key = k
		state.Value(s, d).Update(1)
	}
	tab := s.cells["v"].t
	clock.now = 100
	scope.Key = "a"
	if _, ok := state.Value(s, d).Value(); ok {
		t.Fatal("read an expired value")
	}
	if tab.Len() != 2 {
		t.Fatalf("table holds %d entries after the expired a was read, want 2", tab.Len())
	}
	scope.Key = "d"
	for range 10 {
		state.Value(s, d).Update(2)
	}
	if tab.Len() != 3 {
		t.Fatalf("table holds %d entries, want 3: b and c are only removed when read", tab.Len())
	}
}

// TestStateStoreTTLIncrementalCleanup: with CleanupIncrementally(2) every
// access checks two more entries, so expired entries of keys never read
// again are removed.
func TestStateStoreTTLIncrementalCleanup(t *testing.T) {
	s, scope, clock := newTestStore(t)
	ttl := state.TTL{Duration: 100 * time.Millisecond, CleanupIncrementally: 2}
	d := state.NewValue[int]("v").WithTTL(ttl)
	l := state.NewList[string]("l").WithTTL(ttl)
	for i := range 10 {
		scope.Key = fmt.Sprint("k", i)
		state.Value(s, d).Update(i)
	}
	tab := s.cells["v"].t
	clock.now = 100
	scope.Key = "z"
	v := state.Value(s, d)
	v.Update(1) // checks 2 of the 10 expired entries, then adds z
	if tab.Len() != 9 {
		t.Fatalf("after one access the table holds %d entries, want 10-2+1 = 9", tab.Len())
	}
	for range 6 { // 12 more checks cover a round of the 11 entries
		v.Update(1)
	}
	if tab.Len() != 1 {
		t.Fatalf("after 7 accesses the table holds %d entries, want only z", tab.Len())
	}

	// A list's expired elements are removed, its live ones kept.
	scope.Key = "x"
	state.List(s, l).Add("old")
	clock.now = 150
	state.List(s, l).Add("new")
	clock.now = 200 // "old" has expired
	scope.Key = "y"
	state.List(s, l).Add("y") // checks x's list
	lt := s.cells["l"].t
	got, _ := lt.Get("x", struct{}{})
	if n := reflect.ValueOf(got).Len(); n != 1 || lt.Len() != 2 {
		t.Fatalf("list table: %d entries, x's list stores %d elements (%v), want 2 entries and 1 element", lt.Len(), n, got)
	}
	scope.Key = "x"
	clock.now = 200
	if got := state.List(s, l).Get(); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("x's list = %v, want [new]", got)
	}
}
