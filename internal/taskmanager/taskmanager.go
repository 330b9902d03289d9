// Package taskmanager runs subtasks in slots: it deploys what the JobManager
// sends, owns the subtasks' goroutines, registers their input gates with the
// exchange, and reports every state change back.
//
// Every state change it reports is also logged, with the attributes "job",
// "job_name", "operator" (the vertex's name), "subtask" (the index, from 0),
// "attempt" and "task_manager", and "error" for a failure.
//
// Once a job is cancelled (or failing), each of its subtasks has the job's
// cancellation timeout to stop. Go cannot stop a goroutine from outside, so
// a subtask still running after it (a user function or sink ignoring its
// context) is abandoned: its goroutine is left running, the TaskManager
// releases what it holds for it, logs it at ERROR and reports it failed
// with an error wrapping rpc.ErrCancellationTimeout.
package taskmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/freshet-io/freshet/internal/checkpoint/storage"
	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/metrics"
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
	// Metrics receives the subtasks' counters; nil means a registry of
	// the TaskManager's own (see TaskManager.Metrics).
	Metrics *metrics.Registry
	// Graphs resolves the graph references of deployments: the process's
	// job graphs (registered by the JobManager of an embedded cluster, or
	// rebuilt by a worker). Nil resolves none.
	Graphs *graph.Registry
	// Storages holds the checkpoint storages open in this process (the
	// embedded JobManager's); a deployment's storage not there is opened
	// by the TaskManager from its location. Nil holds none.
	Storages *storage.Registry
	// Errors, shared with a JobManager in this process, keeps the original
	// errors the TaskManager's messages serialize; nil keeps none.
	Errors *rpc.ErrorTable
	// DataPlane connects the subtasks with those of other TaskManagers:
	// a LocalDataPlane in an embedded cluster, a NetworkDataPlane over
	// the TaskManager's netx.Manager between processes. Nil reaches none.
	DataPlane DataPlane
	// OnAbandon, when set, is called with the failure of a subtask that
	// ignored cancellation, before its failure is reported: a cluster's
	// worker then exits, as Go cannot stop the subtask's goroutine, and
	// its TaskManager process reports the failure once it sees the exit —
	// so a restart never finds the dying worker still there.
	OnAbandon func(error)
}

// TaskManager runs subtasks. It implements rpc.TaskManagerGateway.
type TaskManager struct {
	cfg      Config
	jm       rpc.JobManagerGateway
	registry *exchange.Registry
	// wg counts the subtasks' goroutines until they end or are abandoned,
	// and the cancellation watchdogs.
	wg sync.WaitGroup

	mu struct {
		sync.Mutex
		jobs  map[rpc.JobID]*job
		tasks map[rpc.ExecutionID]*subtask
		// slots holds the job each slot runs subtasks of ("" for free).
		slots []rpc.JobID
	}
}

type job struct {
	ctx    context.Context
	cancel context.CancelFunc
	// storages are the checkpoint storages the TaskManager opened for the
	// job's subtasks; closed once the job is cancelled and its last
	// subtask has ended. live counts its subtasks, canceled tells that it
	// was cancelled.
	storages map[rpc.StorageRef]*storage.Storage
	live     int
	canceled bool
	// cancelTimeout is how long its subtasks may take to stop once it is
	// cancelled; 0 waits for ever.
	cancelTimeout time.Duration
}

// subtask is a deployed subtask, from SubmitTask until it ends or is abandoned.
type subtask struct {
	exec     rpc.ExecutionID
	job      *job
	task     *task.Task
	name     string       // "Name (i/n)", as Flink names subtasks
	operator string       // the vertex's name
	log      *slog.Logger // with the subtask's attributes
	gate     *exchange.Gate
	key      exchange.GateKey
	metrics  *metrics.Subtask
	// ran is closed when the subtask's Run has returned.
	ran chan struct{}
	// ended makes ending it happen once: by its goroutine, or by the
	// watchdog that abandons it.
	ended sync.Once
	// receivers stop its gate channels' receiving from other
	// TaskManagers; set before it runs.
	receivers []func()
	// out holds its channels to other TaskManagers, closed once it ends.
	out struct {
		sync.Mutex
		writers []DataWriter
		closed  bool
	}
}

// addWriter keeps w to close when s ends; it closes w and fails when s
// has ended already (an abandoned subtask still building its outputs).
func (s *subtask) addWriter(w DataWriter) error {
	s.out.Lock()
	defer s.out.Unlock()
	if s.out.closed {
		_ = w.Close()
		return fmt.Errorf("subtask %s has ended", s.exec)
	}
	s.out.writers = append(s.out.writers, w)
	return nil
}

// closeWriters closes s's channels to other TaskManagers.
func (s *subtask) closeWriters() {
	s.out.Lock()
	ws := s.out.writers
	s.out.writers, s.out.closed = nil, true
	s.out.Unlock()
	for _, w := range ws {
		_ = w.Close()
	}
}

// New returns a TaskManager that reports to jm and registers the input
// gates of its subtasks in registry, which is its own.
func New(cfg Config, jm rpc.JobManagerGateway, registry *exchange.Registry) *TaskManager {
	if cfg.GateCapacity < 1 {
		cfg.GateCapacity = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewRegistry()
	}
	tm := &TaskManager{cfg: cfg, jm: jm, registry: registry}
	tm.mu.jobs = map[rpc.JobID]*job{}
	tm.mu.tasks = map[rpc.ExecutionID]*subtask{}
	tm.mu.slots = make([]rpc.JobID, max(cfg.Slots, 0))
	return tm
}

// ID implements rpc.TaskManagerGateway.
func (tm *TaskManager) ID() string { return tm.cfg.ID }

// Metrics is the registry of the counters of the TaskManager's subtasks.
func (tm *TaskManager) Metrics() *metrics.Registry { return tm.cfg.Metrics }

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
	if d.Graph.Job != d.Exec.Job {
		return fmt.Errorf("deploying %s: the graph reference names job %s", d.Exec, d.Graph.Job)
	}
	if tm.cfg.Graphs == nil {
		return fmt.Errorf("deploying %s: %w: the TaskManager has no graph registry", d.Exec, graph.ErrNoGraph)
	}
	g, err := tm.cfg.Graphs.Lookup(string(d.Graph.Job), d.Graph.Fingerprint)
	if err != nil {
		return fmt.Errorf("deploying %s: %w", d.Exec, err)
	}
	var vertex *graph.Vertex
	for _, v := range g.Vertices {
		if v.ID == d.Exec.Vertex {
			vertex = v
		}
	}
	if vertex == nil {
		return fmt.Errorf("deploying %s: job graph has no vertex %d", d.Exec, d.Exec.Vertex)
	}
	exec := d.Exec
	consumers := make(map[[2]int]string, len(d.Consumers))
	for _, c := range d.Consumers {
		consumers[[2]int{c.Vertex, c.Subtask}] = c.TaskManager
	}
	producers := make(map[[2]int]string, len(d.Producers))
	for _, p := range d.Producers {
		producers[[2]int{p.Vertex, p.Subtask}] = p.TaskManager
	}
	tm.mu.Lock()
	if d.Slot < 0 || d.Slot >= len(tm.mu.slots) {
		tm.mu.Unlock()
		return fmt.Errorf("deploying %s: %w: the TaskManager %s has no slot %d", d.Exec, rpc.ErrSlotNotAllocated, tm.cfg.ID, d.Slot)
	}
	if owner := tm.mu.slots[d.Slot]; owner != "" && owner != exec.Job {
		tm.mu.Unlock()
		return fmt.Errorf("deploying %s: %w: slot %d of TaskManager %s holds job %s", d.Exec, rpc.ErrSlotNotAllocated, d.Slot, tm.cfg.ID, owner)
	}
	tm.mu.slots[d.Slot] = exec.Job
	j := tm.jobLocked(exec.Job)
	j.live++ // held while deploying, so the job's storages stay open
	tm.mu.Unlock()
	ckSpec, restore, err := tm.checkpointSpec(ctx, j, exec, d)
	if err != nil {
		tm.mu.Lock()
		tm.releaseLocked(j)
		tm.mu.Unlock()
		return fmt.Errorf("deploying %s: %w", d.Exec, err)
	}
	s := &subtask{
		exec:     exec,
		job:      j,
		operator: vertex.Name(),
		key:      exchange.GateKey{Job: string(exec.Job), Vertex: vertex.ID, Subtask: exec.Subtask},
		ran:      make(chan struct{}),
		metrics:  tm.cfg.Metrics.Subtask(metrics.Key{Job: string(exec.Job), Vertex: vertex.ID, Subtask: exec.Subtask}, exec.Attempt),
		log: tm.cfg.Logger.With(
			slog.String("job", string(exec.Job)), slog.String("job_name", g.Name),
			slog.String("operator", vertex.Name()), slog.Int("subtask", exec.Subtask), slog.Int("attempt", exec.Attempt),
			slog.String("task_manager", tm.cfg.ID)),
	}
	if len(vertex.Inputs) > 0 {
		s.gate = exchange.NewGate(len(vertex.GateChannels(exec.Subtask)), tm.cfg.GateCapacity)
		tm.registry.Register(s.key, s.gate)
	}
	s.task = task.New(task.Spec{
		Vertex: vertex, Subtask: exec.Subtask, Attempt: exec.Attempt, Config: task.ConfigFromRPC(d.Config), Gate: s.gate,
		Channel: func(ctx context.Context, v, j, ch int) (exchange.ChannelWriter, error) {
			key := exchange.GateKey{Job: string(exec.Job), Vertex: v, Subtask: j}
			at, ok := consumers[[2]int{v, j}]
			if !ok {
				return nil, fmt.Errorf("the deployment names no location for subtask %d of vertex %d", j, v)
			}
			if at == tm.cfg.ID {
				return tm.registry.Channel(ctx, key, ch)
			}
			if tm.cfg.DataPlane == nil {
				return nil, fmt.Errorf("reaching gate %s on TaskManager %s: no data plane", key, at)
			}
			w, err := tm.cfg.DataPlane.Channel(ctx, DataChannel{Job: string(exec.Job), Attempt: exec.Attempt,
				ProducerVertex: exec.Vertex, ProducerSubtask: exec.Subtask, ConsumerVertex: v, ConsumerSubtask: j, Channel: ch,
				TaskManager: at, Address: d.DataAddresses[at]})
			if err != nil {
				return nil, err
			}
			if err := s.addWriter(w); err != nil {
				return nil, err
			}
			return w, nil
		},
		SendEvent: func(event []byte) {
			// The coordinator never blocks its callers, so neither does this.
			_ = tm.jm.SendOperatorEvent(context.Background(), exec, event)
		},
		Checkpoints: ckSpec,
		Restore:     restore,
		Running: func() {
			s.metrics.SetState(rpc.TaskRunning.String())
			tm.report(j.ctx, s.log, update{Exec: exec, State: rpc.TaskRunning})
		},
		Logger:  s.log,
		Metrics: s.metrics,
	})
	s.name = s.task.Name()
	if err := tm.receive(s, vertex, producers); err != nil {
		for _, stop := range s.receivers {
			stop()
		}
		tm.registry.Unregister(s.key, s.gate)
		tm.mu.Lock()
		tm.releaseLocked(j)
		tm.mu.Unlock()
		return fmt.Errorf("deploying %s: %w", d.Exec, err)
	}
	tm.mu.Lock()
	j.cancelTimeout = d.CancellationTimeout
	tm.mu.tasks[exec] = s
	tm.mu.Unlock()
	s.log.Info("subtask deployed")

	tm.wg.Add(1)
	go func() {
		s.metrics.SetState(rpc.TaskInitializing.String())
		tm.report(j.ctx, s.log, update{Exec: exec, State: rpc.TaskInitializing})
		err := s.task.Run(j.ctx)
		close(s.ran)
		u := update{Exec: exec, State: rpc.TaskFinished}
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled) && (j.ctx.Err() != nil || errors.Is(err, task.ErrDownstreamClosed)):
			u.State = rpc.TaskCanceled
		default:
			u.State, u.Err = rpc.TaskFailed, err
		}
		if !tm.end(s, u) {
			s.log.Warn("abandoned subtask returned", slog.String("state", u.State.String()), slog.Any("error", u.Err))
		}
	}()
	return nil
}

// end releases what the TaskManager holds for s and reports u, unless s
// has already ended; it reports whether it did.
func (tm *TaskManager) end(s *subtask, u update) bool {
	first := false
	s.ended.Do(func() {
		first = true
		if s.gate != nil {
			tm.registry.Unregister(s.key, s.gate)
			// An abandoned subtask no longer reads its gate: release its
			// producers (for one that returned, the gate is closed already).
			s.gate.Close()
		}
		for _, stop := range s.receivers {
			stop()
		}
		tm.mu.Lock()
		delete(tm.mu.tasks, s.exec)
		tm.releaseLocked(s.job)
		tm.mu.Unlock()
		s.metrics.SetState(u.State.String())
		tm.report(context.Background(), s.log, u)
		// After the report: a consumer elsewhere that learns of a
		// failure through its closed channel reports after the cause.
		s.closeWriters()
		tm.wg.Done()
	})
	return first
}

// receive has the data plane feed the channels of s's input gate whose
// producers run on other TaskManagers (by producers, the deployment's
// locations); a channel whose producer has no location given is taken to
// be local. A channel that fails fails s, unless its job is cancelled.
func (tm *TaskManager) receive(s *subtask, vertex *graph.Vertex, producers map[[2]int]string) error {
	if s.gate == nil {
		return nil
	}
	exec := s.exec
	for i, cs := range vertex.GateChannels(exec.Subtask) {
		at, ok := producers[[2]int{cs.Edge.Source.ID, cs.Subtask}]
		if !ok || at == tm.cfg.ID {
			continue
		}
		if tm.cfg.DataPlane == nil {
			return fmt.Errorf("receiving from subtask %d of vertex %d on TaskManager %s: no data plane", cs.Subtask, cs.Edge.Source.ID, at)
		}
		ch := DataChannel{Job: string(exec.Job), Attempt: exec.Attempt, ProducerVertex: cs.Edge.Source.ID, ProducerSubtask: cs.Subtask,
			ConsumerVertex: exec.Vertex, ConsumerSubtask: exec.Subtask, Channel: i, TaskManager: at}
		stop, err := tm.cfg.DataPlane.Receive(ch, s.gate.RemoteChannel(i), func(err error) {
			if s.job.ctx.Err() != nil {
				return // cancelled: its channels fail as their peers stop
			}
			// A subtask that has ended needs no failure.
			_ = s.task.PostPriority(func() error { return err })
		})
		if err != nil {
			return err
		}
		s.receivers = append(s.receivers, stop)
	}
	return nil
}

// report logs a subtask's state change and sends it to the JobManager.
func (tm *TaskManager) report(ctx context.Context, log *slog.Logger, u update) {
	switch {
	case u.State == rpc.TaskInitializing:
		log.Info("subtask initializing")
	case u.State == rpc.TaskRunning:
		log.Info("subtask running")
	case u.State == rpc.TaskFinished:
		log.Info("subtask finished")
	case u.State == rpc.TaskCanceled:
		log.Info("subtask cancelled")
	case errors.Is(u.Err, rpc.ErrCancellationTimeout):
		log.Error("subtask abandoned", slog.Any("error", u.Err))
	default:
		log.Warn("subtask failed", slog.Any("error", u.Err))
	}
	_ = tm.jm.UpdateTaskState(ctx, rpc.TaskUpdate{Exec: u.Exec, State: u.State, Err: rpc.SerializeError(u.Err, tm.cfg.Errors)})
}

// update is a subtask's state change before it is sent.
type update struct {
	Exec  rpc.ExecutionID
	State rpc.TaskState
	Err   error
}

// releaseLocked drops a hold on j's storages, and closes those the
// TaskManager opened once j was cancelled and nothing holds them.
func (tm *TaskManager) releaseLocked(j *job) {
	j.live--
	if j.live > 0 || !j.canceled {
		return
	}
	for ref, st := range j.storages {
		_ = st.Close()
		delete(j.storages, ref)
	}
}

// storage returns the storage ref names for j's subtasks: the one open in
// this process, or one the TaskManager opens for the job.
func (tm *TaskManager) storage(ctx context.Context, j *job, ref rpc.StorageRef) (*storage.Storage, error) {
	if tm.cfg.Storages != nil {
		if st, ok := tm.cfg.Storages.Lookup(ref.Location, ref.Job); ok {
			return st, nil
		}
	}
	tm.mu.Lock()
	st := j.storages[ref]
	tm.mu.Unlock()
	if st != nil {
		return st, nil
	}
	if ref.Location == "" {
		return nil, fmt.Errorf("checkpoint storage of job folder %q has no location to open it at", ref.Job)
	}
	st, err := storage.Open(ctx, ref.Location, ref.Job)
	if err != nil {
		return nil, err
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if prev := j.storages[ref]; prev != nil {
		_ = st.Close()
		return prev, nil
	}
	if j.storages == nil {
		j.storages = map[rpc.StorageRef]*storage.Storage{}
	}
	j.storages[ref] = st
	return st, nil
}

// CancelJob implements rpc.TaskManagerGateway. It cancels the job's
// subtasks and, with a cancellation timeout, starts a watchdog that
// abandons those still running when it expires.
func (tm *TaskManager) CancelJob(_ context.Context, id rpc.JobID) error {
	tm.mu.Lock()
	j, ok := tm.mu.jobs[id]
	delete(tm.mu.jobs, id)
	if ok {
		j.canceled = true
		j.live++
		tm.releaseLocked(j) // closes the storages if no subtask runs
	}
	for i, owner := range tm.mu.slots {
		if owner == id {
			tm.mu.slots[i] = ""
		}
	}
	var running []*subtask
	if ok && j.cancelTimeout > 0 {
		for exec, s := range tm.mu.tasks {
			if exec.Job == id {
				running = append(running, s)
			}
		}
	}
	if len(running) > 0 {
		tm.wg.Add(1)
	}
	tm.mu.Unlock()
	if !ok {
		return nil
	}
	j.cancel()
	if len(running) > 0 {
		go tm.watch(j.cancelTimeout, running)
	}
	return nil
}

// watch waits for the subtasks of a cancelled job to stop, and abandons
// those that are still running after timeout.
func (tm *TaskManager) watch(timeout time.Duration, subtasks []*subtask) {
	defer tm.wg.Done()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for i, s := range subtasks {
		select {
		case <-s.ran:
		case <-deadline.C:
			for _, s := range subtasks[i:] {
				select {
				case <-s.ran:
				default:
					tm.abandon(s, timeout)
				}
			}
			return
		}
	}
}

// abandon ends a subtask that did not stop within the cancellation timeout.
// Its goroutine is left running: nothing in Go can stop it.
func (tm *TaskManager) abandon(s *subtask, timeout time.Duration) {
	err := fmt.Errorf("%w: subtask %q (operator %q, attempt %d) still running %s after cancellation; its goroutine is abandoned",
		rpc.ErrCancellationTimeout, s.name, s.operator, s.exec.Attempt, timeout)
	if tm.cfg.OnAbandon != nil {
		tm.cfg.OnAbandon(err)
	}
	tm.end(s, update{Exec: s.exec, State: rpc.TaskFailed, Err: err})
}

// checkpointSpec returns how the subtask of d takes checkpoints and what
// it restores from.
func (tm *TaskManager) checkpointSpec(ctx context.Context, j *job, exec rpc.ExecutionID, d rpc.TaskDeployment) (*task.CheckpointSpec, *task.Restore, error) {
	var restore *task.Restore
	if r := d.Restore; r != nil {
		st, err := tm.storage(ctx, j, r.Storage)
		if err != nil {
			return nil, nil, fmt.Errorf("opening the storage of checkpoint %d: %w", r.Checkpoint.ID, err)
		}
		restore = &task.Restore{Storage: st, Checkpoint: task.CheckpointFromRPC(r.Checkpoint)}
	}
	c := d.Checkpoints
	if c == nil {
		return nil, restore, nil
	}
	st, err := tm.storage(ctx, j, c.Storage)
	if err != nil {
		return nil, nil, fmt.Errorf("opening checkpoint storage: %w", err)
	}
	return &task.CheckpointSpec{
		Mode: task.ModeFromRPC(c.Mode), AlignedTimeout: c.AlignedTimeout, Storage: st,
		Ack: func(id int64, files []storage.File, size int64) {
			_ = tm.jm.AcknowledgeCheckpoint(context.Background(), rpc.CheckpointAck{Exec: exec, Checkpoint: id, Files: task.FilesToRPC(files), Size: size})
		},
		Decline: func(id int64, err error) {
			_ = tm.jm.DeclineCheckpoint(context.Background(), rpc.CheckpointDecline{Exec: exec, Checkpoint: id, Err: rpc.SerializeError(err, tm.cfg.Errors)})
		},
		Final: c.Final,
		AwaitFinal: func() {
			_ = tm.jm.AwaitFinalCheckpoint(context.Background(), rpc.FinalCheckpointWanted{Exec: exec})
		},
	}, restore, nil
}

// TriggerCheckpoint implements rpc.TaskManagerGateway.
func (tm *TaskManager) TriggerCheckpoint(_ context.Context, exec rpc.ExecutionID, id int64, o rpc.TriggerOptions) error {
	opts := task.TriggerOptionsFromRPC(o)
	tm.mu.Lock()
	s, ok := tm.mu.tasks[exec]
	tm.mu.Unlock()
	if !ok {
		return fmt.Errorf("triggering checkpoint %d at %s: %w", id, exec, rpc.ErrNoSuchTask)
	}
	t := s.task
	if err := t.Post(func() error { return t.TriggerCheckpoint(id, opts) }); err != nil {
		return fmt.Errorf("triggering checkpoint %d at %s: %w", id, exec, rpc.ErrNoSuchTask)
	}
	return nil
}

// NotifyCheckpoint implements rpc.TaskManagerGateway.
func (tm *TaskManager) NotifyCheckpoint(_ context.Context, job rpc.JobID, attempt int, id int64, complete bool) error {
	tm.mu.Lock()
	var ts []*task.Task
	for exec, s := range tm.mu.tasks {
		if exec.Job == job && exec.Attempt == attempt {
			ts = append(ts, s.task)
		}
	}
	tm.mu.Unlock()
	for _, t := range ts {
		// A subtask that has ended needs no notification.
		_ = t.Post(func() error { return t.NotifyCheckpoint(id, complete) })
	}
	return nil
}

// SendOperatorEvent implements rpc.TaskManagerGateway.
func (tm *TaskManager) SendOperatorEvent(ctx context.Context, exec rpc.ExecutionID, event []byte) error {
	tm.mu.Lock()
	s, ok := tm.mu.tasks[exec]
	tm.mu.Unlock()
	if !ok {
		return fmt.Errorf("sending event to %s: %w", exec, rpc.ErrNoSuchTask)
	}
	t := s.task
	err := t.Post(func() error { return t.HandleEvent(event) })
	if errors.Is(err, task.ErrTaskEnded) {
		return fmt.Errorf("sending event to %s: %w", exec, rpc.ErrNoSuchTask)
	}
	return err
}

// Close cancels every job and waits for all subtasks to end, or, for a
// subtask that ignores the cancellation, for its job's cancellation timeout
// to abandon it (with no timeout, Close waits for ever).
func (tm *TaskManager) Close() error {
	tm.mu.Lock()
	var ids []rpc.JobID
	for id := range tm.mu.jobs {
		ids = append(ids, id)
	}
	tm.mu.Unlock()
	for _, id := range ids {
		_ = tm.CancelJob(context.Background(), id)
	}
	tm.wg.Wait()
	return nil
}
