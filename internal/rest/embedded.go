package rest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/freshet-io/freshet/internal/checkpoint/coordinator"
	"github.com/freshet-io/freshet/internal/jobmanager"
	"github.com/freshet-io/freshet/internal/metrics"
	"github.com/freshet-io/freshet/internal/task"
)

// Version is reported by /overview.
const Version = "0.1"

var timeNow = time.Now

// Embedded is the Dispatcher of the in-process runtime: the jobs given to
// Add, each with the JobManager that runs it and the registry its
// TaskManagers count in. It keeps ended jobs until Close.
type Embedded struct {
	// SavepointDir is the directory of savepoints requested without one;
	// "" makes such requests fail with CodeBadRequest.
	SavepointDir string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // savepoint triggers
	mu     struct {
		sync.Mutex
		jobs     []*embeddedJob
		triggers map[string]*trigger
	}
}

type embeddedJob struct {
	job *jobmanager.Job
	jm  *jobmanager.JobManager
	reg *metrics.Registry
}

// trigger is a savepoint request and, once done, its result.
type trigger struct {
	job  string
	done bool
	path string
	err  error
}

// NewEmbedded returns a dispatcher with no jobs.
func NewEmbedded(savepointDir string) *Embedded {
	d := &Embedded{SavepointDir: savepointDir}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.mu.triggers = map[string]*trigger{}
	return d
}

// Add makes job, run by jm and counted in reg, known to the API.
func (d *Embedded) Add(job *jobmanager.Job, jm *jobmanager.JobManager, reg *metrics.Registry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.jobs = append(d.mu.jobs, &embeddedJob{job: job, jm: jm, reg: reg})
}

// Close abandons the savepoints in progress and waits for their goroutines.
func (d *Embedded) Close() {
	d.cancel()
	d.wg.Wait()
}

func (d *Embedded) all() []*embeddedJob {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*embeddedJob(nil), d.mu.jobs...)
}

func (d *Embedded) find(id string) (*embeddedJob, error) {
	for _, j := range d.all() {
		if string(j.job.ID) == id {
			return j, nil
		}
	}
	return nil, Errorf(CodeJobNotFound, "no job %s", id)
}

// Overview implements Dispatcher.
func (d *Embedded) Overview(ctx context.Context) (Overview, error) {
	o := Overview{Version: Version}
	tms, _ := d.TaskManagers(ctx)
	o.TaskManagers = len(tms)
	for _, tm := range tms {
		o.SlotsTotal += tm.Slots
		o.SlotsAvailable += tm.FreeSlots
	}
	for _, j := range d.all() {
		switch j.job.Status() {
		case jobmanager.JobFinished:
			o.JobsFinished++
		case jobmanager.JobCanceled:
			o.JobsCancelled++
		case jobmanager.JobFailed:
			o.JobsFailed++
		default:
			o.JobsRunning++
		}
	}
	return o, nil
}

// TaskManagers implements Dispatcher: those of the running jobs.
func (d *Embedded) TaskManagers(context.Context) ([]TaskManager, error) {
	var out []TaskManager
	seen := map[*jobmanager.JobManager]bool{}
	now := timeNow().UnixMilli()
	for _, j := range d.all() {
		if j.job.Status().Terminal() || seen[j.jm] {
			continue
		}
		seen[j.jm] = true
		for _, tm := range j.jm.TaskManagers() {
			out = append(out, TaskManager{ID: tm.ID, Slots: tm.Slots, FreeSlots: tm.FreeSlots, LastHeartbeat: now})
		}
	}
	return out, nil
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// timesOf returns a job's start and end (-1 while running) and duration.
func timesOf(j *jobmanager.Job, now time.Time) (start, end, dur int64) {
	st, et := j.StartTime(), j.EndTime()
	if et.IsZero() {
		return millis(st), -1, now.Sub(st).Milliseconds()
	}
	return millis(st), millis(et), et.Sub(st).Milliseconds()
}

// Jobs implements Dispatcher.
func (d *Embedded) Jobs(context.Context) ([]JobSummary, error) {
	now := timeNow()
	var out []JobSummary
	for _, j := range d.all() {
		det := d.details(j, now)
		tasks := map[string]int{}
		for _, v := range det.Vertices {
			for k, n := range v.Tasks {
				tasks[k] += n
			}
		}
		out = append(out, JobSummary{ID: det.ID, Name: det.Name, State: det.State, StartTime: det.StartTime, EndTime: det.EndTime, Duration: det.Duration, Tasks: tasks})
	}
	return out, nil
}

// Job implements Dispatcher.
func (d *Embedded) Job(_ context.Context, id string) (JobDetails, error) {
	j, err := d.find(id)
	if err != nil {
		return JobDetails{}, err
	}
	return d.details(j, timeNow()), nil
}

func (d *Embedded) details(ej *embeddedJob, now time.Time) JobDetails {
	j := ej.job
	start, end, dur := timesOf(j, now)
	det := JobDetails{ID: string(j.ID), Name: j.Graph.Name, State: j.Status().String(), StartTime: start, EndTime: end, Duration: dur,
		Now: now.UnixMilli(), Restarts: j.Restarts(), Vertices: []Vertex{}}
	snaps := map[[2]int]metrics.SubtaskSnapshot{}
	for _, s := range ej.reg.Snapshot(string(j.ID), now) {
		snaps[[2]int{s.Vertex, s.Subtask}] = s
	}
	for _, gv := range j.Graph.Vertices {
		v := Vertex{ID: strconv.Itoa(gv.ID), Name: gv.Name(), Parallelism: gv.Parallelism, MaxParallelism: gv.MaxParallelism,
			Tasks: map[string]int{}, Subtasks: []Subtask{}}
		for i := 0; i < gv.Parallelism; i++ {
			st := Subtask{Subtask: i, Status: "CREATED", UserMetrics: []UserMetric{}}
			if s, ok := snaps[[2]int{gv.ID, i}]; ok {
				st.Status, st.Attempt = s.State, s.Attempt
				st.Metrics = IOMetrics{ReadBytes: s.BytesIn, WriteBytes: s.BytesOut, ReadRecords: s.RecordsIn, WriteRecords: s.RecordsOut}
				st.BackPressureRatio = s.BackPressureRatio
				st.BackPressuredMillis = s.BackPressuredSum.Milliseconds()
				if s.InputWatermark != metrics.NoWatermark {
					wm := s.InputWatermark
					st.InputWatermark = &wm
				}
				for _, u := range s.User {
					st.UserMetrics = append(st.UserMetrics, UserMetric{Operator: u.Operator, Name: u.Name, Type: u.Kind.String(), Value: u.Value.Value})
				}
			}
			v.Tasks[st.Status]++
			v.Metrics.ReadBytes += st.Metrics.ReadBytes
			v.Metrics.WriteBytes += st.Metrics.WriteBytes
			v.Metrics.ReadRecords += st.Metrics.ReadRecords
			v.Metrics.WriteRecords += st.Metrics.WriteRecords
			v.BackPressureRatio = max(v.BackPressureRatio, st.BackPressureRatio)
			v.Subtasks = append(v.Subtasks, st)
		}
		v.Status = vertexStatus(v.Tasks, gv.Parallelism)
		det.Vertices = append(det.Vertices, v)
	}
	return det
}

// vertexStatus is the status of a vertex from its subtasks': the one they
// all share, else RUNNING while any runs, else the first of FAILED,
// CANCELED, DEPLOYING found.
func vertexStatus(tasks map[string]int, n int) string {
	for s, c := range tasks {
		if c == n {
			return s
		}
	}
	for _, s := range []string{"RUNNING", "FAILED", "CANCELED", "DEPLOYING", "CREATED"} {
		if tasks[s] > 0 {
			return s
		}
	}
	return "CREATED"
}

// Plan implements Dispatcher.
func (d *Embedded) Plan(_ context.Context, id string) (json.RawMessage, error) {
	j, err := d.find(id)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(struct {
		Plan any `json:"plan"`
	}{j.job.Graph.Plan()})
	return b, err
}

// Checkpoints implements Dispatcher.
func (d *Embedded) Checkpoints(_ context.Context, id string) (Checkpoints, error) {
	j, err := d.find(id)
	if err != nil {
		return Checkpoints{}, err
	}
	out := Checkpoints{History: []Checkpoint{}}
	var sizeSum, durSum int64
	for _, s := range j.job.Checkpoints() {
		c := Checkpoint{ID: s.ID, IsSavepoint: s.Savepoint, TriggerTimestamp: s.Triggered.UnixMilli(), Duration: s.Duration.Milliseconds(),
			StateSize: s.Size, NumSubtasks: s.Expected, NumAcknowledged: s.Acked, ExternalPath: s.Path}
		out.Counts.Total++
		switch s.Status {
		case coordinator.InProgress:
			c.Status = "IN_PROGRESS"
			c.Duration = timeNow().Sub(s.Triggered).Milliseconds()
			out.Counts.InProgress++
		case coordinator.Completed:
			c.Status = "COMPLETED"
			out.Counts.Completed++
			sm := &out.Summary
			if out.Counts.Completed == 1 {
				sm.StateSize = MinMaxAvg{Min: c.StateSize, Max: c.StateSize}
				sm.Duration = MinMaxAvg{Min: c.Duration, Max: c.Duration}
			}
			sm.StateSize.Min, sm.StateSize.Max = min(sm.StateSize.Min, c.StateSize), max(sm.StateSize.Max, c.StateSize)
			sm.Duration.Min, sm.Duration.Max = min(sm.Duration.Min, c.Duration), max(sm.Duration.Max, c.Duration)
			sizeSum += c.StateSize
			durSum += c.Duration
			cc := c
			out.Latest.Completed = &cc
			if c.IsSavepoint {
				out.Latest.Savepoint = &cc
			}
		default:
			c.Status = "FAILED"
			if s.Failure != nil {
				c.FailureMessage = s.Failure.Error()
			}
			out.Counts.Failed++
			cc := c
			out.Latest.Failed = &cc
		}
		out.History = append(out.History, c)
	}
	if n := int64(out.Counts.Completed); n > 0 {
		out.Summary.StateSize.Avg, out.Summary.Duration.Avg = sizeSum/n, durSum/n
	}
	sort.Slice(out.History, func(a, b int) bool { return out.History[a].ID > out.History[b].ID })
	return out, nil
}

// Exceptions implements Dispatcher.
func (d *Embedded) Exceptions(_ context.Context, id string) (Exceptions, error) {
	j, err := d.find(id)
	if err != nil {
		return Exceptions{}, err
	}
	out := Exceptions{History: ExceptionHistory{Entries: []ExceptionEntry{}}}
	fs := j.job.Failures()
	for i := len(fs) - 1; i >= 0; i-- {
		f := fs[i]
		e := ExceptionEntry{Name: rootCause(f.Message), Stacktrace: f.Message, Timestamp: f.Time.UnixMilli(), TaskName: f.Operator}
		if f.Stack != "" {
			e.Stacktrace += "\n" + f.Stack
		}
		if f.Operator != "" {
			sub := f.Subtask
			e.Subtask = &sub
		}
		out.History.Entries = append(out.History.Entries, e)
	}
	if len(fs) > 0 {
		last := fs[len(fs)-1]
		out.RootException, out.Timestamp = last.Message, last.Time.UnixMilli()
	}
	return out, nil
}

// rootCause is the innermost part of a wrapped error's message: what
// follows the last ": ".
func rootCause(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// Cancel implements Dispatcher.
func (d *Embedded) Cancel(_ context.Context, id string) error {
	j, err := d.find(id)
	if err != nil {
		return err
	}
	if st := j.job.Status(); st.Terminal() {
		return Errorf(CodeJobNotRunning, "job %s has ended (%s)", id, st)
	}
	j.job.Cancel()
	return nil
}

// TriggerSavepoint implements Dispatcher.
func (d *Embedded) TriggerSavepoint(_ context.Context, id string, req SavepointRequest) (string, error) {
	j, err := d.find(id)
	if err != nil {
		return "", err
	}
	dir := req.TargetDirectory
	if dir == "" {
		dir = d.SavepointDir
	}
	if dir == "" {
		return "", badField("target-directory", "empty, and the server has no default savepoint directory")
	}
	if st := j.job.Status(); st.Terminal() {
		return "", Errorf(CodeJobNotRunning, "job %s has ended (%s)", id, st)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tid := hex.EncodeToString(b[:])
	tr := &trigger{job: id}
	d.mu.Lock()
	d.mu.triggers[tid] = tr
	d.mu.Unlock()
	opts := task.TriggerOptions{Stop: req.Stop && !req.Drain, Drain: req.Stop && req.Drain}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		path, err := j.job.TriggerSavepoint(d.ctx, dir, opts)
		if err == nil && req.CancelJob && !req.Stop {
			j.job.Cancel()
		}
		d.mu.Lock()
		tr.done, tr.path, tr.err = true, path, err
		d.mu.Unlock()
	}()
	return tid, nil
}

// Triggers returns the ids of the savepoint triggers of job id, and
// whether they are all done.
func (d *Embedded) Triggers(id string) (ids []string, done bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	done = true
	for tid, tr := range d.mu.triggers {
		if tr.job == id {
			ids = append(ids, tid)
			done = done && tr.done
		}
	}
	sort.Strings(ids)
	return ids, done
}

// SavepointStatus implements Dispatcher.
func (d *Embedded) SavepointStatus(_ context.Context, id, tid string) (SavepointStatus, error) {
	if _, err := d.find(id); err != nil {
		return SavepointStatus{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	tr, ok := d.mu.triggers[tid]
	if !ok || tr.job != id {
		return SavepointStatus{}, Errorf(CodeTriggerNotFound, "no savepoint %s of job %s", tid, id)
	}
	var st SavepointStatus
	st.Status.ID = SavepointInProgress
	if tr.done {
		st.Status.ID = SavepointCompleted
		st.Operation = &SavepointOperation{Location: tr.path}
		if tr.err != nil {
			class := "error"
			if errors.Is(tr.err, jobmanager.ErrNoSavepoint) {
				class = SavepointNotTaken
			}
			st.Operation = &SavepointOperation{FailureCause: &FailureCause{Class: class, StackTrace: tr.err.Error()}}
		}
	}
	return st, nil
}

// RunArtifact implements Dispatcher: the embedded runtime runs only the
// jobs of its own program.
func (d *Embedded) RunArtifact(context.Context, string, RunRequest) (string, error) {
	return "", Errorf(CodeNotImplemented, "running an uploaded artifact needs a cluster with worker processes; the embedded runtime runs only its own program's jobs")
}

var _ Dispatcher = (*Embedded)(nil)

// String names the dispatcher for logs.
func (d *Embedded) String() string { return fmt.Sprintf("embedded dispatcher (%d jobs)", len(d.all())) }
