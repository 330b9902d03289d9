package freshet_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
)

// stateBackends are the backends job tests run on.
var stateBackends = []struct {
	name string
	make func(t *testing.T) freshet.StateBackend
}{
	{"heap", func(*testing.T) freshet.StateBackend { return freshet.HeapBackend() }},
	{"pebble", func(t *testing.T) freshet.StateBackend {
		return freshet.PebbleBackend(freshet.PebbleDir(t.TempDir()), freshet.PebbleCacheSize(4<<20))
	}},
}

// forEachStateBackend runs test as a subtest per state backend.
func forEachStateBackend(t *testing.T, test func(t *testing.T, backend func(t *testing.T) freshet.StateBackend)) {
	for _, b := range stateBackends {
		t.Run(b.name, func(t *testing.T) { test(t, b.make) })
	}
}

// TestPebbleExactlyOnceUnderFailures runs the counting job on the Pebble
// backend with checkpoints and injected failures: the counts are exact,
// and the backends' directories are gone once the job ends. It runs with
// a small block cache, and with 32 KB memtables and no entry cache, so
// that each subtask's state of 1000 keys fills several memtables.
func TestPebbleExactlyOnceUnderFailures(t *testing.T) {
	for _, c := range []struct {
		name     string
		n        int64
		keys     int
		rate     float64
		failures int
		opts     []freshet.PebbleOption
	}{
		{"cache 1 MB", 30000, 100, 20000, 5, []freshet.PebbleOption{freshet.PebbleCacheSize(1 << 20)}},
		{"memtables 32 KB", 4000, 1000, 2000, 3, []freshet.PebbleOption{freshet.PebbleMemTableSize(32 << 10), freshet.PebbleEntryCacheSize(0)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			f := newFailer(c.failures, c.n/12, c.n/8, 7)
			out := &collectSink[keyCount]{}
			env := countingJob(t, 2, c.n, c.keys, c.rate, f, out,
				freshet.WithCheckpointing(100*time.Millisecond, freshet.CheckpointStorage(t.TempDir())),
				freshet.WithStateBackend(freshet.PebbleBackend(append(c.opts, freshet.PebbleDir(dir))...)))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			jc, err := env.ExecuteAsync(ctx, "counting-pebble")
			if err != nil {
				t.Fatal(err)
			}
			if err := jc.Wait(); err != nil {
				t.Fatalf("job failed: %v", err)
			}
			if got := jc.Restarts(); got < c.failures {
				t.Fatalf("restarted %d times, want at least %d", got, c.failures)
			}
			if last := f.processed(jc.Restarts()); last >= c.n {
				t.Fatalf("the last attempt processed %d records, want fewer than %d (a restore)", last, c.n)
			}
			checkCounts(t, finalCounts(out), int(c.n), c.keys)
			if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
				t.Fatalf("after the job the Pebble directory holds %v (%v)", ents, err)
			}
		})
	}
}

func checkCounts(t *testing.T, got []keyCount, n, keys int) {
	t.Helper()
	if len(got) != keys {
		t.Fatalf("got counts of %d keys, want %d: %v", len(got), keys, got)
	}
	for k, kc := range got {
		if want := (keyCount{Key: k, Count: n / keys}); kc != want {
			t.Fatalf("key %d: got %+v, want %+v", k, kc, want)
		}
	}
}

// TestRestoreAcrossStateBackends checkpoints the counting job on the heap,
// restores it on Pebble and checkpoints it there, then restores that on
// the heap and runs it to the end: the counts are exact.
func TestRestoreAcrossStateBackends(t *testing.T) {
	const (
		n    = 40000
		keys = 10
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	retained := func(dir string) freshet.Option {
		return freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(dir),
			freshet.ExternalizedCheckpoints(freshet.RetainOnCancellation))
	}
	// run starts the job, from restoreFrom if set, waits for a checkpoint
	// it took itself and cancels it, returning that checkpoint's path.
	run := func(backend freshet.StateBackend, restoreFrom string) string {
		t.Helper()
		opts := []freshet.Option{retained(t.TempDir()), freshet.WithStateBackend(backend)}
		if restoreFrom != "" {
			opts = append(opts, freshet.WithRestoreFrom(restoreFrom))
		}
		out := &collectSink[keyCount]{}
		jc, err := countingJob(t, 2, n, keys, 20000, newFailer(0, 1, 2, 1), out, opts...).ExecuteAsync(ctx, "across")
		if err != nil {
			t.Fatal(err)
		}
		var latest freshet.CheckpointStats
		for {
			if c, ok := jc.LatestCheckpoint(); ok && c.Path != "" && c.Path != restoreFrom {
				latest = c
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		jc.Cancel()
		if err := jc.Wait(); err != nil {
			t.Fatal(err)
		}
		if len(out.last()) != 0 {
			t.Fatal("the job ended before it was cancelled; make it longer")
		}
		latest, _ = jc.LatestCheckpoint()
		return latest.Path
	}
	onHeap := run(freshet.HeapBackend(), "")
	onPebble := run(freshet.PebbleBackend(freshet.PebbleDir(t.TempDir())), onHeap)

	out := &collectSink[keyCount]{}
	f := newFailer(0, 1, 2, 1)
	env := countingJob(t, 3, n, keys, 0, f, out, freshet.WithRestoreFrom(onPebble), freshet.WithStateBackend(freshet.HeapBackend()))
	if err := env.Execute(ctx, "across"); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, finalCounts(out), n, keys)
	if p := f.processed(0); p >= n {
		t.Fatalf("the last run processed %d records, want fewer than %d", p, n)
	}
}

// TestPebbleBackendErrors: a directory that cannot be used fails the job
// naming the operator, and bad options fail NewEnv's job at Execute.
func TestPebbleBackendErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	missing := t.TempDir() + "/missing"
	env := countingJob(t, 2, 100, 10, 0, newFailer(0, 1, 2, 1), &collectSink[keyCount]{},
		freshet.WithRestartStrategy(freshet.NoRestart()),
		freshet.WithStateBackend(freshet.PebbleBackend(freshet.PebbleDir(missing))))
	err := env.Execute(ctx, "bad-dir")
	if err == nil || !strings.Contains(err.Error(), "KeyedProcess") || !strings.Contains(err.Error(), "state backend") {
		t.Fatalf("Execute with a missing directory = %v; want an error naming the operator and the backend", err)
	}
	env = countingJob(t, 1, 100, 10, 0, newFailer(0, 1, 2, 1), &collectSink[keyCount]{},
		freshet.WithStateBackend(freshet.PebbleBackend(freshet.PebbleCacheSize(0))))
	if err := env.Execute(ctx, "bad-cache"); err == nil || !strings.Contains(err.Error(), "cache size") {
		t.Fatalf("Execute with a zero cache = %v; want a cache size error", err)
	}
	env = countingJob(t, 1, 100, 10, 0, newFailer(0, 1, 2, 1), &collectSink[keyCount]{},
		freshet.WithStateBackend(freshet.PebbleBackend(freshet.PebbleMemTableSize(0))))
	if err := env.Execute(ctx, "bad-memtable"); err == nil || !strings.Contains(err.Error(), "memtable size") {
		t.Fatalf("Execute with a zero memtable = %v; want a memtable size error", err)
	}
}
