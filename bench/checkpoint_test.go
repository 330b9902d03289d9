package bench

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/state"
)

// The checkpoint benchmarks do not follow the package's one-record-per-op
// convention: what they measure needs a run of seconds (several
// checkpoints at a 1 s interval; state of a million keys), which
// -benchtime would not guarantee. One op of BenchmarkCheckpointOverhead
// is one job run over a fixed number of records, one op of
// BenchmarkCheckpointDuration one job run that measures a fixed number of
// checkpoints; both report their figures per record or per checkpoint as
// custom metrics.

const (
	// overheadKeys is the number of keys of BenchmarkCheckpointOverhead.
	overheadKeys = 100_000
	// overheadRecords is the record count of a BenchmarkCheckpointOverhead
	// run, sized so that a run lasts more than 3 s on an idle two-core
	// machine (about 9 million records/s; a busy one takes longer) and
	// checkpoint-1s completes several checkpoints during it.
	overheadRecords = 30_000_000

	// durationKeys is the number of keys BenchmarkCheckpointDuration holds
	// state for, and durationCheckpoints the checkpoints a run measures.
	durationKeys        = 1_000_000
	durationCheckpoints = 5
)

var overheadKey = func(v int64) int64 { return v % overheadKeys }

// countState is the per-key count of the checkpoint benchmarks.
var countState = state.NewValue[int64]("count")

// countPerKey counts the records of each key in value state and emits the
// key's count after each record.
func countPerKey(ctx *freshet.KeyedContext[int64], _ int64, out freshet.Collector[int64]) error {
	c := state.Value(ctx.State(), countState)
	n, _ := c.Value()
	n++
	c.Update(n)
	out.Collect(n)
	return nil
}

// BenchmarkCheckpointOverhead measures what checkpointing costs a keyed,
// stateful job: the generator source → KeyBy(v % 100,000) → a KeyedProcess
// function keeping a count per key in value state (emitting it) → a
// discarding sink, at parallelism 2, over 30 million records per run;
//
//   - none: without checkpoints;
//   - checkpoint-1s: with a checkpoint every second to a local directory
//     (WithCheckpointing(time.Second, CheckpointStorage(dir))).
//
// Both report records/s and cpu-ns/record (as in the package's other
// benchmarks, but per record of a run, one op being a run), and
// checkpoint-1s the number of checkpoints completed per run; it fails if
// none did. The goal is checkpoint-1s within 10% of none in records/s.
// Each run checks the sink's count and sum of the emitted counts, so state
// is exactly as without checkpoints.
func BenchmarkCheckpointOverhead(b *testing.B) {
	cases := []struct {
		name string
		ck   bool
	}{
		{"none", false},
		{"checkpoint-1s", true},
	}
	wantCount, wantSum := countsLoop(overheadRecords, overheadKeys)
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var elapsed, cpu time.Duration
			completed := 0
			for range b.N {
				opts := []freshet.Option{quiet, freshet.WithParallelism(2)}
				if tc.ck {
					opts = append(opts, freshet.WithCheckpointing(time.Second, freshet.CheckpointStorage(b.TempDir())))
				}
				env := freshet.NewEnv(opts...)
				s := freshet.FromSource(env, source.Generator(genFn, source.GeneratorCount(overheadRecords)), "Generator")
				counts := freshet.KeyedProcess(freshet.KeyBy(s, overheadKey), freshet.KeyedProcessFunc(countPerKey))
				out := &discard{}
				freshet.SinkTo(counts, out, "Discard")

				b.StopTimer()
				runtime.GC()
				b.StartTimer()
				cpu0, start := cpuTime(), time.Now()
				jc, err := env.ExecuteAsync(context.Background(), "checkpoint overhead")
				if err != nil {
					b.Fatal(err)
				}
				err = jc.Wait()
				elapsed += time.Since(start)
				cpu += cpuTime() - cpu0
				if err != nil {
					b.Fatal(err)
				}
				if out.count.Load() != wantCount || out.sum.Load() != wantSum {
					b.Fatalf("sink got count %d sum %d, want %d and %d", out.count.Load(), out.sum.Load(), wantCount, wantSum)
				}
				n := 0
				for _, c := range jc.Checkpoints() {
					if c.Status == freshet.CheckpointCompleted {
						n++
					}
				}
				if tc.ck && n == 0 {
					b.Fatalf("no checkpoint completed in a run of %s: %+v", time.Since(start).Round(time.Millisecond), jc.Checkpoints())
				}
				completed += n
			}
			records := float64(overheadRecords) * float64(b.N)
			b.ReportMetric(records/elapsed.Seconds(), "records/s")
			if cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/records, "cpu-ns/record")
			}
			b.ReportMetric(float64(completed)/float64(b.N), "checkpoints")
		})
	}
}

// countsLoop is what the counting job's sink receives from n records over
// keys keys: the number of records and the sum of the running counts.
func countsLoop(n, keys int64) (count, sum int64) {
	for k := range keys {
		c := n / keys
		if k < n%keys {
			c++
		}
		sum += c * (c + 1) / 2
	}
	return n, sum
}

// BenchmarkCheckpointDuration measures checkpoints of a large keyed state
// on the heap backend: the generator source, unbounded and rate-limited,
// → KeyBy(v % 1,000,000) → the counting KeyedProcess function at
// parallelism 2, checkpointing to a local directory every 100 ms. Once
// every one of the million keys has a count in state, the run waits for
// 5 more checkpoints to complete (triggered after that point, so each
// holds all the keys) and cancels the job. It reports their mean duration
// from trigger to completion, ms/checkpoint, and their mean size,
// bytes/checkpoint, as JobClient.Checkpoints gives them. The source's rate
// keeps the job below its capacity, so the duration is that of taking and
// writing the snapshots rather than of barriers queuing behind a backlog.
// No goal is set yet: it is the baseline for the snapshot path.
func BenchmarkCheckpointDuration(b *testing.B) {
	checkpointDuration(b, genFn, durationKeys, durationRate, durationCheckpoints, 0)
}

// checkpointDuration runs the job of BenchmarkCheckpointDuration over the
// records gen makes, counted by keys keys (v % keys), at rate records/s
// with opts, measuring measure checkpoints triggered from settle after
// every key is in state.
func checkpointDuration(b *testing.B, gen func(int64) int64, keys int64, rate float64, measure int, settle time.Duration, opts ...freshet.Option) {
	b.ReportAllocs()
	var total time.Duration
	var bytes int64
	for range b.N {
		// full is when the last of the keys got its first count, in
		// Unix nanoseconds; 0 until then.
		var seen, full atomic.Int64
		count := func(ctx *freshet.KeyedContext[int64], _ int64, _ freshet.Collector[int64]) error {
			c := state.Value(ctx.State(), countState)
			n, ok := c.Value()
			if !ok && seen.Add(1) == keys {
				full.Store(time.Now().Add(settle).UnixNano())
			}
			c.Update(n + 1)
			return nil
		}
		env := freshet.NewEnv(append([]freshet.Option{quiet, freshet.WithParallelism(2),
			freshet.WithCheckpointing(100*time.Millisecond, freshet.CheckpointStorage(b.TempDir()))}, opts...)...)
		s := freshet.FromSource(env, source.Generator(gen, source.GeneratorRate(rate)), "Generator")
		counts := freshet.KeyedProcess(freshet.KeyBy(s, func(v int64) int64 { return v % keys }), freshet.KeyedProcessFunc(count))
		freshet.SinkTo(counts, &discard{}, "Discard")

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		jc, err := env.ExecuteAsync(ctx, "checkpoint duration")
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		measured := awaitCheckpoints(b, jc, &full, measure)
		jc.Cancel()
		err = jc.Wait()
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range measured {
			total += c.Duration
			bytes += c.Size
		}
	}
	n := float64(b.N * measure)
	b.ReportMetric(float64(total.Nanoseconds())/1e6/n, "ms/checkpoint")
	b.ReportMetric(float64(bytes)/n, "bytes/checkpoint")
}

// BenchmarkIncrementalCheckpoint measures what incremental checkpoints
// save on the Pebble backend: the job of BenchmarkCheckpointDuration whose
// generator first counts each of 1 million keys once, then only every
// hundredth key (1% of them), over and over, at 250,000 records/s with a
// checkpoint every 100 ms; 10 checkpoints triggered from 3 s after every
// key is in state are measured (the first ones after loading the state
// carry the database's compactions of the load):
//
//   - full: PebbleBackend's canonical checkpoints, the whole state each time;
//   - incremental: PebbleIncremental(true), the database files new since
//     the checkpoint before.
//
// Both report bytes/checkpoint (the bytes each checkpoint wrote, as
// JobClient.Checkpoints gives them) and ms/checkpoint. The goal is
// incremental under 10% of full in bytes/checkpoint.
func BenchmarkIncrementalCheckpoint(b *testing.B) {
	const (
		keys    = 1_000_000
		hot     = keys / 100
		rate    = 250_000
		measure = 10
	)
	gen := func(i int64) int64 {
		if i < keys {
			return i
		}
		return (i - keys) % hot * (keys / hot)
	}
	for _, tc := range []struct {
		name string
		opts []freshet.PebbleOption
	}{
		{"full", nil},
		{"incremental", []freshet.PebbleOption{freshet.PebbleIncremental(true)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			backend := freshet.PebbleBackend(append([]freshet.PebbleOption{freshet.PebbleDir(b.TempDir())}, tc.opts...)...)
			checkpointDuration(b, gen, keys, rate, measure, 3*time.Second, freshet.WithStateBackend(backend))
		})
	}
}

// durationRate is the source's rate in BenchmarkCheckpointDuration: the
// million keys are in state after a second, and the job keeps up with it
// on two cores.
const durationRate = 1_000_000

// awaitCheckpoints polls jc until want checkpoints triggered after *full
// (once it is set) have completed and returns them; it cancels the job and
// fails b if the job ends first or a checkpoint fails.
func awaitCheckpoints(b *testing.B, jc *freshet.JobClient, full *atomic.Int64, want int) []freshet.CheckpointStats {
	b.Helper()
	fatalf := func(format string, args ...any) {
		b.Helper()
		jc.Cancel()
		<-jc.Done()
		b.Fatalf(format, args...)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-jc.Done():
			fatalf("the job ended before %d checkpoints of the full state completed: %v", want, jc.Err())
		case <-tick.C:
		}
		f := full.Load()
		if f == 0 {
			continue
		}
		var got []freshet.CheckpointStats
		for _, c := range jc.Checkpoints() {
			if c.Trigger.UnixNano() <= f {
				continue
			}
			switch c.Status {
			case freshet.CheckpointFailed:
				fatalf("checkpoint %d failed: %v", c.ID, c.Failure)
			case freshet.CheckpointCompleted:
				got = append(got, c)
			}
		}
		if len(got) >= want {
			return got[:want]
		}
	}
}
