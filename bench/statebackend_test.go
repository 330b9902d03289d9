package bench

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
)

const (
	// backendKeys is the number of keys of BenchmarkStateBackend.
	backendKeys = 1_000_000
)

// backendRecords is the record count of a BenchmarkStateBackend run: each
// key is counted three times, so most accesses read state written before.
// FRESHET_BENCH_RECORDS overrides it.
func backendRecords() int64 {
	if s := os.Getenv("FRESHET_BENCH_RECORDS"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 3 * backendKeys
}

var backendKey = func(v int64) int64 { return v % backendKeys }

// BenchmarkStateBackend measures keyed counting on each state backend:
// the generator source → KeyBy(v % 1,000,000) → the counting KeyedProcess
// function (a count per key in value state, emitted after each record) →
// a discarding sink, at parallelism 2, over 3 million records per run
// (one op being a run), without checkpoints;
//
//   - heap: HeapBackend();
//   - pebble: PebbleBackend with its defaults (64 MB entry cache, 64 MB
//     block cache, 4 MB memtables) in the benchmark's temporary
//     directory: each subtask's 500,000 counts fit in its entry cache;
//   - pebble-uncached: the same without the entry cache
//     (PebbleEntryCacheSize(0)), as for state much larger than the
//     cache: every access reads and writes the database.
//
// Both report records/s and cpu-ns/record. The goal is pebble within 4×
// of heap in records/s. Each run checks the sink's count and sum of the
// emitted counts.
func BenchmarkStateBackend(b *testing.B) {
	records := backendRecords()
	wantCount, wantSum := countsLoop(records, backendKeys)
	cases := []struct {
		name    string
		backend func(b *testing.B) freshet.StateBackend
	}{
		{"heap", func(*testing.B) freshet.StateBackend { return freshet.HeapBackend() }},
		{"pebble", func(b *testing.B) freshet.StateBackend {
			return freshet.PebbleBackend(freshet.PebbleDir(b.TempDir()))
		}},
		{"pebble-uncached", func(b *testing.B) freshet.StateBackend {
			return freshet.PebbleBackend(freshet.PebbleDir(b.TempDir()), freshet.PebbleEntryCacheSize(0))
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var elapsed, cpu time.Duration
			for range b.N {
				env := freshet.NewEnv(quiet, freshet.WithParallelism(2), freshet.WithStateBackend(tc.backend(b)))
				s := freshet.FromSource(env, source.Generator(genFn, source.GeneratorCount(records)), "Generator")
				counts := freshet.KeyedProcess(freshet.KeyBy(s, backendKey), freshet.KeyedProcessFunc(countPerKey))
				out := &discard{}
				freshet.SinkTo(counts, out, "Discard")

				b.StopTimer()
				runtime.GC()
				b.StartTimer()
				cpu0, start := cpuTime(), time.Now()
				if err := env.Execute(context.Background(), "state backend "+tc.name); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				cpu += cpuTime() - cpu0
				if out.count.Load() != wantCount || out.sum.Load() != wantSum {
					b.Fatalf("sink got count %d sum %d, want %d and %d", out.count.Load(), out.sum.Load(), wantCount, wantSum)
				}
			}
			n := float64(records) * float64(b.N)
			b.ReportMetric(n/elapsed.Seconds(), "records/s")
			if cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/record")
			}
		})
	}
}
