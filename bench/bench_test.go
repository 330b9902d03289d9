package bench

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
)

// The user functions of the benchmarks. Both sub-benchmarks of a comparison
// call them through these variables, so neither gets them inlined.
var (
	genFn    = func(i int64) int64 { return i } // the generator source's
	mapFn    = func(v int64) int64 { return v*3 + 1 }
	filterFn = func(v int64) bool { return v&3 != 0 }
	keyFn    = func(v int64) int64 { return v % 1000 }
)

// quiet keeps each benchmark job's lifecycle logs (one job per run) out of
// the figures; warnings and errors still show.
var quiet = freshet.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))

// BenchmarkChainedPipeline measures a chain run by one subtask:
// source → Map → Filter → sink at parallelism 1.
func BenchmarkChainedPipeline(b *testing.B) {
	b.Run("freshet", func(b *testing.B) {
		out := &discard{}
		env := freshet.NewEnv(quiet, freshet.WithParallelism(1), freshet.WithBatchSize(256))
		s := freshet.FromSource(env, source.Generator(genFn, source.GeneratorCount(int64(b.N))), "Generator")
		s = freshet.Map(s, mapFn).Filter(filterFn)
		freshet.SinkTo(s, out, "Discard")
		run(b, b.N, func() error { return env.Execute(context.Background(), "chained") })
		wantCount, wantSum := chainedLoop(int64(b.N))
		if out.count.Load() != wantCount || out.sum.Load() != wantSum {
			b.Fatalf("sink got count %d sum %d, want %d and %d", out.count.Load(), out.sum.Load(), wantCount, wantSum)
		}
	})
	b.Run("loop", func(b *testing.B) {
		var count, sum int64
		run(b, b.N, func() error {
			count, sum = chainedLoop(int64(b.N))
			return nil
		})
		if wantCount, wantSum := chainedLoop(int64(b.N)); count != wantCount || sum != wantSum {
			b.Fatal("loop is not deterministic")
		}
	})
}

func chainedLoop(n int64) (count, sum int64) {
	for i := int64(0); i < n; i++ {
		m := mapFn(genFn(i))
		if filterFn(m) {
			count++
			sum += m
		}
	}
	return count, sum
}

// BenchmarkKeyedExchange measures records crossing the exchange between
// subtasks: source → KeyBy(v % 1000) → rolling Sum → sink at parallelism 2,
// so every record is partitioned by key group, batched, queued to another
// subtask and summed there.
func BenchmarkKeyedExchange(b *testing.B) {
	b.Run("freshet", func(b *testing.B) {
		out := &discard{}
		env := freshet.NewEnv(quiet, freshet.WithParallelism(2), freshet.WithBatchSize(256))
		s := freshet.FromSource(env, source.Generator(genFn, source.GeneratorCount(int64(b.N))), "Generator")
		sums := freshet.Sum(freshet.KeyBy(s, keyFn), freshet.Self[int64]())
		freshet.SinkTo(sums, out, "Discard")
		run(b, b.N, func() error { return env.Execute(context.Background(), "keyed") })
		if got := out.count.Load(); got != int64(b.N) {
			b.Fatalf("sink got %d records, want %d", got, b.N)
		}
	})
	b.Run("loop", func(b *testing.B) {
		var count int64
		run(b, b.N, func() error {
			count, _ = keyedLoop(int64(b.N))
			return nil
		})
		if count != int64(b.N) {
			b.Fatalf("loop counted %d, want %d", count, b.N)
		}
	})
}

// keyedLoop is the rolling sum per key of 0..n-1, emitting (here: counting
// and summing) the running sum after every value, as the job's sink sees it.
func keyedLoop(n int64) (count, sum int64) {
	state := map[int64]int64{}
	for i := int64(0); i < n; i++ {
		v := genFn(i)
		k := keyFn(v)
		acc, ok := state[k]
		if ok {
			acc += v
		} else {
			acc = v
		}
		state[k] = acc
		count++
		sum += acc
	}
	return count, sum
}
