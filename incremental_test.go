package freshet_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/internal/checkpoint/storage"
	"github.com/freshet-io/freshet/savepoint"
)

// TestIncrementalCheckpoints runs the counting job on Pebble with
// incremental checkpoints, failing after checkpoints (so attempts recover
// from their local copies), and cancels it with its checkpoints retained:
// the newest lists database files in the shared folder; the offline
// reader reads it; and it resumes at
// another parallelism on Pebble and on the heap backend with exact counts.
func TestIncrementalCheckpoints(t *testing.T) {
	const (
		n    = 20000
		keys = 10
	)
	dir := t.TempDir()
	pebble := freshet.WithStateBackend(freshet.PebbleBackend(freshet.PebbleDir(t.TempDir()), freshet.PebbleIncremental(true)))
	ck := freshet.WithCheckpointing(30*time.Millisecond, freshet.CheckpointStorage(dir), freshet.RetainedCheckpoints(2),
		freshet.ExternalizedCheckpoints(freshet.RetainOnCancellation))
	first := &collectSink[keyCount]{}
	f := newFailer(2, 500, 1500, 5)
	f.armed = new(atomic.Bool)
	env := countingJob(t, 2, n, keys, 10000, f, first, ck, pebble)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "incremental")
	if err != nil {
		t.Fatal(err)
	}
	go f.armAfterCheckpoints(jc)
	var latest freshet.CheckpointStats
	for latest.ID < 6 || jc.Restarts() < 2 {
		time.Sleep(5 * time.Millisecond)
		latest, _ = jc.LatestCheckpoint()
	}
	jc.Cancel()
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	if jc.Restarts() == 0 {
		t.Fatal("the job never restarted")
	}
	latest, _ = jc.LatestCheckpoint()

	// The newest checkpoint refers to shared files, some uploaded for the
	// one before.
	st, c, err := storage.OpenCheckpoint(ctx, latest.Path)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := st.Completed(ctx)
	if err != nil || len(ids) != 2 {
		t.Fatalf("retained checkpoints %v, %v; want 2", ids, err)
	}
	older, err := st.Load(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	shared := map[string]bool{}
	for _, f := range older.Files {
		if f.Shared {
			shared[f.Name] = true
		}
	}
	var inBoth, total int
	for _, f := range c.Files {
		if f.Shared {
			total++
			if shared[f.Name] {
				inBoth++
			}
		}
	}
	_ = st.Close()
	// Whether the two share files depends on the database's compactions
	// in between (TestIncrementalSnapshots in internal/statebackend counts
	// the files uploaded exactly).
	t.Logf("checkpoint %d lists %d shared files, %d of them also listed by checkpoint %d", c.ID, total, inBoth, older.ID)
	if total == 0 {
		t.Fatalf("checkpoint %d lists no shared file", c.ID)
	}

	// The offline reader reads the incremental checkpoint.
	sp, err := savepoint.Open(ctx, latest.Path)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := savepoint.ValueState[int](ctx, sp, "counter", keyCountState)
	_ = sp.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != keys {
		t.Fatalf("read %d keys from the checkpoint, want %d", len(counts), keys)
	}

	for _, resume := range []struct {
		name    string
		p       int
		backend freshet.Option
	}{
		{"pebble at parallelism 3", 3, pebble},
		{"heap at parallelism 1", 1, freshet.WithStateBackend(freshet.HeapBackend())},
		{"pebble at parallelism 2", 2, pebble},
	} {
		t.Run(resume.name, func(t *testing.T) {
			out := &collectSink[keyCount]{}
			env := countingJob(t, resume.p, n, keys, 0, newFailer(0, 1, 2, 1), out, resume.backend, freshet.WithRestoreFrom(latest.Path))
			if err := env.Execute(ctx, "incremental"); err != nil {
				t.Fatal(err)
			}
			checkCounts(t, finalCounts(out), n, keys)
		})
	}
}
