package rpc

import (
	"context"
	"errors"
	"time"
)

// A distributed cluster has more parts than the embedded one, each a
// process or a set of processes:
//
//   - the JobManager process runs the dispatcher (REST API, artifacts, one
//     job master process per job) and the resource manager (TaskManagers
//     and their slots);
//   - a job master process runs one job's JobManager: the user's program in
//     job-master mode, which rebuilds the job graph and asks the resource
//     manager for slots;
//   - a TaskManager process offers slots; for each job with subtasks in
//     it, it runs the user's program in worker mode (a worker), which
//     rebuilds the graph, checks its fingerprint and runs the subtasks.
//
// The gateways below are what these parts call on each other, beside the
// TaskManagerGateway (a TaskManager process, forwarding to its workers)
// and the JobManagerGateway (a job master).

// ErrUnknownTaskManager is returned to a heartbeat of a TaskManager the
// resource manager does not know (it restarted, or timed the TaskManager
// out): the TaskManager registers again.
var ErrUnknownTaskManager = errors.New("freshet: unknown TaskManager")

// ErrUnknownJob is returned for a job the receiver does not run.
var ErrUnknownJob = errors.New("freshet: unknown job")

// TaskManagerRegistration is a TaskManager process's offer to the
// resource manager.
type TaskManagerRegistration struct {
	// ID names the TaskManager; one that registers again under its ID
	// (after a lost connection or a restart of the resource manager) is
	// reused.
	ID string
	// Address is where its TaskExecutor service listens (host:port).
	Address string
	Slots   int
}

// SlotGrant is a slot the resource manager gives a job.
type SlotGrant struct {
	TaskManager string
	// Address is the TaskManager's TaskExecutor address.
	Address string
	Slot    int
}

// ResourceManagerGateway is the resource manager, as TaskManager processes
// and job masters see it.
type ResourceManagerGateway interface {
	// RegisterTaskManager offers a TaskManager's slots.
	RegisterTaskManager(ctx context.Context, r TaskManagerRegistration) error
	// HeartbeatTaskManager tells that the TaskManager is alive; it
	// returns an error matching ErrUnknownTaskManager when the resource
	// manager does not know it, and the TaskManager registers again.
	HeartbeatTaskManager(ctx context.Context, tm string) error
	// AllocateSlots gives the job n free slots, spread over TaskManagers,
	// none on a TaskManager in exclude (by id, or by id@address for one
	// process of it); the job's slots allocated before are released
	// first.
	AllocateSlots(ctx context.Context, job JobID, n int, exclude []string) ([]SlotGrant, error)
	// ReleaseSlots frees the job's slots.
	ReleaseSlots(ctx context.Context, job JobID) error
}

// JobMasterRegistration is how a job master process reports that it runs
// its job.
type JobMasterRegistration struct {
	Job  JobID
	Name string
	// Address is its JobMaster (JobManagerGateway) service's address.
	Address string
	// RESTAddress is where it serves the job's part of the REST API.
	RESTAddress string
}

// JobArchive is what is left of an ended job: its REST documents, by
// path (such as "/jobs/ID" or "/jobs/ID/checkpoints"), as JSON.
type JobArchive struct {
	Job       JobID
	Status    string
	Documents map[string][]byte
}

// DispatcherGateway is the dispatcher, as job master processes see it.
type DispatcherGateway interface {
	// RegisterJobMaster reports that the job master of a job the
	// dispatcher started runs.
	RegisterJobMaster(ctx context.Context, r JobMasterRegistration) error
	// JobEnded hands the dispatcher the ended job's archive before its
	// job master process exits.
	JobEnded(ctx context.Context, a JobArchive) error
}

// JobStart tells a TaskManager process to run a job's worker.
type JobStart struct {
	Job JobID
	// Artifact is the name of the job's program at the dispatcher, and
	// Checksum its SHA-256 (hex), checked after it is fetched.
	Artifact string
	Checksum string
	// Dispatcher is the address the artifact is fetched from (the REST
	// API's host:port).
	Dispatcher string
	// JobMaster is the job master's address.
	JobMaster string
	// Args are the program's arguments and Env the settings
	// (NAME=value) it is run with, as the job master was.
	Args []string
	Env  []string
}

// Worker is a job's worker process in a TaskManager.
type Worker struct {
	// DataAddress is where the worker takes data connections.
	DataAddress string
	// MetricsAddress is where it serves its subtasks' metrics over HTTP
	// (/metrics in Prometheus' format, /snapshot as JSON).
	MetricsAddress string
}

// TaskExecutorGateway is a TaskManager process as a job master sees it:
// a TaskManagerGateway whose subtasks run in the job's worker, which
// StartJob starts before the first deployment.
type TaskExecutorGateway interface {
	TaskManagerGateway
	// StartJob starts (or finds running) the job's worker.
	StartJob(ctx context.Context, s JobStart) (Worker, error)
	// Heartbeat tells that the job master is alive, and fails when the
	// TaskManager is not.
	Heartbeat(ctx context.Context, job JobID) error
}

// HeartbeatConfig is the interval of heartbeats and how long a peer may go
// without one before it is lost (Flink's heartbeat.interval and
// heartbeat.timeout).
type HeartbeatConfig struct {
	Interval time.Duration
	Timeout  time.Duration
}

// DefaultHeartbeat is Flink's default: every 10 s, lost after 50 s.
var DefaultHeartbeat = HeartbeatConfig{Interval: 10 * time.Second, Timeout: 50 * time.Second}
