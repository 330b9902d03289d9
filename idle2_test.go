package freshet_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

// neverSource is an unbounded source whose only reader never emits.
type neverSource struct{}

func (neverSource) Boundedness() source.Boundedness { return source.Unbounded }
func (neverSource) CreateEnumerator(ctx source.EnumeratorContext[hsSplit]) (source.Enumerator[hsSplit], error) {
	return source.NewStatic(ctx, []hsSplit{{1}}), nil // hsReader never emits for split 1
}
func (neverSource) CreateReader(source.ReaderContext) (source.Reader[int64, hsSplit], error) {
	return &hsReader{}, nil
}

// TestIdleSecondInputDoesNotHoldBackTwoInputOperator: as in Flink since
// 1.14, an idle input of a two-input operator is left out of its watermark.
// The first input keeps producing (so it never idles); the second never
// emits and is marked idle; the join's windows must still fire.
func TestIdleSecondInputDoesNotHoldBackTwoInputOperator(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(1), freshet.WithAutoWatermarkInterval(10*ms))
	strategy := watermark.ForMonotonousTimestamps[int64]().WithIdleness(50 * ms).
		WithTimestampAssigner(func(v int64, _ int64) int64 { return v })
	left := freshet.FromSourceWithWatermarks(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorRate(20000)), strategy, "left")
	right := freshet.FromSourceWithWatermarks[int64, hsSplit](env, neverSource{}, strategy, "right")
	key := func(int64) int { return 0 }
	cw := freshet.CoWindow(freshet.KeyBy(left, key), freshet.KeyBy(right, key), window.TumblingEventTime[freshet.Either[int64, int64]](100*ms, 0))
	got := freshet.Collect(freshet.WindowCoGroup(cw, func(l, r []int64, out freshet.Collector[int]) error {
		out.Collect(len(l))
		return nil
	}))
	client, err := env.ExecuteAsync(context.Background(), "idle two-input")
	if err != nil {
		t.Fatal(err)
	}
	for d := time.Now().Add(10 * time.Second); got.Len() < 3 && time.Now().Before(d); {
		time.Sleep(5 * time.Millisecond)
	}
	client.Cancel()
	_ = client.Wait()
	if got.Len() < 3 {
		t.Fatalf("only %d windows fired; the idle second input holds the join's watermark back", got.Len())
	}
	for _, n := range got.Values()[:3] {
		if n != 100 {
			t.Fatalf("window counts %v, want 100 each", got.Values())
		}
	}
}

func TestHarness2InputIdleness(t *testing.T) {
	h, err := freshettest.New2(func(a *freshet.Stream[int], b *freshet.Stream[string]) *freshet.Stream[string] {
		return freshet.CoMap(freshet.Connect(a, b), func(int) string { return "" }, func(s string) string { return s })
	})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.Watermark1(10))
	must(h.MarkIdle2()) // input 2 no longer holds event time back: 10
	must(h.Watermark1(20))
	must(h.MarkActive2()) // active again and behind: holds back, but nothing goes back
	must(h.Watermark2(30))
	must(h.Watermark1(40))
	if got := h.Watermarks(); !slices.Equal(got, []int64{10, 20, 30}) {
		t.Fatalf("watermarks %v, want [10 20 30]", got)
	}
}

// TestHarness2BothInputsIdle: once both inputs are idle the operator's
// watermark is the higher input watermark, whichever input went idle last
// (as in Flink since FLINK-38454).
func TestHarness2BothInputsIdle(t *testing.T) {
	tests := []struct {
		name  string
		first int // the input that goes idle first
		want  []int64
	}{
		{"ahead input idles first", 2, []int64{10, 30}},  // nothing until both are idle
		{"behind input idles first", 1, []int64{10, 30}}, // 30 as soon as input 1 idles
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := freshettest.New2(func(a *freshet.Stream[int], b *freshet.Stream[string]) *freshet.Stream[string] {
				return freshet.CoMap(freshet.Connect(a, b), func(int) string { return "" }, func(s string) string { return s })
			})
			if err != nil {
				t.Fatal(err)
			}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			idle := map[int]func() error{1: h.MarkIdle1, 2: h.MarkIdle2}
			must(h.Watermark1(10))
			must(h.Watermark2(30))
			must(idle[tc.first]())
			must(idle[3-tc.first]())
			must(h.MarkIdle1()) // already idle: nothing more
			if got := h.Watermarks(); !slices.Equal(got, tc.want) {
				t.Fatalf("watermarks %v, want %v", got, tc.want)
			}
		})
	}
}

func (s neverSource) RestoreEnumerator(ctx source.EnumeratorContext[hsSplit], _ []hsSplit) (source.Enumerator[hsSplit], error) {
	return s.CreateEnumerator(ctx)
}
