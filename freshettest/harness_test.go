package freshettest_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/metric"
)

func TestMapFilterChain(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[string]) *freshet.Stream[int] {
		return freshet.Map(in, func(s string) int { return len(s) }).Filter(func(n int) bool { return n > 1 })
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, s := range []string{"hello", "a", "go"} {
		if err := h.ProcessAt(s, 10); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Watermark(7); err != nil {
		t.Fatal(err)
	}
	want := []freshettest.Event[int]{
		{Record: freshettest.Record[int]{Value: 5, Timestamp: 10, HasTimestamp: true}},
		{Record: freshettest.Record[int]{Value: 2, Timestamp: 10, HasTimestamp: true}},
		{IsWatermark: true, Watermark: 7},
	}
	if got := h.Events(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	h.ClearOutput()
	if err := h.Process("xyz"); err != nil {
		t.Fatal(err)
	}
	if got := h.Records(); len(got) != 1 || got[0].HasTimestamp || got[0].Value != 3 {
		t.Fatalf("records %v", got)
	}
}

var overheated = freshet.NewOutputTag[float64]("overheated")

type splitter struct{ opened, closed bool }

func (s *splitter) Open(rc *freshet.RuntimeContext) error {
	s.opened = rc.SubtaskIndex() == 2 && rc.Parallelism() == 4 && rc.Attempt() == 1
	return nil
}
func (s *splitter) Close() error { s.closed = true; return nil }

func (s *splitter) ProcessElement(ctx *freshet.Context, v float64, out freshet.Collector[string]) error {
	if v > 100 {
		freshet.Output(ctx, overheated, v)
		return nil
	}
	out.Collect("ok")
	return nil
}

func TestProcessFunctionSideOutputAndLifecycle(t *testing.T) {
	fn := &splitter{}
	h, err := freshettest.New(func(in *freshet.Stream[float64]) *freshet.Stream[string] {
		return freshet.Process(in, freshet.ProcessFunction[float64, string](fn))
	}, freshettest.CaptureSideOutput(overheated), freshettest.WithSubtask(2, 4), freshettest.WithAttempt(1))
	if err != nil {
		t.Fatal(err)
	}
	if !fn.opened {
		t.Error("Open did not see subtask 2 of 4, attempt 1")
	}
	for i, v := range []float64{20, 120, 99, 300} {
		if err := h.ProcessAt(v, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.Values(); !slices.Equal(got, []string{"ok", "ok"}) {
		t.Errorf("main output %v", got)
	}
	side := freshettest.SideOutput(h, overheated)
	if len(side) != 2 || side[0].Value != 120 || side[0].Timestamp != 1 || side[1].Value != 300 || side[1].Timestamp != 3 {
		t.Errorf("side output %v", side)
	}
	if err := h.Close(); err != nil || !fn.closed {
		t.Errorf("Close = %v, closed = %v", err, fn.closed)
	}
}

func TestKeyedRollingSumAndEndInput(t *testing.T) {
	type kv struct {
		K string
		V int
	}
	h, err := freshettest.New(func(in *freshet.Stream[kv]) *freshet.Stream[kv] {
		return freshet.Sum(freshet.KeyBy(in, func(e kv) string { return e.K }), freshet.FieldOf[kv, int]("V"))
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []kv{{"a", 1}, {"b", 10}, {"a", 2}, {"b", 5}} {
		if err := h.Process(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.EndInput(); err != nil {
		t.Fatal(err)
	}
	if got, want := h.Values(), []kv{{"a", 1}, {"b", 10}, {"a", 3}, {"b", 15}}; !slices.Equal(got, want) {
		t.Errorf("sums %v, want %v", got, want)
	}
	if got := h.Watermarks(); !slices.Equal(got, []int64{math.MaxInt64}) {
		t.Errorf("watermarks %v, want end of time", got)
	}
}

func TestCoMapTwoInputs(t *testing.T) {
	h, err := freshettest.New2(func(a *freshet.Stream[int], b *freshet.Stream[string]) *freshet.Stream[string] {
		return freshet.CoMap(freshet.Connect(a, b), func(i int) string { return strings.Repeat("*", i) }, strings.ToUpper)
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = h.Process1(2)
	_ = h.Process2At("x", 5)
	_ = h.Watermark1(10)
	_ = h.Watermark2(4) // the operator's watermark is the minimum: 4
	_ = h.Watermark2(20)
	var got []string
	for _, e := range h.Events() {
		got = append(got, e.String())
	}
	if want := []string{"**", "X@5", "Watermark(4)", "Watermark(10)"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestPanicBecomesError(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
		return freshet.Map(in, func(v int) int { return 10 / v }).Name("divider")
	})
	if err != nil {
		t.Fatal(err)
	}
	err = h.Process(0)
	var oe *freshet.OperatorError
	if !errors.As(err, &oe) || oe.Operator != "divider" || !strings.Contains(err.Error(), "divide by zero") {
		t.Fatalf("Process(0) = %v, want an operator error from divider", err)
	}
}

func TestBuildErrors(t *testing.T) {
	_, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] { return in })
	if err == nil {
		t.Error("no operator: want error")
	}
	_, err = freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] { return in.Union(in) })
	if err == nil {
		t.Error("union output: want error")
	}
	_, err = freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
		return freshet.Map(in, func(v int) int { return v })
	}, freshettest.WithSubtask(3, 2))
	if err == nil {
		t.Error("bad subtask: want error")
	}
}

func TestMetrics(t *testing.T) {
	h, err := freshettest.New(func(in *freshet.Stream[string]) *freshet.Stream[string] {
		return freshet.Process(in, freshet.ProcessFunc(func(ctx *freshet.Context, v string, out freshet.Collector[string]) error {
			ctx.Runtime().Metrics().Counter("bytes").Add(int64(len(v)))
			ctx.Runtime().Metrics().Gauge("lastLen").Set(float64(len(v)))
			out.Collect(v)
			return nil
		}))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, s := range []string{"hello", "go"} {
		if err := h.Process(s); err != nil {
			t.Fatal(err)
		}
	}
	want := []metric.Value{{Name: "bytes", Kind: metric.KindCounter, Value: 7}, {Name: "lastLen", Kind: metric.KindGauge, Value: 2}}
	if got := h.Metrics("Process"); !slices.Equal(got, want) {
		t.Errorf("Metrics(Process) = %+v, want %+v", got, want)
	}
}
