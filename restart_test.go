package freshet_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/sink"
)

// byAttempt is a sink that keeps what each attempt of the job wrote.
type byAttempt struct {
	mu   sync.Mutex
	vals map[int][]int
}

func (b *byAttempt) CreateWriter(ctx sink.InitContext) (sink.Writer[int], error) {
	return &attemptWriter{b: b, attempt: ctx.Attempt()}, nil
}

func (b *byAttempt) get(attempt int) []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.vals[attempt])
}

type attemptWriter struct {
	b       *byAttempt
	attempt int
}

func (w *attemptWriter) Write(v int, _ sink.Context) error {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	w.b.vals[w.attempt] = append(w.b.vals[w.attempt], v)
	return nil
}
func (w *attemptWriter) Flush(bool) error { return nil }
func (w *attemptWriter) Close() error     { return nil }

var errFlaky = errors.New("flaky element")

// failUntil fails on element 5 while the attempt is below good.
func failUntil(good int) freshet.ProcessFunction[int, int] {
	return freshet.ProcessFunc(func(ctx *freshet.Context, v int, out freshet.Collector[int]) error {
		if v == 5 && ctx.Runtime().Attempt() < good {
			return fmt.Errorf("attempt %d: %w", ctx.Runtime().Attempt(), errFlaky)
		}
		out.Collect(v * 10)
		return nil
	})
}

func TestFixedDelayRestartRunsNewAttempts(t *testing.T) {
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprintf("parallelism %d", p), func(t *testing.T) {
			logger, logs := newLogger()
			env := freshet.NewEnv(freshet.WithParallelism(p), freshet.WithRestartStrategy(freshet.FixedDelayRestart(3, 10*time.Millisecond)), freshet.WithLogger(logger))
			out := &byAttempt{vals: map[int][]int{}}
			ints := make([]int, 20)
			for i := range ints {
				ints[i] = i
			}
			freshet.SinkTo(freshet.Process(freshet.FromSlice(env, ints), failUntil(2)), out, "by attempt")
			j, err := env.ExecuteAsync(t.Context(), t.Name())
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Wait(); err != nil {
				t.Fatalf("Wait = %v, want the third attempt to finish", err)
			}
			if j.Restarts() != 2 || j.Status() != freshet.JobFinished {
				t.Fatalf("restarts %d, status %v; want 2 and FINISHED", j.Restarts(), j.Status())
			}
			got := out.get(2)
			slices.Sort(got)
			want := make([]int, 20)
			for i := range want {
				want[i] = i * 10
			}
			if !slices.Equal(got, want) {
				t.Fatalf("attempt 2 wrote %v, want %v", got, want)
			}
			if n := len(logs.where("job restarting")); n != 2 {
				t.Fatalf("%d 'job restarting' logs, want 2", n)
			}
		})
	}
}

func TestRestartStrategyGivesUp(t *testing.T) {
	env := freshet.NewEnv(freshet.WithRestartStrategy(freshet.FixedDelayRestart(1, 0)))
	freshet.Collect(freshet.Process(freshet.FromElements(env, 1, 5, 7), failUntil(100)))
	j, err := env.ExecuteAsync(t.Context(), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	err = j.Wait()
	var oe *freshet.OperatorError
	if !errors.Is(err, errFlaky) || !errors.As(err, &oe) || oe.Attempt != 1 {
		t.Fatalf("Wait = %v, want the failure of attempt 1", err)
	}
	if j.Restarts() != 1 || j.Status() != freshet.JobFailed {
		t.Fatalf("restarts %d, status %v; want 1 and FAILED", j.Restarts(), j.Status())
	}
}

func TestCancelWhileRestarting(t *testing.T) {
	env := freshet.NewEnv(freshet.WithRestartStrategy(freshet.FixedDelayRestart(1, time.Hour)))
	freshet.Collect(freshet.Process(freshet.FromElements(env, 5), failUntil(100)))
	j, err := env.ExecuteAsync(t.Context(), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for j.Status() != freshet.JobRestarting {
		if time.Now().After(deadline) {
			t.Fatalf("status %v, want RESTARTING", j.Status())
		}
		time.Sleep(time.Millisecond)
	}
	j.Cancel()
	select {
	case <-j.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a job cancelled while waiting to restart did not end")
	}
	if err := j.Wait(); err != nil || j.Status() != freshet.JobCanceled || j.Restarts() != 0 {
		t.Fatalf("Wait = %v, status %v, restarts %d; want nil, CANCELED, 0", err, j.Status(), j.Restarts())
	}
}

func TestInvalidRestartStrategy(t *testing.T) {
	for _, r := range []freshet.RestartStrategy{{}, freshet.FixedDelayRestart(-1, 0), freshet.FailureRateRestart(1, 0, time.Second), freshet.ExponentialDelayRestart(time.Second, time.Millisecond)} {
		env := freshet.NewEnv(freshet.WithRestartStrategy(r))
		freshet.Collect(freshet.FromElements(env, 1))
		if err := env.Execute(context.Background(), "bad restart"); !errors.Is(err, freshet.ErrInvalidConfig) {
			t.Errorf("%v: Execute = %v, want ErrInvalidConfig", r, err)
		}
	}
}
