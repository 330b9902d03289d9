package freshet_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/sink"
)

// stuckSink's writers block in their first Write until release is closed,
// ignoring their context: a sink that does not honour cancellation.
type stuckSink struct {
	blocked chan struct{} // closed when a writer has blocked
	release chan struct{}
	once    *sync.Once
}

func newStuckSink() stuckSink {
	return stuckSink{blocked: make(chan struct{}), release: make(chan struct{}), once: &sync.Once{}}
}

func (s stuckSink) CreateWriter(sink.InitContext) (sink.Writer[int64], error) { return s, nil }
func (s stuckSink) Write(int64, sink.Context) error {
	s.once.Do(func() { close(s.blocked) })
	<-s.release
	return nil
}
func (s stuckSink) Flush(bool) error { return nil }
func (s stuckSink) Close() error     { return nil }

// waitClosed fails the test if ch is not closed within a generous time.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting: %s", what)
	}
}

// margin is how much later than the cancellation timeout a stuck job may end
// on a loaded machine.
const margin = 3 * time.Second

func TestCancellationTimeoutAbandonsStuckSink(t *testing.T) {
	defer goleak.VerifyNone(t)
	stuck := newStuckSink()
	// Runs before the leak check: the abandoned writer returns.
	defer close(stuck.release)

	const timeout = 300 * time.Millisecond
	logger, l := newLogger()
	env := freshet.NewEnv(freshet.WithCancellationTimeout(timeout), freshet.WithLogger(logger))
	var produced atomic.Int64
	s := freshet.FromSource[int64, endlessSplit](env, endless{&produced}, "endless")
	freshet.SinkTo[int64](s.Rebalance(), stuck, "stuck sink")

	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- env.Execute(ctx, "stuck") }()
	waitClosed(t, stuck.blocked, "the sink's writer to block")
	cancel()
	cancelled := time.Now()
	var err error
	select {
	case err = <-result:
	case <-time.After(timeout + margin):
		t.Fatalf("Execute still running %s after cancellation with a %s cancellation timeout", timeout+margin, timeout)
	}
	if took := time.Since(cancelled); took < timeout {
		t.Errorf("Execute returned %s after cancellation, before the %s timeout", took, timeout)
	}
	if !errors.Is(err, freshet.ErrCancellationTimeout) {
		t.Fatalf("Execute = %v, want ErrCancellationTimeout", err)
	}
	if !strings.Contains(err.Error(), `"stuck sink (1/1)"`) || !strings.Contains(err.Error(), `operator "stuck sink"`) {
		t.Errorf("error %q does not name the stuck subtask and its operator", err)
	}

	if got, want := msgs(l.where("job ")), []string{"job submitted", "job running", "job cancelling", "job failed"}; !slices.Equal(got, want) {
		t.Errorf("job messages = %q, want %q", got, want)
	}
	abandoned := l.where("subtask abandoned")
	if len(abandoned) != 1 {
		t.Fatalf("%d subtasks logged as abandoned, want 1", len(abandoned))
	}
	if e := abandoned[0]; e.Level != slog.LevelError || e.str("operator") != "stuck sink" || e.int("subtask") != 0 ||
		!strings.Contains(e.str("error"), "abandoned") {
		t.Errorf("abandoned subtask logged as %s %v", e.Level, e.Attrs)
	}
	// The source stopped when cancelled; it was not abandoned.
	for _, e := range l.where("subtask cancelled") {
		if e.str("operator") != "endless" {
			t.Errorf("%s logged as cancelled", e.str("operator"))
		}
	}
}

// failAfterStuck fails on record at, once the sink downstream is stuck.
type failAfterStuck struct {
	freshet.BaseFunction
	at    int64
	stuck <-chan struct{}
}

func (f failAfterStuck) ProcessElement(ctx *freshet.Context, v int64, out freshet.Collector[int64]) error {
	if v == f.at {
		select {
		case <-f.stuck:
		case <-time.After(10 * time.Second):
		}
		return errors.New("bad record")
	}
	out.Collect(v)
	return nil
}

func TestCancellationTimeoutKeepsTheRootCause(t *testing.T) {
	defer goleak.VerifyNone(t)
	stuck := newStuckSink()
	defer close(stuck.release)

	const timeout = 300 * time.Millisecond
	env := freshet.NewEnv(freshet.WithCancellationTimeout(timeout), freshet.WithLogger(slog.New(slog.DiscardHandler)))
	var produced atomic.Int64
	s := freshet.FromSource[int64, endlessSplit](env, endless{&produced}, "endless")
	// Failing after more than a batch has gone to the sink: by then the
	// sink's gate holds records, so the sink blocks even if it only reads
	// them after the failure.
	validated := freshet.Process(s, freshet.ProcessFunction[int64, int64](failAfterStuck{at: 2000, stuck: stuck.blocked})).Name("validator")
	freshet.SinkTo[int64](validated.Rebalance(), stuck, "stuck sink")

	c, err := env.ExecuteAsync(context.Background(), "fails while stuck")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(10*time.Second + timeout + margin):
		t.Fatal("job still running after its failure and the cancellation timeout")
	}
	err = c.Wait()
	var oe *operator.Error
	if !errors.As(err, &oe) || oe.Operator != "validator" || !strings.Contains(err.Error(), "bad record") {
		t.Errorf("Wait = %v, want the validator's failure as the root cause", err)
	}
	if !errors.Is(err, freshet.ErrCancellationTimeout) || !strings.Contains(err.Error(), `"stuck sink (1/1)"`) {
		t.Errorf("Wait = %v, want it to name the stuck sink subtask too", err)
	}
	if c.Status() != freshet.JobFailed {
		t.Errorf("status %s, want FAILED", c.Status())
	}
}

func TestWithCancellationTimeoutRejectsNegative(t *testing.T) {
	env := freshet.NewEnv(freshet.WithCancellationTimeout(-time.Second))
	freshet.Collect(freshet.FromElements(env, 1))
	if err := env.Execute(context.Background(), "negative timeout"); !errors.Is(err, freshet.ErrInvalidConfig) || !strings.Contains(err.Error(), "cancellation timeout") {
		t.Errorf("Execute = %v, want ErrInvalidConfig naming the cancellation timeout", err)
	}
}
