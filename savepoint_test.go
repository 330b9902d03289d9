package freshet_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/savepoint"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

// TestStopWithSavepointAndRescale stops the counting job with a savepoint
// at parallelism 2 and resumes it at 3 and at 1: keyed state (and the
// end-of-input timers registered before the savepoint) moves by key group,
// the sources' splits are split evenly, and the counts come out exact.
func TestStopWithSavepointAndRescale(t *testing.T) {
	const (
		n    = 20000
		keys = 10
	)
	for _, p := range []int{3, 1} {
		dir := t.TempDir()
		first := &collectSink[keyCount]{}
		env := countingJob(t, 2, n, keys, 20000, newFailer(0, 1, 2, 1), first)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		jc, err := env.ExecuteAsync(ctx, "rescaled")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		path, err := jc.StopWithSavepoint(ctx, dir, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := jc.Wait(); err != nil {
			t.Fatal(err)
		}
		if jc.Status() != freshet.JobFinished {
			t.Fatalf("status %s after stop with savepoint, want FINISHED", jc.Status())
		}
		if len(first.last()) != 0 {
			t.Fatalf("the stopped job emitted final counts: %v", first.last())
		}
		if _, err := os.Stat(path + "/_metadata"); err != nil {
			t.Fatalf("savepoint %s: %v", path, err)
		}

		second := &collectSink[keyCount]{}
		f := newFailer(0, 1, 2, 1)
		env = countingJob(t, p, n, keys, 20000, f, second, freshet.WithRestoreFrom(path))
		if err := env.Execute(ctx, "rescaled"); err != nil {
			t.Fatalf("resuming at parallelism %d: %v", p, err)
		}
		t.Logf("resuming at parallelism %d", p)
		checkCounts(t, finalCounts(second), n, keys)
		if done := f.processed(0); done == 0 || done >= n {
			t.Fatalf("parallelism %d: the resumed job processed %d records, want some but fewer than %d", p, done, n)
		}
	}
}

// TestSavepointWindowCompletesAfterResume: a savepoint taken while
// event-time windows are open, on a job without periodic checkpoints;
// resumed at another parallelism, the windows complete with the results
// of a run that never stopped. The savepoint outlives the job.
func TestSavepointWindowCompletesAfterResume(t *testing.T) {
	const n = 6000
	job := func(p int, out *collectSink[[2]int64], opts ...freshet.Option) *freshet.Env {
		env := freshet.NewEnv(append([]freshet.Option{freshet.WithParallelism(p), freshet.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
		wm := watermark.ForMonotonousTimestamps[int64]().WithTimestampAssigner(func(v int64, _ int64) int64 { return v })
		nums := freshet.FromSourceWithWatermarks(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n), source.GeneratorRate(10000)), wm, "numbers")
		sums := freshet.WindowReduce(freshet.Window(freshet.KeyBy(freshet.Map(nums, func(v int64) [2]int64 { return [2]int64{v % 3, v} }), func(kv [2]int64) int64 { return kv[0] }),
			window.TumblingEventTime[[2]int64](2000*time.Millisecond, 0)), func(a, b [2]int64) [2]int64 { return [2]int64{a[0], a[1] + b[1]} }).UID("window-sums")
		freshet.SinkTo(sums, out, "sums")
		return env
	}
	want := map[[2]int64]bool{}
	for k := range int64(3) {
		for w := int64(0); w < n; w += 2000 {
			var s int64
			for v := w; v < w+2000 && v < n; v++ {
				if v%3 == k {
					s += v
				}
			}
			want[[2]int64{k, s}] = true
		}
	}
	dir := t.TempDir()
	first := &collectSink[[2]int64]{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := job(2, first).ExecuteAsync(ctx, "windows")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the first window (0–2 s of event time) is open
	path, err := jc.TriggerSavepoint(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	jc.Cancel()
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "/_metadata"); err != nil {
		t.Fatalf("the savepoint did not outlive its job: %v", err)
	}
	second := &collectSink[[2]int64]{}
	if err := job(3, second, freshet.WithRestoreFrom(path)).Execute(ctx, "windows"); err != nil {
		t.Fatal(err)
	}
	got := map[[2]int64]bool{}
	for _, v := range second.last() {
		got[v] = true
	}
	// Windows the first run fired before the savepoint are not fired again.
	for _, v := range first.last() {
		got[v] = true
	}
	if len(got) != len(want) {
		t.Fatalf("got %d window sums %v, want %d %v", len(got), got, len(want), want)
	}
	for v := range want {
		if !got[v] {
			t.Fatalf("window sum %v missing; got %v", v, got)
		}
	}
}

// TestStopWithSavepointDrain: draining ends event time before the
// savepoint, so every window fires; the job ends FINISHED.
func TestStopWithSavepointDrain(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(slog.New(slog.DiscardHandler)))
	wm := watermark.ForMonotonousTimestamps[int64]().WithTimestampAssigner(func(v int64, _ int64) int64 { return v })
	nums := freshet.FromSourceWithWatermarks(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorRate(2000)), wm, "numbers")
	counts := freshet.WindowReduce(freshet.Window(freshet.KeyBy(freshet.Map(nums, func(v int64) [2]int64 { return [2]int64{0, 1} }), func(kv [2]int64) int64 { return kv[0] }),
		window.TumblingEventTime[[2]int64](time.Hour, 0)), func(a, b [2]int64) [2]int64 { return [2]int64{0, a[1] + b[1]} })
	out := &collectSink[[2]int64]{}
	freshet.SinkTo(counts, out, "counts")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "drained")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := jc.StopWithSavepoint(ctx, t.TempDir(), true); err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	if jc.Status() != freshet.JobFinished {
		t.Fatalf("status %s, want FINISHED", jc.Status())
	}
	// The hour-long window fired at the final watermark.
	if got := out.last(); len(got) != 1 || got[0][1] == 0 {
		t.Fatalf("window results %v, want one count", got)
	}
}

// TestRestoreChecksOperatorsAndMaxParallelism: state of an operator the
// job no longer has is refused unless AllowNonRestoredState; a max
// parallelism set and different from the savepoint's is refused, and one
// left unset takes the savepoint's.
func TestRestoreChecksOperatorsAndMaxParallelism(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 8000
	first := &collectSink[keyCount]{}
	env := countingJob(t, 2, n, 4, 10000, newFailer(0, 1, 2, 1), first, freshet.WithMaxParallelism(64))
	jc, err := env.ExecuteAsync(ctx, "checked")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	path, err := jc.StopWithSavepoint(ctx, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}

	// The same job without its counter (the sink reads the source).
	without := func(opts ...freshet.Option) *freshet.Env {
		env := freshet.NewEnv(append([]freshet.Option{freshet.WithParallelism(2), freshet.WithLogger(slog.New(slog.DiscardHandler)), freshet.WithRestoreFrom(path)}, opts...)...)
		nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n)), "numbers")
		freshet.SinkTo(nums, &collectSink[int64]{}, "numbers")
		return env
	}
	err = without().Execute(ctx, "checked")
	if !errors.Is(err, freshet.ErrNonRestoredState) || !strings.Contains(err.Error(), `"counter"`) {
		t.Fatalf("restoring without the counter: %v, want ErrNonRestoredState naming it", err)
	}
	if err := without(freshet.AllowNonRestoredState()).Execute(ctx, "checked"); err != nil {
		t.Fatalf("with AllowNonRestoredState: %v", err)
	}

	err = countingJob(t, 2, n, 4, 0, newFailer(0, 1, 2, 1), &collectSink[keyCount]{}, freshet.WithRestoreFrom(path), freshet.WithMaxParallelism(128)).Execute(ctx, "checked")
	if !errors.Is(err, freshet.ErrMaxParallelismChanged) {
		t.Fatalf("restoring with max parallelism 128: %v, want ErrMaxParallelismChanged", err)
	}
	out := &collectSink[keyCount]{}
	if err := countingJob(t, 3, n, 4, 0, newFailer(0, 1, 2, 1), out, freshet.WithRestoreFrom(path)).Execute(ctx, "checked"); err != nil {
		t.Fatalf("restoring with max parallelism unset: %v", err)
	}
	checkCounts(t, finalCounts(out), n, 4)
}

// TestReadSavepointOffline opens a savepoint without a job and reads the
// counter's value state of every key: the counts add up to the records
// the job processed before it stopped. A corrupted savepoint fails to
// open, naming the damaged file.
func TestReadSavepointOffline(t *testing.T) {
	const keys = 10
	f := newFailer(0, 1, 2, 1)
	env := countingJob(t, 2, 1_000_000, keys, 20000, f, &collectSink[keyCount]{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "offline")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	path, err := jc.StopWithSavepoint(ctx, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}

	sp, err := savepoint.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	var counter *savepoint.Operator
	for _, o := range sp.Operators() {
		if o.ID == "counter" {
			counter = &o
		}
	}
	if counter == nil || !counter.Keyed || counter.Parallelism != 2 || counter.MaxParallelism != 128 {
		t.Fatalf("operators %+v, want the keyed counter at parallelism 2 of 128 key groups", sp.Operators())
	}
	counts, err := savepoint.ValueState[int](ctx, sp, "counter", keyCountState)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for k, c := range counts {
		if k < 0 || k >= keys || c <= 0 {
			t.Fatalf("key %d has count %d", k, c)
		}
		total += c
	}
	if want := f.processed(0); len(counts) != keys || int64(total) != want {
		t.Fatalf("counts of %d keys add up to %d, want %d keys and %d", len(counts), total, keys, want)
	}
	if _, err := savepoint.ValueState[int](ctx, sp, "no-such-operator", keyCountState); !errors.Is(err, savepoint.ErrNoOperator) {
		t.Fatalf("reading a missing operator: %v", err)
	}

	entries, err := os.ReadDir(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "counter") {
			b, _ := os.ReadFile(path + "/" + e.Name())
			b[len(b)/2] ^= 1
			if err := os.WriteFile(path+"/"+e.Name(), b, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := savepoint.Open(ctx, path); err == nil || !strings.Contains(err.Error(), e.Name()) {
				t.Fatalf("opening a corrupted savepoint: %v, want an error naming %s", err, e.Name())
			}
			break
		}
	}
}

// TestWarnsAboutStatefulOperatorsWithoutUID: with checkpoints on, a keyed
// operator without a UID is named in a WARN; one with a UID is not.
func TestWarnsAboutStatefulOperatorsWithoutUID(t *testing.T) {
	var logs syncBuffer
	env := freshet.NewEnv(freshet.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		freshet.WithCheckpointing(time.Hour, freshet.CheckpointStorage("mem://")))
	nums := freshet.FromElements(env, 1, 2, 3)
	keyed := freshet.KeyBy(nums, func(v int) int { return v % 2 })
	sum := freshet.Reduce(keyed, func(a, b int) int { return a + b }).Name("unnamed sum")
	kept := freshet.Reduce(freshet.KeyBy(sum, func(v int) int { return v }), func(a, b int) int { return a + b }).Name("kept sum").UID("kept")
	freshet.SinkTo(kept, &collectSink[int]{}, "sink")
	if err := env.Execute(context.Background(), "uids"); err != nil {
		t.Fatal(err)
	}
	log := logs.String()
	if !strings.Contains(log, `level=WARN msg="stateful operator has no UID`) || !strings.Contains(log, `operator="unnamed sum"`) {
		t.Fatalf("no WARN about the operator without UID:\n%s", log)
	}
	if strings.Contains(log, `operator="kept sum" operator_id`) {
		t.Fatalf("WARN about an operator with a UID:\n%s", log)
	}
}

// TestSavepointOfUnalignedJobIsAligned: a job with unaligned checkpoints
// under backpressure takes its savepoint aligned, so it holds no records
// in flight and resumes at another parallelism with exact counts.
func TestSavepointOfUnalignedJobIsAligned(t *testing.T) {
	const (
		n    = 60000
		keys = 10
	)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env := pressureJob(t, 2, n, keys, newFailer(0, 1, 2, 1), &collectSink[keyCount]{},
		freshet.WithCheckpointing(50*time.Millisecond, freshet.UnalignedCheckpoints(), freshet.CheckpointStorage(t.TempDir())))
	jc, err := env.ExecuteAsync(ctx, "unaligned")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	path, err := jc.StopWithSavepoint(ctx, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "channels") {
			t.Fatalf("the savepoint holds records in flight: %s", e.Name())
		}
	}
	out := &collectSink[keyCount]{}
	if err := pressureJob(t, 3, n, keys, newFailer(0, 1, 2, 1), out, freshet.WithRestoreFrom(path)).Execute(ctx, "unaligned"); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, finalCounts(out), n, keys)
}
