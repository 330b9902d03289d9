package freshet_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

// lel and rel are the left and right elements of the join tests: a key and
// a name; the harness gives them their timestamps.
type lel struct {
	Key, Name string
}

type rel struct {
	Key, Name string
}

func lkey(l lel) string { return l.Key }
func rkey(r rel) string { return r.Key }

// pairFn renders a joined pair with the two timestamps the context reports.
var pairFn = freshet.ProcessJoinFunc(func(ctx *freshet.JoinContext, l lel, r rel, out freshet.Collector[string]) error {
	out.Collect(fmt.Sprintf("%s-%s[%d,%d]", l.Name, r.Name, ctx.LeftTimestamp(), ctx.RightTimestamp()))
	return nil
})

type joinHarness = freshettest.Harness2[lel, rel, string]

func intervalHarness(t *testing.T, configure func(*freshet.IntervalJoinBuilder[lel, rel, string]), opts ...freshettest.Option) *joinHarness {
	t.Helper()
	h, err := freshettest.New2(func(a *freshet.Stream[lel], b *freshet.Stream[rel]) *freshet.Stream[string] {
		j := freshet.IntervalJoin(freshet.KeyBy(a, lkey), freshet.KeyBy(b, rkey))
		configure(j)
		return freshet.IntervalJoinProcess(j, pairFn)
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// joinInput is one step of a join test: an element of either side at a
// timestamp, or a watermark on both inputs.
type joinInput struct {
	side string // "L", "R" or "WM"
	key  string
	name string
	ts   int64
}

func inL(key, name string, ts int64) joinInput { return joinInput{"L", key, name, ts} }
func inR(key, name string, ts int64) joinInput { return joinInput{"R", key, name, ts} }
func inWM(ts int64) joinInput                  { return joinInput{side: "WM", ts: ts} }

func feed(t *testing.T, h *joinHarness, in ...joinInput) {
	t.Helper()
	for _, i := range in {
		var err error
		switch i.side {
		case "L":
			err = h.Process1At(lel{i.key, i.name}, i.ts)
		case "R":
			err = h.Process2At(rel{i.key, i.name}, i.ts)
		case "WM":
			if err = h.Watermark1(i.ts); err == nil {
				err = h.Watermark2(i.ts)
			}
		}
		if err != nil {
			t.Fatalf("%v: %v", i, err)
		}
	}
}

// outputs renders a harness's records and watermarks in order.
func outputs(events []freshettest.Event[string]) []string {
	var out []string
	for _, e := range events {
		if e.IsWatermark {
			out = append(out, segments([]freshettest.Event[string]{e})...)
			continue
		}
		out = append(out, e.String())
	}
	return out
}

func TestIntervalJoinInclusiveBoundsOutOfOrder(t *testing.T) {
	// Flink's documentation example: right elements within [-2, +1] ms of
	// a left element join it.
	h := intervalHarness(t, func(j *freshet.IntervalJoinBuilder[lel, rel, string]) { j.Between(-2*ms, 1*ms) })
	feed(t, h,
		inR("k", "x", 8), inR("k", "y", 12),
		inL("k", "a", 10), // [8, 11]: x
		inR("k", "z", 11), // a at 10: 11-1 <= 10 <= 11+2
		inR("k", "w", 7),  // a needs [8, 11]
		inR("k", "v", 9),
		inL("k", "b", 13),  // [11, 14]: z, y in timestamp order
		inL("o", "c", 10),  // another key: nothing of key o on the right
		inR("o", "q", 11),  // joins c: 11 - 1 <= 10
		inR("k2", "p", 10), // a third key, alone
	)
	expect(t, outputs(h.Events()), []string{
		"a-x[10,8]@10", "a-z[10,11]@11", "a-v[10,9]@10", "b-z[13,11]@13", "b-y[13,12]@13", "c-q[10,11]@11",
	})
}

func TestIntervalJoinExclusiveBounds(t *testing.T) {
	rights := []joinInput{inR("k", "r7", 7), inR("k", "r8", 8), inR("k", "r9", 9), inR("k", "r10", 10), inR("k", "r11", 11), inR("k", "r12", 12)}
	cases := []struct {
		name string
		conf func(*freshet.IntervalJoinBuilder[lel, rel, string])
		want []string
	}{
		{"inclusive", func(j *freshet.IntervalJoinBuilder[lel, rel, string]) { j.Between(-2*ms, ms) },
			[]string{"a-r8[10,8]@10", "a-r9[10,9]@10", "a-r10[10,10]@10", "a-r11[10,11]@11"}},
		{"lower exclusive", func(j *freshet.IntervalJoinBuilder[lel, rel, string]) { j.Between(-2*ms, ms).LowerBoundExclusive() },
			[]string{"a-r9[10,9]@10", "a-r10[10,10]@10", "a-r11[10,11]@11"}},
		{"upper exclusive", func(j *freshet.IntervalJoinBuilder[lel, rel, string]) { j.Between(-2*ms, ms).UpperBoundExclusive() },
			[]string{"a-r8[10,8]@10", "a-r9[10,9]@10", "a-r10[10,10]@10"}},
		{"both exclusive", func(j *freshet.IntervalJoinBuilder[lel, rel, string]) {
			j.Between(-2*ms, ms).LowerBoundExclusive().UpperBoundExclusive()
		}, []string{"a-r9[10,9]@10", "a-r10[10,10]@10"}},
		{"single point", func(j *freshet.IntervalJoinBuilder[lel, rel, string]) { j.Between(2*ms, 2*ms) },
			[]string{"a-r12[10,12]@12"}},
		{"empty after exclusion", func(j *freshet.IntervalJoinBuilder[lel, rel, string]) { j.Between(0, 0).LowerBoundExclusive() },
			nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The left element before and after the rights: the join is
			// found from either side.
			h := intervalHarness(t, c.conf)
			feed(t, h, inL("k", "a", 10))
			feed(t, h, rights...)
			expect(t, outputs(h.Events()), c.want)

			h = intervalHarness(t, c.conf)
			feed(t, h, rights...)
			feed(t, h, inL("k", "a", 10))
			got := outputs(h.Events())
			want := slices.Clone(c.want)
			slices.Sort(got)
			slices.Sort(want)
			expect(t, got, want)
		})
	}
}

func TestIntervalJoinNegativeBoundsAndCleanup(t *testing.T) {
	// Right elements 5 to 2 ms before a left one join it. Left elements are
	// kept until their own timestamp (upper <= 0), right ones until ts + 5.
	h := intervalHarness(t, func(j *freshet.IntervalJoinBuilder[lel, rel, string]) { j.Between(-5*ms, -2*ms) })
	feed(t, h,
		inR("k", "x", 6), inR("k", "y", 9),
		inL("k", "a", 10), // [5, 8]: x
		inL("k", "b", 11), // [6, 9]: x, y
		inR("k", "z", 4),  // lefts in [6, 9]: none
		inR("k", "w", 8),  // lefts in [10, 13]: a, b
		inWM(11),          // removes z (kept until 9), a (10), b (11) and x (11); keeps w (13) and y (14)
		inL("k", "c", 11), // [6, 9]: x is gone, w and y remain
		inR("k", "v", 12), // lefts in [14, 17]: none yet
		inWM(14),          // removes c, w and y
		inL("k", "d", 14), // [9, 12]: y is gone, v remains
	)
	expect(t, outputs(h.Events()), []string{
		"a-x[10,6]@10", "b-x[11,6]@11", "b-y[11,9]@11", "a-w[10,8]@10", "b-w[11,8]@11",
		"WM 11",
		"c-w[11,8]@11", "c-y[11,9]@11",
		"WM 14",
		"d-v[14,12]@14",
	})
}

func TestIntervalJoinCleanupAfterWatermark(t *testing.T) {
	h := intervalHarness(t, func(j *freshet.IntervalJoinBuilder[lel, rel, string]) { j.Between(0, 5*ms) })
	feed(t, h,
		inL("k", "a", 10), // kept until 15
		inR("k", "x", 15), // joins a; kept until 15 (lower is 0)
		inWM(15),          // removes a and x
		inR("k", "y", 15), // not late (15 is not below 15), but a is gone
		inL("k", "b", 15), // [15, 20]: x is gone, y (added after the watermark) is not
		inWM(16),          // removes y; b is kept until 20
		inR("k", "z", 16), // joins b
		inWM(20),          // removes b
		inR("k", "q", 20), // would match b: gone
	)
	if err := h.EndInput(); err != nil {
		t.Fatal(err)
	}
	expect(t, outputs(h.Events()), []string{
		"a-x[10,15]@15", "WM 15", "b-y[15,15]@15", "WM 16", "b-z[15,16]@16", "WM 20", "WM end",
	})
}

var (
	lateLeft  = freshet.NewOutputTag[lel]("late-left")
	lateRight = freshet.NewOutputTag[rel]("late-right")
)

func TestIntervalJoinDropsLateElements(t *testing.T) {
	h := intervalHarness(t, func(j *freshet.IntervalJoinBuilder[lel, rel, string]) {
		j.Between(0, 10*ms).SideOutputLeftLateData(lateLeft).SideOutputRightLateData(lateRight)
	}, freshettest.CaptureSideOutput(lateLeft), freshettest.CaptureSideOutput(lateRight))
	feed(t, h, inL("k", "e", 12))
	// Only one input's watermark: the operator's watermark stays at the
	// minimum, so nothing is late yet.
	if err := h.Watermark1(30); err != nil {
		t.Fatal(err)
	}
	feed(t, h, inL("k", "f", 14))
	if err := h.Watermark2(20); err != nil { // operator watermark 20
		t.Fatal(err)
	}
	feed(t, h,
		inR("k", "x", 20),  // not late: joins e (12..22) and f (14..24)
		inL("k", "g", 15),  // late: dropped though x would match
		inR("k", "y", 19),  // late: dropped though e and f would match
		inL("k", "h", 20),  // joins x
		inR("o", "z", -50), // late, another key
	)
	expect(t, outputs(h.Events()), []string{"WM 20", "e-x[12,20]@20", "f-x[14,20]@20", "h-x[20,20]@20"})
	if got := freshettest.SideOutput(h, lateLeft); len(got) != 1 || got[0].Value.Name != "g" || got[0].Timestamp != 15 {
		t.Fatalf("late left %v", got)
	}
	if got := freshettest.SideOutput(h, lateRight); len(got) != 2 || got[0].Value.Name != "y" || got[1].Value.Name != "z" || got[1].Timestamp != -50 {
		t.Fatalf("late right %v", got)
	}
}

var joinedSide = freshet.NewOutputTag[string]("joined-side")

func TestIntervalJoinApplyAndSideOutput(t *testing.T) {
	h, err := freshettest.New2(func(a *freshet.Stream[lel], b *freshet.Stream[rel]) *freshet.Stream[string] {
		j := freshet.IntervalJoin(freshet.KeyBy(a, lkey), freshet.KeyBy(b, rkey)).Between(-time.Second, time.Second)
		return freshet.IntervalJoinApply(j, func(l lel, r rel) string { return l.Name + "+" + r.Name })
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	feed(t, h, inL("k", "a", 1000), inR("k", "x", 500), inR("k", "y", 2001), inR("k", "z", 2000))
	expect(t, outputs(h.Events()), []string{"a+x@1000", "a+z@2000"})

	// Side outputs from the process function carry the result timestamp;
	// the join function sees the operator's watermark but cannot set timers.
	h2, err := freshettest.New2(func(a *freshet.Stream[lel], b *freshet.Stream[rel]) *freshet.Stream[string] {
		j := freshet.IntervalJoin(freshet.KeyBy(a, lkey), freshet.KeyBy(b, rkey)).Between(0, 5*ms)
		return freshet.IntervalJoinProcess(j, freshet.ProcessJoinFunc(
			func(ctx *freshet.JoinContext, l lel, r rel, out freshet.Collector[string]) error {
				ts, _ := ctx.Timestamp()
				freshet.Output(ctx, joinedSide, fmt.Sprintf("%s%s ts=%d wm=%d", l.Name, r.Name, ts, ctx.TimerService().CurrentWatermark()))
				if r.Name == "timer" {
					ctx.TimerService().RegisterEventTimeTimer(100)
				}
				return nil
			}))
	}, freshettest.CaptureSideOutput(joinedSide))
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	feed(t, h2, inWM(1), inL("k", "a", 2), inR("k", "b", 4))
	if got := freshettest.SideOutput(h2, joinedSide); len(got) != 1 || got[0].Value != "ab ts=4 wm=1" || got[0].Timestamp != 4 {
		t.Fatalf("side output %v", got)
	}
	if len(h2.Values()) != 0 {
		t.Fatalf("main output %v", h2.Values())
	}
	if err := h2.Process2At(rel{"k", "timer"}, 3); err == nil || !strings.Contains(err.Error(), "cannot set timers") {
		t.Fatalf("registering a timer in a join function: %v", err)
	}
}

func TestIntervalJoinWithoutTimestampFails(t *testing.T) {
	h := intervalHarness(t, func(j *freshet.IntervalJoinBuilder[lel, rel, string]) { j.Between(0, ms) })
	if err := h.Process1(lel{"k", "a"}); !errors.Is(err, freshet.ErrNoTimestamp) {
		t.Fatalf("left element without timestamp: %v", err)
	}
	if err := h.Process2(rel{"k", "a"}); !errors.Is(err, freshet.ErrNoTimestamp) {
		t.Fatalf("right element without timestamp: %v", err)
	}

	env := freshet.NewEnv()
	a := freshet.KeyBy(freshet.FromElements(env, lel{"k", "a"}), lkey)
	b := freshet.KeyBy(freshet.FromElements(env, rel{"k", "b"}), rkey)
	freshet.Collect(freshet.IntervalJoinProcess(freshet.IntervalJoin(a, b).Between(0, ms), pairFn).Name("my join"))
	err := env.Execute(context.Background(), "no timestamps")
	if !errors.Is(err, freshet.ErrNoTimestamp) || !strings.Contains(err.Error(), "my join") {
		t.Fatalf("Execute = %v, want ErrNoTimestamp naming the operator", err)
	}
}

func TestIntervalJoinInvalidBoundsFailAtBuild(t *testing.T) {
	cases := []struct {
		name string
		conf func(*freshet.IntervalJoinBuilder[lel, rel, string])
		rule string
	}{
		{"lower above upper", func(j *freshet.IntervalJoinBuilder[lel, rel, string]) { j.Between(5*ms, ms) }, "lowerBound <= upperBound must be fulfilled"},
		{"sub-millisecond", func(j *freshet.IntervalJoinBuilder[lel, rel, string]) { j.Between(0, time.Microsecond) }, "whole milliseconds"},
		{"no bounds", func(*freshet.IntervalJoinBuilder[lel, rel, string]) {}, "call Between"},
	}
	for _, c := range cases {
		env := freshet.NewEnv()
		a := freshet.KeyBy(freshet.FromElements(env, lel{"k", "a"}), lkey)
		b := freshet.KeyBy(freshet.FromElements(env, rel{"k", "b"}), rkey)
		j := freshet.IntervalJoin(a, b)
		c.conf(j)
		freshet.Collect(freshet.IntervalJoinProcess(j, pairFn).Name("orders x payments"))
		err := env.Execute(context.Background(), "bad join")
		if !errors.Is(err, freshet.ErrInvalidProgram) || !strings.Contains(err.Error(), `"orders x payments"`) || !strings.Contains(err.Error(), c.rule) {
			t.Errorf("%s: Execute = %v", c.name, err)
		}
	}
	// Equal bounds are valid, also when exclusive (nothing then joins), as
	// in Flink, where the rule applies before the exclusive adjustment.
	h := intervalHarness(t, func(j *freshet.IntervalJoinBuilder[lel, rel, string]) {
		j.Between(ms, ms).LowerBoundExclusive().UpperBoundExclusive()
	})
	feed(t, h, inL("k", "a", 1), inR("k", "b", 2))
	if len(h.Events()) != 0 {
		t.Fatalf("empty interval joined: %v", h.Events())
	}
}

// Window join

type coWin = freshet.CoWindowedStreams[lel, rel, string, window.TimeWindow]
type either = freshet.Either[lel, rel]

func windowJoinHarness(t *testing.T, assigner window.Assigner[either, window.TimeWindow], build func(*coWin) *freshet.Stream[string]) *joinHarness {
	t.Helper()
	h, err := freshettest.New2(func(a *freshet.Stream[lel], b *freshet.Stream[rel]) *freshet.Stream[string] {
		return build(freshet.CoWindow(freshet.KeyBy(a, lkey), freshet.KeyBy(b, rkey), assigner))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func joinNames(c *coWin) *freshet.Stream[string] {
	return freshet.WindowJoin(c, func(l lel, r rel) string { return l.Key + ":" + l.Name + "-" + r.Name })
}

func TestWindowJoinTumbling(t *testing.T) {
	h := windowJoinHarness(t, window.TumblingEventTime[either](10*ms, 0), joinNames)
	feed(t, h,
		inL("a", "a1", 1), inR("a", "x", 3), inR("a", "y", 12), inL("a", "a2", 8), // [0,10): a1, a2 × x
		inL("a", "a3", 15), // [10,20): a3 × y
		inL("b", "b1", 2),  // key b, [0,10): no right element
		inR("b", "q", 25),  // key b, [20,30): no left element
		inR("a", "x2", 0),  // out of order, back in [0,10)
		inWM(9),
		inR("a", "late", 5), // [0,10) has fired and is gone
		inWM(30),
	)
	if err := h.EndInput(); err != nil {
		t.Fatal(err)
	}
	// Per window: left elements in arrival order, each with every right one.
	expect(t, outputs(h.Events()), []string{
		"a:a1-x@9", "a:a1-x2@9", "a:a2-x@9", "a:a2-x2@9", "WM 9", "a:a3-y@19", "WM 30", "WM end",
	})
}

func TestWindowJoinSlidingJoinsPairInEachWindow(t *testing.T) {
	h := windowJoinHarness(t, window.SlidingEventTime[either](10*ms, 5*ms, 0), joinNames)
	feed(t, h,
		inL("a", "a", 7), inR("a", "x", 8), // both in [0,10) and [5,15): joined twice
		inR("a", "y", 3),  // [-5,5) and [0,10): joins a in [0,10)
		inL("a", "b", 12), // [5,15) and [10,20): joins x in [5,15)
	)
	if err := h.EndInput(); err != nil {
		t.Fatal(err)
	}
	expect(t, outputs(h.Events()), []string{
		"a:a-x@9", "a:a-y@9", "a:a-x@14", "a:b-x@14", "WM end",
	})
}

func TestWindowJoinSessionsMergeAcrossSides(t *testing.T) {
	h := windowJoinHarness(t, window.EventTimeSession[either](10*ms), joinNames)
	feed(t, h,
		inL("a", "a", 1),  // [1,11)
		inR("a", "x", 25), // [25,35)
		inL("a", "b", 15), // [15,25) touches [25,35): [15,35)
		inR("a", "y", 8),  // [8,18) bridges [1,11) and [15,35): one session [1,35)
		inL("a", "c", 100),
		inL("o", "l", 0), inR("o", "r", 50), // key o: two sessions, one side each
	)
	if err := h.EndInput(); err != nil {
		t.Fatal(err)
	}
	// segments sorts the records of one watermark: the merge order of a
	// session's contents is not specified.
	expect(t, segments(h.Events()), []string{"a:a-x@34", "a:a-y@34", "a:b-x@34", "a:b-y@34", "WM end"})
}

func TestWindowCoGroupWithEmptySides(t *testing.T) {
	h := windowJoinHarness(t, window.TumblingEventTime[either](10*ms, 0), func(c *coWin) *freshet.Stream[string] {
		return freshet.WindowCoGroup(c, func(ls []lel, rs []rel, out freshet.Collector[string]) error {
			var names []string
			for _, l := range ls {
				names = append(names, "L"+l.Name)
			}
			for _, r := range rs {
				names = append(names, "R"+r.Name)
			}
			out.Collect(fmt.Sprintf("%d/%d %s", len(ls), len(rs), strings.Join(names, ",")))
			return nil
		})
	})
	feed(t, h,
		inL("a", "1", 1), inL("a", "2", 5), // [0,10): left only
		inR("a", "x", 12), inL("a", "3", 11), inR("a", "y", 19), // [10,20): both
		inR("a", "z", 20), // [20,30): right only
		inWM(19),
	)
	if err := h.EndInput(); err != nil {
		t.Fatal(err)
	}
	expect(t, outputs(h.Events()), []string{
		"2/0 L1,L2@9", "1/2 L3,Rx,Ry@19", "WM 19", "0/1 Rz@29", "WM end",
	})
}

func TestWindowJoinAllowedLatenessAndTrigger(t *testing.T) {
	h := windowJoinHarness(t, window.TumblingEventTime[either](10*ms, 0), func(c *coWin) *freshet.Stream[string] {
		return joinNames(c.AllowedLateness(5 * ms))
	})
	feed(t, h,
		inL("a", "a", 1), inR("a", "x", 2),
		inWM(9),          // fires [0,10)
		inR("a", "y", 5), // late within the lateness: fires the whole window again
		inWM(14),         // [0,10) is cleaned up
		inL("a", "b", 3), // too late: dropped
	)
	expect(t, outputs(h.Events()), []string{"a:a-x@9", "WM 9", "a:a-x@9", "a:a-y@9", "WM 14"})

	// A count trigger fires the global window every 3 elements of a key,
	// counting both sides.
	h2, err := freshettest.New2(func(a *freshet.Stream[lel], b *freshet.Stream[rel]) *freshet.Stream[string] {
		c := freshet.CoWindow(freshet.KeyBy(a, lkey), freshet.KeyBy(b, rkey), window.Global[either]()).
			Trigger(window.PurgingTrigger(window.CountTrigger[either, window.GlobalWindow](3)))
		return freshet.WindowFlatJoin(c, func(l lel, r rel, out freshet.Collector[string]) error {
			out.Collect(l.Name + r.Name)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	check(t, h2.Process1(lel{"a", "a"}))
	check(t, h2.Process2(rel{"a", "x"}))
	check(t, h2.Process2(rel{"b", "q"}))
	check(t, h2.Process2(rel{"a", "y"})) // third of key a: fires and purges
	check(t, h2.Process1(lel{"a", "b"}))
	expect(t, h2.Values(), []string{"ax", "ay"})
}

func TestWindowJoinInvalidWindowFailsAtBuild(t *testing.T) {
	env := freshet.NewEnv()
	a := freshet.KeyBy(freshet.FromElements(env, lel{"k", "a"}), lkey)
	b := freshet.KeyBy(freshet.FromElements(env, rel{"k", "b"}), rkey)
	freshet.Collect(joinNames(freshet.CoWindow(a, b, window.TumblingEventTime[either](-time.Second, 0))).Name("bad join"))
	err := env.Execute(context.Background(), "bad window join")
	if !errors.Is(err, freshet.ErrInvalidProgram) || !errors.Is(err, window.ErrInvalidWindow) || !strings.Contains(err.Error(), `"bad join"`) {
		t.Fatalf("Execute = %v", err)
	}
}

// jev is an element of the job-level join tests.
type jev struct {
	Key string
	ID  int
	TS  int64
}

func TestJoinsInParallelJob(t *testing.T) {
	const n = 600
	var lefts, rights []jev
	for i := 0; i < n; i++ {
		// Out of order by up to 20 ms within each source split.
		lefts = append(lefts, jev{fmt.Sprint("key", i%5), i, int64(i*3) + int64((i*37)%20) - 10})
		rights = append(rights, jev{fmt.Sprint("key", i%7%5), i, int64(i*3) + 1 + int64((i*53)%20) - 10})
	}
	strategy := watermark.ForBoundedOutOfOrderness[jev](100 * ms).WithTimestampAssigner(func(e jev, _ int64) int64 { return e.TS })
	withTimestamps := func(s *freshet.Stream[string]) *freshet.Stream[string] {
		return freshet.Process(s, freshet.ProcessFunc(func(ctx *freshet.Context, v string, out freshet.Collector[string]) error {
			ts, _ := ctx.Timestamp()
			out.Collect(fmt.Sprintf("%s@%d", v, ts))
			return nil
		}))
	}
	for _, p := range []int{1, 2} {
		env := freshet.NewEnv(freshet.WithParallelism(p))
		ls := freshet.FromSourceWithWatermarks(env, source.FromSlice(lefts), strategy, "lefts").SetParallelism(3)
		rs := freshet.FromSourceWithWatermarks(env, source.FromSlice(rights), strategy, "rights").SetParallelism(3)
		key := func(e jev) string { return e.Key }
		a, b := freshet.KeyBy(ls, key), freshet.KeyBy(rs, key)

		ij := freshet.IntervalJoin(a, b).Between(-3*ms, 5*ms).UpperBoundExclusive()
		interval := freshet.Collect(withTimestamps(freshet.IntervalJoinApply(ij, func(l, r jev) string {
			return fmt.Sprintf("%s/%d/%d", l.Key, l.ID, r.ID)
		})))
		wj := freshet.CoWindow(a, b, window.TumblingEventTime[freshet.Either[jev, jev]](50*ms, 0))
		windowed := freshet.Collect(withTimestamps(freshet.WindowJoin(wj, func(l, r jev) string {
			return fmt.Sprintf("%s/%d/%d", l.Key, l.ID, r.ID)
		})))
		execute(t, env)

		var wantInterval, wantWindow []string
		for _, l := range lefts {
			for _, r := range rights {
				if l.Key != r.Key {
					continue
				}
				if r.TS >= l.TS-3 && r.TS < l.TS+5 {
					wantInterval = append(wantInterval, fmt.Sprintf("%s/%d/%d@%d", l.Key, l.ID, r.ID, max(l.TS, r.TS)))
				}
				if start := l.TS - (l.TS%50+50)%50; r.TS-(r.TS%50+50)%50 == start {
					wantWindow = append(wantWindow, fmt.Sprintf("%s/%d/%d@%d", l.Key, l.ID, r.ID, start+49))
				}
			}
		}
		if len(wantInterval) < n/5 || len(wantWindow) < n {
			t.Fatalf("test data joins too little: %d interval, %d window pairs", len(wantInterval), len(wantWindow))
		}
		gotInterval, gotWindow := interval.Values(), windowed.Values()
		for _, s := range [][]string{wantInterval, wantWindow, gotInterval, gotWindow} {
			slices.Sort(s)
		}
		if !slices.Equal(gotInterval, wantInterval) {
			t.Errorf("p=%d: interval join: %d results, want %d", p, len(gotInterval), len(wantInterval))
		}
		if !slices.Equal(gotWindow, wantWindow) {
			t.Errorf("p=%d: window join: %d results, want %d", p, len(gotWindow), len(wantWindow))
		}
	}
}
