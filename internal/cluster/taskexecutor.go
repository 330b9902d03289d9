package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/freshet-io/freshet/internal/config"
	"github.com/freshet-io/freshet/internal/rpc"
)

// TaskExecutorConfig configures a TaskManager process.
type TaskExecutorConfig struct {
	ID    string
	Slots int
	// Address is where its TaskExecutor service is reached (host:port),
	// as registered with the resource manager.
	Address string
	// Host is the host its workers listen on.
	Host string
	// CacheDir keeps fetched job programs, by checksum.
	CacheDir  string
	Heartbeat rpc.HeartbeatConfig
	// Network sets its workers' data planes.
	Network NetworkConfig
	Logger  *slog.Logger
}

// NetworkConfig is a TaskManager's settings of its workers' data planes,
// passed to each worker as the environment variables of their keys.
type NetworkConfig struct {
	// DataPort is the first of the ports its workers take data
	// connections on, one per worker counting up (taskmanager.data.port);
	// 0 lets each pick a free port.
	DataPort int
	// SegmentSize is the size of a network buffer
	// (taskmanager.memory.segment-size); 0 keeps the default.
	SegmentSize int64
	// BuffersPerChannel is the credit of an input channel
	// (taskmanager.network.memory.buffers-per-channel); 0 keeps the
	// default.
	BuffersPerChannel int
}

// TaskExecutor is a TaskManager process: it offers slots to the resource
// manager and runs each job's subtasks in a worker process — the job's
// own program, fetched from the dispatcher and started in the worker role
// — to which it forwards what the job master asks. It implements
// rpc.TaskExecutorGateway.
type TaskExecutor struct {
	cfg  TaskExecutorConfig
	log  *slog.Logger
	http *http.Client

	mu       sync.Mutex
	workers  map[rpc.JobID]*worker
	starting map[rpc.JobID]chan struct{} // closed when the job's worker started or failed to
	ports    map[int]bool                // data ports taken by workers (with Network.DataPort)
	closed   bool
}

// worker is a job's worker process.
type worker struct {
	job      rpc.JobID
	cmd      *exec.Cmd
	gw       rpc.TaskExecutorGateway
	closer   io.Closer
	data     string
	metrics  string
	jm       rpc.JobManagerGateway // the job master, to report a dead worker
	jmCloser io.Closer
	stderr   *tailBuffer
	exited   chan struct{}
	dataPort int // taken from Network.DataPort's range, or 0

	mu        sync.Mutex
	deployed  []rpc.ExecutionID
	heartbeat time.Time
	stopping  bool
}

// NewTaskExecutor returns a TaskManager process's executor.
func NewTaskExecutor(cfg TaskExecutorConfig) *TaskExecutor {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Heartbeat.Interval <= 0 {
		cfg.Heartbeat = rpc.DefaultHeartbeat
	}
	return &TaskExecutor{cfg: cfg, log: cfg.Logger.With(slog.String("taskmanager", cfg.ID)), http: &http.Client{Timeout: 10 * time.Minute},
		workers: map[rpc.JobID]*worker{}, starting: map[rpc.JobID]chan struct{}{}, ports: map[int]bool{}}
}

// ID implements rpc.TaskManagerGateway.
func (te *TaskExecutor) ID() string { return te.cfg.ID }

// Slots implements rpc.TaskManagerGateway.
func (te *TaskExecutor) Slots() int { return te.cfg.Slots }

func (te *TaskExecutor) worker(job rpc.JobID) (*worker, error) {
	te.mu.Lock()
	defer te.mu.Unlock()
	w := te.workers[job]
	if w == nil {
		return nil, fmt.Errorf("%w: TaskManager %s runs no worker of job %s", rpc.ErrUnknownJob, te.cfg.ID, job)
	}
	return w, nil
}

// StartJob implements rpc.TaskExecutorGateway. The program is fetched and
// its worker started without holding the executor's lock, so heartbeats and
// the other jobs' calls are answered meanwhile; a second StartJob of the
// same job waits for the first.
func (te *TaskExecutor) StartJob(ctx context.Context, s rpc.JobStart) (rpc.Worker, error) {
	for {
		te.mu.Lock()
		if te.closed {
			te.mu.Unlock()
			return rpc.Worker{}, fmt.Errorf("TaskManager %s is shutting down", te.cfg.ID)
		}
		if w := te.workers[s.Job]; w != nil {
			select {
			case <-w.exited:
			default:
				w.mu.Lock()
				w.heartbeat = time.Now()
				w.mu.Unlock()
				te.mu.Unlock()
				return rpc.Worker{DataAddress: w.data, MetricsAddress: w.metrics}, nil
			}
		}
		if started := te.starting[s.Job]; started != nil {
			te.mu.Unlock()
			select {
			case <-started:
				continue
			case <-ctx.Done():
				return rpc.Worker{}, ctx.Err()
			}
		}
		started := make(chan struct{})
		te.starting[s.Job] = started
		port := te.takePortLocked()
		te.mu.Unlock()

		w, err := te.startWorker(ctx, s, port)
		te.mu.Lock()
		delete(te.starting, s.Job)
		close(started)
		if err == nil && te.closed {
			err = fmt.Errorf("TaskManager %s is shutting down", te.cfg.ID)
			w.stop()
		} else if err == nil {
			te.workers[s.Job] = w
		}
		te.mu.Unlock()
		if err != nil {
			return rpc.Worker{}, err
		}
		return rpc.Worker{DataAddress: w.data, MetricsAddress: w.metrics}, nil
	}
}

// takePortLocked takes the lowest data port of Network.DataPort's range
// that no worker has, or returns 0 when the range is not set.
func (te *TaskExecutor) takePortLocked() int {
	if te.cfg.Network.DataPort == 0 {
		return 0
	}
	p := te.cfg.Network.DataPort
	for te.ports[p] {
		p++
	}
	te.ports[p] = true
	return p
}

// startWorker fetches the job's program and starts its worker, with its
// data plane on port (0: a free one). The port is free again when the
// worker exits, or at once when none started.
func (te *TaskExecutor) startWorker(ctx context.Context, s rpc.JobStart, port int) (*worker, error) {
	path, err := te.fetch(ctx, s)
	if err != nil {
		te.releasePort(port)
		return nil, err
	}
	return te.spawn(ctx, path, s, port)
}

func (te *TaskExecutor) releasePort(port int) {
	te.mu.Lock()
	delete(te.ports, port)
	te.mu.Unlock()
}

// fetch returns the path of the job's program, fetching it from the
// dispatcher unless it is cached, and checking its checksum.
func (te *TaskExecutor) fetch(ctx context.Context, s rpc.JobStart) (string, error) {
	if len(s.Checksum) != 64 {
		return "", fmt.Errorf("job %s: artifact checksum %q is not a SHA-256", s.Job, s.Checksum)
	}
	if _, err := hex.DecodeString(s.Checksum); err != nil {
		return "", fmt.Errorf("job %s: artifact checksum %q is not a SHA-256", s.Job, s.Checksum)
	}
	if err := os.MkdirAll(te.cfg.CacheDir, 0o755); err != nil {
		return "", fmt.Errorf("making the artifact cache: %w", err)
	}
	path := filepath.Join(te.cfg.CacheDir, s.Checksum)
	if sum, err := fileSHA256(path); err == nil && sum == s.Checksum {
		return path, nil
	}
	url := "http://" + s.Dispatcher + "/jars/" + s.Artifact
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := te.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetching the program of job %s: %w", s.Job, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", fmt.Errorf("fetching the program of job %s from %s: %s: %s", s.Job, url, resp.Status, bytes.TrimSpace(b))
	}
	tmp, err := os.CreateTemp(te.cfg.CacheDir, ".fetch-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("fetching the program of job %s from %s: %w", s.Job, url, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != s.Checksum {
		return "", fmt.Errorf("the program of job %s fetched from %s has SHA-256 %s, want %s", s.Job, url, got, s.Checksum)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// workerReady is what a worker writes on its ready descriptor.
type workerReady struct {
	RPC         string `json:"rpc,omitempty"`
	Data        string `json:"data,omitempty"`
	Metrics     string `json:"metrics,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Error       string `json:"error,omitempty"`
}

// workerStartTimeout bounds a worker's start: its program builds the job
// graph and opens its servers.
var workerStartTimeout = 2 * time.Minute

func (te *TaskExecutor) spawn(ctx context.Context, path string, s rpc.JobStart, port int) (*worker, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		te.releasePort(port)
		return nil, err
	}
	defer pr.Close()
	cmd := exec.Command(path, s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Env = append(cmd.Env, EnvRole+"="+RoleWorker, EnvJob+"="+string(s.Job), EnvJobMaster+"="+s.JobMaster,
		EnvTaskManager+"="+te.cfg.ID, fmt.Sprintf("%s=%d", EnvSlots, te.cfg.Slots), EnvHost+"="+te.cfg.Host,
		EnvArtifact+"="+s.Artifact, EnvHeartbeat+"="+formatHeartbeat(te.cfg.Heartbeat))
	cmd.Env = append(cmd.Env, te.cfg.Network.env(port)...)
	cmd.ExtraFiles = []*os.File{pw} // descriptor 3 = readyFD
	w := &worker{job: s.Job, cmd: cmd, stderr: newTailBuffer(16 << 10), exited: make(chan struct{}), heartbeat: time.Now(), dataPort: port}
	cmd.Stdout = os.Stdout
	cmd.Stderr = io.MultiWriter(os.Stderr, w.stderr)
	setParentDeath(cmd)
	if err := cmd.Start(); err != nil {
		pw.Close()
		te.releasePort(port)
		return nil, fmt.Errorf("starting the worker of job %s: %w", s.Job, err)
	}
	pw.Close()
	go func() {
		_ = cmd.Wait()
		close(w.exited)
		te.workerExited(w)
	}()
	ready := make(chan workerReady, 1)
	go func() {
		var r workerReady
		line, err := bufio.NewReader(pr).ReadBytes('\n')
		if err != nil || json.Unmarshal(line, &r) != nil {
			r.Error = "the worker exited before it was ready"
		}
		ready <- r
	}()
	var r workerReady
	select {
	case r = <-ready:
	case <-time.After(workerStartTimeout):
		r.Error = fmt.Sprintf("not ready within %s", workerStartTimeout)
	case <-ctx.Done():
		r.Error = ctx.Err().Error()
	}
	fail := func(err error) (*worker, error) {
		w.stop()
		<-w.exited
		return nil, fmt.Errorf("the worker of job %s in TaskManager %s: %w%s", s.Job, te.cfg.ID, err, w.stderr.suffix())
	}
	if r.Error != "" {
		if r.RPC == "" {
			<-w.exited
		}
		return fail(errors.New(r.Error))
	}
	if w.gw, w.closer, err = dialTaskExecutor(ctx, r.RPC, te.cfg.ID); err != nil {
		return fail(err)
	}
	if w.jm, w.jmCloser, err = dialJobMaster(ctx, s.JobMaster); err != nil {
		return fail(err)
	}
	w.data, w.metrics = r.Data, r.Metrics
	te.log.Info("worker started", slog.String("job", string(s.Job)), slog.Int("pid", cmd.Process.Pid), slog.String("data", r.Data))
	return w, nil
}

// workerExited reports the subtasks of a worker that died failed.
func (te *TaskExecutor) workerExited(w *worker) {
	te.mu.Lock()
	if te.workers[w.job] == w {
		delete(te.workers, w.job)
	}
	delete(te.ports, w.dataPort) // once the process is gone
	te.mu.Unlock()
	w.mu.Lock()
	stopping, deployed := w.stopping, w.deployed
	w.mu.Unlock()
	if w.closer != nil {
		_ = w.closer.Close()
	}
	if stopping || w.jm == nil {
		if w.jmCloser != nil {
			_ = w.jmCloser.Close()
		}
		return
	}
	err := fmt.Errorf("the worker of job %s in TaskManager %s exited: %s%s", w.job, te.cfg.ID, w.cmd.ProcessState, w.stderr.suffix())
	te.log.Error("worker lost", slog.String("job", string(w.job)), slog.Any("error", err))
	se := rpc.SerializeError(err, nil)
	ctx, cancel := context.WithTimeout(context.Background(), te.cfg.Heartbeat.Timeout)
	defer cancel()
	for _, exec := range deployed {
		_ = w.jm.UpdateTaskState(ctx, rpc.TaskUpdate{Exec: exec, State: rpc.TaskFailed, Err: se})
	}
	_ = w.jmCloser.Close()
}

// kill ends the worker process at once; its subtasks are reported failed
// when it is gone.
func (w *worker) kill() {
	if w.cmd != nil && w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
	}
}

// stop ends the worker process: a signal to stop, then, after the grace
// period, a kill.
func (w *worker) stop() {
	w.mu.Lock()
	w.stopping = true
	w.mu.Unlock()
	if w.cmd.Process == nil {
		return
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		select {
		case <-w.exited:
		case <-time.After(10 * time.Second):
			w.kill()
		}
	}()
}

// SubmitTask implements rpc.TaskManagerGateway.
func (te *TaskExecutor) SubmitTask(ctx context.Context, d rpc.TaskDeployment) error {
	if d.Slot < 0 || d.Slot >= te.cfg.Slots {
		return fmt.Errorf("%w: TaskManager %s has slots 0 to %d, the deployment of %s names slot %d", rpc.ErrSlotNotAllocated, te.cfg.ID, te.cfg.Slots-1, d.Exec, d.Slot)
	}
	w, err := te.worker(d.Exec.Job)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.deployed = append(w.deployed, d.Exec)
	w.mu.Unlock()
	return w.gw.SubmitTask(ctx, d)
}

// CancelJob implements rpc.TaskManagerGateway. A worker whose subtask
// does not end within the deployment's cancellation timeout exits by
// itself (see RunWorker), and its other subtasks are reported failed.
//
// The worker is asked within half the time the caller allows (a heartbeat
// timeout without a deadline). A worker that fails the call may be
// exiting — abandoning a subtask that ignored an earlier cancellation: its
// closing connection fails the call just before its exit is seen — so
// its exit is awaited for a moment; one that still runs then, or that did
// not answer at all (hung, stopped), is killed, and its subtasks are
// reported failed when it is gone. Either way the job no longer runs here
// and the call succeeds, so that the job master does not take the
// TaskManager for lost.
func (te *TaskExecutor) CancelJob(ctx context.Context, job rpc.JobID) error {
	w, err := te.worker(job)
	if err != nil {
		return nil // nothing of the job runs here
	}
	budget := te.cfg.Heartbeat.Timeout
	if d, ok := ctx.Deadline(); ok {
		budget = time.Until(d)
	}
	askCtx, cancel := context.WithTimeout(ctx, budget/2)
	err = w.gw.CancelJob(askCtx, job)
	cancel()
	if err == nil {
		return nil
	}
	select {
	case <-w.exited:
		return nil
	case <-time.After(min(budget/4, workerExitGrace)):
	}
	te.log.Warn("killing a worker that failed to cancel its job", slog.String("job", string(job)), slog.Any("error", err))
	w.kill()
	select {
	case <-w.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cancelling job %s in its worker in TaskManager %s: %w; killed, it has not exited yet", job, te.cfg.ID, err)
	}
}

// workerExitGrace is how long a worker that failed a call is given to
// exit by itself before it is killed.
const workerExitGrace = time.Second

// SendOperatorEvent implements rpc.TaskManagerGateway.
func (te *TaskExecutor) SendOperatorEvent(ctx context.Context, exec rpc.ExecutionID, event []byte) error {
	w, err := te.worker(exec.Job)
	if err != nil {
		return fmt.Errorf("%w: %w", rpc.ErrNoSuchTask, err)
	}
	return w.gw.SendOperatorEvent(ctx, exec, event)
}

// TriggerCheckpoint implements rpc.TaskManagerGateway.
func (te *TaskExecutor) TriggerCheckpoint(ctx context.Context, exec rpc.ExecutionID, id int64, o rpc.TriggerOptions) error {
	w, err := te.worker(exec.Job)
	if err != nil {
		return fmt.Errorf("%w: %w", rpc.ErrNoSuchTask, err)
	}
	return w.gw.TriggerCheckpoint(ctx, exec, id, o)
}

// NotifyCheckpoint implements rpc.TaskManagerGateway.
func (te *TaskExecutor) NotifyCheckpoint(ctx context.Context, job rpc.JobID, attempt int, id int64, complete bool) error {
	w, err := te.worker(job)
	if err != nil {
		return nil
	}
	return w.gw.NotifyCheckpoint(ctx, job, attempt, id, complete)
}

// Heartbeat implements rpc.TaskExecutorGateway.
func (te *TaskExecutor) Heartbeat(_ context.Context, job rpc.JobID) error {
	te.mu.Lock()
	defer te.mu.Unlock()
	if w := te.workers[job]; w != nil {
		w.mu.Lock()
		w.heartbeat = time.Now()
		w.mu.Unlock()
	}
	return nil
}

// Run registers with the resource manager, heartbeats it (registering
// again whenever it does not know the TaskManager), and stops the workers
// whose job master went silent, until ctx ends; then it stops every
// worker.
func (te *TaskExecutor) Run(ctx context.Context, rm rpc.ResourceManagerGateway) error {
	reg := rpc.TaskManagerRegistration{ID: te.cfg.ID, Address: te.cfg.Address, Slots: te.cfg.Slots}
	registered := false
	t := time.NewTicker(te.cfg.Heartbeat.Interval)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, te.cfg.Heartbeat.Interval)
		var err error
		if !registered {
			if err = rm.RegisterTaskManager(cctx, reg); err == nil {
				registered = true
				te.log.Info("registered with the resource manager", slog.Int("slots", te.cfg.Slots))
			}
		} else if err = rm.HeartbeatTaskManager(cctx, te.cfg.ID); errors.Is(err, rpc.ErrUnknownTaskManager) {
			registered = false
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			te.log.Warn("the resource manager is unreachable", slog.Any("error", err))
		}
		te.expireWorkers()
		select {
		case <-ctx.Done():
			te.Close()
			return nil
		case <-t.C:
		}
		if !registered {
			// Register again at once rather than a heartbeat later.
			continue
		}
	}
}

// expireWorkers stops the workers whose job master sent no heartbeat for
// the timeout: the job ended or its job master is gone.
func (te *TaskExecutor) expireWorkers() {
	te.mu.Lock()
	defer te.mu.Unlock()
	for job, w := range te.workers {
		w.mu.Lock()
		silent := time.Since(w.heartbeat)
		w.mu.Unlock()
		if silent > te.cfg.Heartbeat.Timeout {
			te.log.Info("stopping the worker of a silent job master", slog.String("job", string(job)), slog.Duration("silent", silent))
			delete(te.workers, job)
			w.stop()
		}
	}
}

// Close stops every worker and waits for them to exit.
func (te *TaskExecutor) Close() {
	te.mu.Lock()
	te.closed = true
	ws := make([]*worker, 0, len(te.workers))
	for _, w := range te.workers {
		ws = append(ws, w)
	}
	te.workers = map[rpc.JobID]*worker{}
	te.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	for _, w := range ws {
		<-w.exited
	}
}

// tailBuffer keeps the last bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// suffix is ": its standard error's last lines" or "".
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := bytes.TrimSpace(t.b)
	if len(s) == 0 {
		return ""
	}
	if len(s) > 2048 {
		s = s[len(s)-2048:]
	}
	return "; its standard error ends: " + string(s)
}

// Gather implements prometheus.Gatherer: the metrics of every worker's
// subtasks, read from the workers' /metrics.
func (te *TaskExecutor) Gather() ([]*dto.MetricFamily, error) {
	te.mu.Lock()
	var addrs []string
	for _, w := range te.workers {
		if w.metrics != "" {
			addrs = append(addrs, w.metrics)
		}
	}
	te.mu.Unlock()
	gs := make(prometheus.Gatherers, 0, len(addrs))
	for _, addr := range addrs {
		gs = append(gs, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
			resp, err := metricsClient.Get("http://" + addr + "/metrics")
			if err != nil {
				return nil, nil // the worker ended since
			}
			defer resp.Body.Close()
			var p expfmt.TextParser
			fams, err := p.TextToMetricFamilies(resp.Body)
			if err != nil {
				return nil, fmt.Errorf("reading the metrics of the worker at %s: %w", addr, err)
			}
			out := make([]*dto.MetricFamily, 0, len(fams))
			for _, f := range fams {
				out = append(out, f)
			}
			return out, nil
		}))
	}
	return gs.Gather()
}

// metricsClient reads workers' metrics.
var metricsClient = &http.Client{Timeout: 5 * time.Second}

// env is the settings of a worker's data plane on port (0: a free one), as
// the environment variables of their keys.
func (n NetworkConfig) env(port int) []string {
	out := []string{config.EnvName("taskmanager.data.port") + "=" + strconv.Itoa(port)}
	if n.SegmentSize > 0 {
		out = append(out, config.EnvName("taskmanager.memory.segment-size")+"="+strconv.FormatInt(n.SegmentSize, 10))
	}
	if n.BuffersPerChannel > 0 {
		out = append(out, config.EnvName("taskmanager.network.memory.buffers-per-channel")+"="+strconv.Itoa(n.BuffersPerChannel))
	}
	return out
}
