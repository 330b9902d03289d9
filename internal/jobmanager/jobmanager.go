// Package jobmanager runs jobs: it accepts job graphs, takes slots from the
// registered TaskManagers, deploys every subtask, runs the source
// coordinators, and follows the subtasks' states to the job's end.
//
// It logs every job's lifecycle (submitted, running, failing or cancelling,
// then finished, failed or cancelled) with the attributes "job" and
// "job_name"; the TaskManagers log their subtasks.
package jobmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshet-io/freshet/internal/checkpoint/storage"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/restart"
	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/task"
)

// JobStatus is the state of a job.
type JobStatus uint8

// Job states, as Flink names them.
const (
	JobCreated JobStatus = iota
	JobRunning
	JobFinished
	JobCanceling
	JobCanceled
	JobFailed
	JobRestarting
	// JobFailing: a subtask failed and the others are being cancelled;
	// the job then restarts or fails.
	JobFailing
)

var jobStatusNames = [...]string{"CREATED", "RUNNING", "FINISHED", "CANCELLING", "CANCELED", "FAILED", "RESTARTING", "FAILING"}

func (s JobStatus) String() string { return jobStatusNames[s] }

// Terminal reports whether the job has ended.
func (s JobStatus) Terminal() bool { return s == JobFinished || s == JobCanceled || s == JobFailed }

// ErrNotEnoughSlots is returned when the cluster cannot run a job.
var ErrNotEnoughSlots = errors.New("freshet: not enough task slots")

// Config configures a JobManager.
type Config struct {
	// Logger receives the jobs' lifecycle logs; nil means slog.Default().
	Logger *slog.Logger
	// Graphs is the process-local registry the JobManager registers its
	// jobs' graphs in, for TaskManagers of this process to resolve the
	// graph references of their deployments; nil keeps one of its own.
	Graphs *graph.Registry
	// Storages is the process-local registry the JobManager registers its
	// jobs' open checkpoint storages in, for TaskManagers of this process
	// to use rather than open them again; nil keeps one of its own.
	Storages *storage.Registry
	// Errors, shared with the TaskManagers of this process, gives back the
	// original errors their messages serialized; nil keeps none.
	Errors *rpc.ErrorTable
	// Slots, when set, gives jobs their slots (a cluster's resource
	// manager) instead of the TaskManagers registered with the
	// JobManager; it is asked again before every restart, so that a
	// TaskManager found lost is replaced.
	Slots SlotSource
	// KillsAbandoned tells that a subtask that ignores cancellation has
	// its process killed (a cluster's worker), so its job may restart;
	// otherwise its goroutine may still hold the job's resources and the
	// job fails for good.
	KillsAbandoned bool
}

// SlotSource gives a job master the slots of its job.
type SlotSource interface {
	// Slots returns n slots for the job, releasing those it had.
	Slots(ctx context.Context, job rpc.JobID, n int) ([]Slot, error)
}

// Slot is a slot of a TaskManager.
type Slot struct {
	TaskManager rpc.TaskManagerGateway
	Index       int
}

// JobManager accepts jobs and runs them on its TaskManagers. It implements
// rpc.JobManagerGateway.
type JobManager struct {
	log      *slog.Logger
	graphs   *graph.Registry
	storages *storage.Registry
	errors   *rpc.ErrorTable
	source   SlotSource
	// killsAbandoned: see Config.KillsAbandoned.
	killsAbandoned bool
	nextJob        atomic.Int64
	mu             struct {
		sync.Mutex
		tms []rpc.TaskManagerGateway
		// slots are the slots each TaskManager offered, by index: the
		// job each is allocated to, "" for a free one.
		slots map[string][]rpc.JobID
		jobs  map[rpc.JobID]*Job
	}
}

// New returns a JobManager with no TaskManagers.
func New(cfg Config) *JobManager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Graphs == nil {
		cfg.Graphs = graph.NewRegistry()
	}
	if cfg.Storages == nil {
		cfg.Storages = storage.NewRegistry()
	}
	jm := &JobManager{log: cfg.Logger, graphs: cfg.Graphs, storages: cfg.Storages, errors: cfg.Errors, source: cfg.Slots, killsAbandoned: cfg.KillsAbandoned}
	jm.mu.slots = map[string][]rpc.JobID{}
	jm.mu.jobs = map[rpc.JobID]*Job{}
	return jm
}

// RegisterTaskManager implements rpc.JobManagerGateway.
func (jm *JobManager) RegisterTaskManager(_ context.Context, tm rpc.TaskManagerGateway) error {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	for _, t := range jm.mu.tms {
		if t.ID() == tm.ID() {
			return fmt.Errorf("registering TaskManager %s: already registered", tm.ID())
		}
	}
	jm.mu.tms = append(jm.mu.tms, tm)
	jm.mu.slots[tm.ID()] = make([]rpc.JobID, tm.Slots())
	return nil
}

// TaskManagerInfo describes a registered TaskManager.
type TaskManagerInfo struct {
	ID               string
	Slots, FreeSlots int
}

// TaskManagers returns the registered TaskManagers, in registration order.
func (jm *JobManager) TaskManagers() []TaskManagerInfo {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	out := make([]TaskManagerInfo, 0, len(jm.mu.tms))
	for _, tm := range jm.mu.tms {
		free := 0
		for _, j := range jm.mu.slots[tm.ID()] {
			if j == "" {
				free++
			}
		}
		out = append(out, TaskManagerInfo{ID: tm.ID(), Slots: tm.Slots(), FreeSlots: free})
	}
	return out
}

func (jm *JobManager) job(id rpc.JobID) *Job {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	return jm.mu.jobs[id]
}

// UpdateTaskState implements rpc.JobManagerGateway.
func (jm *JobManager) UpdateTaskState(_ context.Context, u rpc.TaskUpdate) error {
	return jm.post(u.Exec.Job, "task update", taskUpdate{Exec: u.Exec, State: u.State, Err: u.Err.Err(jm.errors)})
}

// AcknowledgeCheckpoint implements rpc.JobManagerGateway.
func (jm *JobManager) AcknowledgeCheckpoint(_ context.Context, a rpc.CheckpointAck) error {
	return jm.post(a.Exec.Job, "checkpoint acknowledgement", checkpointAck{Exec: a.Exec, Checkpoint: a.Checkpoint, Files: task.FilesFromRPC(a.Files), Size: a.Size})
}

// DeclineCheckpoint implements rpc.JobManagerGateway.
func (jm *JobManager) DeclineCheckpoint(_ context.Context, d rpc.CheckpointDecline) error {
	return jm.post(d.Exec.Job, "checkpoint decline", checkpointDecline{Exec: d.Exec, Checkpoint: d.Checkpoint, Err: d.Err.Err(jm.errors)})
}

// taskUpdate is an rpc.TaskUpdate with its error decoded.
type taskUpdate struct {
	Exec  rpc.ExecutionID
	State rpc.TaskState
	Err   error
}

// checkpointAck is an rpc.CheckpointAck with its files decoded.
type checkpointAck struct {
	Exec       rpc.ExecutionID
	Checkpoint int64
	Files      []storage.File
	Size       int64
}

// checkpointDecline is an rpc.CheckpointDecline with its error decoded.
type checkpointDecline struct {
	Exec       rpc.ExecutionID
	Checkpoint int64
	Err        error
}

// AwaitFinalCheckpoint implements rpc.JobManagerGateway.
func (jm *JobManager) AwaitFinalCheckpoint(_ context.Context, w rpc.FinalCheckpointWanted) error {
	return jm.post(w.Exec.Job, "final checkpoint request", w)
}

// post hands ev, a subtask's message of kind what, to its job's loop.
func (jm *JobManager) post(id rpc.JobID, what string, ev any) error {
	j := jm.job(id)
	if j == nil {
		return fmt.Errorf("%s for unknown job %s", what, id)
	}
	j.post(ev)
	return nil
}

// SendOperatorEvent implements rpc.JobManagerGateway.
func (jm *JobManager) SendOperatorEvent(_ context.Context, exec rpc.ExecutionID, event []byte) error {
	j := jm.job(exec.Job)
	if j == nil {
		return fmt.Errorf("operator event for unknown job %s", exec.Job)
	}
	c, ok := j.coordinator(exec.Vertex, exec.Attempt)
	if !ok {
		return fmt.Errorf("operator event for vertex %d of job %s attempt %d, which has no coordinator: %w", exec.Vertex, exec.Job, exec.Attempt, rpc.ErrNoSuchTask)
	}
	c.HandleEvent(exec.Subtask, event)
	return nil
}

// SlotsNeeded is the number of slots a job graph occupies: per slot sharing
// group, the highest parallelism in it.
func SlotsNeeded(g *graph.JobGraph) int {
	groups := map[string]int{}
	for _, v := range g.Vertices {
		groups[v.SlotSharingGroup] = max(groups[v.SlotSharingGroup], v.Parallelism)
	}
	n := 0
	for _, p := range groups {
		n += p
	}
	return n
}

// JobConfig is how a job runs.
type JobConfig struct {
	// ID is the job's id; "" makes one from its name.
	ID rpc.JobID
	// Task is the configuration of every subtask.
	Task task.Config
	// CancellationTimeout is how long a subtask may take to stop once the
	// job is cancelled or failing (Flink's task cancellation timeout). A
	// subtask still running then is abandoned by its TaskManager and the
	// job fails with rpc.ErrCancellationTimeout. 0 waits for ever.
	CancellationTimeout time.Duration
	// Restart decides whether and when the job restarts after a failure;
	// nil never restarts. Each attempt redeploys every subtask with the
	// next attempt number.
	Restart restart.Strategy
	// Checkpoint, when set, turns checkpoints on; an attempt after a
	// failure restarts from the latest completed one.
	Checkpoint *CheckpointConfig
}

// Submit starts a job and returns its handle. The job runs until it finishes,
// fails, or is cancelled; ctx only bounds the submission.
func (jm *JobManager) Submit(ctx context.Context, g *graph.JobGraph, cfg JobConfig) (*Job, error) {
	id := cfg.ID
	if id == "" {
		id = rpc.JobID(fmt.Sprintf("%s-%d", sanitize(g.Name), jm.nextJob.Add(1)))
	}
	log := jm.log.With(slog.String("job", string(id)), slog.String("job_name", g.Name))
	log.Info("job submitted")
	slots, err := jm.allocate(ctx, id, g)
	if err != nil {
		log.Error("job failed", slog.Any("error", err))
		return nil, err
	}
	j := &Job{
		ID: id, Graph: g, jm: jm, cfg: cfg, slots: slots, log: log,
		// As submitted: a restore may set max parallelisms left unset.
		fingerprint: g.Fingerprint(),
		updates:     make(chan any, 64),
		done:        make(chan struct{}),
		cancelReq:   make(chan struct{}),
	}
	j.status.Store(uint32(JobCreated))
	if err := j.openCheckpoints(ctx); err != nil {
		jm.release(j)
		log.Error("job failed", slog.Any("error", err))
		return nil, err
	}
	jm.mu.Lock()
	jm.mu.jobs[id] = j
	jm.mu.Unlock()
	jm.graphs.Register(string(id), g, j.fingerprint)
	if err := j.start(ctx); err != nil {
		log.Error("job failed", slog.Any("error", err))
		return nil, err
	}
	return j, nil
}

func sanitize(s string) string {
	out := []rune{}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			out = append(out, r)
		default:
			out = append(out, '_')
		}
	}
	if len(out) == 0 {
		return "job"
	}
	return string(out)
}

// slot is a slot of a TaskManager given to a job.
type slot struct {
	tm    rpc.TaskManagerGateway
	index int
}

// allocate takes the slots a job needs, spreading them over TaskManagers in
// registration order, each TaskManager's free slots lowest first.
func (jm *JobManager) allocate(ctx context.Context, id rpc.JobID, g *graph.JobGraph) (map[string][]slot, error) {
	need := SlotsNeeded(g)
	var free []slot
	if jm.source != nil {
		got, err := jm.source.Slots(ctx, id, need)
		if err != nil {
			return nil, err
		}
		if len(got) < need {
			return nil, fmt.Errorf("%w: job %q needs %d, was given %d", ErrNotEnoughSlots, g.Name, need, len(got))
		}
		for _, s := range got {
			free = append(free, slot{tm: s.TaskManager, index: s.Index})
		}
	}
	jm.mu.Lock()
	defer jm.mu.Unlock()
	if jm.source == nil {
		for _, tm := range jm.mu.tms {
			for i, owner := range jm.mu.slots[tm.ID()] {
				if owner == "" {
					free = append(free, slot{tm: tm, index: i})
				}
			}
		}
	}
	if len(free) < need {
		return nil, fmt.Errorf("%w: job %q needs %d, the cluster has %d free", ErrNotEnoughSlots, g.Name, need, len(free))
	}
	groups := map[string]int{}
	var order []string
	for _, v := range g.Vertices {
		if _, ok := groups[v.SlotSharingGroup]; !ok {
			order = append(order, v.SlotSharingGroup)
		}
		groups[v.SlotSharingGroup] = max(groups[v.SlotSharingGroup], v.Parallelism)
	}
	out := map[string][]slot{}
	for _, grp := range order {
		for range groups[grp] {
			s := free[0]
			free = free[1:]
			if jm.source == nil {
				jm.mu.slots[s.tm.ID()][s.index] = id
			}
			out[grp] = append(out[grp], s)
		}
	}
	return out, nil
}

func (jm *JobManager) release(j *Job) {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	for _, ss := range j.slots {
		for _, s := range ss {
			if owners := jm.mu.slots[s.tm.ID()]; s.index < len(owners) && owners[s.index] == j.ID {
				owners[s.index] = ""
			}
		}
	}
	delete(jm.mu.jobs, j.ID)
	jm.graphs.Unregister(string(j.ID))
}

// Job is a submitted job.
type Job struct {
	ID    rpc.JobID
	Graph *graph.JobGraph
	jm    *JobManager
	cfg   JobConfig
	// fingerprint is the graph's, as deployments name it.
	fingerprint string
	slots       map[string][]slot
	log         *slog.Logger // with the job's attributes

	status     atomic.Uint32
	restarts   atomic.Int32
	updates    chan any // taskUpdate, checkpoint acks and declines
	done       chan struct{}
	cancelReq  chan struct{}
	cancelOnce sync.Once
	err        error
	startTime  time.Time

	// The current attempt's coordinators, guarded because subtasks' events
	// reach them from other goroutines while the job loop replaces them on
	// a restart.
	coord struct {
		sync.Mutex
		attempt int
		byID    map[int]operator.Coordinator
	}
	// Owned by the job loop.
	attempt int
	// deployFailed is set when a subtask could not be deployed: the job is
	// failing through Cancel, which also ends any wait to restart, so it
	// does not restart.
	deployFailed bool
	states       map[rpc.ExecutionID]rpc.TaskState
	coordCtx     context.Context
	coordCancel  context.CancelFunc
	coordErr     chan error
	// ck is the job's checkpoint storage and history (nil without
	// checkpoints); ckr runs the current attempt's checkpoints.
	ck  *checkpointState
	ckr *checkpointer
	// stopped is set when a stop-with-savepoint completed: the job ends
	// FINISHED however its subtasks stop.
	stopped bool
	// endTime is set before done is closed.
	endTime time.Time
	// failures is the job's exception history, oldest first.
	failures struct {
		sync.Mutex
		list []Failure
	}
}

// Failure is one failure of a job: what made an attempt fail.
type Failure struct {
	Time time.Time
	// Message is the failure's full text.
	Message string
	// Operator, Subtask and Attempt tell where it happened, when a
	// subtask failed (Operator is "" otherwise); Stack is a panic's.
	Operator         string
	Subtask, Attempt int
	Stack            string
}

// maxFailures is how many failures a job's exception history keeps.
const maxFailures = 32

// recordFailure adds err to the job's exception history.
func (j *Job) recordFailure(err error) {
	f := Failure{Time: time.Now(), Message: err.Error(), Subtask: -1}
	var oe *operator.Error
	if errors.As(err, &oe) {
		f.Operator, f.Subtask, f.Attempt, f.Stack = oe.Operator, oe.Subtask, oe.Attempt, oe.Stack
	}
	j.failures.Lock()
	defer j.failures.Unlock()
	j.failures.list = append(j.failures.list, f)
	if n := len(j.failures.list); n > maxFailures {
		j.failures.list = append([]Failure(nil), j.failures.list[n-maxFailures:]...)
	}
}

// Failures returns the job's failures, oldest first: one per failed
// attempt, the last its final failure if it failed.
func (j *Job) Failures() []Failure {
	j.failures.Lock()
	defer j.failures.Unlock()
	return append([]Failure(nil), j.failures.list...)
}

// StartTime is when the job started.
func (j *Job) StartTime() time.Time { return j.startTime }

// EndTime is when the job ended; zero while it runs.
func (j *Job) EndTime() time.Time {
	select {
	case <-j.done:
		return j.endTime
	default:
		return time.Time{}
	}
}

// CheckpointingEnabled reports whether the job takes checkpoints (and
// so savepoints).
func (j *Job) CheckpointingEnabled() bool { return j.ck != nil }

// Status returns the job's current status.
func (j *Job) Status() JobStatus { return JobStatus(j.status.Load()) }

// Restarts is how many times the job has restarted after a failure.
func (j *Job) Restarts() int { return int(j.restarts.Load()) }

// Done is closed when the job has ended and all its subtasks have stopped
// or, having ignored cancellation, were abandoned by their TaskManagers.
func (j *Job) Done() <-chan struct{} { return j.done }

// Err is the job's failure, after Done; nil when it finished or was cancelled.
func (j *Job) Err() error {
	<-j.done
	return j.err
}

// Cancel asks the job to stop.
func (j *Job) Cancel() { j.cancelOnce.Do(func() { close(j.cancelReq) }) }

func (j *Job) post(u any) {
	select {
	case j.updates <- u:
	case <-j.done:
	}
}

func (j *Job) tmFor(v *graph.Vertex, subtask int) rpc.TaskManagerGateway {
	return j.slots[v.SlotSharingGroup][subtask].tm
}

// locations returns where every subtask of v runs.
func (j *Job) locations(v *graph.Vertex) []rpc.SubtaskLocation {
	out := make([]rpc.SubtaskLocation, v.Parallelism)
	for i := range out {
		out[i] = rpc.SubtaskLocation{Vertex: v.ID, Subtask: i, TaskManager: j.tmFor(v, i).ID()}
	}
	return out
}

// coordinator returns the coordinator of vertex for an event of a subtask
// of attempt; nil if the event is from an earlier attempt.
func (j *Job) coordinator(vertex, attempt int) (operator.Coordinator, bool) {
	j.coord.Lock()
	defer j.coord.Unlock()
	if attempt != j.coord.attempt {
		return nil, false
	}
	c := j.coord.byID[vertex]
	return c, c != nil
}

func (j *Job) start(ctx context.Context) error {
	j.startTime = time.Now()
	if err := j.deploy(ctx); err != nil {
		return err
	}
	go j.run()
	return nil
}

// deploy starts attempt j.attempt: the source coordinators, then every
// subtask.
func (j *Job) deploy(ctx context.Context) error {
	j.states = map[rpc.ExecutionID]rpc.TaskState{}
	j.coordCtx, j.coordCancel = context.WithCancel(context.Background())
	j.coordErr = make(chan error, 1)
	coordinators := map[int]operator.Coordinator{}
	attempt := j.attempt
	restore, err := j.restorePoint(ctx)
	if err != nil {
		if attempt == 0 {
			j.jm.release(j)
		}
		return err
	}
	for _, v := range j.Graph.Vertices {
		spec := v.Head().Source
		if spec == nil {
			continue
		}
		enumState, err := enumeratorState(ctx, restore, v)
		if err != nil {
			j.setCoordinators(coordinators)
			j.closeCoordinators()
			if attempt == 0 {
				j.jm.release(j)
			}
			return err
		}
		v := v
		send := func(subtask int, event []byte) {
			exec := rpc.ExecutionID{Job: j.ID, Vertex: v.ID, Subtask: subtask, Attempt: attempt}
			// An event for a subtask that has ended is dropped: if it
			// failed, its own failure is the job's error.
			if err := j.tmFor(v, subtask).SendOperatorEvent(j.coordCtx, exec, event); err != nil && j.coordCtx.Err() == nil && !errors.Is(err, rpc.ErrNoSuchTask) {
				j.failCoordinator(fmt.Errorf("sending split event to %s subtask %d: %w", v.Name(), subtask, err))
			}
		}
		c, err := spec.NewCoordinator(v.Parallelism, send, func(err error) {
			j.failCoordinator(fmt.Errorf("split enumerator of %s: %w", v.Name(), err))
		}, j.log.With(slog.String("operator", v.Name())), enumState)
		if err != nil {
			j.setCoordinators(coordinators)
			j.closeCoordinators()
			if attempt == 0 {
				j.jm.release(j)
			}
			return fmt.Errorf("creating coordinator of %s: %w", v.Name(), err)
		}
		coordinators[v.ID] = c
	}
	j.setCoordinators(coordinators)
	var ckd *rpc.CheckpointDeployment
	if cfg := j.cfg.Checkpoint; cfg != nil {
		ckd = &rpc.CheckpointDeployment{Mode: task.ModeToRPC(cfg.Mode), AlignedTimeout: cfg.AlignedTimeout, Storage: task.StorageRef(j.ck.store),
			Final: cfg.Coordinator.Interval > 0 && cfg.Coordinator.Interval < neverInterval}
	}
	var rd *rpc.RestoreDeployment
	if restore != nil {
		rd = &rpc.RestoreDeployment{Storage: task.StorageRef(restore.Storage), Checkpoint: task.CheckpointToRPC(restore.Checkpoint)}
	}
	ref := rpc.GraphRef{Job: j.ID, Name: j.Graph.Name, Fingerprint: j.fingerprint}
	taskCfg := j.cfg.Task.ToRPC()
	j.status.Store(uint32(JobRunning))
	j.log.Info("job running", slog.Int("attempt", attempt))
deploy:
	for _, v := range j.Graph.Vertices {
		for i := 0; i < v.Parallelism; i++ {
			exec := rpc.ExecutionID{Job: j.ID, Vertex: v.ID, Subtask: i, Attempt: attempt}
			d := rpc.TaskDeployment{Exec: exec, Graph: ref, Config: taskCfg, CancellationTimeout: j.cfg.CancellationTimeout,
				Checkpoints: ckd, Restore: rd, TaskManager: j.tmFor(v, i).ID(), Slot: j.slots[v.SlotSharingGroup][i].index}
			for _, out := range v.Outputs {
				d.Consumers = append(d.Consumers, j.locations(out.Target)...)
			}
			for _, in := range v.Inputs {
				d.Producers = append(d.Producers, j.locations(in.Source)...)
			}
			if err := j.tmFor(v, i).SubmitTask(ctx, d); err != nil {
				// Like a subtask's failure: the attempt fails and the
				// restart strategy decides.
				j.failCoordinator(fmt.Errorf("deploying %s subtask %d to TaskManager %s: %w", v.Name(), i, d.TaskManager, err))
				break deploy
			}
			j.states[exec] = rpc.TaskDeploying
		}
	}
	if !j.deployFailed {
		if j.ckr, err = j.newCheckpointer(restore); err != nil {
			j.err = err
			j.deployFailed = true
			j.Cancel()
		}
	}
	for id, c := range coordinators {
		if err := c.Start(j.coordCtx); err != nil {
			j.failCoordinator(fmt.Errorf("source %s: %w", j.vertexName(id), err))
			break
		}
		for _, v := range j.Graph.Vertices {
			if v.ID == id {
				for i := 0; i < v.Parallelism; i++ {
					c.ReaderStarted(i)
				}
			}
		}
	}
	return nil
}

func (j *Job) setCoordinators(byID map[int]operator.Coordinator) {
	j.coord.Lock()
	j.coord.attempt, j.coord.byID = j.attempt, byID
	j.coord.Unlock()
}

// closeCoordinators stops the current attempt's coordinators and returns
// the first error closing one.
func (j *Job) closeCoordinators() error {
	j.coordCancel()
	j.coord.Lock()
	byID := j.coord.byID
	j.coord.byID = nil
	j.coord.Unlock()
	var first error
	for _, c := range byID {
		if err := c.Close(); err != nil && first == nil {
			first = fmt.Errorf("closing coordinator: %w", err)
		}
	}
	return first
}

func (j *Job) vertexName(id int) string {
	for _, v := range j.Graph.Vertices {
		if v.ID == id {
			return strconv.Quote(v.Name())
		}
	}
	return strconv.Itoa(id)
}

func (j *Job) failCoordinator(err error) {
	select {
	case j.coordErr <- err:
	default:
	}
}

// run follows the job's attempts: after a failure the restart strategy
// decides whether a new attempt starts (after its delay) or the job fails.
func (j *Job) run() {
	for {
		canceled, abandoned := j.follow()
		if cerr := j.closeCoordinators(); cerr != nil && j.err == nil {
			j.err = cerr
		}
		if len(abandoned) > 0 {
			// The root cause, if any, first; then every abandoned subtask.
			// A job with abandoned subtasks does not restart: their
			// goroutines may still hold its resources.
			j.err = errors.Join(append([]error{j.err}, abandoned...)...)
			break
		}
		if j.err == nil || canceled || !j.restart() {
			break
		}
	}
	j.cancelAt(j.taskManagers())
	switch {
	case j.stopped && j.err == nil:
		j.status.Store(uint32(JobFinished))
		j.log.Info("job stopped with a savepoint", slog.Duration("duration", time.Since(j.startTime)))
	case j.err != nil:
		j.recordFailure(j.err)
		j.status.Store(uint32(JobFailed))
		j.log.Error("job failed", slog.Any("error", j.err))
	case JobStatus(j.status.Load()) == JobCanceling:
		j.status.Store(uint32(JobCanceled))
		j.log.Info("job cancelled")
	default:
		j.status.Store(uint32(JobFinished))
		j.log.Info("job finished", slog.Duration("duration", time.Since(j.startTime)))
	}
	j.closeCheckpoints(JobStatus(j.status.Load()))
	j.jm.release(j)
	j.endTime = time.Now()
	close(j.done)
}

// current reports whether a checkpoint event is of the current attempt.
func (j *Job) current(ev any) bool {
	switch e := ev.(type) {
	case checkpointAck:
		return e.Exec.Attempt == j.attempt
	case checkpointDecline:
		return e.Exec.Attempt == j.attempt
	case rpc.FinalCheckpointWanted:
		return e.Exec.Attempt == j.attempt
	case enumeratorAck:
		return e.attempt == j.attempt
	case savepointRequest:
		return true
	}
	return false
}

// restart asks the restart strategy about the failure j.err, waits its
// delay (a cancellation during it ends the job as cancelled) and deploys
// the next attempt. It reports whether the job runs again.
func (j *Job) restart() bool {
	if j.cfg.Restart == nil || j.deployFailed {
		return false
	}
	ok, delay := j.cfg.Restart.OnFailure(time.Now(), j.err)
	if !ok {
		j.log.Warn("restart strategy gave up", slog.String("strategy", j.cfg.Restart.String()), slog.Int("attempt", j.attempt))
		return false
	}
	j.recordFailure(j.err)
	j.status.Store(uint32(JobRestarting))
	j.log.Warn("job restarting", slog.Int("attempt", j.attempt+1), slog.Duration("delay", delay), slog.Any("error", j.err))
	// The subtasks of the failed attempt have all ended, and follow
	// cancelled the attempt at the TaskManagers when it began failing, so
	// they deploy the next attempt afresh.
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-j.cancelReq:
		j.err = nil
		j.status.Store(uint32(JobCanceling))
		return false
	}
	j.attempt++
	j.restarts.Add(1)
	j.err = nil
	if j.jm.source != nil {
		// A TaskManager of the failed attempt may be gone: the next
		// attempt runs on the slots the resource manager gives now.
		slots, err := j.jm.allocate(context.Background(), j.ID, j.Graph)
		if err != nil {
			j.err = fmt.Errorf("restarting: %w", err)
			return false
		}
		j.slots = slots
	}
	if err := j.deploy(context.Background()); err != nil {
		j.err = err
		return false
	}
	return true
}

// follow follows the current attempt's subtasks until all have ended (or,
// ignoring cancellation, were abandoned by their TaskManagers). It sets
// j.err to the attempt's root cause and reports whether the job was
// cancelled and which subtasks were abandoned.
func (j *Job) follow() (canceled bool, abandoned []error) {
	live := len(j.states)
	stopping := false
	// finalC fires when the subtasks had the cancellation timeout, and
	// their TaskManagers a grace period more, to report their final
	// states: the JobManager waits no longer for a TaskManager that is
	// gone or stuck.
	var finalC <-chan time.Time
	var finalWait time.Duration
	stop := func(status JobStatus, cause error) {
		if stopping {
			return
		}
		stopping = true
		if d := j.cfg.CancellationTimeout; d > 0 {
			finalWait = d + finalStateGrace
			finalC = time.After(finalWait)
		}
		j.ckr.stop()
		j.ckr = nil
		j.status.Store(uint32(status))
		if cause != nil {
			j.log.Warn("job failing", slog.Any("error", cause))
		} else {
			j.log.Info("job cancelling")
		}
		j.cancelAt(j.taskManagers())
	}
	cancelReq := j.cancelReq
	for live > 0 {
		var ev any
		select {
		case <-j.ckr.timerC():
			j.ckr.tick()
		case ev = <-j.updates:
		case <-cancelReq:
			cancelReq = nil
			if j.err != nil {
				// A deployment failed: the job is failing, not cancelled.
				stop(JobFailing, j.err)
				continue
			}
			canceled = true
			stop(JobCanceling, nil)
		case err := <-j.coordErr:
			if j.err == nil {
				j.err = err
			}
			stop(JobFailing, j.err)
		case <-finalC:
			finalC = nil
			for exec, st := range j.states {
				if st.Terminal() {
					continue
				}
				j.states[exec] = rpc.TaskFailed
				live--
				err := fmt.Errorf("%w: subtask %s: no final state reported within %s of the cancellation", rpc.ErrCancellationTimeout, exec, finalWait)
				j.log.Error("subtask lost", slog.String("subtask", exec.String()), slog.Any("error", err))
				abandoned = append(abandoned, err)
			}
		}
		u, isUpdate := ev.(taskUpdate)
		if req, ok := ev.(savepointRequest); ok && j.ckr == nil {
			req.reply <- savepointResult{err: fmt.Errorf("%w: the job is stopping", ErrNoSavepoint)}
		} else if ev != nil && !isUpdate && j.current(ev) {
			j.ckr.handle(ev)
		}
		if j.ckr != nil && j.ckr.failJob != nil {
			if j.err == nil {
				j.err = j.ckr.failJob
			}
			stop(JobFailing, j.err)
		}
		if !isUpdate {
			continue
		}
		{
			prev, ok := j.states[u.Exec]
			if !ok || prev.Terminal() {
				continue // an earlier attempt's, or a late duplicate
			}
			j.states[u.Exec] = u.State
			if !u.State.Terminal() {
				continue
			}
			live--
			j.ckr.handle(u)
			switch {
			case u.State != rpc.TaskFailed:
			case errors.Is(u.Err, rpc.ErrCancellationTimeout) && !j.jm.killsAbandoned:
				// Not a root cause: the subtask was being cancelled.
				abandoned = append(abandoned, u.Err)
				stop(JobFailing, u.Err)
			case j.err == nil:
				j.err = u.Err
				stop(JobFailing, j.err)
			}
		}
	}
	j.ckr.stop()
	j.ckr = nil
	if canceled {
		j.err = nil
	}
	return canceled, abandoned
}

// finalStateGrace is how long past the cancellation timeout the JobManager
// waits for a subtask's final state.
const finalStateGrace = 10 * time.Second

// cancelAt cancels the job at tms; a TaskManager that cannot be reached is
// logged, and its subtasks are given up on after the cancellation timeout.
func (j *Job) cancelAt(tms []rpc.TaskManagerGateway) {
	for _, tm := range tms {
		if err := tm.CancelJob(context.Background(), j.ID); err != nil {
			j.log.Warn("cancelling the job at a TaskManager", slog.String("task_manager", tm.ID()), slog.Any("error", err))
		}
	}
}

func (j *Job) taskManagers() []rpc.TaskManagerGateway {
	seen := map[string]bool{}
	var out []rpc.TaskManagerGateway
	for _, ss := range j.slots {
		for _, s := range ss {
			if !seen[s.tm.ID()] {
				seen[s.tm.ID()] = true
				out = append(out, s.tm)
			}
		}
	}
	return out
}
