package freshet

import (
	"context"
	"fmt"
	"time"

	"github.com/freshet-io/freshet/internal/checkpoint/barrier"
	"github.com/freshet-io/freshet/internal/checkpoint/coordinator"
	"github.com/freshet-io/freshet/internal/checkpoint/storage"
	"github.com/freshet-io/freshet/internal/jobmanager"
	"github.com/freshet-io/freshet/internal/task"
)

// CheckpointingMode is the consistency checkpoints give state (Flink's
// CheckpointingMode).
type CheckpointingMode uint8

const (
	// ExactlyOnce aligns barriers: each record's effect on state is in a
	// checkpoint exactly once.
	ExactlyOnce CheckpointingMode = iota
	// AtLeastOnce does not align barriers: after a restore some records'
	// effects may be applied twice, none is lost.
	AtLeastOnce
)

func (m CheckpointingMode) String() string {
	if m == AtLeastOnce {
		return "AT_LEAST_ONCE"
	}
	return "EXACTLY_ONCE"
}

// CheckpointRetention says what happens to a job's checkpoints when it
// ends (Flink's ExternalizedCheckpointRetention).
type CheckpointRetention uint8

const (
	// DeleteCheckpoints deletes them when the job finishes, is cancelled
	// or fails for good (the default).
	DeleteCheckpoints CheckpointRetention = iota
	// RetainOnFailure keeps those of a job that failed for good.
	RetainOnFailure
	// RetainOnCancellation keeps those of a job that was cancelled or
	// failed for good, so it can be started from one later
	// (WithRestoreFrom).
	RetainOnCancellation
)

type checkpointConfig struct {
	interval       time.Duration
	mode           CheckpointingMode
	unaligned      bool
	alignedTimeout time.Duration
	timeout        time.Duration
	minPause       time.Duration
	maxConcurrent  int
	tolerable      int
	location       string
	retained       int
	retention      CheckpointRetention
}

// CheckpointOption configures checkpoints; see WithCheckpointing.
type CheckpointOption func(*checkpointConfig) error

// WithCheckpointing takes a checkpoint of the job's state every interval
// (Flink's enableCheckpointing): the sources record their positions, a
// barrier flows with the records, and every operator snapshots its state
// when the barrier passes it. After a failure the job restarts from the
// latest completed checkpoint, so its state is as if every record had been
// processed exactly once. With checkpointing on, a job that sets no restart
// strategy restarts with exponential delay, as in Flink.
//
// By default checkpoints are aligned, exactly-once, kept in the directory
// freshet-checkpoints under os.TempDir (set CheckpointStorage to keep them
// elsewhere), one at a time, time out after 10 minutes, only the latest
// is kept and all are deleted when the job ends, and the first failed
// checkpoint fails the job (which then restarts by its strategy).
func WithCheckpointing(interval time.Duration, opts ...CheckpointOption) Option {
	return func(c *config) error {
		if interval <= 0 {
			return fmt.Errorf("checkpoint interval must be positive, got %s", interval)
		}
		ck := &checkpointConfig{interval: interval, maxConcurrent: 1}
		for _, o := range opts {
			if err := o(ck); err != nil {
				return fmt.Errorf("checkpointing: %w", err)
			}
		}
		if ck.unaligned && ck.mode == AtLeastOnce {
			return fmt.Errorf("checkpointing: unaligned checkpoints need the ExactlyOnce mode")
		}
		c.checkpoint = ck
		return nil
	}
}

// CheckpointMode sets the consistency of checkpoints (default ExactlyOnce).
func CheckpointMode(m CheckpointingMode) CheckpointOption {
	return func(c *checkpointConfig) error {
		if m > AtLeastOnce {
			return fmt.Errorf("unknown checkpointing mode %d", m)
		}
		c.mode = m
		return nil
	}
}

// UnalignedCheckpoints makes barriers overtake the records in flight
// (Flink's enableUnalignedCheckpoints): a checkpoint completes quickly
// even under backpressure, and the records it overtook are stored with it
// and processed again on restore.
func UnalignedCheckpoints() CheckpointOption {
	return func(c *checkpointConfig) error { c.unaligned = true; return nil }
}

// AlignedCheckpointTimeout starts each checkpoint aligned and switches a
// subtask to unaligned when its alignment has taken longer than d (Flink's
// alignedCheckpointTimeout). It implies UnalignedCheckpoints' storing of
// records in flight.
func AlignedCheckpointTimeout(d time.Duration) CheckpointOption {
	return func(c *checkpointConfig) error {
		if d <= 0 {
			return fmt.Errorf("aligned checkpoint timeout must be positive, got %s", d)
		}
		c.alignedTimeout = d
		return nil
	}
}

// CheckpointTimeout fails a checkpoint not complete after d (default 10 min).
func CheckpointTimeout(d time.Duration) CheckpointOption {
	return func(c *checkpointConfig) error {
		if d <= 0 {
			return fmt.Errorf("checkpoint timeout must be positive, got %s", d)
		}
		c.timeout = d
		return nil
	}
}

// MinPauseBetweenCheckpoints is the least time from the end of one
// checkpoint to the start of the next (default 0). The final checkpoint
// that subtasks whose input ended wait for is taken at once, so a bounded
// job ends without waiting out the interval or the pause.
func MinPauseBetweenCheckpoints(d time.Duration) CheckpointOption {
	return func(c *checkpointConfig) error {
		if d < 0 {
			return fmt.Errorf("minimum pause between checkpoints must not be negative, got %s", d)
		}
		c.minPause = d
		return nil
	}
}

// MaxConcurrentCheckpoints is how many checkpoints may be in progress at
// once (default 1).
func MaxConcurrentCheckpoints(n int) CheckpointOption {
	return func(c *checkpointConfig) error {
		if n < 1 {
			return fmt.Errorf("max concurrent checkpoints must be at least 1, got %d", n)
		}
		c.maxConcurrent = n
		return nil
	}
}

// TolerableCheckpointFailures is how many checkpoints may fail in a row
// before the job fails (default 0).
func TolerableCheckpointFailures(n int) CheckpointOption {
	return func(c *checkpointConfig) error {
		if n < 0 {
			return fmt.Errorf("tolerable checkpoint failures must not be negative, got %d", n)
		}
		c.tolerable = n
		return nil
	}
}

// CheckpointStorage keeps checkpoints at location: a local directory, or a
// bucket URL (file:///dir, mem://, s3://bucket and others whose
// gocloud.dev/blob driver the program imports). Each run of a job writes
// under a folder of its own, named after the job, whose completed
// checkpoints' paths the job logs and JobClient.Checkpoints reports. The
// default is the directory freshet-checkpoints under os.TempDir.
func CheckpointStorage(location string) CheckpointOption {
	return func(c *checkpointConfig) error {
		if location == "" {
			return fmt.Errorf("checkpoint storage location is empty")
		}
		c.location = location
		return nil
	}
}

// RetainedCheckpoints keeps the newest n completed checkpoints (default
// 1); with more, a restore passes over a corrupt newest one to an older.
func RetainedCheckpoints(n int) CheckpointOption {
	return func(c *checkpointConfig) error {
		if n < 1 {
			return fmt.Errorf("retained checkpoints must be at least 1, got %d", n)
		}
		c.retained = n
		return nil
	}
}

// ExternalizedCheckpoints says which checkpoints outlive the job (default
// DeleteCheckpoints).
func ExternalizedCheckpoints(r CheckpointRetention) CheckpointOption {
	return func(c *checkpointConfig) error {
		if r > RetainOnCancellation {
			return fmt.Errorf("unknown checkpoint retention %d", r)
		}
		c.retention = r
		return nil
	}
}

// WithRestoreFrom starts the job from a completed checkpoint: path is its
// folder, as JobClient.Checkpoints reports it (…/<job>/chk-<id>). Every
// operator's state is restored by its UID (or, without one, by its
// position in the program) and the sources resume where the checkpoint
// recorded them.
func WithRestoreFrom(path string) Option {
	return func(c *config) error {
		if path == "" {
			return fmt.Errorf("restore path is empty")
		}
		c.restoreFrom = path
		return nil
	}
}

// jobCheckpointConfig is the JobManager's form of the environment's
// checkpoint options; nil without checkpoints.
func (c *config) jobCheckpointConfig() *jobmanager.CheckpointConfig {
	ck := c.checkpoint
	if ck == nil {
		// No periodic checkpoints: the coordinator never triggers one,
		// but savepoints can still be taken (kept in memory until copied
		// out) and a restore can start the job.
		ck = &checkpointConfig{interval: 100 * 365 * 24 * time.Hour, maxConcurrent: 1, location: "mem://"}
	}
	mode := barrier.ExactlyOnce
	switch {
	case ck.mode == AtLeastOnce:
		mode = barrier.AtLeastOnce
	case ck.unaligned && ck.alignedTimeout == 0:
		mode = barrier.Unaligned
	}
	retention := storage.NoExternalizedCheckpoints
	switch ck.retention {
	case RetainOnFailure:
		retention = storage.DeleteOnCancellation
	case RetainOnCancellation:
		retention = storage.RetainOnCancellation
	}
	return &jobmanager.CheckpointConfig{
		Coordinator: coordinator.Config{
			Interval: ck.interval, MinPause: ck.minPause, Timeout: ck.timeout,
			MaxConcurrent: ck.maxConcurrent, TolerableFailures: ck.tolerable,
		},
		Mode: mode, AlignedTimeout: ck.alignedTimeout,
		Location: ck.location, Retained: ck.retained, Retention: retention,
		RestoreFrom: c.restoreFrom, AllowNonRestoredState: c.allowNonRestored,
	}
}

// AllowNonRestoredState lets WithRestoreFrom start from a checkpoint or
// savepoint that holds state of operators the job no longer has (Flink's
// --allowNonRestoredState): that state is dropped with a WARN. Without it
// such a restore fails with ErrNonRestoredState.
func AllowNonRestoredState() Option {
	return func(c *config) error { c.allowNonRestored = true; return nil }
}

// ErrNonRestoredState is wrapped by the error of a job started from a
// checkpoint holding state of operators it does not have; operators are
// matched by UID (or, without one, by their position in the program).
var ErrNonRestoredState = jobmanager.ErrNonRestoredState

// ErrMaxParallelismChanged is wrapped by the error of a job started from a
// checkpoint whose max parallelism differs from one the job sets. An
// operator that leaves it unset takes the checkpoint's, as in Flink.
var ErrMaxParallelismChanged = jobmanager.ErrMaxParallelismChanged

// ErrNoSavepoint is wrapped by the error of a savepoint that was not taken.
var ErrNoSavepoint = jobmanager.ErrNoSavepoint

// TriggerSavepoint takes a savepoint of the running job into dir (a
// directory or bucket URL) and returns its folder, for WithRestoreFrom.
// A savepoint is a checkpoint the job does not delete: it stays until you
// delete it, and a job can resume from it with another parallelism, with
// operators added or (with AllowNonRestoredState) removed, matched by UID.
// It is taken at once, whatever the checkpoint interval, also in a job
// without periodic checkpoints. On a cluster, dir is one the cluster's
// processes write to, and "" is the cluster's default directory.
func (c *JobClient) TriggerSavepoint(ctx context.Context, dir string) (string, error) {
	return c.h.savepoint(ctx, dir, task.TriggerOptions{})
}

// StopWithSavepoint takes a savepoint into dir and stops the job, which
// ends FINISHED (Flink's stop-with-savepoint). With drain, the sources
// first end event time (the final watermark fires every event-time window
// and timer) and then end their input after the savepoint's barrier; the
// savepoint then holds what is left after that. Without drain the sources
// stop reading at the barrier and the job is stopped once the savepoint
// completes, so resuming from it continues exactly where it stopped.
// It returns the savepoint's path once the job has ended; a job that
// fails as it stops returns the path with the failure.
func (c *JobClient) StopWithSavepoint(ctx context.Context, dir string, drain bool) (string, error) {
	return c.h.savepoint(ctx, dir, task.TriggerOptions{Stop: !drain, Drain: drain})
}

// CheckpointStatus is the state of a checkpoint.
type CheckpointStatus = coordinator.Status

// Checkpoint states.
const (
	CheckpointInProgress = coordinator.InProgress
	CheckpointCompleted  = coordinator.Completed
	CheckpointFailed     = coordinator.Failed
)

// CheckpointStats describes one checkpoint of a job.
type CheckpointStats struct {
	ID       int64
	Status   CheckpointStatus
	Trigger  time.Time     // when it was triggered
	Duration time.Duration // until it completed or failed
	Size     int64         // bytes of state written (an incremental checkpoint's reused files are not counted)
	// Path is a completed checkpoint's folder, for WithRestoreFrom; ""
	// while it is in progress or when it failed.
	Path    string
	Failure error // why it failed
	// Savepoint marks a savepoint (TriggerSavepoint, StopWithSavepoint):
	// Path is then where it was taken, before it was copied to the
	// directory asked for, whose path TriggerSavepoint returned.
	Savepoint bool
}

// Checkpoints returns the job's recent checkpoints (up to 100), oldest
// first, savepoints among them; empty without checkpointing. On a cluster
// it asks the REST API (for at most 10 s) and returns nothing, logging
// why, should that fail.
func (c *JobClient) Checkpoints() []CheckpointStats {
	return c.h.checkpoints()
}

// LatestCheckpoint returns the job's latest completed checkpoint, if any.
func (c *JobClient) LatestCheckpoint() (CheckpointStats, bool) {
	h := c.Checkpoints()
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Status == CheckpointCompleted {
			return h[i], true
		}
	}
	return CheckpointStats{}, false
}
