package freshet

import (
	"context"

	"github.com/freshet-io/freshet/internal/jobmanager"
	"github.com/freshet-io/freshet/internal/task"
)

// JobClient is the handle of a job started with ExecuteAsync: a job of
// the embedded cluster, or, with WithJobManager, a job of a cluster,
// followed and controlled through the cluster's REST API.
type JobClient struct {
	h jobHandle
}

// jobHandle is what a JobClient drives: a job of this process
// (embeddedJob) or one of a cluster (remoteJob). Its methods are called
// from any goroutine.
type jobHandle interface {
	id() string
	status() JobStatus
	restarts() int
	cancel()
	// done is closed once the job has ended; err is then its failure.
	done() <-chan struct{}
	err() error
	savepoint(ctx context.Context, dir string, opts task.TriggerOptions) (string, error)
	checkpoints() []CheckpointStats
}

// ID is the job's identifier.
func (c *JobClient) ID() string { return c.h.id() }

// Status returns the job's current status. On a cluster it asks the REST
// API (for at most 10 s); should that fail, it logs why and returns the
// status last read, JobCreated before any.
func (c *JobClient) Status() JobStatus { return c.h.status() }

// Restarts is how many times the job has restarted after a failure (on a
// cluster, as Status reads it).
func (c *JobClient) Restarts() int { return c.h.restarts() }

// Cancel asks the job to stop; Wait or Done tell when it has. On a
// cluster a failure to ask (for at most 30 s) is logged; cancelling an
// ended job does nothing.
func (c *JobClient) Cancel() { c.h.cancel() }

// Done is closed when the job has ended and every goroutine it started has
// returned, except those of subtasks abandoned after the cancellation
// timeout (see WithCancellationTimeout), which are left running. On a
// cluster the job's status is polled from the first call of Done, Wait
// or Err until the job ends, or until the REST API has not answered for a
// minute.
func (c *JobClient) Done() <-chan struct{} { return c.h.done() }

// Wait blocks until the job ends and returns its failure, if any. A cancelled
// job returns nil, unless a subtask did not stop within the cancellation
// timeout (an error matching ErrCancellationTimeout). A job that failed on
// a cluster returns an error matching ErrJobNotFinished with the root cause
// the cluster reports; one the client lost contact with, an error naming
// the cluster's address and the job.
func (c *JobClient) Wait() error {
	<-c.h.done()
	return c.h.err()
}

// Err returns the job's failure once Done is closed.
func (c *JobClient) Err() error { return c.Wait() }

// embeddedJob is a job of this process: of the embedded cluster, or the
// job a job master runs.
type embeddedJob struct {
	job *jobmanager.Job
	end chan struct{} // closed once the job and what it started are done
}

func (j *embeddedJob) id() string            { return string(j.job.ID) }
func (j *embeddedJob) status() JobStatus     { return j.job.Status() }
func (j *embeddedJob) restarts() int         { return j.job.Restarts() }
func (j *embeddedJob) cancel()               { j.job.Cancel() }
func (j *embeddedJob) done() <-chan struct{} { return j.end }
func (j *embeddedJob) err() error            { return j.job.Err() }

func (j *embeddedJob) savepoint(ctx context.Context, dir string, opts task.TriggerOptions) (string, error) {
	return j.job.TriggerSavepoint(ctx, dir, opts)
}

func (j *embeddedJob) checkpoints() []CheckpointStats {
	h := j.job.Checkpoints()
	out := make([]CheckpointStats, len(h))
	for i, s := range h {
		out[i] = CheckpointStats{ID: s.ID, Status: s.Status, Trigger: s.Triggered, Duration: s.Duration, Size: s.Size, Path: s.Path, Failure: s.Failure, Savepoint: s.Savepoint}
	}
	return out
}
