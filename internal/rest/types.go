package rest

import (
	"context"
	"encoding/json"
)

// Dispatcher is what the REST API serves: the JobManager's view of its
// jobs and TaskManagers. Its methods are called from the HTTP server's
// goroutines, concurrently; ids have been validated by the server. A
// failure the client can act on is an *Error (an unknown job is
// CodeJobNotFound, a job in the wrong state CodeJobNotRunning).
type Dispatcher interface {
	Overview(ctx context.Context) (Overview, error)
	TaskManagers(ctx context.Context) ([]TaskManager, error)
	Jobs(ctx context.Context) ([]JobSummary, error)
	Job(ctx context.Context, id string) (JobDetails, error)
	// Plan is the job's execution plan JSON.
	Plan(ctx context.Context, id string) (json.RawMessage, error)
	Checkpoints(ctx context.Context, id string) (Checkpoints, error)
	Exceptions(ctx context.Context, id string) (Exceptions, error)
	Cancel(ctx context.Context, id string) error
	// TriggerSavepoint starts a savepoint (with stop set, a
	// stop-with-savepoint) and returns its trigger id at once.
	TriggerSavepoint(ctx context.Context, id string, req SavepointRequest) (string, error)
	SavepointStatus(ctx context.Context, id, trigger string) (SavepointStatus, error)
	// RunArtifact runs the uploaded artifact (validated, present).
	RunArtifact(ctx context.Context, artifact string, req RunRequest) (string, error)
}

// Overview is GET /overview.
type Overview struct {
	TaskManagers   int    `json:"taskmanagers"`
	SlotsTotal     int    `json:"slots-total"`
	SlotsAvailable int    `json:"slots-available"`
	JobsRunning    int    `json:"jobs-running"`
	JobsFinished   int    `json:"jobs-finished"`
	JobsCancelled  int    `json:"jobs-cancelled"`
	JobsFailed     int    `json:"jobs-failed"`
	Version        string `json:"freshet-version"`
}

// TaskManager is one entry of GET /taskmanagers.
type TaskManager struct {
	ID        string `json:"id"`
	Slots     int    `json:"slotsNumber"`
	FreeSlots int    `json:"freeSlots"`
	// LastHeartbeat is the time of the latest heartbeat (ms since the
	// epoch), HeartbeatAge how long ago it was (ms); an embedded
	// TaskManager is always current.
	LastHeartbeat int64 `json:"timeSinceLastHeartbeat"`
	HeartbeatAge  int64 `json:"heartbeatAgeMillis"`
}

// TaskManagers is GET /taskmanagers.
type TaskManagers struct {
	TaskManagers []TaskManager `json:"taskmanagers"`
}

// JobSummary is one job of GET /jobs/overview.
type JobSummary struct {
	ID        string         `json:"jid"`
	Name      string         `json:"name"`
	State     string         `json:"state"`
	StartTime int64          `json:"start-time"`
	EndTime   int64          `json:"end-time"` // -1 while running
	Duration  int64          `json:"duration"`
	Tasks     map[string]int `json:"tasks"` // subtasks per state
}

// JobsOverview is GET /jobs/overview.
type JobsOverview struct {
	Jobs []JobSummary `json:"jobs"`
}

// JobIDStatus is one job of GET /jobs.
type JobIDStatus struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// JobList is GET /jobs.
type JobList struct {
	Jobs []JobIDStatus `json:"jobs"`
}

// IOMetrics are records and bytes in and out. Bytes are counted where
// records are encoded; a channel inside a process counts none.
type IOMetrics struct {
	ReadBytes    int64 `json:"read-bytes"`
	WriteBytes   int64 `json:"write-bytes"`
	ReadRecords  int64 `json:"read-records"`
	WriteRecords int64 `json:"write-records"`
}

// Subtask is one subtask of a vertex in GET /jobs/:jobid.
type Subtask struct {
	Subtask int       `json:"subtask"`
	Status  string    `json:"status"`
	Attempt int       `json:"attempt"`
	Metrics IOMetrics `json:"metrics"`
	// BackPressureRatio is the fraction of about the last second the
	// subtask waited for room downstream, 0 to 1.
	BackPressureRatio float64 `json:"backpressure-ratio"`
	// BackPressuredMillis is the total time it waited.
	BackPressuredMillis int64 `json:"backpressured-time-ms"`
	// InputWatermark is null until a watermark arrives (always for a
	// source).
	InputWatermark *int64 `json:"current-input-watermark"`
	// UserMetrics are the metrics the subtask's operators registered
	// (package metric), by operator and name; empty when none.
	UserMetrics []UserMetric `json:"user-metrics"`
}

// UserMetric is a metric an operator registered.
type UserMetric struct {
	Operator string `json:"operator"`
	Name     string `json:"name"`
	// Type is "counter" or "gauge".
	Type  string  `json:"type"`
	Value float64 `json:"value"`
}

// Vertex is one vertex (a chain of operators) of GET /jobs/:jobid.
type Vertex struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Parallelism    int            `json:"parallelism"`
	MaxParallelism int            `json:"maxParallelism"`
	Status         string         `json:"status"`
	Tasks          map[string]int `json:"tasks"`
	Metrics        IOMetrics      `json:"metrics"` // the sums over its subtasks
	// BackPressureRatio is the highest of its subtasks'.
	BackPressureRatio float64   `json:"backpressure-ratio"`
	Subtasks          []Subtask `json:"subtasks"`
}

// JobDetails is GET /jobs/:jobid.
type JobDetails struct {
	ID        string   `json:"jid"`
	Name      string   `json:"name"`
	State     string   `json:"state"`
	StartTime int64    `json:"start-time"`
	EndTime   int64    `json:"end-time"`
	Duration  int64    `json:"duration"`
	Now       int64    `json:"now"`
	Restarts  int      `json:"restarts"`
	Vertices  []Vertex `json:"vertices"`
}

// Checkpoint is one checkpoint in GET /jobs/:jobid/checkpoints.
type Checkpoint struct {
	ID               int64  `json:"id"`
	Status           string `json:"status"` // IN_PROGRESS, COMPLETED or FAILED
	IsSavepoint      bool   `json:"is_savepoint"`
	TriggerTimestamp int64  `json:"trigger_timestamp"`
	Duration         int64  `json:"end_to_end_duration"` // ms
	StateSize        int64  `json:"state_size"`
	NumSubtasks      int    `json:"num_subtasks"`
	NumAcknowledged  int    `json:"num_acknowledged_subtasks"`
	ExternalPath     string `json:"external_path,omitempty"`
	FailureMessage   string `json:"failure_message,omitempty"`
}

// Counts counts a job's checkpoints by state.
type Counts struct {
	Total      int `json:"total"`
	InProgress int `json:"in_progress"`
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
}

// MinMaxAvg summarises a quantity over the completed checkpoints.
type MinMaxAvg struct {
	Min int64 `json:"min"`
	Max int64 `json:"max"`
	Avg int64 `json:"avg"`
}

// Summary summarises the completed checkpoints.
type Summary struct {
	StateSize MinMaxAvg `json:"state_size"`
	Duration  MinMaxAvg `json:"end_to_end_duration"`
}

// Latest holds the latest completed, savepoint and failed checkpoints.
type Latest struct {
	Completed *Checkpoint `json:"completed"`
	Savepoint *Checkpoint `json:"savepoint"`
	Failed    *Checkpoint `json:"failed"`
}

// Checkpoints is GET /jobs/:jobid/checkpoints; History is newest first.
type Checkpoints struct {
	Counts  Counts       `json:"counts"`
	Summary Summary      `json:"summary"`
	Latest  Latest       `json:"latest"`
	History []Checkpoint `json:"history"`
}

// ExceptionEntry is one failure of a job.
type ExceptionEntry struct {
	Name       string `json:"exceptionName"`
	Stacktrace string `json:"stacktrace"`
	Timestamp  int64  `json:"timestamp"`
	TaskName   string `json:"taskName,omitempty"`
	Subtask    *int   `json:"subtask,omitempty"`
}

// ExceptionHistory is the job's failures, newest first.
type ExceptionHistory struct {
	Entries   []ExceptionEntry `json:"entries"`
	Truncated bool             `json:"truncated"`
}

// Exceptions is GET /jobs/:jobid/exceptions: the root cause of the
// latest failure, and the history.
type Exceptions struct {
	RootException string           `json:"root-exception,omitempty"`
	Timestamp     int64            `json:"timestamp,omitempty"`
	History       ExceptionHistory `json:"exceptionHistory"`
}

// SavepointRequest is the body of POST /jobs/:jobid/savepoints and
// POST /jobs/:jobid/stop (where Stop is set by the path).
type SavepointRequest struct {
	TargetDirectory string `json:"target-directory"`
	// CancelJob cancels the job after the savepoint (savepoints only).
	CancelJob bool `json:"cancel-job"`
	// Drain ends event time first (stop only).
	Drain bool `json:"drain"`
	Stop  bool `json:"-"`
}

// TriggerResponse answers a savepoint trigger.
type TriggerResponse struct {
	RequestID string `json:"request-id"`
}

// Savepoint states.
const (
	SavepointInProgress = "IN_PROGRESS"
	SavepointCompleted  = "COMPLETED"
)

// SavepointNotTaken is the failure class of a savepoint that was not
// taken (the job ended first, or had no savepoint directory).
const SavepointNotTaken = "savepoint_not_taken"

// SavepointStatus is GET /jobs/:jobid/savepoints/:triggerid.
type SavepointStatus struct {
	Status struct {
		ID string `json:"id"`
	} `json:"status"`
	Operation *SavepointOperation `json:"operation,omitempty"`
}

// SavepointOperation is a finished savepoint's result: its location, or
// why it failed.
type SavepointOperation struct {
	Location     string        `json:"location,omitempty"`
	FailureCause *FailureCause `json:"failure-cause,omitempty"`
}

// FailureCause is why an operation failed.
type FailureCause struct {
	Class      string `json:"class"`
	StackTrace string `json:"stack-trace"`
}

// Artifact is an uploaded job artifact.
type Artifact struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	Uploaded int64  `json:"uploaded"`
}

// UploadResponse answers POST /jars/upload.
type UploadResponse struct {
	Filename string `json:"filename"`
	Status   string `json:"status"`
	Artifact
}

// Artifacts is GET /jars.
type Artifacts struct {
	Files []Artifact `json:"files"`
}

// RunRequest is the body of POST /jars/:jarid/run.
type RunRequest struct {
	Args                  []string `json:"programArgsList"`
	Parallelism           int      `json:"parallelism"`
	SavepointPath         string   `json:"savepointPath"`
	AllowNonRestoredState bool     `json:"allowNonRestoredState"`
}

// RunResponse answers POST /jars/:jarid/run.
type RunResponse struct {
	JobID string `json:"jobid"`
}
