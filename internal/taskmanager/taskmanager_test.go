package taskmanager

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/source"
)

// fakeJM records the updates a TaskManager reports.
type fakeJM struct{ updates chan rpc.TaskUpdate }

func (f *fakeJM) RegisterTaskManager(context.Context, rpc.TaskManagerGateway) error { return nil }
func (f *fakeJM) UpdateTaskState(_ context.Context, u rpc.TaskUpdate) error {
	f.updates <- u
	return nil
}
func (f *fakeJM) SendOperatorEvent(context.Context, rpc.ExecutionID, []byte) error      { return nil }
func (f *fakeJM) AcknowledgeCheckpoint(context.Context, rpc.CheckpointAck) error        { return nil }
func (f *fakeJM) DeclineCheckpoint(context.Context, rpc.CheckpointDecline) error        { return nil }
func (f *fakeJM) AwaitFinalCheckpoint(context.Context, rpc.FinalCheckpointWanted) error { return nil }

// next returns the next update, failing the test if none comes in time.
func (f *fakeJM) next(t *testing.T, within time.Duration) rpc.TaskUpdate {
	t.Helper()
	select {
	case u := <-f.updates:
		return u
	case <-time.After(within):
		t.Fatalf("no task update within %s", within)
		return rpc.TaskUpdate{}
	}
}

// stuckSource is a source operator whose Poll blocks until release is
// closed, ignoring its context.
type stuckSource struct {
	polling chan struct{}
	release chan struct{}
}

func (s *stuckSource) Setup(any, map[string]any) error { return nil }
func (s *stuckSource) Open(*operator.Context) error    { return nil }
func (s *stuckSource) EndOfInput()                     {}
func (s *stuckSource) Finish() error                   { return nil }
func (s *stuckSource) Close() error                    { return nil }
func (s *stuckSource) Poll() (source.InputStatus, error) {
	close(s.polling)
	<-s.release
	return source.EndOfInput, nil
}
func (s *stuckSource) Available() <-chan struct{}   { return nil }
func (s *stuckSource) HandleEvent([]byte) error     { return nil }
func (s *stuckSource) SetEventSender(func([]byte))  {}
func (s *stuckSource) ProcessWatermark(int64) error { return nil }

// stuckDeployment registers a job of one stuck subtask in graphs and
// returns its deployment.
func stuckDeployment(graphs *graph.Registry, op *stuckSource, timeout time.Duration) rpc.TaskDeployment {
	v := &graph.Vertex{ID: 1, Parallelism: 1, MaxParallelism: 128, Nodes: []*graph.Node{{
		Name: "stuck", MaxParallelism: 128,
		NewOperator: func() (operator.Operator, error) { return op, nil },
	}}}
	g := &graph.JobGraph{Name: "job", Vertices: []*graph.Vertex{v}}
	graphs.Register("job-1", g, g.Fingerprint())
	return rpc.TaskDeployment{
		Exec:                rpc.ExecutionID{Job: "job-1", Vertex: 1},
		Graph:               rpc.GraphRef{Job: "job-1", Name: "job", Fingerprint: g.Fingerprint()},
		CancellationTimeout: timeout,
	}
}

func TestCancelledSubtaskIsAbandonedAfterTimeout(t *testing.T) {
	for _, cancelBy := range []string{"CancelJob", "Close"} {
		t.Run(cancelBy, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			op := &stuckSource{polling: make(chan struct{}), release: make(chan struct{})}
			defer close(op.release)
			jm := &fakeJM{updates: make(chan rpc.TaskUpdate, 8)}
			graphs := graph.NewRegistry()
			abandoned := make(chan error, 2)
			tm := New(Config{ID: "tm", Slots: 1, Logger: slog.New(slog.DiscardHandler), Graphs: graphs,
				OnAbandon: func(err error) { abandoned <- err }}, jm, exchange.NewRegistry())
			const timeout = 100 * time.Millisecond
			d := stuckDeployment(graphs, op, timeout)
			if err := tm.SubmitTask(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			for _, want := range []rpc.TaskState{rpc.TaskInitializing, rpc.TaskRunning} {
				if u := jm.next(t, 5*time.Second); u.State != want {
					t.Fatalf("update %v, want %v", u.State, want)
				}
			}
			<-op.polling

			closed := make(chan struct{})
			start := time.Now()
			if cancelBy == "CancelJob" {
				if err := tm.CancelJob(context.Background(), d.Exec.Job); err != nil {
					t.Fatal(err)
				}
			}
			go func() { _ = tm.Close(); close(closed) }()
			u := jm.next(t, timeout+3*time.Second)
			// No error table: the error arrives as it would from another process.
			if err := u.Err.Err(nil); u.State != rpc.TaskFailed || !errors.Is(err, rpc.ErrCancellationTimeout) || !strings.Contains(err.Error(), `"stuck (1/1)"`) {
				t.Errorf("update %v %v, want FAILED with a cancellation timeout naming the subtask", u.State, u.Err)
			}
			if took := time.Since(start); took < timeout {
				t.Errorf("abandoned after %s, before the %s timeout", took, timeout)
			}
			// A cluster's worker exits on this, once the failure is reported.
			select {
			case err := <-abandoned:
				if !errors.Is(err, rpc.ErrCancellationTimeout) || len(abandoned) != 0 {
					t.Errorf("OnAbandon got %v (and %d more), want the cancellation timeout once", err, len(abandoned))
				}
			case <-time.After(3 * time.Second):
				t.Error("OnAbandon was not called")
			}
			select {
			case <-closed:
			case <-time.After(3 * time.Second):
				t.Fatal("Close waits on the abandoned subtask")
			}
			// The TaskManager no longer knows the subtask.
			if err := tm.SendOperatorEvent(context.Background(), d.Exec, nil); !errors.Is(err, rpc.ErrNoSuchTask) {
				t.Errorf("event to the abandoned subtask: %v, want ErrNoSuchTask", err)
			}
		})
	}
}

func TestNoCancellationTimeoutWaitsForTheSubtask(t *testing.T) {
	defer goleak.VerifyNone(t)
	op := &stuckSource{polling: make(chan struct{}), release: make(chan struct{})}
	jm := &fakeJM{updates: make(chan rpc.TaskUpdate, 8)}
	graphs := graph.NewRegistry()
	tm := New(Config{ID: "tm", Slots: 1, Logger: slog.New(slog.DiscardHandler), Graphs: graphs}, jm, exchange.NewRegistry())
	d := stuckDeployment(graphs, op, 0)
	if err := tm.SubmitTask(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	jm.next(t, 5*time.Second) // INITIALIZING
	jm.next(t, 5*time.Second) // RUNNING
	<-op.polling
	closed := make(chan struct{})
	go func() { _ = tm.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while the subtask was still running, with no cancellation timeout")
	case <-time.After(200 * time.Millisecond):
	}
	close(op.release)
	if u := jm.next(t, 5*time.Second); u.State != rpc.TaskCanceled {
		t.Errorf("update %v %v, want CANCELED", u.State, u.Err)
	}
	<-closed
}

// TestDeploymentNeedsItsSlot: a deployment into a slot the TaskManager
// does not have, or that holds another job, is refused.
func TestDeploymentNeedsItsSlot(t *testing.T) {
	defer goleak.VerifyNone(t)
	op := &stuckSource{polling: make(chan struct{}), release: make(chan struct{})}
	jm := &fakeJM{updates: make(chan rpc.TaskUpdate, 8)}
	graphs := graph.NewRegistry()
	tm := New(Config{ID: "tm", Slots: 1, Logger: slog.New(slog.DiscardHandler), Graphs: graphs}, jm, exchange.NewRegistry())
	d := stuckDeployment(graphs, op, 0)
	defer func() { _ = tm.Close() }()
	defer close(op.release)
	d.Slot = 1
	if err := tm.SubmitTask(context.Background(), d); !errors.Is(err, rpc.ErrSlotNotAllocated) {
		t.Fatalf("deploying into slot 1 of 1: %v, want ErrSlotNotAllocated", err)
	}
	d.Slot = 0
	if err := tm.SubmitTask(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	other := d
	other.Exec.Job, other.Graph.Job = "job-2", "job-2"
	g, err := graphs.Lookup("job-1", d.Graph.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	graphs.Register("job-2", g, d.Graph.Fingerprint)
	if err := tm.SubmitTask(context.Background(), other); !errors.Is(err, rpc.ErrSlotNotAllocated) || !strings.Contains(err.Error(), "holds job job-1") {
		t.Fatalf("deploying another job into a taken slot: %v, want ErrSlotNotAllocated", err)
	}
}
