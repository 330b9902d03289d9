package freshet_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/savepoint"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
)

// upsertStore is an idempotent store: a write of a key replaces its value.
type upsertStore struct {
	mu      sync.Mutex
	vals    map[int64]int64
	writes  int
	batches map[int64]int // by checkpoint id
}

func (s *upsertStore) commit(_ sink.InitContext, id int64, rs []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vals == nil {
		s.vals, s.batches = map[int64]int64{}, map[int64]int{}
	}
	for _, v := range rs {
		s.vals[v] = v * v
	}
	s.writes += len(rs)
	s.batches[id]++
	return nil
}

// TestWriteAheadExactlyOnceUnderFailures writes through a write-ahead sink
// to an idempotent store, in a job that fails at random records of its
// first attempts: the store holds every record once, with writes repeated
// at most for batches committed again after a restore, and none written
// before its checkpoint completed.
func TestWriteAheadExactlyOnceUnderFailures(t *testing.T) {
	const n = 20000
	f := newFailer(3, n/8, n/4, 11)
	store := &upsertStore{}
	env := freshet.NewEnv(freshet.WithParallelism(2),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(20, 10*time.Millisecond)),
		freshet.WithLogger(slog.New(slog.DiscardHandler)),
		freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n), source.GeneratorRate(15000)), "numbers")
	checked := freshet.Process(nums.Rebalance(), freshet.ProcessFunc(func(ctx *freshet.Context, v int64, out freshet.Collector[int64]) error {
		if err := f.check(ctx.Runtime().Attempt()); err != nil {
			return err
		}
		out.Collect(v)
		return nil
	}))
	freshet.SinkTo(checked.Rebalance(), &sink.WriteAhead[int64]{Commit: store.commit}, "upserts").UID("upserts")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "write-ahead")
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if jc.Restarts() < 3 {
		t.Fatalf("%d restarts, want at least 3", jc.Restarts())
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.vals) != n {
		t.Fatalf("store holds %d keys, want %d", len(store.vals), n)
	}
	for k, v := range store.vals {
		if k < 0 || k >= n || v != k*k {
			t.Fatalf("store holds %d=%d", k, v)
		}
	}
	if store.writes < n {
		t.Fatalf("%d writes, want at least %d", store.writes, n)
	}
	completed := map[int64]bool{sink.EndOfInput: true}
	for _, c := range jc.Checkpoints() {
		if c.Status == freshet.CheckpointCompleted {
			completed[c.ID] = true
		}
	}
	for id := range store.batches {
		if !completed[id] {
			t.Fatalf("a batch of checkpoint %d was written, which did not complete", id)
		}
	}
	t.Logf("%d restarts, %d writes for %d records, %d batches", jc.Restarts(), store.writes, n, len(store.batches))
}

// countWriter is a StatefulWriter that counts its records in its state
// and reports the count at the end of input.
type countWriter struct {
	n     int64
	ended func(n int64)
	seen  *atomic.Int64
}

func (w *countWriter) Write(int64, sink.Context) error { w.n++; return nil }
func (w *countWriter) Flush(end bool) error {
	if end {
		w.ended(w.n)
	}
	return nil
}
func (w *countWriter) Close() error { return nil }
func (w *countWriter) SnapshotState(int64) ([]int64, error) {
	return []int64{w.n}, nil
}
func (w *countWriter) NotifyCheckpointComplete(int64) error { w.seen.Add(1); return nil }
func (w *countWriter) NotifyCheckpointAborted(int64) error  { return nil }

// TestStatefulSinkRestoresState counts records in a StatefulSink's state
// under failures: the counts the writers end with add up to the input,
// each record counted once.
func TestStatefulSinkRestoresState(t *testing.T) {
	const n = 20000
	f := newFailer(3, n/8, n/4, 5)
	var total, completes atomic.Int64
	env := freshet.NewEnv(freshet.WithParallelism(2),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(20, 10*time.Millisecond)),
		freshet.WithLogger(slog.New(slog.DiscardHandler)),
		freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n), source.GeneratorRate(15000)), "numbers")
	checked := freshet.Process(nums.Rebalance(), freshet.ProcessFunc(func(ctx *freshet.Context, v int64, out freshet.Collector[int64]) error {
		if err := f.check(ctx.Runtime().Attempt()); err != nil {
			return err
		}
		out.Collect(v)
		return nil
	}))
	freshet.SinkTo(checked.Rebalance(), &sink.StatefulSink[int64, int64]{
		NewWriter: func(_ sink.InitContext, restored []int64) (sink.StatefulWriter[int64, int64], error) {
			w := &countWriter{ended: func(n int64) { total.Add(n) }, seen: &completes}
			for _, c := range restored {
				w.n += c
			}
			return w, nil
		},
	}, "counts").UID("counts")
	if err := env.Execute(context.Background(), "stateful-sink"); err != nil {
		t.Fatal(err)
	}
	if f.failed.Load() < 3 {
		t.Fatalf("%d injected failures, want 3", f.failed.Load())
	}
	if completes.Load() == 0 {
		t.Fatal("no writer heard of a completed checkpoint")
	}
	if got := total.Load(); got != n {
		t.Fatalf("the writers counted %d records, want %d", got, n)
	}
}

// TestFinalCheckpointCommitsTheLastTransaction: with periodic checkpoints,
// a bounded job's subtasks wait at the end of input for a checkpoint taken
// after they finished, and the write-ahead sink writes its last batch when
// that checkpoint completes (Flink's final checkpoint), so no batch is
// ever written outside a completed checkpoint; the checkpoint is taken at
// once, not after the interval (an hour here). Without checkpoints the
// last batch is written at the subtask's end.
func TestFinalCheckpointCommitsTheLastTransaction(t *testing.T) {
	const n = 5000
	for _, tc := range []struct {
		name string
		ck   []freshet.Option
	}{
		{"checkpoints", []freshet.Option{freshet.WithCheckpointing(time.Hour, freshet.CheckpointStorage(t.TempDir()))}},
		{"none", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &upsertStore{}
			env := freshet.NewEnv(append([]freshet.Option{freshet.WithParallelism(2), freshet.WithLogger(slog.New(slog.DiscardHandler))}, tc.ck...)...)
			nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n)), "numbers")
			freshet.SinkTo(nums.Rebalance(), &sink.WriteAhead[int64]{Commit: store.commit}, "upserts").UID("upserts")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			jc, err := env.ExecuteAsync(ctx, "final-checkpoint")
			if err != nil {
				t.Fatal(err)
			}
			if err := jc.Wait(); err != nil {
				t.Fatalf("job failed: %v", err)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Fatalf("the job took %s: the final checkpoint waited for the interval", d)
			}
			store.mu.Lock()
			defer store.mu.Unlock()
			if len(store.vals) != n || store.writes != n {
				t.Fatalf("store holds %d keys after %d writes, want %d once each", len(store.vals), store.writes, n)
			}
			completed := map[int64]bool{}
			for _, c := range jc.Checkpoints() {
				if c.Status == freshet.CheckpointCompleted {
					completed[c.ID] = true
				}
			}
			for id := range store.batches {
				switch {
				case tc.ck == nil && id != sink.EndOfInput:
					t.Fatalf("without checkpoints a batch was written at checkpoint %d", id)
				case tc.ck != nil && !completed[id]:
					t.Fatalf("a batch was written at %d, not a completed checkpoint (completed: %v)", id, completed)
				}
			}
		})
	}
}

// TestSinkSeesRestoredCheckpoint: a sink writer learns the checkpoint its
// job was restored from, also in a subtask given no state, and the
// checkpoint ids it sees next are higher. A job at parallelism 2 stops
// with a savepoint (two state elements, one per subtask) and resumes at
// 3, where one subtask gets none.
func TestSinkSeesRestoredCheckpoint(t *testing.T) {
	type seen struct {
		id       int64
		restored bool
		elems    int
	}
	var mu sync.Mutex
	got := map[string]map[int]seen{} // by run, then subtask
	job := func(run string, p int, opts ...freshet.Option) *freshet.Env {
		env := freshet.NewEnv(append([]freshet.Option{freshet.WithParallelism(p), freshet.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
		nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(1_000_000), source.GeneratorRate(2000)), "numbers").UID("numbers")
		freshet.SinkTo(nums, &sink.StatefulSink[int64, int64]{
			NewWriter: func(ctx sink.InitContext, restored []int64) (sink.StatefulWriter[int64, int64], error) {
				id, ok := ctx.RestoredCheckpointID()
				mu.Lock()
				defer mu.Unlock()
				if got[run] == nil {
					got[run] = map[int]seen{}
				}
				got[run][ctx.SubtaskIndex()] = seen{id, ok, len(restored)}
				return &countWriter{ended: func(int64) {}, seen: new(atomic.Int64)}, nil
			},
		}, "counts").UID("counts")
		return env
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := job("first", 2).ExecuteAsync(ctx, "first")
	if err != nil {
		t.Fatal(err)
	}
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
	spID := int64(sp.ID())
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	jc, err = job("second", 3, freshet.WithRestoreFrom(path)).ExecuteAsync(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	// Every writer is created before the savepoint can be taken.
	path, err = jc.StopWithSavepoint(ctx, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	// The resumed job's checkpoint ids go on after the savepoint's, in
	// another storage too.
	if sp, err = savepoint.Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	if id := int64(sp.ID()); id <= spID {
		t.Errorf("the resumed job's savepoint is checkpoint %d, want one after %d", id, spID)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]map[int]seen{
		"first":  {0: {0, false, 0}, 1: {0, false, 0}},
		"second": {0: {spID, true, 1}, 1: {spID, true, 1}, 2: {spID, true, 0}},
	}
	for run, subs := range want {
		for sub, w := range subs {
			if g := got[run][sub]; g != w {
				t.Errorf("%s run, subtask %d: restored checkpoint %d (%v) with %d state elements, want %d (%v) with %d",
					run, sub, g.id, g.restored, g.elems, w.id, w.restored, w.elems)
			}
		}
	}
}
