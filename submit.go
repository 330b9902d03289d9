package freshet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/freshet-io/freshet/internal/cluster"
	"github.com/freshet-io/freshet/internal/rest"
	"github.com/freshet-io/freshet/internal/task"
)

// EnvJobManager is the environment variable that, like WithJobManager,
// makes Execute and ExecuteAsync submit the program to a cluster.
const EnvJobManager = "FRESHET_JOBMANAGER"

// WithJobManager makes Execute and ExecuteAsync submit the program to the
// cluster whose REST API is at address (a URL, or host:port) rather than
// run the job embedded, as freshet run does: the program's executable is
// uploaded with its arguments, and the cluster runs it again as the job's
// job master and in its TaskManagers' workers (where this option is
// ignored). Execute then waits for the job to end, cancelling it if ctx
// ends first; ExecuteAsync returns a JobClient of the job there. The
// program must be built for the cluster's machines (see
// docs/deployment.md). The environment variable FRESHET_JOBMANAGER does
// the same for a program that sets no address; "" runs embedded.
func WithJobManager(address string) Option {
	return func(c *config) error {
		c.jobManager = address
		return nil
	}
}

// jobManagerAddress is the cluster to submit to, "" for none.
func (e *Env) jobManagerAddress() string {
	if cluster.Role() != "" {
		return "" // this is the cluster running the program
	}
	if e.cfg.jobManager != "" {
		return e.cfg.jobManager
	}
	return os.Getenv(EnvJobManager)
}

// ErrJobNotFinished is wrapped by Execute's error for a job submitted to a
// cluster that failed or was cancelled there, and by JobClient.Err's for
// one that failed there.
var ErrJobNotFinished = errors.New("freshet: the job did not finish")

// submit submits the program to the cluster at address and returns the
// client of its job there.
func (e *Env) submit(ctx context.Context, address, name string) (*JobClient, error) {
	// The program's mistakes show here rather than in the cluster.
	if _, err := e.plan(name); err != nil {
		return nil, err
	}
	log := e.logger()
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the program to submit: %w", err)
	}
	c := rest.NewClient(address)
	artifact, err := c.Upload(ctx, self)
	if err != nil {
		return nil, fmt.Errorf("submitting job %q to the cluster at %s: %w", name, c.Base, err)
	}
	job, err := c.Run(ctx, artifact, rest.RunRequest{Args: os.Args[1:]})
	if err != nil {
		return nil, fmt.Errorf("submitting job %q to the cluster at %s: %w", name, c.Base, err)
	}
	log.Info("job submitted to the cluster", slog.String("job", job), slog.String("job_name", name), slog.String("jobmanager", c.Base))
	return &JobClient{h: newRemoteJob(c, job, log)}, nil
}

// Polling a cluster's job.
const (
	// remoteCallTimeout bounds a request made for a method without a
	// context.
	remoteCallTimeout = 10 * time.Second
	// remoteCancelTimeout bounds Cancel's request, which a busy job
	// master may answer late.
	remoteCancelTimeout = 30 * time.Second
	// remotePollMin and remotePollMax bound the interval between polls
	// of the job's status: short at first, so that a job that ends soon
	// is seen soon, then growing.
	remotePollMin = 50 * time.Millisecond
	remotePollMax = time.Second
	// remoteContactTimeout is how long the REST API may fail to answer
	// before Done gives up on the job.
	remoteContactTimeout = time.Minute
)

// remoteJob is a job of a cluster, driven through its REST API.
type remoteJob struct {
	c   *rest.Client
	job string
	log *slog.Logger
	// lostAfter is how long polls may fail before the job is given up.
	lostAfter time.Duration

	follow sync.Once
	end    chan struct{} // closed by the poller once the job ended

	mu struct {
		sync.Mutex
		status   JobStatus
		restarts int
		err      error // the job's failure, set before end is closed
	}
}

func newRemoteJob(c *rest.Client, job string, log *slog.Logger) *remoteJob {
	return &remoteJob{c: c, job: job, log: log, lostAfter: remoteContactTimeout, end: make(chan struct{})}
}

// errorf wraps err with what was done, naming the job and the cluster.
func (r *remoteJob) errorf(what string, err error) error {
	return fmt.Errorf("%s job %s on the cluster at %s: %w", what, r.job, r.c.Base, err)
}

func (r *remoteJob) id() string { return r.job }

// ended reports whether the poller has seen the job end.
func (r *remoteJob) ended() bool {
	select {
	case <-r.end:
		return true
	default:
		return false
	}
}

// read reads the job's status and restarts from the REST API.
func (r *remoteJob) read(ctx context.Context) (JobStatus, error) {
	d, err := r.c.Job(ctx, r.job)
	if err != nil {
		return 0, r.errorf("reading the status of", err)
	}
	st, ok := parseJobStatus(d.State)
	if !ok {
		return 0, r.errorf("reading the status of", fmt.Errorf("unknown job state %q", d.State))
	}
	r.mu.Lock()
	r.mu.status, r.mu.restarts = st, d.Restarts
	r.mu.Unlock()
	return st, nil
}

// last is the status and restarts last read.
func (r *remoteJob) last() (JobStatus, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.status, r.mu.restarts
}

// refresh reads the status unless the job has ended, logging a failure.
func (r *remoteJob) refresh() {
	if r.ended() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), remoteCallTimeout)
	defer cancel()
	if _, err := r.read(ctx); err != nil {
		r.log.Warn("reading a job's status", slog.String("job", r.job), slog.String("jobmanager", r.c.Base), slog.Any("error", err))
	}
}

func (r *remoteJob) status() JobStatus {
	r.refresh()
	st, _ := r.last()
	return st
}

func (r *remoteJob) restarts() int {
	r.refresh()
	_, n := r.last()
	return n
}

func (r *remoteJob) cancel() {
	if r.ended() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), remoteCancelTimeout)
	defer cancel()
	err := r.c.Cancel(ctx, r.job)
	var re *rest.Error
	if err != nil && !(errors.As(err, &re) && re.Code == rest.CodeJobNotRunning) {
		r.log.Error("cancelling a job", slog.String("job", r.job), slog.String("jobmanager", r.c.Base), slog.Any("error", r.errorf("cancelling", err)))
	}
}

func (r *remoteJob) done() <-chan struct{} {
	r.follow.Do(func() { go r.poll() })
	return r.end
}

func (r *remoteJob) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.err
}

// poll reads the job's status until it has ended, then closes end. A job
// the cluster does not know, or a REST API that has not answered for
// lostAfter, ends the polling with an error.
func (r *remoteJob) poll() {
	var failure error
	defer func() {
		r.mu.Lock()
		r.mu.err = failure
		r.mu.Unlock()
		close(r.end)
	}()
	interval := remotePollMin
	var failingSince time.Time
	for {
		ctx, cancel := context.WithTimeout(context.Background(), remoteCallTimeout)
		st, err := r.read(ctx)
		cancel()
		var re *rest.Error
		switch {
		case err == nil && st.Terminal():
			failure = r.failure(st)
			return
		case err == nil:
			failingSince = time.Time{}
		case errors.As(err, &re) && re.Code == rest.CodeJobNotFound:
			failure = err
			return
		case failingSince.IsZero():
			failingSince = time.Now()
		case time.Since(failingSince) >= r.lostAfter:
			failure = fmt.Errorf("giving up after %s without an answer: %w", r.lostAfter, err)
			return
		}
		t := time.NewTimer(interval)
		<-t.C
		interval = min(2*interval, remotePollMax)
	}
}

// failure is the error of a job that ended with st: nil unless it failed,
// else ErrJobNotFinished with the root cause the cluster reports.
func (r *remoteJob) failure(st JobStatus) error {
	if st != JobFailed {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), remoteCallTimeout)
	defer cancel()
	ex, err := r.c.Exceptions(ctx, r.job)
	switch {
	case err != nil:
		return fmt.Errorf("%w: job %s on the cluster at %s %s (its exceptions: %w)", ErrJobNotFinished, r.job, r.c.Base, st, err)
	case ex.RootException == "":
		return fmt.Errorf("%w: job %s on the cluster at %s %s", ErrJobNotFinished, r.job, r.c.Base, st)
	}
	return fmt.Errorf("%w: job %s on the cluster at %s %s: %s", ErrJobNotFinished, r.job, r.c.Base, st, ex.RootException)
}

// savepointPoll is how often a savepoint's trigger is polled.
const savepointPoll = 100 * time.Millisecond

func (r *remoteJob) savepoint(ctx context.Context, dir string, opts task.TriggerOptions) (string, error) {
	what := "taking a savepoint of"
	if opts.Stop || opts.Drain {
		what = "stopping with a savepoint"
	}
	req := rest.SavepointRequest{TargetDirectory: dir, Stop: opts.Stop || opts.Drain, Drain: opts.Drain}
	trigger, err := r.c.TriggerSavepoint(ctx, r.job, req)
	var re *rest.Error
	if errors.As(err, &re) && re.Code == rest.CodeJobNotRunning {
		err = fmt.Errorf("%w: %w", ErrNoSavepoint, err)
	}
	if err != nil {
		return "", r.errorf(what, err)
	}
	t := time.NewTicker(savepointPoll)
	defer t.Stop()
	for {
		st, err := r.c.SavepointStatus(ctx, r.job, trigger)
		if err != nil {
			return "", r.errorf(what, err)
		}
		if st.Status.ID == rest.SavepointCompleted {
			switch op := st.Operation; {
			case op == nil:
				return "", r.errorf(what, errors.New("the savepoint completed without a result"))
			case op.FailureCause == nil:
				return op.Location, nil
			case op.FailureCause.Class == rest.SavepointNotTaken:
				return "", r.errorf(what, fmt.Errorf("%w: %s", ErrNoSavepoint, op.FailureCause.StackTrace))
			default:
				return "", r.errorf(what, errors.New(op.FailureCause.StackTrace))
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return "", r.errorf(what, ctx.Err())
		}
	}
}

func (r *remoteJob) checkpoints() []CheckpointStats {
	ctx, cancel := context.WithTimeout(context.Background(), remoteCallTimeout)
	defer cancel()
	cp, err := r.c.Checkpoints(ctx, r.job)
	if err != nil {
		r.log.Warn("reading a job's checkpoints", slog.String("job", r.job), slog.String("jobmanager", r.c.Base), slog.Any("error", r.errorf("reading the checkpoints of", err)))
		return nil
	}
	// The API lists them newest first.
	out := make([]CheckpointStats, 0, len(cp.History))
	for i := len(cp.History) - 1; i >= 0; i-- {
		h := cp.History[i]
		s := CheckpointStats{ID: h.ID, Trigger: time.UnixMilli(h.TriggerTimestamp), Duration: time.Duration(h.Duration) * time.Millisecond,
			Size: h.StateSize, Path: h.ExternalPath, Savepoint: h.IsSavepoint}
		switch h.Status {
		case CheckpointCompleted.String():
			s.Status = CheckpointCompleted
		case CheckpointFailed.String():
			s.Status, s.Failure = CheckpointFailed, errors.New(h.FailureMessage)
		default:
			s.Status = CheckpointInProgress
		}
		out = append(out, s)
	}
	return out
}

// parseJobStatus maps a job state of the REST API to a JobStatus. A job
// whose program is still building its graph (Flink's INITIALIZING) is
// JobCreated.
func parseJobStatus(s string) (JobStatus, bool) {
	if s == "INITIALIZING" {
		return JobCreated, true
	}
	for st := JobCreated; st <= JobFailing; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}
