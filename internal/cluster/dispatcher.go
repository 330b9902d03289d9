package cluster

import (
	"context"
	"crypto/rand"
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
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/freshet-io/freshet/internal/rest"
	"github.com/freshet-io/freshet/internal/rpc"
)

// DispatcherConfig configures a cluster's dispatcher.
type DispatcherConfig struct {
	// ArtifactDir is where uploaded programs are (the REST server's).
	ArtifactDir string
	// Control is the JobManager process's RPC address and REST its REST
	// address, as job masters and TaskManagers reach them.
	Control, REST string
	// Host is the host job masters listen on.
	Host      string
	Heartbeat rpc.HeartbeatConfig
	// Env are settings (NAME=value) every job master is started with,
	// such as the cluster's checkpoint directory.
	Env    []string
	Logger *slog.Logger
}

// Dispatcher is a cluster's dispatcher: it runs each submitted program as
// its job's job master process, serves the REST API over the job masters
// (and the archives of ended jobs) and the resource manager. It
// implements rest.Dispatcher and rpc.DispatcherGateway.
type Dispatcher struct {
	cfg  DispatcherConfig
	rm   *ResourceManager
	log  *slog.Logger
	http *http.Client

	mu   sync.Mutex
	jobs map[string]*clusterJob
}

// clusterJob is a job of the cluster: its job master process, and once it
// ended, its archive.
type clusterJob struct {
	id, artifact string
	start        time.Time
	cmd          *exec.Cmd
	stderr       *tailBuffer
	exited       chan struct{}
	registered   chan struct{}

	// Guarded by the dispatcher's mu.
	name     string
	restAddr string
	archive  *rpc.JobArchive
	end      time.Time
}

// NewDispatcher returns a dispatcher over rm.
func NewDispatcher(cfg DispatcherConfig, rm *ResourceManager) *Dispatcher {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Heartbeat.Interval <= 0 {
		cfg.Heartbeat = rpc.DefaultHeartbeat
	}
	return &Dispatcher{cfg: cfg, rm: rm, log: cfg.Logger, http: &http.Client{Timeout: 30 * time.Second}, jobs: map[string]*clusterJob{}}
}

// jobMasterStartTimeout bounds how long a job master may take to build its
// job graph and register.
var jobMasterStartTimeout = 2 * time.Minute

// RunArtifact implements rest.Dispatcher: it starts the program as its
// job's job master and returns the job's id once the job master runs it.
func (d *Dispatcher) RunArtifact(ctx context.Context, artifact string, req rest.RunRequest) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	cmd := exec.Command(filepath.Join(d.cfg.ArtifactDir, artifact), req.Args...)
	cmd.Env = append(os.Environ(), d.cfg.Env...)
	cmd.Env = append(cmd.Env, EnvRole+"="+RoleJobMaster, EnvJob+"="+id, EnvControl+"="+d.cfg.Control, EnvREST+"="+d.cfg.REST,
		EnvArtifact+"="+artifact, EnvHost+"="+d.cfg.Host, EnvHeartbeat+"="+formatHeartbeat(d.cfg.Heartbeat))
	if req.Parallelism > 0 {
		cmd.Env = append(cmd.Env, EnvParallelism+"="+strconv.Itoa(req.Parallelism))
	}
	if req.SavepointPath != "" {
		cmd.Env = append(cmd.Env, EnvSavepoint+"="+req.SavepointPath)
	}
	j := &clusterJob{id: id, artifact: artifact, start: time.Now(), cmd: cmd, stderr: newTailBuffer(16 << 10),
		exited: make(chan struct{}), registered: make(chan struct{})}
	cmd.Stdout = os.Stdout
	cmd.Stderr = io.MultiWriter(os.Stderr, j.stderr)
	setParentDeath(cmd)
	if err := os.Chmod(cmd.Path, 0o755); err != nil {
		return "", fmt.Errorf("making artifact %s executable: %w", artifact, err)
	}
	if err := cmd.Start(); err != nil {
		return "", rest.Errorf(rest.CodeBadRequest, "artifact %s cannot run on this JobManager: %v", artifact, err)
	}
	d.mu.Lock()
	d.jobs[id] = j
	d.mu.Unlock()
	d.log.Info("job master started", slog.String("job", id), slog.String("artifact", artifact), slog.Int("pid", cmd.Process.Pid))
	go func() {
		err := cmd.Wait()
		d.mu.Lock()
		if j.archive == nil {
			msg := fmt.Sprintf("the job master of job %s exited (%v) before the job ended%s", id, err, j.stderr.suffix())
			if err == nil {
				msg = fmt.Sprintf("the program of job %s exited without running a job%s", id, j.stderr.suffix())
			}
			exc, _ := json.Marshal(rest.Exceptions{RootException: msg, Timestamp: time.Now().UnixMilli()})
			j.archive = &rpc.JobArchive{Job: rpc.JobID(id), Status: "FAILED", Documents: map[string][]byte{"/jobs/" + id + "/exceptions": exc}}
			j.end = time.Now()
		}
		d.mu.Unlock()
		close(j.exited)
		_ = d.rm.ReleaseSlots(context.Background(), rpc.JobID(id))
	}()
	// A program that runs no job leaves no job behind.
	forget := func() {
		d.mu.Lock()
		delete(d.jobs, id)
		d.mu.Unlock()
	}
	select {
	case <-j.registered:
		return id, nil
	case <-j.exited:
		d.mu.Lock()
		ran := j.restAddr != ""
		d.mu.Unlock()
		if ran {
			return id, nil // it ran and ended at once
		}
		forget()
		return "", rest.Errorf(rest.CodeBadRequest, "the program did not start its job: it exited with %v%s", cmd.ProcessState, j.stderr.suffix())
	case <-time.After(jobMasterStartTimeout):
		_ = cmd.Process.Kill()
		forget()
		return "", fmt.Errorf("the program did not start its job within %s%s", jobMasterStartTimeout, j.stderr.suffix())
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		forget()
		return "", ctx.Err()
	}
}

// RegisterJobMaster implements rpc.DispatcherGateway.
func (d *Dispatcher) RegisterJobMaster(_ context.Context, r rpc.JobMasterRegistration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	j := d.jobs[string(r.Job)]
	if j == nil {
		return fmt.Errorf("%w: the dispatcher started no job %s", rpc.ErrUnknownJob, r.Job)
	}
	if j.restAddr != "" {
		return fmt.Errorf("job %s registered its job master already", r.Job)
	}
	j.name, j.restAddr = r.Name, r.RESTAddress
	close(j.registered)
	d.log.Info("job running", slog.String("job", string(r.Job)), slog.String("job_name", r.Name), slog.String("job_master", r.Address))
	return nil
}

// JobEnded implements rpc.DispatcherGateway.
func (d *Dispatcher) JobEnded(_ context.Context, a rpc.JobArchive) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	j := d.jobs[string(a.Job)]
	if j == nil {
		return fmt.Errorf("%w: the dispatcher started no job %s", rpc.ErrUnknownJob, a.Job)
	}
	j.archive, j.end = &a, time.Now()
	d.log.Info("job ended", slog.String("job", string(a.Job)), slog.String("status", a.Status))
	return nil
}

// lookup returns the job and, while its job master runs, the job master's
// REST address; once it ended, its archive.
func (d *Dispatcher) lookup(id string) (*clusterJob, string, *rpc.JobArchive, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	j := d.jobs[id]
	if j == nil {
		return nil, "", nil, rest.Errorf(rest.CodeJobNotFound, "no job %s", id)
	}
	return j, j.restAddr, j.archive, nil
}

// forward sends a request to the job master of a running job and decodes
// its answer into out; an error answer keeps its code.
func (d *Dispatcher) forward(ctx context.Context, restAddr, method, path string, body, out any) error {
	return (&rest.Client{Base: "http://" + restAddr, HTTP: d.http}).Do(ctx, method, path, body, out)
}

// document serves a GET of a job's document: from the job master while
// it runs, from the archive once the job ended.
func (d *Dispatcher) document(ctx context.Context, id, suffix string, out any) error {
	j, addr, a, err := d.lookup(id)
	if err != nil {
		return err
	}
	path := "/jobs/" + id + suffix
	if a != nil {
		b, ok := a.Documents[path]
		if !ok {
			return rest.Errorf(rest.CodeNotFound, "job %s ended (%s) and its archive has no %s", id, a.Status, path)
		}
		return json.Unmarshal(b, out)
	}
	if addr == "" {
		return rest.Errorf(rest.CodeJobNotRunning, "job %s is starting (its program builds the job)", j.id)
	}
	err = d.forward(ctx, addr, http.MethodGet, path, nil, out)
	if err != nil {
		// The job may have ended in between: its archive answers.
		if _, _, a, _ := d.lookup(id); a != nil {
			return d.document(ctx, id, suffix, out)
		}
	}
	return err
}

// Overview implements rest.Dispatcher.
func (d *Dispatcher) Overview(ctx context.Context) (rest.Overview, error) {
	o := rest.Overview{Version: rest.Version}
	for _, tm := range d.rm.TaskManagers() {
		o.TaskManagers++
		o.SlotsTotal += tm.Slots
		o.SlotsAvailable += tm.FreeSlots
	}
	jobs, err := d.Jobs(ctx)
	if err != nil {
		return o, err
	}
	for _, j := range jobs {
		switch j.State {
		case "FINISHED":
			o.JobsFinished++
		case "CANCELED":
			o.JobsCancelled++
		case "FAILED":
			o.JobsFailed++
		default:
			o.JobsRunning++
		}
	}
	return o, nil
}

// TaskManagers implements rest.Dispatcher.
func (d *Dispatcher) TaskManagers(context.Context) ([]rest.TaskManager, error) {
	now := time.Now()
	var out []rest.TaskManager
	for _, tm := range d.rm.TaskManagers() {
		out = append(out, rest.TaskManager{ID: tm.ID, Slots: tm.Slots, FreeSlots: tm.FreeSlots,
			LastHeartbeat: tm.LastHeartbeat.UnixMilli(), HeartbeatAge: now.Sub(tm.LastHeartbeat).Milliseconds()})
	}
	return out, nil
}

// Jobs implements rest.Dispatcher.
func (d *Dispatcher) Jobs(ctx context.Context) ([]rest.JobSummary, error) {
	d.mu.Lock()
	jobs := make([]*clusterJob, 0, len(d.jobs))
	for _, j := range d.jobs {
		jobs = append(jobs, j)
	}
	d.mu.Unlock()
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].start.Before(jobs[b].start) })
	// Running jobs are asked at once, each for at most
	// jobOverviewTimeout: one job master slow to answer holds up only its
	// own line.
	out := make([]rest.JobSummary, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() { out[i] = d.summary(ctx, j) })
	}
	wg.Wait()
	return out, nil
}

// jobOverviewTimeout bounds how long listing the jobs waits for one job
// master.
const jobOverviewTimeout = 5 * time.Second

// summary is job j's line in the jobs list: from its archive once it
// ended, else from its job master.
func (d *Dispatcher) summary(ctx context.Context, j *clusterJob) rest.JobSummary {
	s := rest.JobSummary{ID: j.id, State: "INITIALIZING", StartTime: j.start.UnixMilli(), EndTime: -1, Tasks: map[string]int{}}
	var ov rest.JobsOverview
	var err error
	_, addr, a, _ := d.lookup(j.id)
	switch {
	case a != nil:
		if b, ok := a.Documents["/jobs/overview"]; ok {
			err = json.Unmarshal(b, &ov)
		}
		s.State = a.Status
		d.mu.Lock()
		s.Name, s.EndTime = j.name, j.end.UnixMilli()
		d.mu.Unlock()
		s.Duration = s.EndTime - s.StartTime
	case addr != "":
		fctx, cancel := context.WithTimeout(ctx, jobOverviewTimeout)
		err = d.forward(fctx, addr, http.MethodGet, "/jobs/overview", nil, &ov)
		cancel()
	}
	for _, o := range ov.Jobs {
		if o.ID == j.id {
			s = o
		}
	}
	if err != nil {
		d.log.Warn("listing a job", slog.String("job", j.id), slog.Any("error", err))
	}
	return s
}

// Job implements rest.Dispatcher.
func (d *Dispatcher) Job(ctx context.Context, id string) (rest.JobDetails, error) {
	var out rest.JobDetails
	err := d.document(ctx, id, "", &out)
	var re *rest.Error
	if errors.As(err, &re) && re.Code == rest.CodeNotFound {
		// A job master that died left an archive without the job's
		// details, but with how the job ended.
		d.mu.Lock()
		defer d.mu.Unlock()
		if j := d.jobs[id]; j != nil && j.archive != nil {
			end := j.end.UnixMilli()
			return rest.JobDetails{ID: id, Name: j.name, State: j.archive.Status, StartTime: j.start.UnixMilli(), EndTime: end,
				Duration: end - j.start.UnixMilli(), Now: time.Now().UnixMilli(), Vertices: []rest.Vertex{}}, nil
		}
	}
	return out, err
}

// Plan implements rest.Dispatcher.
func (d *Dispatcher) Plan(ctx context.Context, id string) (json.RawMessage, error) {
	var out json.RawMessage
	return out, d.document(ctx, id, "/plan", &out)
}

// Checkpoints implements rest.Dispatcher.
func (d *Dispatcher) Checkpoints(ctx context.Context, id string) (rest.Checkpoints, error) {
	var out rest.Checkpoints
	return out, d.document(ctx, id, "/checkpoints", &out)
}

// Exceptions implements rest.Dispatcher.
func (d *Dispatcher) Exceptions(ctx context.Context, id string) (rest.Exceptions, error) {
	var out rest.Exceptions
	return out, d.document(ctx, id, "/exceptions", &out)
}

func (d *Dispatcher) running(id string) (string, error) {
	_, addr, a, err := d.lookup(id)
	switch {
	case err != nil:
		return "", err
	case a != nil:
		return "", rest.Errorf(rest.CodeJobNotRunning, "job %s has ended (%s)", id, a.Status)
	case addr == "":
		return "", rest.Errorf(rest.CodeJobNotRunning, "job %s is starting", id)
	}
	return addr, nil
}

// Cancel implements rest.Dispatcher.
func (d *Dispatcher) Cancel(ctx context.Context, id string) error {
	addr, err := d.running(id)
	if err != nil {
		return err
	}
	return d.forward(ctx, addr, http.MethodPatch, "/jobs/"+id, nil, nil)
}

// TriggerSavepoint implements rest.Dispatcher.
func (d *Dispatcher) TriggerSavepoint(ctx context.Context, id string, req rest.SavepointRequest) (string, error) {
	addr, err := d.running(id)
	if err != nil {
		return "", err
	}
	path, body := "/jobs/"+id+"/savepoints", any(req)
	if req.Stop {
		// Flink's stop request names its field differently.
		path, body = "/jobs/"+id+"/stop", map[string]any{"targetDirectory": req.TargetDirectory, "drain": req.Drain}
	}
	var out rest.TriggerResponse
	err = d.forward(ctx, addr, http.MethodPost, path, body, &out)
	return out.RequestID, err
}

// SavepointStatus implements rest.Dispatcher.
func (d *Dispatcher) SavepointStatus(ctx context.Context, id, trigger string) (rest.SavepointStatus, error) {
	var out rest.SavepointStatus
	err := d.document(ctx, id, "/savepoints/"+trigger, &out)
	if e, ok := err.(*rest.Error); ok && e.Code == rest.CodeNotFound {
		err = rest.Errorf(rest.CodeTriggerNotFound, "no savepoint trigger %s of job %s", trigger, id)
	}
	return out, err
}

// Close stops the job master processes.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	jobs := make([]*clusterJob, 0, len(d.jobs))
	for _, j := range d.jobs {
		jobs = append(jobs, j)
	}
	d.mu.Unlock()
	for _, j := range jobs {
		select {
		case <-j.exited:
		default:
			_ = j.cmd.Process.Kill()
			<-j.exited
		}
	}
}
