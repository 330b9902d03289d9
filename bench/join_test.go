package bench

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
)

// The interval join benchmark joins two streams of n/2 records each, both
// with the timestamps 0, 1, 2, … (ms) and keyed by value mod joinKeys, with
// the bounds [-joinSpan, -joinSpan]: left record i joins right record
// i-joinSpan, of the same key, so every left record from joinSpan on has
// exactly one partner. Right records stay buffered for joinSpan ms of event
// time, so each key holds joinSpan/joinKeys distinct timestamps at a time,
// inserted at one end and cleaned up at the other.
const (
	joinKeys = 1
	joinSpan = 100_000 // a multiple of joinKeys
)

var (
	joinKey  = func(v int64) int64 { return v % joinKeys }
	joinTime = func(v int64, _ int64) int64 { return v }
	joinFn   = func(l, r int64) int64 { return l - r }
)

// BenchmarkIntervalJoin measures an interval join with many distinct
// timestamps buffered per key.
func BenchmarkIntervalJoin(b *testing.B) {
	b.Run("freshet", func(b *testing.B) {
		half := max(int64(b.N)/2, 1) // a generator of count 0 would not end
		wantCount, wantSum := joinLoop(half)
		env := freshet.NewEnv(quiet, freshet.WithParallelism(1), freshet.WithAutoWatermarkInterval(watermarkEvery))
		strategy := watermark.ForMonotonousTimestamps[int64]().WithTimestampAssigner(joinTime)
		left := freshet.FromSourceWithWatermarks(env, source.Generator(genFn, source.GeneratorCount(half)), strategy, "left")
		right := freshet.FromSourceWithWatermarks(env, source.Generator(genFn, source.GeneratorCount(half)), strategy, "right")
		joined := freshet.IntervalJoinApply(freshet.IntervalJoin(freshet.KeyBy(left, joinKey), freshet.KeyBy(right, joinKey)).
			Between(-joinSpan*time.Millisecond, -joinSpan*time.Millisecond), joinFn)
		out := &discard{}
		freshet.SinkTo(joined, out, "discard")
		run(b, 2*int(half), func() error { return env.Execute(context.Background(), "interval join") })
		if out.count.Load() != wantCount || out.sum.Load() != wantSum {
			b.Fatalf("sink got count %d sum %d, want %d and %d", out.count.Load(), out.sum.Load(), wantCount, wantSum)
		}
	})
	b.Run("loop", func(b *testing.B) {
		half := max(int64(b.N)/2, 1)
		var count, sum int64
		run(b, 2*int(half), func() error {
			count, sum = joinLoop(half)
			return nil
		})
		if wantCount, wantSum := joinLoop(half); count != wantCount || sum != wantSum {
			b.Fatal("loop is not deterministic")
		}
	})
}

// joinBuf is one side's buffer of one key: timestamps in order (they
// arrive in order) with their values, from head on.
type joinBuf struct {
	ts, vs []int64
	head   int
}

func (j *joinBuf) add(ts, v int64) {
	if j.head > len(j.ts)/2 && j.head > 1024 { // compact
		j.ts = append(j.ts[:0], j.ts[j.head:]...)
		j.vs = append(j.vs[:0], j.vs[j.head:]...)
		j.head = 0
	}
	j.ts, j.vs = append(j.ts, ts), append(j.vs, v)
}

// between calls fn for the values with timestamps in [lo, hi].
func (j *joinBuf) between(lo, hi int64, fn func(v int64)) {
	ts := j.ts[j.head:]
	for i := sort.Search(len(ts), func(i int) bool { return ts[i] >= lo }); i < len(ts) && ts[i] <= hi; i++ {
		fn(j.vs[j.head+i])
	}
}

// dropUpTo removes the values with timestamps at or before t.
func (j *joinBuf) dropUpTo(t int64) {
	for j.head < len(j.ts) && j.ts[j.head] <= t {
		j.head++
	}
}

// joinLoop is the interval join of the benchmark written by hand: records
// i of the left and right stream in turn, each joined with the other
// side's buffer, buffered, and dropped once the watermark (i - 1) passes
// the last time a partner could come.
func joinLoop(n int64) (count, sum int64) {
	var left, right [joinKeys]joinBuf
	for i := int64(0); i < n; i++ {
		v := genFn(i)
		ts := joinTime(v, 0)
		k := joinKey(v)
		// Left i joins right records with ts in [ts-joinSpan, ts-joinSpan];
		// it is kept until the watermark passes ts-joinSpan, i.e. not at all
		// once the watermark is ts-1.
		right[k].between(ts-joinSpan, ts-joinSpan, func(r int64) { count++; sum += joinFn(v, r) })
		left[k].add(ts, v)
		// Right i joins left records with ts in [ts+joinSpan, ts+joinSpan]
		// (none yet) and is kept until the watermark passes ts+joinSpan.
		left[k].between(ts+joinSpan, ts+joinSpan, func(l int64) { count++; sum += joinFn(l, v) })
		right[k].add(ts, v)
		wm := ts - 1
		for k := range joinKeys {
			left[k].dropUpTo(wm)
			right[k].dropUpTo(wm - joinSpan)
		}
	}
	return count, sum
}
