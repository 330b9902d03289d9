// Package taskmanager runs subtasks in slots: it deploys what the JobManager
// sends, owns the subtasks' goroutines, registers their input gates with the
// exchange, and reports every state change back.
//
// Every state change it reports is also logged, with the attributes "job",
// "job_name", "operator" (the vertex's name), "subtask" (the index, from 0),
// "attempt" and "task_manager", and "error" for a failure.
package taskmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/task"
)

// Config configures a TaskManager.
type Config struct {
	ID    string
	Slots int
	// GateCapacity is the number of batches each input channel buffers.
	GateCapacity int
	// Logger receives the subtasks' lifecycle logs; nil means slog.Default().
	Logger *slog.Logger
}

// TaskManager runs subtasks. It implements rpc.TaskManagerGateway.
type TaskManager struct {
	cfg      Config
	jm       rpc.JobManagerGateway
	registry *exchange.Registry
	wg       sync.WaitGroup

	mu struct {
		sync.Mutex
		jobs  map[rpc.JobID]*job
		tasks map[rpc.ExecutionID]*task.Task
	}
}

type job struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// New returns a TaskManager that reports to jm and finds gates in registry.
func New(cfg Config, jm rpc.JobManagerGateway, registry *exchange.Registry) *TaskManager {
	if cfg.GateCapacity < 1 {
		cfg.GateCapacity = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tm := &TaskManager{cfg: cfg, jm: jm, registry: registry}
	tm.mu.jobs = map[rpc.JobID]*job{}
	tm.mu.tasks = map[rpc.ExecutionID]*task.Task{}
	return tm
}

// ID implements rpc.TaskManagerGateway.
func (tm *TaskManager) ID() string { return tm.cfg.ID }

// Slots implements rpc.TaskManagerGateway.
func (tm *TaskManager) Slots() int { return tm.cfg.Slots }

func (tm *TaskManager) jobLocked(id rpc.JobID) *job {
	j, ok := tm.mu.jobs[id]
	if !ok {
		ctx, cancel := context.WithCancel(context.Background())
		j = &job{ctx: ctx, cancel: cancel}
		tm.mu.jobs[id] = j
	}
	return j
}

// SubmitTask implements rpc.TaskManagerGateway.
func (tm *TaskManager) SubmitTask(ctx context.Context, d rpc.TaskDeployment) error {
	var vertex *graph.Vertex
	for _, v := range d.Graph.Vertices {
		if v.ID == d.Exec.Vertex {
			vertex = v
		}
	}
	if vertex == nil {
		return fmt.Errorf("deploying %s: job graph has no vertex %d", d.Exec, d.Exec.Vertex)
	}
	var gate *exchange.Gate
	key := exchange.GateKey{Job: string(d.Exec.Job), Vertex: vertex.ID, Subtask: d.Exec.Subtask}
	if len(vertex.Inputs) > 0 {
		gate = exchange.NewGate(len(vertex.GateChannels(d.Exec.Subtask)), tm.cfg.GateCapacity)
		tm.registry.Register(key, gate)
	}
	exec := d.Exec
	log := tm.cfg.Logger.With(
		slog.String("job", string(exec.Job)), slog.String("job_name", d.Graph.Name),
		slog.String("operator", vertex.Name()), slog.Int("subtask", exec.Subtask), slog.Int("attempt", exec.Attempt),
		slog.String("task_manager", tm.cfg.ID))
	t := task.New(task.Spec{
		Vertex: vertex, Subtask: exec.Subtask, Attempt: exec.Attempt, Config: d.Config, Gate: gate,
		Channel: func(ctx context.Context, v, j, ch int) (exchange.ChannelWriter, error) {
			return tm.registry.Channel(ctx, exchange.GateKey{Job: string(exec.Job), Vertex: v, Subtask: j}, ch)
		},
		SendEvent: func(event any) {
			// The coordinator never blocks its callers, so neither does this.
			_ = tm.jm.SendOperatorEvent(context.Background(), exec, event)
		},
	})
	tm.mu.Lock()
	j := tm.jobLocked(exec.Job)
	tm.mu.tasks[exec] = t
	tm.mu.Unlock()
	log.Info("subtask deployed")

	tm.wg.Add(1)
	go func() {
		defer tm.wg.Done()
		tm.report(j.ctx, log, rpc.TaskUpdate{Exec: exec, State: rpc.TaskRunning})
		err := t.Run(j.ctx)
		if gate != nil {
			tm.registry.Unregister(key, gate)
		}
		tm.mu.Lock()
		delete(tm.mu.tasks, exec)
		tm.mu.Unlock()
		u := rpc.TaskUpdate{Exec: exec, State: rpc.TaskFinished}
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled) && (j.ctx.Err() != nil || errors.Is(err, task.ErrDownstreamClosed)):
			u.State = rpc.TaskCanceled
		default:
			u.State, u.Err = rpc.TaskFailed, err
		}
		tm.report(context.Background(), log, u)
	}()
	return nil
}

// report logs a subtask's state change and sends it to the JobManager.
func (tm *TaskManager) report(ctx context.Context, log *slog.Logger, u rpc.TaskUpdate) {
	switch u.State {
	case rpc.TaskRunning:
		log.Info("subtask running")
	case rpc.TaskFinished:
		log.Info("subtask finished")
	case rpc.TaskCanceled:
		log.Info("subtask cancelled")
	case rpc.TaskFailed:
		log.Warn("subtask failed", slog.Any("error", u.Err))
	}
	_ = tm.jm.UpdateTaskState(ctx, u)
}

// CancelJob implements rpc.TaskManagerGateway.
func (tm *TaskManager) CancelJob(_ context.Context, id rpc.JobID) error {
	tm.mu.Lock()
	j, ok := tm.mu.jobs[id]
	delete(tm.mu.jobs, id)
	tm.mu.Unlock()
	if ok {
		j.cancel()
	}
	return nil
}

// SendOperatorEvent implements rpc.TaskManagerGateway.
func (tm *TaskManager) SendOperatorEvent(ctx context.Context, exec rpc.ExecutionID, event any) error {
	tm.mu.Lock()
	t, ok := tm.mu.tasks[exec]
	tm.mu.Unlock()
	if !ok {
		return fmt.Errorf("sending event to %s: %w", exec, rpc.ErrNoSuchTask)
	}
	err := t.Post(ctx, func() error { return t.HandleEvent(event) })
	if errors.Is(err, task.ErrTaskEnded) {
		return fmt.Errorf("sending event to %s: %w", exec, rpc.ErrNoSuchTask)
	}
	return err
}

// Close cancels every job and waits for all subtasks to end.
func (tm *TaskManager) Close() error {
	tm.mu.Lock()
	for id, j := range tm.mu.jobs {
		j.cancel()
		delete(tm.mu.jobs, id)
	}
	tm.mu.Unlock()
	tm.wg.Wait()
	return nil
}
