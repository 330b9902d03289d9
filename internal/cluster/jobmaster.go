package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/jobmanager"
	"github.com/freshet-io/freshet/internal/metrics"
	"github.com/freshet-io/freshet/internal/rest"
	"github.com/freshet-io/freshet/internal/rpc"
)

// JobMaster is a cluster job's JobManager, run by the job's program in the
// job-master role: it takes slots from the resource manager, starts the
// job's workers in their TaskManagers, deploys the subtasks there, follows
// them with heartbeats, and serves the job's REST documents to the
// dispatcher.
type JobMaster struct {
	JM  *jobmanager.JobManager
	Job *jobmanager.Job

	log      *slog.Logger
	ctl      *controlClient
	slots    *clusterSlots
	rpcSrv   io.Closer
	restSrv  *rest.Server
	embedded *rest.Embedded
	done     chan struct{}
}

// StartJobMaster submits g as the job the environment names (see Role)
// and returns once it runs. The job's end is reported to the dispatcher
// with its archive; Done is closed after that.
func StartJobMaster(ctx context.Context, g *graph.JobGraph, jc jobmanager.JobConfig, log *slog.Logger) (*JobMaster, error) {
	sub, err := SubmissionFromEnv()
	if err != nil {
		return nil, fmt.Errorf("job master: %w", err)
	}
	hb, err := heartbeatFromEnv()
	if err != nil {
		return nil, fmt.Errorf("job master: %w", err)
	}
	control, restAddr := os.Getenv(EnvControl), os.Getenv(EnvREST)
	if control == "" || restAddr == "" {
		return nil, fmt.Errorf("job master: %s and %s must be set", EnvControl, EnvREST)
	}
	ctl, err := dialControl(ctx, control)
	if err != nil {
		return nil, fmt.Errorf("job master: %w", err)
	}
	m := &JobMaster{log: log, ctl: ctl, done: make(chan struct{})}
	m.slots = &clusterSlots{log: log, rm: ctl.rm, hb: hb, slotTimeout: slotRequestTimeout, tms: map[string]*remoteTM{}, lost: map[string]time.Time{},
		start: rpc.JobStart{Job: sub.Job, Artifact: os.Getenv(EnvArtifact), Checksum: os.Getenv(EnvArtifact), Dispatcher: restAddr,
			Args: os.Args[1:], Env: workerEnv()}}
	m.JM = jobmanager.New(jobmanager.Config{Logger: log, Slots: m.slots, KillsAbandoned: true})
	m.slots.jm = m.JM
	addr, srv, err := serveJobMaster(host()+":0", m.JM)
	if err != nil {
		ctl.Close()
		return nil, fmt.Errorf("job master: %w", err)
	}
	m.rpcSrv = srv
	m.slots.start.JobMaster = addr
	jc.ID = sub.Job
	j, err := m.JM.Submit(ctx, g, jc)
	if err != nil {
		m.slots.close()
		_ = srv.Close()
		ctl.Close()
		return nil, err
	}
	m.Job = j
	m.embedded = rest.NewEmbedded(os.Getenv("FRESHET_SAVEPOINT_DIR"))
	reg := metrics.NewRegistry()
	reg.AddSource(m.slots.snapshots)
	m.embedded.Add(j, m.JM, reg)
	m.restSrv = rest.NewServer(m.embedded, rest.Config{Logger: log})
	restLocal, err := m.restSrv.Serve(host() + ":0")
	if err == nil {
		err = ctl.dispatcher.RegisterJobMaster(ctx, rpc.JobMasterRegistration{Job: sub.Job, Name: g.Name, Address: addr, RESTAddress: restLocal})
	}
	if err != nil {
		j.Cancel()
		<-j.Done()
		m.stop()
		return nil, fmt.Errorf("job master: registering with the dispatcher at %s: %w", control, err)
	}
	go m.finish()
	return m, nil
}

// Done is closed once the job has ended and the dispatcher has its
// archive.
func (m *JobMaster) Done() <-chan struct{} { return m.done }

func (m *JobMaster) finish() {
	defer close(m.done)
	<-m.Job.Done()
	a := m.archive()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.ctl.dispatcher.JobEnded(ctx, a); err != nil {
		m.log.Error("handing the job's archive to the dispatcher", slog.Any("error", err))
	}
	m.stop()
}

func (m *JobMaster) stop() {
	m.slots.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if m.Job != nil {
		if err := m.ctl.rm.ReleaseSlots(ctx, m.Job.ID); err != nil {
			m.log.Warn("releasing the job's slots", slog.Any("error", err))
		}
	}
	if m.restSrv != nil {
		_ = m.restSrv.Close()
	}
	if m.embedded != nil {
		m.embedded.Close()
	}
	_ = m.rpcSrv.Close()
	m.ctl.Close()
}

// archivePaths are the REST documents an ended job keeps.
var archivePaths = []string{"", "/plan", "/checkpoints", "/exceptions"}

// archive renders the ended job's REST documents.
func (m *JobMaster) archive() rpc.JobArchive {
	id := string(m.Job.ID)
	a := rpc.JobArchive{Job: m.Job.ID, Status: m.Job.Status().String(), Documents: map[string][]byte{}}
	// A stop-with-savepoint's trigger is done just after the job ends.
	triggers, done := m.embedded.Triggers(id)
	for deadline := time.Now().Add(10 * time.Second); !done && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		triggers, done = m.embedded.Triggers(id)
	}
	paths := append(archivePaths, "overview")
	for _, t := range triggers {
		paths = append(paths, "/savepoints/"+t)
	}
	for _, p := range paths {
		path := "/jobs/" + id + p
		if p == "overview" {
			path = "/jobs/overview"
		}
		w := httptest.NewRecorder()
		m.restSrv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code == http.StatusOK {
			a.Documents[path] = w.Body.Bytes()
		}
	}
	return a
}

// workerEnv is what a worker inherits from its job master: the settings
// the job graph depends on.
func workerEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, EnvParallelism+"=") || strings.HasPrefix(kv, EnvSavepoint+"=") || strings.HasPrefix(kv, EnvHeartbeat+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// slotRequestTimeout is how long a job waits for the slots it needs
// (Flink's slot.request.timeout).
var slotRequestTimeout = 5 * time.Minute

// clusterSlots is the job master's jobmanager.SlotSource: slots from the
// resource manager, on TaskManagers whose job workers it starts and whose
// heartbeats it follows.
type clusterSlots struct {
	log         *slog.Logger
	rm          rpc.ResourceManagerGateway
	jm          *jobmanager.JobManager
	hb          rpc.HeartbeatConfig
	slotTimeout time.Duration
	start       rpc.JobStart

	mu     sync.Mutex
	tms    map[string]*remoteTM // live, by id
	lost   map[string]time.Time // id@address → when it was lost
	closed bool
}

// Slots implements jobmanager.SlotSource.
func (c *clusterSlots) Slots(ctx context.Context, job rpc.JobID, n int) ([]jobmanager.Slot, error) {
	deadline := time.Now().Add(c.slotTimeout)
	var grants []rpc.SlotGrant
	waiting := ""
	for {
		c.mu.Lock()
		exclude := make([]string, 0, len(c.lost))
		for id, at := range c.lost {
			// A lost TaskManager is left out for a heartbeat timeout
			// and an interval: the resource manager has forgotten it by
			// then if it died, and it serves again if it only missed
			// heartbeats (a pause, a busy machine).
			if time.Since(at) > c.hb.Timeout+c.hb.Interval {
				delete(c.lost, id)
				continue
			}
			exclude = append(exclude, id)
		}
		c.mu.Unlock()
		var err error
		if grants, err = c.rm.AllocateSlots(ctx, job, n, exclude); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no slots within %s: %w", c.slotTimeout, err)
		}
		if msg := err.Error(); msg != waiting {
			// Once per change, not every attempt: a job waiting for a
			// TaskManager would fill its log.
			waiting = msg
			c.log.Info("waiting for slots", slog.Int("slots", n), slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	out := make([]jobmanager.Slot, 0, len(grants))
	for _, g := range grants {
		tm, err := c.taskManager(ctx, g)
		if err != nil {
			return nil, err
		}
		out = append(out, jobmanager.Slot{TaskManager: tm, Index: g.Slot})
	}
	return out, nil
}

// taskManager returns the gateway of the TaskManager of g, starting the
// job's worker there when it has none yet.
func (c *clusterSlots) taskManager(ctx context.Context, g rpc.SlotGrant) (*remoteTM, error) {
	c.mu.Lock()
	tm := c.tms[g.TaskManager]
	c.mu.Unlock()
	if tm != nil && tm.address == g.Address {
		// Its worker may have died with the last attempt: StartJob
		// starts another, or finds the one running.
		w, err := tm.StartJob(ctx, c.start)
		if err != nil {
			return nil, fmt.Errorf("starting the job's worker in TaskManager %s at %s: %w", g.TaskManager, g.Address, err)
		}
		c.mu.Lock()
		tm.data, tm.metrics = w.DataAddress, w.MetricsAddress
		c.mu.Unlock()
		return tm, nil
	}
	te, closer, err := dialTaskExecutor(ctx, g.Address, g.TaskManager)
	if err != nil {
		return nil, fmt.Errorf("reaching TaskManager %s at %s: %w", g.TaskManager, g.Address, err)
	}
	w, err := te.StartJob(ctx, c.start)
	if err != nil {
		_ = closer.Close()
		return nil, fmt.Errorf("starting the job's worker in TaskManager %s at %s: %w", g.TaskManager, g.Address, err)
	}
	tm = &remoteTM{TaskExecutorGateway: te, c: c, id: g.TaskManager, address: g.Address, data: w.DataAddress, metrics: w.MetricsAddress,
		closer: closer, stop: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = closer.Close()
		return nil, errors.New("the job master is stopping")
	}
	if old := c.tms[g.TaskManager]; old != nil {
		old.shutdown()
	}
	c.tms[g.TaskManager] = tm
	go tm.heartbeats()
	return tm, nil
}

// dataAddresses are the data addresses of the live TaskManagers' workers.
func (c *clusterSlots) dataAddresses() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.tms))
	for id, tm := range c.tms {
		out[id] = tm.data
	}
	return out
}

// snapshots reads the counters of the job's subtasks from the workers of
// its TaskManagers (a metrics.Source).
func (c *clusterSlots) snapshots(job string, _ time.Time) []metrics.SubtaskSnapshot {
	c.mu.Lock()
	var addrs []string
	for _, tm := range c.tms {
		if tm.metrics != "" {
			addrs = append(addrs, tm.metrics)
		}
	}
	c.mu.Unlock()
	var out []metrics.SubtaskSnapshot
	for _, addr := range addrs {
		var snaps []metrics.SubtaskSnapshot
		resp, err := metricsClient.Get("http://" + addr + "/snapshot?job=" + job)
		if err != nil {
			continue // the worker is gone: its subtasks' failures tell
		}
		err = json.NewDecoder(resp.Body).Decode(&snaps)
		resp.Body.Close()
		if err != nil {
			c.log.Warn("reading a worker's metrics", slog.String("address", addr), slog.Any("error", err))
			continue
		}
		out = append(out, snaps...)
	}
	return out
}

func (c *clusterSlots) close() {
	c.mu.Lock()
	c.closed = true
	tms := maps.Clone(c.tms)
	c.tms = map[string]*remoteTM{}
	c.mu.Unlock()
	for _, tm := range tms {
		tm.shutdown()
	}
}

// remoteTM is a TaskManager process as the job master's JobManager uses
// it. It remembers what it deployed, so that when the TaskManager is lost
// (heartbeats fail for the timeout, or it cannot be reached to cancel) it
// reports those subtasks failed: the JobManager then fails over rather
// than wait for states that will never come.
type remoteTM struct {
	rpc.TaskExecutorGateway
	c       *clusterSlots
	id      string
	address string
	data    string
	metrics string // its worker's metrics address
	closer  io.Closer
	stop    chan struct{}

	mu       sync.Mutex
	deployed []rpc.ExecutionID
	gone     bool
	stopOnce sync.Once
}

func (tm *remoteTM) ID() string { return tm.id }

func (tm *remoteTM) SubmitTask(ctx context.Context, d rpc.TaskDeployment) error {
	d.DataAddresses = tm.c.dataAddresses()
	tm.mu.Lock()
	if tm.gone {
		tm.mu.Unlock()
		return fmt.Errorf("TaskManager %s at %s is lost", tm.id, tm.address)
	}
	tm.deployed = append(tm.deployed, d.Exec)
	tm.mu.Unlock()
	return tm.TaskExecutorGateway.SubmitTask(ctx, d)
}

func (tm *remoteTM) CancelJob(ctx context.Context, job rpc.JobID) error {
	ctx, cancel := context.WithTimeout(ctx, tm.c.hb.Timeout)
	defer cancel()
	err := tm.TaskExecutorGateway.CancelJob(ctx, job)
	if err != nil {
		tm.lose(fmt.Errorf("TaskManager %s at %s lost: cancelling the job there: %w", tm.id, tm.address, err))
	}
	return err
}

func (tm *remoteTM) heartbeats() {
	t := time.NewTicker(tm.c.hb.Interval)
	defer t.Stop()
	last := time.Now()
	var lastErr error
	for {
		select {
		case <-tm.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), tm.c.hb.Interval)
		err := tm.Heartbeat(ctx, tm.c.start.Job)
		cancel()
		if err == nil {
			last = time.Now()
			continue
		}
		lastErr = err
		if time.Since(last) >= tm.c.hb.Timeout {
			tm.lose(fmt.Errorf("TaskManager %s at %s lost: no heartbeat for %s: %w", tm.id, tm.address, tm.c.hb.Timeout, lastErr))
			return
		}
	}
}

// lose reports every subtask deployed to the TaskManager failed with err
// (the JobManager ignores those that had ended) and keeps the TaskManager
// out of the job's next slots.
func (tm *remoteTM) lose(err error) {
	tm.mu.Lock()
	if tm.gone {
		tm.mu.Unlock()
		return
	}
	tm.gone = true
	deployed := tm.deployed
	tm.mu.Unlock()
	tm.c.log.Warn("TaskManager lost", slog.String("taskmanager", tm.id), slog.Any("error", err))
	tm.c.mu.Lock()
	tm.c.lost[tm.id+"@"+tm.address] = time.Now()
	if tm.c.tms[tm.id] == tm {
		delete(tm.c.tms, tm.id)
	}
	tm.c.mu.Unlock()
	se := rpc.SerializeError(err, nil)
	for _, exec := range deployed {
		_ = tm.c.jm.UpdateTaskState(context.Background(), rpc.TaskUpdate{Exec: exec, State: rpc.TaskFailed, Err: se})
	}
	tm.shutdown()
}

func (tm *remoteTM) shutdown() {
	tm.stopOnce.Do(func() {
		close(tm.stop)
		_ = tm.closer.Close()
	})
}
