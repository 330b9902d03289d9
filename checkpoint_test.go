package freshet_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/state"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

// keyCount is a key's final count, read from state at the end of input.
type keyCount struct{ Key, Count int }

var keyCountState = state.NewValue[int]("count")

var errInjected = errors.New("injected failure")

// failer fails the job's user code at a random record of each of its
// first attempts: after threshold records processed in that attempt.
type failer struct {
	attempts int
	mu       sync.Mutex
	seen     map[int]*atomic.Int64
	limits   map[int]int64
	rng      *rand.Rand
	lo, hi   int64
	failed   atomic.Int32
	// armed, when set, holds failures back until it is true, in the
	// attempts from armFrom on.
	armed   *atomic.Bool
	armFrom int
	fired   map[int]bool // attempts that failed
}

func newFailer(attempts int, lo, hi int64, seed uint64) *failer {
	return &failer{attempts: attempts, seen: map[int]*atomic.Int64{}, limits: map[int]int64{}, rng: rand.New(rand.NewPCG(seed, seed)), lo: lo, hi: hi}
}

// armAfterCheckpoints lets f fail the job only once a checkpoint has
// completed in the attempt, until the job ends.
func (f *failer) armAfterCheckpoints(jc *freshet.JobClient) {
	last := int64(0)
	for {
		select {
		case <-jc.Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
		if c, ok := jc.LatestCheckpoint(); ok && c.ID > last {
			last = c.ID
			f.armed.Store(true)
		}
		if int(f.failed.Load()) > jc.Restarts() {
			f.armed.Store(false) // until the next attempt checkpoints
		}
	}
}

// processed is the number of records attempt processed.
func (f *failer) processed(attempt int) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.seen[attempt]; ok {
		return c.Load()
	}
	return 0
}

func (f *failer) check(attempt int) error {
	f.mu.Lock()
	c, ok := f.seen[attempt]
	if !ok {
		c = new(atomic.Int64)
		f.seen[attempt] = c
		f.limits[attempt] = f.lo + f.rng.Int64N(f.hi-f.lo)
	}
	limit := f.limits[attempt]
	f.mu.Unlock()
	if n := c.Add(1); n >= limit && attempt < f.attempts && (f.armed == nil || attempt < f.armFrom || f.armed.Load()) {
		// One failure per attempt, however many subtasks get here.
		f.mu.Lock()
		fired := f.fired[attempt]
		if f.fired == nil {
			f.fired = map[int]bool{}
		}
		f.fired[attempt] = true
		f.mu.Unlock()
		if fired {
			return nil
		}
		f.failed.Add(1)
		return fmt.Errorf("attempt %d: %w", attempt, errInjected)
	}
	return nil
}

// collectSink keeps everything written to it, from every attempt.
type collectSink[T any] struct {
	mu   sync.Mutex
	vals map[int][]T // by attempt
	// delay slows every write down (backpressure).
	delay time.Duration
}

func (c *collectSink[T]) CreateWriter(ctx sink.InitContext) (sink.Writer[T], error) {
	return &collectWriter[T]{c: c, attempt: ctx.Attempt()}, nil
}

func (c *collectSink[T]) last() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	best := -1
	for a := range c.vals {
		best = max(best, a)
	}
	return c.vals[best]
}

type collectWriter[T any] struct {
	c       *collectSink[T]
	attempt int
}

func (w *collectWriter[T]) Write(v T, _ sink.Context) error {
	if w.c.delay > 0 {
		time.Sleep(w.c.delay)
	}
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	if w.c.vals == nil {
		w.c.vals = map[int][]T{}
	}
	w.c.vals[w.attempt] = append(w.c.vals[w.attempt], v)
	return nil
}
func (w *collectWriter[T]) Flush(bool) error { return nil }
func (w *collectWriter[T]) Close() error     { return nil }

// countingJob counts records per key over a replayable generator of n
// records, failing at random records in its first attempts, and emits
// each key's count from state when input ends.
func countingJob(t *testing.T, p int, n int64, keys int, rate float64, f *failer, out *collectSink[keyCount], opts ...freshet.Option) *freshet.Env {
	t.Helper()
	return countingJobOf(t, p, keys, 0, f, out, func(env *freshet.Env) *freshet.Stream[int64] {
		src := source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n), source.GeneratorRate(rate))
		return freshet.FromSource(env, src, "numbers")
	}, opts...)
}

// countingJobOf is countingJob over the records input makes, spending work
// on each record.
func countingJobOf(t *testing.T, p, keys int, work time.Duration, f *failer, out *collectSink[keyCount], input func(*freshet.Env) *freshet.Stream[int64], opts ...freshet.Option) *freshet.Env {
	t.Helper()
	opts = append([]freshet.Option{
		freshet.WithParallelism(p),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(50, 10*time.Millisecond)),
		freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}, opts...)
	env := freshet.NewEnv(opts...)
	nums := input(env)
	counts := freshet.KeyedProcess(freshet.KeyBy(nums, func(v int64) int { return int(v % int64(keys)) }),
		freshet.KeyedProcessFuncWithTimers(
			func(ctx *freshet.KeyedContext[int], v int64, _ freshet.Collector[keyCount]) error {
				if err := f.check(ctx.Runtime().Attempt()); err != nil {
					return err
				}
				if work > 0 {
					spin(work)
				}
				c := state.Value(ctx.State(), keyCountState)
				k, _ := c.Value()
				if k == 0 {
					// Fires when input ends: the count read from state.
					ctx.TimerService().RegisterEventTimeTimer(math.MaxInt64)
				}
				c.Update(k + 1)
				return nil
			},
			func(ctx *freshet.KeyedContext[int], _ int64, out freshet.Collector[keyCount]) error {
				k, _ := state.Value(ctx.State(), keyCountState).Value()
				out.Collect(keyCount{Key: ctx.CurrentKey(), Count: k})
				return nil
			})).UID("counter")
	freshet.SinkTo(counts, out, "counts")
	return env
}

// finalCounts is each key's count from the last attempt that emitted it: a
// counter subtask that finished (emitting its keys' counts) before the
// checkpoint a later attempt restores from emits nothing again.
func finalCounts(c *collectSink[keyCount]) []keyCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	latest := map[int]int{}     // key → attempt
	byKey := map[int]keyCount{} // key → count
	for a, vals := range c.vals {
		for _, kc := range vals {
			if prev, ok := latest[kc.Key]; !ok || a > prev {
				latest[kc.Key], byKey[kc.Key] = a, kc
			}
		}
	}
	out := make([]keyCount, 0, len(byKey))
	for _, kc := range byKey {
		out = append(out, kc)
	}
	return sortedCounts(out)
}

func sortedCounts(kcs []keyCount) []keyCount {
	sort.Slice(kcs, func(i, j int) bool { return kcs[i].Key < kcs[j].Key })
	return kcs
}

// TestExactlyOnceUnderFailures runs the counting job with checkpoints and
// injected failures: the final counts equal a failure-free run's exactly
// (aligned and unaligned), or are never lower (at-least-once).
func TestExactlyOnceUnderFailures(t *testing.T) {
	const (
		n    = 30000
		keys = 100
	)
	cases := []struct {
		name  string
		p     int
		opts  []freshet.CheckpointOption
		exact bool
	}{
		{"aligned", 2, nil, true},
		{"unaligned", 3, []freshet.CheckpointOption{freshet.UnalignedCheckpoints()}, true},
		{"aligned-timeout", 2, []freshet.CheckpointOption{freshet.AlignedCheckpointTimeout(time.Millisecond)}, true},
		{"at-least-once", 4, []freshet.CheckpointOption{freshet.CheckpointMode(freshet.AtLeastOnce)}, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The first four failures come at a random record of their
			// attempts, however slow checkpoints are; the last only
			// once a checkpoint completed in its attempt, so the last
			// attempt restores from a checkpoint. Four attempts use at
			// most half the input, so the fifth has records to fail at.
			f := newFailer(5, n/12, n/8, uint64(i+1))
			f.armed, f.armFrom = new(atomic.Bool), 4
			out := &collectSink[keyCount]{}
			ckOpts := append([]freshet.CheckpointOption{freshet.CheckpointStorage(t.TempDir())}, tc.opts...)
			env := countingJob(t, tc.p, n, keys, 20000, f, out, freshet.WithCheckpointing(100*time.Millisecond, ckOpts...))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			jc, err := env.ExecuteAsync(ctx, "counting-"+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			f.armAfterCheckpoints(jc)
			if err := jc.Wait(); err != nil {
				t.Fatalf("job failed: %v", err)
			}
			if got := jc.Restarts(); got < 5 || f.failed.Load() < 5 {
				t.Fatalf("restarted %d times after %d injected failures, want at least 5", got, f.failed.Load())
			}
			completed := 0
			for _, c := range jc.Checkpoints() {
				if c.Status == freshet.CheckpointCompleted {
					completed++
				}
			}
			if completed == 0 {
				t.Fatalf("no checkpoint completed: %+v", jc.Checkpoints())
			}
			// The last attempt resumed from a checkpoint rather than
			// from the start.
			if last := f.processed(jc.Restarts()); last >= n {
				t.Fatalf("the last attempt processed %d records, want fewer than %d (a restore)", last, n)
			}
			got := finalCounts(out)
			if len(got) != keys {
				t.Fatalf("got counts of %d keys, want %d: %v", len(got), keys, got)
			}
			for k, kc := range got {
				want := keyCount{Key: k, Count: n / keys}
				if kc == want {
					continue
				}
				if tc.exact || kc.Key != k || kc.Count < want.Count {
					t.Fatalf("key %d: got %+v, want %+v (restarts %d, checkpoints %d completed)", k, kc, want, jc.Restarts(), completed)
				}
			}
			t.Logf("%d restarts, %d checkpoints completed", jc.Restarts(), completed)
		})
	}
}

// pressureJob is the counting job with a slow counter: the source fills
// every queue at once, so the counter works under backpressure for the
// whole run.
func pressureJob(t *testing.T, p int, n int64, keys int, f *failer, out *collectSink[keyCount], opts ...freshet.Option) *freshet.Env {
	t.Helper()
	opts = append([]freshet.Option{freshet.WithRestartStrategy(freshet.FixedDelayRestart(5, 10*time.Millisecond))}, opts...)
	return countingJobOf(t, p, keys, 20*time.Microsecond, f, out, func(env *freshet.Env) *freshet.Stream[int64] {
		return freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n)), "numbers")
	}, opts...)
}

// spin waits d without sleeping, as a slow computation would.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

// TestCheckpointsUnderBackpressure runs a job whose counter cannot keep up
// with its source. Unaligned checkpoints complete while the queues are
// full, storing the records they overtook, and a restore from them replays
// those records: the counts are exact. Aligned checkpoints complete too,
// once the queued records ahead of their barriers are processed.
func TestCheckpointsUnderBackpressure(t *testing.T) {
	const (
		n    = 60000
		keys = 50
	)
	for _, tc := range []struct {
		name      string
		opts      []freshet.CheckpointOption
		unaligned bool
		env       []freshet.Option
	}{
		{"unaligned", []freshet.CheckpointOption{freshet.UnalignedCheckpoints()}, true, nil},
		{"aligned", nil, false, nil},
		// Half the channels cross a TCP connection between two
		// TaskManagers: the barriers overtake the network's buffers too.
		{"unaligned-network", []freshet.CheckpointOption{freshet.UnalignedCheckpoints()}, true,
			[]freshet.Option{freshet.WithTaskManagers(2), freshet.WithNetworkDataPlane()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// Fail once, in the first attempt, after a checkpoint has
			// completed under backpressure.
			f := newFailer(1, n/3, n/3+1, 1)
			f.armed = new(atomic.Bool)
			out := &collectSink[keyCount]{}
			ckOpts := append([]freshet.CheckpointOption{freshet.CheckpointStorage(dir),
				freshet.RetainedCheckpoints(1000), freshet.ExternalizedCheckpoints(freshet.RetainOnCancellation)}, tc.opts...)
			env := pressureJob(t, 2, n, keys, f, out, append(tc.env, freshet.WithCheckpointing(100*time.Millisecond, ckOpts...))...)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			jc, err := env.ExecuteAsync(ctx, "pressure-"+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			// Look into each checkpoint while the job runs (it deletes
			// them when it finishes) for records stored in flight.
			seen := map[int64]bool{}
			completed, withChannels := 0, 0
			inspect := func() {
				for _, c := range jc.Checkpoints() {
					if c.Status != freshet.CheckpointCompleted || seen[c.ID] {
						continue
					}
					entries, err := os.ReadDir(c.Path)
					if err != nil {
						continue // the job ended and deleted it
					}
					seen[c.ID] = true
					completed++
					f.armed.Store(true)
					for _, e := range entries {
						if strings.HasPrefix(e.Name(), "channels") {
							withChannels++
							break
						}
					}
				}
			}
			for done := false; !done; {
				select {
				case <-jc.Done():
					done = true
				case <-time.After(10 * time.Millisecond):
					inspect()
				}
			}
			if err := jc.Wait(); err != nil {
				t.Fatalf("job failed: %v", err)
			}
			if jc.Restarts() != 1 {
				t.Fatalf("restarted %d times, want 1", jc.Restarts())
			}
			if last := f.processed(1); last >= n {
				t.Fatalf("the second attempt processed %d records, want fewer than %d (a restore)", last, n)
			}
			var durations []time.Duration
			for _, c := range jc.Checkpoints() {
				durations = append(durations, c.Duration)
			}
			t.Logf("checkpoint durations: %v", durations)
			checkCounts(t, finalCounts(out), n, keys)
			t.Logf("%d checkpoints completed, %d with records in flight", completed, withChannels)
			if completed == 0 {
				t.Fatal("no checkpoint completed under backpressure")
			}
			if tc.unaligned && withChannels == 0 {
				t.Fatal("no unaligned checkpoint stored records in flight")
			}
		})
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRestartSkipsDamagedCheckpoint damages the newest checkpoint just
// before a failure: a corrupt state file makes the restart skip it with a
// WARN naming it, a missing metadata file makes it an incomplete checkpoint
// that is never used, and either way the job restores from the one before
// and its counts are exact.
func TestRestartSkipsDamagedCheckpoint(t *testing.T) {
	const (
		n    = 30000
		keys = 20
	)
	for _, damage := range []string{"corrupt-file", "missing-metadata"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			var logs syncBuffer
			f := newFailer(1, 1, 2, 1)
			f.armed = new(atomic.Bool)
			out := &collectSink[keyCount]{}
			env := countingJob(t, 2, n, keys, 15000, f, out,
				freshet.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))),
				freshet.WithCheckpointing(100*time.Millisecond, freshet.CheckpointStorage(dir), freshet.RetainedCheckpoints(3)))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			jc, err := env.ExecuteAsync(ctx, "damaged-"+damage)
			if err != nil {
				t.Fatal(err)
			}
			// When the third checkpoint completes, damage it and fail at
			// once: the next is 100 ms away.
			var damaged freshet.CheckpointStats
			for damaged.ID == 0 {
				select {
				case <-jc.Done():
					t.Fatalf("job ended before three checkpoints completed: %v", jc.Err())
				case <-time.After(time.Millisecond):
				}
				if c, ok := jc.LatestCheckpoint(); ok && c.ID >= 3 {
					damaged = c
				}
			}
			entries, err := os.ReadDir(damaged.Path)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				p := damaged.Path + "/" + e.Name()
				switch {
				case damage == "missing-metadata" && e.Name() == "_metadata":
					err = os.Remove(p)
				case damage == "corrupt-file" && strings.HasPrefix(e.Name(), "counter"):
					var b []byte
					if b, err = os.ReadFile(p); err == nil {
						b[len(b)/2] ^= 0xff
						err = os.WriteFile(p, b, 0o644)
					}
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			f.armed.Store(true)
			if err := jc.Wait(); err != nil {
				t.Fatalf("job failed: %v", err)
			}
			if jc.Restarts() != 1 {
				t.Fatalf("restarted %d times, want 1", jc.Restarts())
			}
			checkCounts(t, finalCounts(out), n, keys)
			log := logs.String()
			skipped := strings.Contains(log, "skipping corrupt checkpoint") && strings.Contains(log, fmt.Sprintf("checkpoint=%d", damaged.ID))
			if skipped != (damage == "corrupt-file") {
				t.Errorf("WARN about skipping checkpoint %d logged: %t\n%s", damaged.ID, skipped, log)
			}
			restored := fmt.Sprintf(`msg="restoring from checkpoint" job=damaged-%s-1 job_name=damaged-%s checkpoint=%d`, damage, damage, damaged.ID-1)
			if !strings.Contains(log, restored) {
				t.Errorf("no log %q\n%s", restored, log)
			}
		})
	}
}

// TestRestoreFromRetainedCheckpoint cancels a job whose checkpoints are
// retained on cancellation and starts the same program from its latest
// checkpoint: the sources resume where it left off and the counts come out
// exact, as if the job had never stopped.
func TestRestoreFromRetainedCheckpoint(t *testing.T) {
	const (
		n    = 20000
		keys = 10
	)
	dir := t.TempDir()
	ck := freshet.WithCheckpointing(100*time.Millisecond, freshet.CheckpointStorage(dir),
		freshet.ExternalizedCheckpoints(freshet.RetainOnCancellation))
	first := &collectSink[keyCount]{}
	env := countingJob(t, 2, n, keys, 20000, newFailer(0, 1, 2, 1), first, ck)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "resumed")
	if err != nil {
		t.Fatal(err)
	}
	var latest freshet.CheckpointStats
	for latest.ID < 2 {
		time.Sleep(5 * time.Millisecond)
		latest, _ = jc.LatestCheckpoint()
	}
	jc.Cancel()
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	if jc.Status() != freshet.JobCanceled {
		t.Fatalf("status %s, want CANCELED", jc.Status())
	}
	if len(first.last()) != 0 {
		t.Fatalf("the cancelled run emitted final counts: %v", first.last())
	}
	latest, _ = jc.LatestCheckpoint()
	if _, err := os.Stat(latest.Path + "/_metadata"); err != nil {
		t.Fatalf("retained checkpoint %s: %v", latest.Path, err)
	}

	second := &collectSink[keyCount]{}
	f := newFailer(0, 1, 2, 1)
	env = countingJob(t, 2, n, keys, 20000, f, second, freshet.WithRestoreFrom(latest.Path))
	if err := env.Execute(ctx, "resumed"); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, finalCounts(second), n, keys)
	if p := f.processed(0); p >= n {
		t.Fatalf("the resumed job processed %d records, want fewer than %d", p, n)
	}

	// A path that is no checkpoint is a clear error.
	env = countingJob(t, 1, n, keys, 0, f, second, freshet.WithRestoreFrom(dir+"/nothing/chk-7"))
	if err := env.Execute(ctx, "resumed"); err == nil || !strings.Contains(err.Error(), "chk-7") {
		t.Fatalf("restoring from a missing checkpoint: %v", err)
	}
}

// TestSourcesRestoreUnderFailures runs the counting job over each built-in
// replayable source — a slice, text files (restored by byte offset), and a
// short generator beside a long one, so that a finished source must not
// hold later checkpoints back — failing five times after checkpoints: the
// counts are exact.
func TestSourcesRestoreUnderFailures(t *testing.T) {
	const keys = 10
	dir := t.TempDir()
	var files []string
	for i := range 3 {
		var b strings.Builder
		for v := i * 4000; v < (i+1)*4000; v++ {
			fmt.Fprintf(&b, "%d\n", v)
		}
		name := fmt.Sprintf("%s/part-%d.txt", dir, i)
		if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	values := make([]int64, 12000)
	for i := range values {
		values[i] = int64(i)
	}
	// The slice and the files are read at once into the queues ahead of
	// the slow counter, so their checkpoints are unaligned; the generators
	// are rate-limited and checkpoint aligned.
	for _, tc := range []struct {
		name  string
		total int
		input func(*freshet.Env) *freshet.Stream[int64]
	}{
		{"slice", 12000, func(env *freshet.Env) *freshet.Stream[int64] { return freshet.FromSlice(env, values) }},
		{"files", 12000, func(env *freshet.Env) *freshet.Stream[int64] {
			lines := freshet.FromSource(env, source.TextFiles(files...), "files")
			return freshet.Map(lines, func(l string) int64 {
				var v int64
				_, _ = fmt.Sscan(l, &v)
				return v
			})
		}},
		{"finished-source", 12000, func(env *freshet.Env) *freshet.Stream[int64] {
			short := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(2000)), "short")
			long := freshet.FromSource(env, source.Generator(func(i int64) int64 { return 2000 + i }, source.GeneratorCount(10000), source.GeneratorRate(10000)), "long")
			return short.Union(long)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFailer(5, 500, 1500, 7)
			f.armed = new(atomic.Bool)
			out := &collectSink[keyCount]{}
			ckOpts := []freshet.CheckpointOption{freshet.CheckpointStorage(t.TempDir())}
			if tc.name != "finished-source" {
				ckOpts = append(ckOpts, freshet.UnalignedCheckpoints())
			}
			env := countingJobOf(t, 2, keys, 150*time.Microsecond, f, out, tc.input,
				freshet.WithCheckpointing(50*time.Millisecond, ckOpts...))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			jc, err := env.ExecuteAsync(ctx, "sources-"+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			f.armAfterCheckpoints(jc)
			if err := jc.Wait(); err != nil {
				t.Fatalf("job failed: %v", err)
			}
			// Each failure waits for a checkpoint of its attempt, so a
			// loaded machine may reach the end before the fifth; and a
			// restored attempt replays the in-flight records of the
			// unaligned checkpoint before its final checkpoint's barrier,
			// so the slice source's job may end after one.
			if got := jc.Restarts(); got < 1 || got != int(f.failed.Load()) {
				for _, c := range jc.Checkpoints() {
					t.Logf("checkpoint %d %s after %s, %d bytes %v", c.ID, c.Status, c.Duration, c.Size, c.Failure)
				}
				t.Fatalf("restarted %d times after %d failures, want 1 to 5", got, f.failed.Load())
			}
			checkCounts(t, finalCounts(out), tc.total, keys)
		})
	}
}

// tev is an event of the window and join failure job.
type tev struct {
	K  int
	TS int64
	V  int64
}

// keyAgg is a key's total and number of inputs, read from state at the end.
type keyAgg struct {
	K      int
	Sum, N int64
}

var (
	aggSum = state.NewValue[int64]("sum")
	aggN   = state.NewValue[int64]("n")
)

// accumulate sums the values of each key in keyed state and emits the
// totals when input ends.
func accumulate(s *freshet.Stream[keyAgg], uid string) *freshet.Stream[keyAgg] {
	return freshet.KeyedProcess(freshet.KeyBy(s, func(a keyAgg) int { return a.K }),
		freshet.KeyedProcessFuncWithTimers(
			func(ctx *freshet.KeyedContext[int], a keyAgg, _ freshet.Collector[keyAgg]) error {
				sum, n := state.Value(ctx.State(), aggSum), state.Value(ctx.State(), aggN)
				s, _ := sum.Value()
				c, _ := n.Value()
				if c == 0 {
					ctx.TimerService().RegisterEventTimeTimer(math.MaxInt64)
				}
				sum.Update(s + a.Sum)
				n.Update(c + a.N)
				return nil
			},
			func(ctx *freshet.KeyedContext[int], _ int64, out freshet.Collector[keyAgg]) error {
				s, _ := state.Value(ctx.State(), aggSum).Value()
				c, _ := state.Value(ctx.State(), aggN).Value()
				out.Collect(keyAgg{K: ctx.CurrentKey(), Sum: s, N: c})
				return nil
			})).UID(uid)
}

// finalAggs is each key's totals from the last attempt that emitted them.
func finalAggs(c *collectSink[keyAgg]) map[int]keyAgg {
	c.mu.Lock()
	defer c.mu.Unlock()
	latest, out := map[int]int{}, map[int]keyAgg{}
	for a, vals := range c.vals {
		for _, v := range vals {
			if prev, ok := latest[v.K]; !ok || a > prev {
				latest[v.K], out[v.K] = a, v
			}
		}
	}
	return out
}

// TestWindowsAndJoinsExactlyOnceUnderFailures runs event-time tumbling
// windows and an interval join over out-of-order events, failing five
// times after checkpoints, and totals their outputs in keyed state: the
// totals equal those computed directly from the events, so every window
// fired and every joined pair was counted exactly once.
func TestWindowsAndJoinsExactlyOnceUnderFailures(t *testing.T) {
	const (
		n    = 6000
		keys = 7
	)
	left := func(i int64) tev { return tev{K: int(i % keys), TS: 2*i - (i%5)*3, V: i} }
	right := func(i int64) tev { return tev{K: int(i % keys), TS: 2*i + 1, V: 1000 * i} }

	// The expected totals, computed directly.
	wantWindows := map[int]keyAgg{}
	windowsSeen := map[[2]int64]bool{}
	for i := range int64(n) {
		e := left(i)
		a := wantWindows[e.K]
		a.K, a.Sum = e.K, a.Sum+e.V
		start := e.TS - ((e.TS%100)+100)%100 // the window's start, also below 0
		if w := [2]int64{int64(e.K), start}; !windowsSeen[w] {
			windowsSeen[w] = true
			a.N++
		}
		wantWindows[e.K] = a
	}
	wantJoin := map[int]keyAgg{}
	for i := range int64(n) {
		l := left(i)
		for j := max(0, i-10); j < min(n, i+10); j++ {
			if r := right(j); r.K == l.K && r.TS >= l.TS-10 && r.TS <= l.TS+10 {
				a := wantJoin[l.K]
				a.K, a.Sum, a.N = l.K, a.Sum+l.V+r.V, a.N+1
				wantJoin[l.K] = a
			}
		}
	}

	forEachStateBackend(t, func(t *testing.T, backend func(t *testing.T) freshet.StateBackend) {
		// The last failure waits for a checkpoint of its attempt; the
		// others come at a random record, so four attempts use at most
		// 3,600 of the 6,000 records, however slow checkpoints are.
		f := newFailer(5, 300, 900, 3)
		f.armed, f.armFrom = new(atomic.Bool), 4
		windows, joined := &collectSink[keyAgg]{}, &collectSink[keyAgg]{}
		env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithStateBackend(backend(t)),
			freshet.WithRestartStrategy(freshet.FixedDelayRestart(20, 10*time.Millisecond)),
			freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
		wm := watermark.ForBoundedOutOfOrderness[tev](20 * time.Millisecond).WithTimestampAssigner(func(e tev, _ int64) int64 { return e.TS })
		ls := freshet.FromSourceWithWatermarks(env, source.Generator(left, source.GeneratorCount(n), source.GeneratorRate(6000)), wm, "left")
		rs := freshet.FromSourceWithWatermarks(env, source.Generator(right, source.GeneratorCount(n), source.GeneratorRate(6000)), wm, "right")
		flaky := freshet.Process(ls, freshet.ProcessFunc(func(ctx *freshet.Context, e tev, out freshet.Collector[tev]) error {
			if err := f.check(ctx.Runtime().Attempt()); err != nil {
				return err
			}
			out.Collect(e)
			return nil
		}))
		sums := freshet.WindowReduce(freshet.Window(freshet.KeyBy(flaky, func(e tev) int { return e.K }), window.TumblingEventTime[tev](100*time.Millisecond, 0)),
			func(a, b tev) tev { return tev{K: a.K, TS: a.TS, V: a.V + b.V} })
		freshet.SinkTo(accumulate(freshet.Map(sums, func(e tev) keyAgg { return keyAgg{K: e.K, Sum: e.V, N: 1} }), "window-totals"), windows, "windows")
		pairs := freshet.IntervalJoinApply(
			freshet.IntervalJoin(freshet.KeyBy(flaky, func(e tev) int { return e.K }), freshet.KeyBy(rs, func(e tev) int { return e.K })).Between(-10*time.Millisecond, 10*time.Millisecond),
			func(l, r tev) keyAgg { return keyAgg{K: l.K, Sum: l.V + r.V, N: 1} })
		freshet.SinkTo(accumulate(pairs, "join-totals"), joined, "joined")

		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		jc, err := env.ExecuteAsync(ctx, "windows-and-joins")
		if err != nil {
			t.Fatal(err)
		}
		f.armAfterCheckpoints(jc)
		if err := jc.Wait(); err != nil {
			t.Fatalf("job failed: %v", err)
		}
		if jc.Restarts() != 5 {
			t.Fatalf("restarted %d times, want 5", jc.Restarts())
		}
		if got := finalAggs(windows); !maps.Equal(got, wantWindows) {
			t.Errorf("window totals\n got %v\nwant %v", got, wantWindows)
		}
		if got := finalAggs(joined); !maps.Equal(got, wantJoin) {
			t.Errorf("join totals\n got %v\nwant %v", got, wantJoin)
		}
	})
}

// snapshotHook is a pass-through function whose SnapshotState calls
// snapshot with the checkpoint's id.
type snapshotHook struct {
	freshet.BaseFunction
	snapshot func(id int64) error
}

func (snapshotHook) ProcessElement(_ *freshet.Context, v int64, out freshet.Collector[int64]) error {
	out.Collect(v)
	return nil
}

func (snapshotHook) InitializeState(*freshet.StateInitializationContext) error { return nil }

func (f snapshotHook) SnapshotState(ctx *freshet.StateSnapshotContext) error {
	return f.snapshot(ctx.CheckpointID())
}

// failSnapshotsBelow fails the snapshots of the checkpoints below okFrom.
func failSnapshotsBelow(okFrom int64) snapshotHook {
	return snapshotHook{snapshot: func(id int64) error {
		if id < okFrom {
			return fmt.Errorf("checkpoint %d: %w", id, errInjected)
		}
		return nil
	}}
}

// TestTolerableCheckpointFailures: failed checkpoints within the tolerated
// number are recorded and the job goes on; one more in a row fails the
// job, which restarts by its strategy, as in Flink.
func TestTolerableCheckpointFailures(t *testing.T) {
	run := func(tolerable int) (*freshet.JobClient, error) {
		env := freshet.NewEnv(freshet.WithParallelism(2),
			freshet.WithRestartStrategy(freshet.NoRestart()),
			freshet.WithLogger(slog.New(slog.DiscardHandler)),
			freshet.WithCheckpointing(30*time.Millisecond, freshet.CheckpointStorage("mem://"), freshet.TolerableCheckpointFailures(tolerable)))
		nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(5000), source.GeneratorRate(10000)), "numbers")
		freshet.SinkTo(freshet.Process(nums, freshet.ProcessFunction[int64, int64](failSnapshotsBelow(3))), &collectSink[int64]{}, "sink")
		jc, err := env.ExecuteAsync(context.Background(), "tolerable")
		if err != nil {
			t.Fatal(err)
		}
		return jc, jc.Wait()
	}
	jc, err := run(2)
	if err != nil {
		t.Fatalf("with 2 failures tolerated: %v", err)
	}
	var statuses []string
	for _, c := range jc.Checkpoints() {
		statuses = append(statuses, fmt.Sprintf("%d:%s", c.ID, c.Status))
	}
	if len(statuses) < 3 || statuses[0] != "1:FAILED" || statuses[1] != "2:FAILED" || statuses[2] != "3:COMPLETED" {
		t.Fatalf("checkpoints %v, want 1 and 2 failed, 3 completed", statuses)
	}
	if c := jc.Checkpoints()[0]; !errors.Is(c.Failure, errInjected) {
		t.Fatalf("checkpoint 1 failed with %v, want the snapshot's error", c.Failure)
	}
	if _, err := run(1); err == nil || !strings.Contains(err.Error(), "tolerable") {
		t.Fatalf("with 1 failure tolerated: %v, want the job to fail", err)
	}
}
