package nexmark_test

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/nexmark"
	"github.com/freshet-io/freshet/state"
)

// totals is what TestRestoreFromCheckpoint sums per kind of event: a
// missing or repeated event changes it.
type totals struct {
	Kind         nexmark.Kind
	Count, Times int64
}

var totalsState = state.NewValue[totals]("totals")

// TestRestoreFromCheckpoint fails a job once after a checkpoint has
// completed: the restarted job resumes the generator's splits from their
// recorded positions, so the totals, emitted only when the input ends,
// count every event exactly once.
func TestRestoreFromCheckpoint(t *testing.T) {
	cfg := nexmark.GeneratorConfig{Events: 20_000, Rate: 20_000, SplitRun: 500, Seed: 3}
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(quiet),
		freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(t.TempDir())),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(3, 10*time.Millisecond)))
	events, err := nexmark.Events(env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var armed, failed atomic.Bool
	sums := freshet.KeyedProcess(freshet.KeyBy(events, func(e nexmark.Event) nexmark.Kind { return e.Kind }),
		freshet.KeyedProcessFuncWithTimers(
			func(ctx *freshet.KeyedContext[nexmark.Kind], e nexmark.Event, _ freshet.Collector[totals]) error {
				if armed.Load() && !failed.Swap(true) {
					return errors.New("injected failure")
				}
				s := state.Value(ctx.State(), totalsState)
				v, ok := s.Value()
				if !ok {
					ctx.TimerService().RegisterEventTimeTimer(math.MaxInt64)
				}
				v.Kind, v.Count, v.Times = e.Kind, v.Count+1, v.Times+e.Time
				s.Update(v)
				return nil
			},
			func(ctx *freshet.KeyedContext[nexmark.Kind], _ int64, out freshet.Collector[totals]) error {
				v, _ := state.Value(ctx.State(), totalsState).Value()
				out.Collect(v)
				return nil
			}))
	got := freshet.Collect(sums)
	jc, err := env.ExecuteAsync(context.Background(), "nexmark restore")
	if err != nil {
		t.Fatal(err)
	}
	go func() { // arm the failure once a checkpoint has completed
		for !armed.Load() {
			select {
			case <-jc.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
			if c, ok := jc.LatestCheckpoint(); ok && c.ID >= 2 {
				armed.Store(true)
			}
		}
	}()
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	if !failed.Load() || jc.Restarts() != 1 {
		t.Fatalf("failed %v, restarts %d: want one failure after a checkpoint", failed.Load(), jc.Restarts())
	}
	var want [3]totals
	g := newGen(t, cfg)
	for n := range cfg.Events {
		e := g.Event(n)
		w := &want[e.Kind]
		w.Kind, w.Count, w.Times = e.Kind, w.Count+1, w.Times+e.Time
	}
	sameMultiset(t, got.Values(), want[:])
}
