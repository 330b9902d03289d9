// Package rpc defines how the JobManager and TaskManagers talk: two gateway
// interfaces and the messages they carry. The embedded runtime implements
// them with direct calls; a network transport implements the same
// interfaces for a distributed cluster, so neither side knows which it has.
package rpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/freshet-io/freshet/internal/checkpoint/barrier"
	"github.com/freshet-io/freshet/internal/checkpoint/storage"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/task"
)

// JobID identifies a job.
type JobID string

// ExecutionID identifies one attempt of one subtask.
type ExecutionID struct {
	Job     JobID
	Vertex  int
	Subtask int
	Attempt int
}

func (e ExecutionID) String() string {
	return fmt.Sprintf("%s/v%d/%d#%d", e.Job, e.Vertex, e.Subtask, e.Attempt)
}

// TaskState is the state of a subtask attempt.
type TaskState uint8

// Task states.
const (
	TaskDeploying TaskState = iota
	TaskRunning
	TaskFinished
	TaskCanceled
	TaskFailed
)

var taskStateNames = [...]string{"DEPLOYING", "RUNNING", "FINISHED", "CANCELED", "FAILED"}

func (s TaskState) String() string { return taskStateNames[s] }

// Terminal reports whether the task has ended.
func (s TaskState) Terminal() bool { return s >= TaskFinished }

// TaskDeployment is what a TaskManager needs to run a subtask.
type TaskDeployment struct {
	Exec   ExecutionID
	Graph  *graph.JobGraph
	Config task.Config
	// CancellationTimeout is how long the subtask may take to stop once its
	// job is cancelled before the TaskManager abandons it; 0 waits for ever.
	CancellationTimeout time.Duration
	// Checkpoints, when set, makes the subtask take part in checkpoints.
	Checkpoints *CheckpointDeployment
	// Restore, when set, is the checkpoint the subtask restores from.
	Restore *task.Restore
}

// CheckpointDeployment is how a deployed subtask takes checkpoints.
type CheckpointDeployment struct {
	Mode           barrier.Mode
	AlignedTimeout time.Duration
	// Storage is the job's checkpoint storage.
	Storage *storage.Storage
	// Final makes a subtask that finished wait for a checkpoint taken
	// after it finished (its final checkpoint) to complete before it
	// ends, so that what it commits on completion is committed: set when
	// the job takes checkpoints periodically.
	Final bool
}

// FinalCheckpointWanted tells that a subtask finished and waits for its
// final checkpoint.
type FinalCheckpointWanted struct {
	Exec ExecutionID
}

// CheckpointAck acknowledges a subtask's part of a checkpoint: the state
// files it wrote.
type CheckpointAck struct {
	Exec       ExecutionID
	Checkpoint int64
	Files      []storage.File
	Size       int64
}

// CheckpointDecline tells that a subtask could not take a checkpoint.
type CheckpointDecline struct {
	Exec       ExecutionID
	Checkpoint int64
	Err        error
}

// TaskUpdate reports a subtask's state change to the JobManager.
type TaskUpdate struct {
	Exec  ExecutionID
	State TaskState
	// Err is the failure, for TaskFailed; it wraps ErrCancellationTimeout
	// when the TaskManager abandoned a subtask that ignored cancellation.
	Err error
}

// TaskManagerGateway is the JobManager's view of a TaskManager.
type TaskManagerGateway interface {
	// ID names the TaskManager.
	ID() string
	// Slots is the number of task slots it offers.
	Slots() int
	// SubmitTask deploys and starts a subtask. The subtask's input gate is
	// registered before SubmitTask returns.
	SubmitTask(ctx context.Context, d TaskDeployment) error
	// CancelJob cancels every subtask of the job.
	CancelJob(ctx context.Context, job JobID) error
	// SendOperatorEvent delivers a coordinator's event to a subtask's chain head.
	SendOperatorEvent(ctx context.Context, exec ExecutionID, event any) error
	// TriggerCheckpoint starts checkpoint id at a source subtask, after
	// the events sent to it before.
	TriggerCheckpoint(ctx context.Context, exec ExecutionID, id int64, opts task.TriggerOptions) error
	// NotifyCheckpoint tells the subtasks of a job's attempt that
	// checkpoint id completed (or was aborted).
	NotifyCheckpoint(ctx context.Context, job JobID, attempt int, id int64, complete bool) error
}

// JobManagerGateway is a TaskManager's view of the JobManager.
type JobManagerGateway interface {
	// RegisterTaskManager offers a TaskManager's slots.
	RegisterTaskManager(ctx context.Context, tm TaskManagerGateway) error
	// UpdateTaskState reports a subtask's state.
	UpdateTaskState(ctx context.Context, u TaskUpdate) error
	// SendOperatorEvent delivers a subtask's event to its operator coordinator.
	SendOperatorEvent(ctx context.Context, exec ExecutionID, event any) error
	// AcknowledgeCheckpoint reports a subtask's part of a checkpoint. A
	// subtask acknowledges before it reports that it finished.
	AcknowledgeCheckpoint(ctx context.Context, ack CheckpointAck) error
	// DeclineCheckpoint reports that a subtask could not take a checkpoint.
	DeclineCheckpoint(ctx context.Context, d CheckpointDecline) error
	// AwaitFinalCheckpoint reports that a subtask finished and waits for
	// a checkpoint to complete before it ends.
	AwaitFinalCheckpoint(ctx context.Context, w FinalCheckpointWanted) error
}

// ErrNoSuchTask is returned for an event to a subtask that is not running
// (it ended or has not been deployed); the JobManager drops such events,
// as Flink does.
var ErrNoSuchTask = errors.New("freshet: no such task")

// ErrCancellationTimeout is wrapped by the failure a TaskManager reports
// for a subtask still running when its job's cancellation timeout expired;
// the subtask's goroutine is abandoned, as Go cannot stop it.
var ErrCancellationTimeout = errors.New("freshet: cancellation timed out")
