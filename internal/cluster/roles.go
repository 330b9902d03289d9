package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/freshet-io/freshet/internal/rpc"
)

// A job's program runs in three ways: as the user started it (it builds
// its job and runs it on an embedded cluster), as the job master of a
// cluster's job, and as a worker of a TaskManager. The cluster starts it
// with these environment variables, which select the role and say where
// the rest of the cluster is.
const (
	EnvRole        = "FRESHET_ROLE"        // "jobmaster" or "worker"
	EnvJob         = "FRESHET_JOB_ID"      // the job's id
	EnvControl     = "FRESHET_CONTROL"     // the JobManager process's RPC address
	EnvREST        = "FRESHET_REST"        // the JobManager process's REST address
	EnvArtifact    = "FRESHET_ARTIFACT"    // the program's artifact id (its SHA-256)
	EnvParallelism = "FRESHET_PARALLELISM" // the default parallelism asked at submission
	EnvSavepoint   = "FRESHET_SAVEPOINT"   // the savepoint to start from
	EnvJobMaster   = "FRESHET_JOBMASTER"   // worker: the job master's RPC address
	EnvTaskManager = "FRESHET_TASKMANAGER" // worker: its TaskManager's id
	EnvSlots       = "FRESHET_SLOTS"       // worker: its TaskManager's slots
	EnvHost        = "FRESHET_HOST"        // the host the process's servers listen on
	EnvHeartbeat   = "FRESHET_HEARTBEAT"   // heartbeat interval/timeout, as "10s/50s"
)

// Roles.
const (
	RoleJobMaster = "jobmaster"
	RoleWorker    = "worker"
)

// readyFD is the file descriptor a worker reports its addresses on.
const readyFD = 3

// Role is the role this process was started in: "" when the user started
// it.
func Role() string { return os.Getenv(EnvRole) }

// Submission is what the cluster asked of a job when it was submitted.
type Submission struct {
	Job         rpc.JobID
	Parallelism int    // 0: the program's
	Savepoint   string // "": none
}

// SubmissionFromEnv reads the submission of a job master or worker.
func SubmissionFromEnv() (Submission, error) {
	s := Submission{Job: rpc.JobID(os.Getenv(EnvJob)), Savepoint: os.Getenv(EnvSavepoint)}
	if s.Job == "" {
		return s, fmt.Errorf("%s is not set", EnvJob)
	}
	if v := os.Getenv(EnvParallelism); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return s, fmt.Errorf("%s=%q is not a parallelism", EnvParallelism, v)
		}
		s.Parallelism = n
	}
	return s, nil
}

func heartbeatFromEnv() (rpc.HeartbeatConfig, error) {
	v := os.Getenv(EnvHeartbeat)
	if v == "" {
		return rpc.DefaultHeartbeat, nil
	}
	return parseHeartbeat(v)
}

func formatHeartbeat(h rpc.HeartbeatConfig) string {
	return h.Interval.String() + "/" + h.Timeout.String()
}

func parseHeartbeat(v string) (rpc.HeartbeatConfig, error) {
	i, t, ok := strings.Cut(v, "/")
	var h rpc.HeartbeatConfig
	var err1, err2 error
	if ok {
		h.Interval, err1 = time.ParseDuration(i)
		h.Timeout, err2 = time.ParseDuration(t)
	}
	if !ok || err1 != nil || err2 != nil || h.Interval <= 0 || h.Timeout < h.Interval {
		return h, fmt.Errorf("%s=%q: want interval/timeout, such as 10s/50s, the timeout no shorter than the interval", EnvHeartbeat, v)
	}
	return h, nil
}

func host() string {
	if h := os.Getenv(EnvHost); h != "" {
		return h
	}
	return "127.0.0.1"
}

// EnvCheckpointDir is the cluster's checkpoint directory
// (execution.checkpointing.dir), given to job masters.
const EnvCheckpointDir = "FRESHET_CHECKPOINT_DIR"

// CheckpointDir is where a cluster job without a checkpoint location of
// its own keeps checkpoints and savepoints' state: the cluster's
// directory, or one under the temporary directory (which only a cluster
// on one machine shares).
func CheckpointDir() string {
	if d := os.Getenv(EnvCheckpointDir); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "freshet-checkpoints")
}
