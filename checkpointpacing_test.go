package freshet_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
)

// slowSnapshots makes the snapshot of checkpoint only, or with only 0
// of every checkpoint, take delay.
func slowSnapshots(delay time.Duration, only int64) snapshotHook {
	return snapshotHook{snapshot: func(id int64) error {
		if only == 0 || id == only {
			time.Sleep(delay)
		}
		return nil
	}}
}

// runPaced runs 2 s of numbers through f with checkpoints every interval
// and opts, and returns the job's checkpoint history.
func runPaced(t *testing.T, f snapshotHook, interval time.Duration, opts ...freshet.CheckpointOption) []freshet.CheckpointStats {
	t.Helper()
	opts = append([]freshet.CheckpointOption{freshet.CheckpointStorage("mem://")}, opts...)
	env := freshet.NewEnv(freshet.WithParallelism(1),
		freshet.WithRestartStrategy(freshet.NoRestart()),
		freshet.WithLogger(slog.New(slog.DiscardHandler)),
		freshet.WithCheckpointing(interval, opts...))
	nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(4000), source.GeneratorRate(2000)), "numbers")
	out := &collectSink[int64]{}
	freshet.SinkTo(freshet.Process(nums, freshet.ProcessFunction[int64, int64](f)), out, "sink")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "paced")
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if n := len(out.last()); n != 4000 {
		t.Fatalf("the sink got %d records, want 4000", n)
	}
	// A checkpoint triggered as the job finished fails for that reason.
	h := jc.Checkpoints()
	for len(h) > 0 && h[len(h)-1].Status == freshet.CheckpointFailed && strings.Contains(h[len(h)-1].Failure.Error(), "attempt ended") {
		h = h[:len(h)-1]
	}
	return h
}

// inProgressAt counts the checkpoints of h triggered before the one at i
// that had not ended when it was triggered.
func inProgressAt(h []freshet.CheckpointStats, i int) int {
	n := 0
	for _, c := range h[:i] {
		if c.Status != freshet.CheckpointInProgress && c.Trigger.Add(c.Duration).After(h[i].Trigger) {
			n++
		}
	}
	return n
}

// TestCheckpointPacing: CheckpointTimeout expires a checkpoint that takes
// too long, MinPauseBetweenCheckpoints keeps that much time between the
// end of one checkpoint and the start of the next, and
// MaxConcurrentCheckpoints lets that many be in progress at once (and by
// default only one), as Flink's settings of the same names do.
func TestCheckpointPacing(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		h := runPaced(t, slowSnapshots(time.Second, 1), 100*time.Millisecond,
			freshet.CheckpointTimeout(150*time.Millisecond), freshet.TolerableCheckpointFailures(1000))
		if len(h) == 0 || h[0].ID != 1 || h[0].Status != freshet.CheckpointFailed || h[0].Failure == nil ||
			!strings.Contains(h[0].Failure.Error(), "expired after 150ms") {
			t.Fatalf("checkpoint 1: %+v, want it expired after 150ms", h[0])
		}
		completed := 0
		for _, c := range h {
			if c.Status == freshet.CheckpointCompleted {
				completed++
			}
		}
		if completed == 0 {
			t.Fatalf("no checkpoint completed after the slow one: %+v", h)
		}
	})
	t.Run("min pause", func(t *testing.T) {
		const pause = 200 * time.Millisecond
		h := runPaced(t, slowSnapshots(0, 0), 10*time.Millisecond, freshet.MinPauseBetweenCheckpoints(pause))
		if len(h) < 4 {
			t.Fatalf("%d checkpoints, want at least 4", len(h))
		}
		// The last is the final checkpoint the finished subtasks asked
		// for, taken at once.
		for i := 1; i < len(h)-1; i++ {
			prev := h[i-1]
			if prev.Status == freshet.CheckpointInProgress {
				t.Fatalf("checkpoint %d triggered while %d was in progress", h[i].ID, prev.ID)
			}
			if gap := h[i].Trigger.Sub(prev.Trigger.Add(prev.Duration)); gap < pause {
				t.Fatalf("checkpoint %d started %s after %d ended, want at least %s: %+v", h[i].ID, gap, prev.ID, pause, h)
			}
		}
	})
	for _, limit := range []int{1, 3} {
		t.Run("max concurrent "+strconv.Itoa(limit), func(t *testing.T) {
			var opts []freshet.CheckpointOption
			if limit > 1 {
				opts = append(opts, freshet.MaxConcurrentCheckpoints(limit))
			}
			h := runPaced(t, slowSnapshots(100*time.Millisecond, 0), 20*time.Millisecond, opts...)
			most := 0
			for i := range h {
				if h[i].Status == freshet.CheckpointFailed {
					t.Fatalf("checkpoint %d failed: %v: %+v", h[i].ID, h[i].Failure, h)
				}
				most = max(most, inProgressAt(h, i)+1)
			}
			if most != limit {
				t.Fatalf("at most %d checkpoints were in progress at once, want %d: %+v", most, limit, h)
			}
		})
	}
}

// TestCheckpointPacingOptionsChecked: a pacing option out of range fails
// the job at Execute, naming the setting.
func TestCheckpointPacingOptionsChecked(t *testing.T) {
	for _, c := range []struct {
		opt  freshet.CheckpointOption
		want string
	}{
		{freshet.CheckpointTimeout(0), "checkpoint timeout must be positive"},
		{freshet.MinPauseBetweenCheckpoints(-time.Second), "minimum pause between checkpoints must not be negative"},
		{freshet.MaxConcurrentCheckpoints(0), "max concurrent checkpoints must be at least 1"},
	} {
		env := freshet.NewEnv(freshet.WithCheckpointing(time.Second, c.opt))
		freshet.SinkTo(freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(1)), "numbers"), &collectSink[int64]{}, "sink")
		if err := env.Execute(context.Background(), "bad"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Execute = %v, want an error saying %q", err, c.want)
		}
	}
}
