package nexmark_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/nexmark"
)

// inputs are the generated inputs every query is checked on: Nexmark's
// default pace (2 s of event time: one or two windows), and a slower one
// whose 40 s span many windows and sessions.
var inputs = []struct {
	name string
	cfg  nexmark.GeneratorConfig
}{
	{"default", nexmark.GeneratorConfig{Events: 20_000, Seed: 1}},
	{"slow", nexmark.GeneratorConfig{Events: 20_000, Seed: 2, InterEventDelay: 2 * time.Millisecond, SplitRun: 700}},
}

func generate(t *testing.T, cfg nexmark.GeneratorConfig) []nexmark.Event {
	g := newGen(t, cfg)
	events := make([]nexmark.Event, cfg.Events)
	for n := range events {
		events[n] = g.Event(int64(n))
	}
	return events
}

// runQuery runs q over the events cfg generates at parallelism 2 and
// returns its output.
func runQuery[T any](t *testing.T, cfg nexmark.GeneratorConfig, q func(*freshet.Stream[nexmark.Event]) *freshet.Stream[T]) []T {
	t.Helper()
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(quiet))
	events, err := nexmark.Events(env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := freshet.Collect(q(events))
	if err := env.Execute(context.Background(), "nexmark test"); err != nil {
		t.Fatal(err)
	}
	return got.Values()
}

// sameMultiset fails the test unless got and want hold the same values,
// in any order.
func sameMultiset[T any](t *testing.T, got, want []T) {
	t.Helper()
	str := func(vs []T) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = fmt.Sprintf("%+v", v)
		}
		slices.Sort(out)
		return out
	}
	g, w := str(got), str(want)
	if slices.Equal(g, w) {
		return
	}
	var diff []string
	for _, s := range w {
		if i, ok := slices.BinarySearch(g, s); ok {
			g = slices.Delete(g, i, i+1)
		} else {
			diff = append(diff, "missing: "+s)
		}
	}
	for _, s := range g {
		diff = append(diff, "extra:   "+s)
	}
	if len(diff) > 10 {
		diff = append(diff[:10], "…")
	}
	t.Errorf("%d values, want %d:\n%s", len(got), len(want), strings.Join(diff, "\n"))
}

func check[T any](t *testing.T, q func(*freshet.Stream[nexmark.Event]) *freshet.Stream[T], ref func([]nexmark.Event) []T, minWant int) {
	t.Helper()
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			want := ref(generate(t, in.cfg))
			if len(want) < minWant {
				t.Fatalf("the reference gives %d values, fewer than %d: the input does not exercise the query", len(want), minWant)
			}
			sameMultiset(t, runQuery(t, in.cfg, q), want)
		})
	}
}

func TestQ0(t *testing.T)  { check(t, nexmark.Q0, nexmark.RefQ0, 18_000) }
func TestQ1(t *testing.T)  { check(t, nexmark.Q1, nexmark.RefQ1, 18_000) }
func TestQ2(t *testing.T)  { check(t, nexmark.Q2, nexmark.RefQ2, 1) }
func TestQ3(t *testing.T)  { check(t, nexmark.Q3, nexmark.RefQ3, 5) }
func TestQ4(t *testing.T)  { check(t, nexmark.Q4, nexmark.RefQ4, 50) }
func TestQ5(t *testing.T)  { check(t, nexmark.Q5, nexmark.RefQ5, 1) }
func TestQ6(t *testing.T)  { check(t, nexmark.Q6, nexmark.RefQ6, 50) }
func TestQ7(t *testing.T)  { check(t, nexmark.Q7, nexmark.RefQ7, 1) }
func TestQ8(t *testing.T)  { check(t, nexmark.Q8, nexmark.RefQ8, 5) }
func TestQ9(t *testing.T)  { check(t, nexmark.Q9, nexmark.RefQ9, 50) }
func TestQ11(t *testing.T) { check(t, nexmark.Q11, nexmark.RefQ11, 100) }

// TestQ12 checks what does not depend on when windows of processing time
// close: the bids of each bidder add up to the number it made.
func TestQ12(t *testing.T) {
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			got := runQuery(t, in.cfg, nexmark.Q12)
			for _, c := range got {
				if c.Bids <= 0 || c.WindowStart%nexmark.Q12WindowSize.Milliseconds() != 0 {
					t.Fatalf("bad count %+v", c)
				}
			}
			sameMultiset(t, nexmark.TotalPerBidder(got), nexmark.RefQ12(generate(t, in.cfg)))
		})
	}
}

var quiet = slog.New(slog.DiscardHandler)

// daily is an input of two weeks of event time, for the daily statistics.
var daily = nexmark.GeneratorConfig{Events: 20_000, Seed: 4, InterEventDelay: time.Minute, SplitRun: 300}

func checkDaily[T any](t *testing.T, q func(*freshet.Stream[nexmark.Event]) *freshet.Stream[T], ref func([]nexmark.Event) []T, minWant int) {
	t.Helper()
	want := ref(generate(t, daily))
	if len(want) < minWant {
		t.Fatalf("the reference gives %d values, fewer than %d", len(want), minWant)
	}
	sameMultiset(t, runQuery(t, daily, q), want)
}

func TestQ13(t *testing.T) {
	side := nexmark.SideInput()
	delete(side, 1234) // a key without a value drops its bids
	check(t, func(s *freshet.Stream[nexmark.Event]) *freshet.Stream[nexmark.BidWithValue] {
		return nexmark.Q13(s, side)
	},
		func(events []nexmark.Event) []nexmark.BidWithValue { return nexmark.RefQ13(events, side) }, 18_000)
}

func TestQ14(t *testing.T) { check(t, nexmark.Q14, nexmark.RefQ14, 1000) }
func TestQ15(t *testing.T) { checkDaily(t, nexmark.Q15, nexmark.RefQ15, 10) }
func TestQ16(t *testing.T) { checkDaily(t, nexmark.Q16, nexmark.RefQ16, 1000) }
func TestQ17(t *testing.T) { checkDaily(t, nexmark.Q17, nexmark.RefQ17, 1000) }
func TestQ20(t *testing.T) { check(t, nexmark.Q20, nexmark.RefQ20, 1000) }
func TestQ21(t *testing.T) { check(t, nexmark.Q21, nexmark.RefQ21, 10_000) }
func TestQ22(t *testing.T) { check(t, nexmark.Q22, nexmark.RefQ22, 18_000) }

// TestSerialized runs queries whose state and exchanges hold every event
// type with every exchange encoded, as between machines.
func TestSerialized(t *testing.T) {
	cfg := nexmark.GeneratorConfig{Events: 5_000, Seed: 5}
	events := generate(t, cfg)
	run := func(q func(*freshet.Stream[nexmark.Event]) *freshet.Stream[nexmark.Winner]) []nexmark.Winner {
		env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(quiet), freshet.WithForcedSerialization())
		in, err := nexmark.Events(env, cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := freshet.Collect(q(in))
		if err := env.Execute(context.Background(), "nexmark serialized"); err != nil {
			t.Fatal(err)
		}
		return got.Values()
	}
	sameMultiset(t, run(nexmark.Q9), nexmark.RefQ9(events))
	sameMultiset(t, run(func(s *freshet.Stream[nexmark.Event]) *freshet.Stream[nexmark.Winner] {
		// The events themselves cross an exchange.
		return nexmark.Q9(s.Rebalance())
	}), nexmark.RefQ9(events))
}
