// Package rpc defines how the JobManager and TaskManagers talk: two gateway
// interfaces and the messages they carry. The embedded runtime implements
// them with direct calls; a network transport implements the same
// interfaces for a distributed cluster, so neither side knows which it has.
//
// Every message is plain data — ids, numbers, strings and bytes — never a
// pointer into the runtime, a closure, a channel or a Go error value, even
// in one process: a deployment names its job graph by reference (the job
// and the graph's fingerprint), which the TaskManager resolves in its own
// process; errors cross as SerializedError; operator events as bytes. So
// this package imports no other package of Freshet.
package rpc

import (
	"context"
	"fmt"
	"time"
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

// Task states. A subtask is DEPLOYING until its goroutine starts,
// INITIALIZING while it builds its operators and restores their state, and
// RUNNING once it takes input.
const (
	TaskDeploying TaskState = iota
	TaskInitializing
	TaskRunning
	TaskFinished
	TaskCanceled
	TaskFailed
)

var taskStateNames = [...]string{"DEPLOYING", "INITIALIZING", "RUNNING", "FINISHED", "CANCELED", "FAILED"}

func (s TaskState) String() string {
	if int(s) < len(taskStateNames) {
		return taskStateNames[s]
	}
	return fmt.Sprintf("TaskState(%d)", uint8(s))
}

// Terminal reports whether the task has ended.
func (s TaskState) Terminal() bool { return s >= TaskFinished }

// GraphRef names a job graph without carrying it: the receiving process
// resolves it in its own graph registry (the embedded cluster's JobManager
// registered it; a worker process rebuilt it from the same program) and
// checks that the graph it has has the same fingerprint.
type GraphRef struct {
	Job JobID
	// Name is the job's name, for logs.
	Name string
	// Fingerprint is the graph's structural hash (graph.JobGraph.Fingerprint).
	Fingerprint string
}

// StateBackendConfig selects where a subtask keeps keyed state; the fields
// mirror statebackend.Config.
type StateBackendConfig struct {
	Kind                 string // "" or "heap", "pebble"
	PebbleDir            string
	PebbleCacheSize      int64
	PebbleMemTableSize   uint64
	PebbleEntryCacheSize int64
	PebbleIncremental    bool
	PebbleLocalRoot      string
}

// TaskConfig is the runtime configuration of a subtask; the fields mirror
// task.Config.
type TaskConfig struct {
	JobName               string
	BatchSize             int
	BufferTimeout         time.Duration
	Encode                bool
	AutoWatermarkInterval time.Duration
	StateBackend          StateBackendConfig
}

// TaskDeployment is what a TaskManager needs to run a subtask.
type TaskDeployment struct {
	Exec ExecutionID
	// Graph is the job graph the subtask's vertex (Exec.Vertex) is in.
	Graph  GraphRef
	Config TaskConfig
	// CancellationTimeout is how long the subtask may take to stop once its
	// job is cancelled before the TaskManager abandons it; 0 waits for ever.
	CancellationTimeout time.Duration
	// Checkpoints, when set, makes the subtask take part in checkpoints.
	Checkpoints *CheckpointDeployment
	// Restore, when set, is the checkpoint the subtask restores from.
	Restore *RestoreDeployment
	// Slot is the TaskManager's slot (from 0) the resource manager
	// allocated to the job for the subtask; the TaskManager refuses a
	// slot it does not have or that holds another job.
	Slot int
	// TaskManager is the TaskManager the subtask is deployed to: the
	// producer's location of the partitions it writes.
	TaskManager string
	// Consumers are where the subtasks it sends records to run: every
	// subtask of every vertex its chain's outputs go to. A channel to a
	// subtask of the same TaskManager passes typed batches; one to
	// another TaskManager is encoded.
	Consumers []SubtaskLocation
	// Producers are where the subtasks that send it records run.
	Producers []SubtaskLocation
	// DataAddresses are where the workers of the TaskManagers named in
	// Consumers take data connections (host:port, by TaskManager);
	// empty when they all run in one process.
	DataAddresses map[string]string
}

// SubtaskLocation is the TaskManager a subtask of a vertex runs in.
type SubtaskLocation struct {
	Vertex      int
	Subtask     int
	TaskManager string
}

// CheckpointMode is how a subtask handles barriers; the values are
// barrier.Mode's.
type CheckpointMode uint8

// StorageRef names a job's checkpoint storage: its location (a directory
// or a bucket URL) and the job's folder in it. The TaskManager opens it,
// or, in the embedded cluster, uses the one the JobManager has open.
type StorageRef struct {
	Location string
	Job      string
}

// CheckpointDeployment is how a deployed subtask takes checkpoints.
type CheckpointDeployment struct {
	Mode           CheckpointMode
	AlignedTimeout time.Duration
	// Storage is the job's checkpoint storage.
	Storage StorageRef
	// Final makes a subtask that finished wait for a checkpoint taken
	// after it finished (its final checkpoint) to complete before it
	// ends, so that what it commits on completion is committed: set when
	// the job takes checkpoints periodically.
	Final bool
}

// KeyGroupRange is an inclusive range of key groups; End < Start holds none.
type KeyGroupRange struct{ Start, End int }

// StateFile describes one stored state file; the fields mirror
// storage.File.
type StateFile struct {
	Name      string
	Operator  string
	Subtask   int
	KeyGroups KeyGroupRange
	Size      int64
	CRC32C    uint32
	Shared    bool
}

// Checkpoint is a completed checkpoint's metadata; the fields mirror
// storage.Checkpoint.
type Checkpoint struct {
	ID              uint64
	JobID           string
	TimestampMillis int64
	Properties      map[string][]byte
	Files           []StateFile
}

// RestoreDeployment is the checkpoint a subtask restores from, and where
// it is stored.
type RestoreDeployment struct {
	Storage    StorageRef
	Checkpoint Checkpoint
}

// TriggerOptions says what a source does around a savepoint's barrier; the
// fields mirror task.TriggerOptions.
type TriggerOptions struct {
	Stop, Drain, Savepoint bool
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
	Files      []StateFile
	Size       int64
}

// CheckpointDecline tells that a subtask could not take a checkpoint.
type CheckpointDecline struct {
	Exec       ExecutionID
	Checkpoint int64
	Err        *SerializedError
}

// TaskUpdate reports a subtask's state change to the JobManager.
type TaskUpdate struct {
	Exec  ExecutionID
	State TaskState
	// Err is the failure, for TaskFailed; it matches ErrCancellationTimeout
	// when the TaskManager abandoned a subtask that ignored cancellation.
	Err *SerializedError
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
	// SendOperatorEvent delivers a coordinator's event, encoded, to a
	// subtask's chain head.
	SendOperatorEvent(ctx context.Context, exec ExecutionID, event []byte) error
	// TriggerCheckpoint starts checkpoint id at a source subtask, after
	// the events sent to it before.
	TriggerCheckpoint(ctx context.Context, exec ExecutionID, id int64, opts TriggerOptions) error
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
	// SendOperatorEvent delivers a subtask's event, encoded, to its
	// operator coordinator.
	SendOperatorEvent(ctx context.Context, exec ExecutionID, event []byte) error
	// AcknowledgeCheckpoint reports a subtask's part of a checkpoint. A
	// subtask acknowledges before it reports that it finished.
	AcknowledgeCheckpoint(ctx context.Context, ack CheckpointAck) error
	// DeclineCheckpoint reports that a subtask could not take a checkpoint.
	DeclineCheckpoint(ctx context.Context, d CheckpointDecline) error
	// AwaitFinalCheckpoint reports that a subtask finished and waits for
	// a checkpoint to complete before it ends.
	AwaitFinalCheckpoint(ctx context.Context, w FinalCheckpointWanted) error
}
