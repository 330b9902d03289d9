package freshet_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/state"
)

// Every kind of keyed state with a TTL of 100ms, the defaults otherwise
// (OnCreateAndWrite, NeverReturnExpired).
var (
	ttl100     = state.TTL{Duration: 100 * time.Millisecond}
	ttlCount   = state.NewValue("count", state.WithDefault(0)).WithTTL(ttl100)
	ttlList    = state.NewList[int]("list").WithTTL(ttl100)
	ttlLastBy  = state.NewMap[string, int]("last").WithTTL(ttl100)
	ttlSum     = state.NewReducing("sum", func(a, b int) int { return a + b }).WithTTL(ttl100)
	ttlMeanAgg = state.NewAggregating[int, meanAcc, float64]("mean", meanOf{}).WithTTL(ttl100)
)

// ttlStates writes every kind of state for an element with a positive
// value and only reads it for 0, then reports what it read.
func ttlStates(ctx *freshet.KeyedContext[string], e kv, out freshet.Collector[string]) error {
	st := ctx.State()
	count, list, last := state.Value(st, ttlCount), state.List(st, ttlList), state.Map(st, ttlLastBy)
	sum, mean := state.Reducing(st, ttlSum), state.Aggregating(st, ttlMeanAgg)
	if e.V > 0 {
		n, _ := count.Value()
		count.Update(n + 1)
		list.Add(e.V)
		last.Put(evenOdd(e.V), e.V)
		sum.Add(e.V)
		mean.Add(e.V)
	}
	n, _ := count.Value()
	s, sok := sum.Get()
	m, mok := mean.Get()
	out.Collect(fmt.Sprintf("%s count=%d list=%v map=%v sum=%s mean=%s", ctx.CurrentKey(), n, list.Get(), maps.Collect(last.All()),
		orNone(s, sok), orNone(fmt.Sprintf("%.1f", m), mok)))
	return nil
}

func orNone[T any](v T, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprint(v)
}

// TestStateTTLInHarness: each kind of state expires 100ms after its last
// write on the harness's processing-time clock; list elements and map
// entries expire one by one.
func TestStateTTLInHarness(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[kv]) *freshet.Stream[string] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(e kv) string { return e.K }), freshet.KeyedProcessFunc(ttlStates))
	}, freshettest.WithProcessingTime(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, step := range []struct {
		at int64
		e  kv
	}{
		{1000, kv{"a", 1}},
		{1050, kv{"a", 2}},
		{1099, kv{"a", 0}},
		{1100, kv{"a", 0}}, // 1 and odd:1, written at 1000, have expired
		{1120, kv{"b", 3}},
		{1150, kv{"a", 0}}, // everything of a has
		{1150, kv{"b", 0}},
		{1160, kv{"a", 4}}, // a starts anew
	} {
		check(t, h.SetProcessingTime(step.at))
		check(t, h.Process(step.e))
	}
	want := []string{
		"a count=1 list=[1] map=" + seq("odd", 1) + " sum=1 mean=1.0",
		"a count=2 list=[1 2] map=" + seq("even", 2, "odd", 1) + " sum=3 mean=1.5",
		"a count=2 list=[1 2] map=" + seq("even", 2, "odd", 1) + " sum=3 mean=1.5",
		"a count=2 list=[2] map=" + seq("even", 2) + " sum=3 mean=1.5",
		"b count=1 list=[3] map=" + seq("odd", 3) + " sum=3 mean=3.0",
		"a count=0 list=[] map=" + seq() + " sum=- mean=-",
		"b count=1 list=[3] map=" + seq("odd", 3) + " sum=3 mean=3.0",
		"a count=1 list=[4] map=" + seq("even", 4) + " sum=4 mean=4.0",
	}
	if got := h.Values(); !slices.Equal(got, want) {
		t.Fatalf("values\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// seq formats key-value pairs as ttlStates prints a map's entries.
func seq(kvs ...any) string {
	m := map[string]int{}
	for i := 0; i < len(kvs); i += 2 {
		m[kvs[i].(string)] = kvs[i+1].(int)
	}
	return fmt.Sprint(m)
}

// TestStateTTLUpdateAndVisibilityInHarness: OnReadAndWrite renews a value
// on every read; ReturnExpiredIfNotCleanedUp returns an expired value
// once, the read removing it.
func TestStateTTLUpdateAndVisibilityInHarness(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ttl   state.TTL
		steps []int64 // processing times of the reads after a write at 0
		want  []string
	}{
		{"OnReadAndWrite", state.TTL{Duration: 100 * time.Millisecond, Update: state.OnReadAndWrite},
			[]int64{90, 180, 279, 379}, []string{"write 5", "read 5", "read 5", "read 5", "read -"}},
		{"OnCreateAndWrite", state.TTL{Duration: 100 * time.Millisecond},
			[]int64{90, 99, 100}, []string{"write 5", "read 5", "read 5", "read -"}},
		{"ReturnExpiredIfNotCleanedUp", state.TTL{Duration: 100 * time.Millisecond, Visibility: state.ReturnExpiredIfNotCleanedUp},
			[]int64{100, 100, 200}, []string{"write 5", "read 5", "read -", "read -"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := state.NewValue[int]("last").WithTTL(tc.ttl)
			h, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[string] {
				return freshet.KeyedProcess(freshet.KeyBy(in, func(int) string { return "k" }),
					freshet.KeyedProcessFunc(func(ctx *freshet.KeyedContext[string], v int, out freshet.Collector[string]) error {
						last := state.Value(ctx.State(), d)
						if v > 0 {
							last.Update(v)
							out.Collect(fmt.Sprint("write ", v))
							return nil
						}
						got, ok := last.Value()
						out.Collect("read " + orNone(got, ok))
						return nil
					}))
			})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			check(t, h.Process(5))
			for _, at := range tc.steps {
				check(t, h.SetProcessingTime(at))
				check(t, h.Process(0))
			}
			if got := h.Values(); !slices.Equal(got, tc.want) {
				t.Fatalf("values %q, want %q", got, tc.want)
			}
		})
	}
}

// TestStateTTLInvalidFailsJob: a TTL under a millisecond fails the job at
// the state's first use, naming the state.
func TestStateTTLInvalidFailsJob(t *testing.T) {
	d := state.NewList[int]("recent").WithTTL(state.TTL{Duration: 0})
	h, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(v int) int { return v }),
			freshet.KeyedProcessFunc(func(ctx *freshet.KeyedContext[int], v int, out freshet.Collector[int]) error {
				state.List(ctx.State(), d).Add(v)
				return nil
			}))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	err = h.Process(1)
	if !errors.Is(err, state.ErrIncompatibleState) || !strings.Contains(err.Error(), `"recent": the TTL 0s is not positive`) {
		t.Fatalf("Process = %v, want ErrIncompatibleState naming \"recent\" and its TTL", err)
	}
}

// TestStateTTLCleanupInFullSnapshot: with CleanupFullSnapshot a snapshot
// leaves out what has expired when it is taken, so a restored job never
// sees it; without, an expired value a read may still return
// (ReturnExpiredIfNotCleanedUp) comes back with the restore.
func TestStateTTLCleanupInFullSnapshot(t *testing.T) {
	lax := state.TTL{Duration: 100 * time.Millisecond, Visibility: state.ReturnExpiredIfNotCleanedUp}
	clean := lax
	clean.CleanupFullSnapshot = true
	kept := state.NewList[int]("kept").WithTTL(lax)
	cleaned := state.NewList[int]("cleaned").WithTTL(clean)
	job := func(in *freshet.Stream[kv]) *freshet.Stream[string] {
		return freshet.KeyedProcess(freshet.KeyBy(in, func(e kv) string { return e.K }), freshet.KeyedProcessFunc(
			func(ctx *freshet.KeyedContext[string], e kv, out freshet.Collector[string]) error {
				k, c := state.List(ctx.State(), kept), state.List(ctx.State(), cleaned)
				if e.V > 0 {
					k.Add(e.V)
					c.Add(e.V)
					return nil
				}
				out.Collect(fmt.Sprintf("kept=%v cleaned=%v", k.Get(), c.Get()))
				return nil
			}))
	}
	h, err := freshettest.New(job, freshettest.WithProcessingTime(1000))
	check(t, err)
	check(t, h.Process(kv{"a", 1}))
	check(t, h.SetProcessingTime(1050))
	check(t, h.Process(kv{"a", 2}))
	check(t, h.SetProcessingTime(1120)) // 1 has expired, 2 has not
	snap, err := h.Snapshot()
	check(t, err)
	h.Close()

	r, err := freshettest.New(job, freshettest.WithProcessingTime(1120), freshettest.WithRestore(snap))
	check(t, err)
	defer r.Close()
	check(t, r.Process(kv{"a", 0}))
	if got, want := r.Values(), []string{"kept=[1 2] cleaned=[2]"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
