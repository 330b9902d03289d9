package jobmanager

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/freshet-io/freshet/internal/checkpoint/barrier"
	"github.com/freshet-io/freshet/internal/checkpoint/coordinator"
	"github.com/freshet-io/freshet/internal/checkpoint/storage"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/rpc"
	"github.com/freshet-io/freshet/internal/task"
)

// CheckpointConfig configures a job's checkpoints.
type CheckpointConfig struct {
	Coordinator coordinator.Config
	// Mode is how subtasks handle barriers: aligned exactly-once,
	// unaligned, or at-least-once.
	Mode barrier.Mode
	// AlignedTimeout switches an aligned checkpoint to unaligned at a
	// subtask whose alignment took longer; 0 never does.
	AlignedTimeout time.Duration
	// Location is where checkpoints are stored: a directory or a bucket
	// URL; "" is freshet-checkpoints in the temporary directory. Each run
	// of a job gets a folder of its own under it.
	Location string
	// Retained is how many completed checkpoints are kept (at least 1).
	Retained int
	// Retention is what happens to them when the job ends.
	Retention storage.Retention
	// RestoreFrom, when set, is a completed checkpoint's or savepoint's
	// folder (as logged when it completed) to start the job from.
	RestoreFrom string
	// AllowNonRestoredState lets RestoreFrom hold state of operators the
	// job no longer has; it is left behind with a WARN. Without it such
	// a restore fails.
	AllowNonRestoredState bool
}

// ErrNonRestoredState is wrapped by the error of a restore whose
// checkpoint holds state of operators the job no longer has.
var ErrNonRestoredState = errors.New("freshet: the checkpoint holds state of operators the job does not have")

// ErrMaxParallelismChanged is wrapped by the error of a restore into an
// operator whose max parallelism is set and differs from the checkpoint's.
var ErrMaxParallelismChanged = errors.New("freshet: max parallelism differs from the checkpoint's")

// ErrNoSavepoint is returned when a savepoint cannot be taken or did not
// complete.
var ErrNoSavepoint = errors.New("freshet: savepoint not taken")

// savepointRequest asks the job loop for a savepoint into dir.
type savepointRequest struct {
	dir   string
	opts  task.TriggerOptions
	reply chan savepointResult
}

type savepointResult struct {
	path string
	err  error
}

// TriggerSavepoint takes a savepoint of the running job into dir and
// returns its folder; with opts.Stop or opts.Drain the job then stops
// (Flink's stop-with-savepoint) and ends FINISHED, and TriggerSavepoint
// returns once it has ended.
func (j *Job) TriggerSavepoint(ctx context.Context, dir string, opts task.TriggerOptions) (string, error) {
	path, err := j.savepoint(ctx, dir, opts)
	if err != nil || !(opts.Stop || opts.Drain) {
		return path, err
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		return path, fmt.Errorf("savepoint %s taken, the job still stopping: %w", path, ctx.Err())
	}
	if err := j.Err(); err != nil {
		return path, fmt.Errorf("savepoint %s taken, but the job failed as it stopped: %w", path, err)
	}
	return path, nil
}

func (j *Job) savepoint(ctx context.Context, dir string, opts task.TriggerOptions) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("%w: no savepoint directory", ErrNoSavepoint)
	}
	req := savepointRequest{dir: dir, opts: opts, reply: make(chan savepointResult, 1)}
	select {
	case j.updates <- req:
	case <-j.done:
		return "", fmt.Errorf("%w: the job has ended", ErrNoSavepoint)
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.path, r.err
	case <-j.done:
		select {
		case r := <-req.reply:
			return r.path, r.err
		default:
		}
		return "", fmt.Errorf("%w: the job ended first", ErrNoSavepoint)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// checkRestore checks the checkpoint to start from against the job: state
// of operators the job lacks is refused unless allowed, and a max
// parallelism left unset takes the checkpoint's, one set must equal it.
func (j *Job) checkRestore(c *storage.Checkpoint) error {
	nodes := map[string]*graph.Node{}
	for _, v := range j.Graph.Vertices {
		for _, n := range v.Nodes {
			nodes[n.StateID()] = n
		}
	}
	var missing []string
	seen := map[string]bool{}
	for _, f := range c.Files {
		id := f.Part.Operator
		id = strings.TrimPrefix(strings.TrimPrefix(id, "channels/"), "enumerator/")
		if nodes[id] == nil && !seen[id] {
			seen[id] = true
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		if !j.cfg.Checkpoint.AllowNonRestoredState {
			return fmt.Errorf("%w: %q (match operators by UID, or allow non-restored state to drop it)", ErrNonRestoredState, missing)
		}
		for _, id := range missing {
			j.log.Warn("state not restored: the job has no such operator", slog.String("operator_id", id), slog.Uint64("checkpoint", c.ID))
		}
	}
	return AdoptMaxParallelism(j.Graph, c.Properties)
}

// AdoptMaxParallelism gives the operators of g whose max parallelism was
// left unset the max parallelism the checkpoint with properties props
// recorded for them; one set must equal it. A cluster's worker does the
// same as its job master, so that both key their state alike.
func AdoptMaxParallelism(g *graph.JobGraph, props map[string][]byte) error {
	for _, v := range g.Vertices {
		for _, n := range v.Nodes {
			b, ok := props[task.MaxParallelismProperty(n.StateID())]
			if !ok {
				continue
			}
			mp, err := strconv.Atoi(string(b))
			if err != nil || mp == n.MaxParallelism {
				continue
			}
			if n.MaxParallelismSet {
				return fmt.Errorf("%w: operator %q has max parallelism %d, the checkpoint %d", ErrMaxParallelismChanged, n.Name, n.MaxParallelism, mp)
			}
			if mp < n.Parallelism {
				return fmt.Errorf("%w: operator %q runs at parallelism %d, above the checkpoint's max parallelism %d", ErrMaxParallelismChanged, n.Name, n.Parallelism, mp)
			}
			n.MaxParallelism = mp
			if v.Head() == n {
				v.MaxParallelism = mp
			}
		}
	}
	return nil
}

// warnMissingUIDs warns about stateful operators without a UID: their
// state is matched by their position in the program.
func (j *Job) warnMissingUIDs() {
	for _, v := range j.Graph.Vertices {
		for _, n := range v.Nodes {
			if n.UID == "" && (n.Keyed || n.Source != nil) {
				j.log.Warn("stateful operator has no UID; its state is matched by its position in the program, which changes when operators are added before it",
					slog.String("operator", n.Name), slog.String("operator_id", n.StateID()))
			}
		}
	}
}

// CheckpointStats describes one checkpoint of a job.
type CheckpointStats struct {
	coordinator.Stats
	// Path is the completed checkpoint's folder, to restore a job from.
	Path string
}

// enumeratorAck carries a source coordinator's snapshot of its split
// enumerator for a checkpoint to the job loop, which writes it and
// acknowledges it as the enumerator's part.
type enumeratorAck struct {
	attempt    int
	vertex     *graph.Vertex
	checkpoint int64
	state      []byte
	err        error
}

// checkpointer runs the checkpoints of one attempt of a job, on the job
// loop's goroutine.
type checkpointer struct {
	j       *Job
	store   *storage.Storage
	coord   *coordinator.Coordinator
	timer   *time.Timer
	pending map[int64]*storage.Pending
	// finished holds the subtasks that have finished; acked, per pending
	// checkpoint, the subtasks that took it.
	finished map[rpc.ExecutionID]bool
	acked    map[int64]map[rpc.ExecutionID]bool
	// failJob is set when too many checkpoints failed.
	failJob error
	// savepoints are the savepoint requests by checkpoint id.
	savepoints map[int64]savepointRequest
	// finalWanted holds the subtasks that finished and wait for a
	// checkpoint, each with the number of checkpoints triggered before it
	// asked (triggers).
	finalWanted map[rpc.ExecutionID]int
	triggers    int
}

// checkpointState is what a job keeps across attempts.
type checkpointState struct {
	store *storage.Storage
	// restoreStore reads the checkpoint given by RestoreFrom.
	restoreStore *storage.Storage
	restore      *storage.Checkpoint
	// location and key say where the job's checkpoints are stored.
	location, key string
	mu            sync.Mutex
	history       []CheckpointStats
	paths         map[int64]string
}

// openCheckpoints opens the job's checkpoint storage and, with
// RestoreFrom, loads the checkpoint to start from.
func (j *Job) openCheckpoints(ctx context.Context) error {
	cfg := j.cfg.Checkpoint
	if cfg == nil {
		return nil
	}
	if _, err := coordinator.New(cfg.Coordinator, nil, 1, 0); err != nil {
		return err
	}
	loc := cfg.Location
	if loc == "" {
		loc = filepath.Join(os.TempDir(), "freshet-checkpoints")
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	key := string(j.ID) + "-" + hex.EncodeToString(suffix[:])
	opts := []storage.Option{storage.WithRetention(cfg.Retention)}
	if cfg.Retained > 0 {
		opts = append(opts, storage.WithRetained(cfg.Retained))
	}
	st, err := storage.Open(ctx, loc, key, opts...)
	if err != nil {
		return fmt.Errorf("opening checkpoint storage: %w", err)
	}
	j.ck = &checkpointState{store: st, paths: map[int64]string{}, location: strings.TrimRight(loc, "/"), key: key}
	j.jm.storages.Register(st)
	if cfg.Coordinator.Interval < neverInterval {
		j.warnMissingUIDs()
	}
	if cfg.RestoreFrom != "" {
		rs, c, err := storage.OpenCheckpoint(ctx, cfg.RestoreFrom)
		if err == nil {
			if err = j.checkRestore(c); err != nil {
				_ = rs.Close()
			}
		}
		if err != nil {
			j.jm.storages.Unregister(st)
			_ = st.Close()
			return err
		}
		j.ck.restoreStore, j.ck.restore = rs, c
		j.jm.storages.Register(rs)
		j.log.Info("restoring from checkpoint", slog.String("path", cfg.RestoreFrom), slog.Uint64("checkpoint", c.ID))
	}
	return nil
}

// neverInterval is the interval of a job without periodic checkpoints,
// which still takes savepoints.
const neverInterval = 100 * 365 * 24 * time.Hour

// closeCheckpoints applies the retention policy and closes the storage.
func (j *Job) closeCheckpoints(status JobStatus) {
	if j.ck == nil {
		return
	}
	s := storage.Finished
	switch status {
	case JobCanceled:
		s = storage.Cancelled
	case JobFailed:
		s = storage.Failed
	}
	if err := j.ck.store.Shutdown(context.Background(), s); err != nil {
		j.log.Warn("cleaning up checkpoints", slog.Any("error", err))
	}
	j.jm.storages.Unregister(j.ck.store)
	_ = j.ck.store.Close()
	if j.ck.restoreStore != nil {
		j.jm.storages.Unregister(j.ck.restoreStore)
		_ = j.ck.restoreStore.Close()
	}
}

// restorePoint returns the checkpoint the attempt being deployed starts
// from: after a failure the latest completed one, else the one given by
// RestoreFrom, if any.
func (j *Job) restorePoint(ctx context.Context) (*task.Restore, error) {
	if j.ck == nil {
		return nil, nil
	}
	if j.attempt > 0 {
		c, skipped, err := j.ck.store.Latest(ctx)
		for _, s := range skipped {
			j.log.Warn("skipping corrupt checkpoint", slog.Uint64("checkpoint", s.ID), slog.String("file", s.File), slog.Any("error", s.Err))
		}
		switch {
		case err == nil:
			j.log.Info("restoring from checkpoint", slog.Uint64("checkpoint", c.ID), slog.Int("attempt", j.attempt))
			return &task.Restore{Storage: j.ck.store, Checkpoint: c}, nil
		case !errors.Is(err, storage.ErrNoCheckpoint):
			return nil, fmt.Errorf("loading the latest checkpoint: %w", err)
		}
	}
	if j.ck.restore != nil {
		return &task.Restore{Storage: j.ck.restoreStore, Checkpoint: j.ck.restore}, nil
	}
	return nil, nil
}

// enumeratorID is the state id of a source vertex's enumerator.
func enumeratorID(v *graph.Vertex) string { return "enumerator/" + v.Head().StateID() }

// subtaskID names a subtask to the checkpoint coordinator.
func subtaskID(v, subtask int) string { return fmt.Sprintf("v%d/%d", v, subtask) }

// enumeratorState reads a source vertex's enumerator state from r.
func enumeratorState(ctx context.Context, r *task.Restore, v *graph.Vertex) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	id := enumeratorID(v)
	for _, f := range r.Checkpoint.Files {
		if f.Part.Operator != id {
			continue
		}
		b, err := r.Storage.ReadFile(ctx, r.Checkpoint, f)
		if err != nil {
			return nil, fmt.Errorf("reading the split enumerator state of %s: %w", v.Name(), err)
		}
		return b, nil
	}
	return []byte{}, nil // restored, but no state: nothing left to assign
}

// newCheckpointer starts the checkpoints of the attempt being deployed.
func (j *Job) newCheckpointer(restore *task.Restore) (*checkpointer, error) {
	if j.ck == nil {
		return nil, nil
	}
	var ids []string
	for _, v := range j.Graph.Vertices {
		for i := 0; i < v.Parallelism; i++ {
			ids = append(ids, subtaskID(v.ID, i))
		}
		if v.Head().Source != nil {
			ids = append(ids, enumeratorID(v))
		}
	}
	// After a restore, from this job's checkpoints or from a savepoint or
	// another job's retained checkpoint, ids go on after the restored one
	// (as Flink's do), as sink.InitContext promises writers: sinks name
	// their transactions by checkpoint.
	first := int64(1)
	if restore != nil {
		first = int64(restore.Checkpoint.ID) + 1
	}
	if last := j.lastCheckpointID(); last >= first {
		first = last + 1
	}
	c, err := coordinator.New(j.cfg.Checkpoint.Coordinator, ids, first, 10)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	c.Start(now)
	ck := &checkpointer{j: j, store: j.ck.store, coord: c, pending: map[int64]*storage.Pending{}, finished: map[rpc.ExecutionID]bool{}, acked: map[int64]map[rpc.ExecutionID]bool{}, savepoints: map[int64]savepointRequest{}, finalWanted: map[rpc.ExecutionID]int{}}
	ck.arm()
	return ck, nil
}

func (j *Job) lastCheckpointID() int64 {
	j.ck.mu.Lock()
	defer j.ck.mu.Unlock()
	if n := len(j.ck.history); n > 0 {
		return j.ck.history[n-1].ID
	}
	return 0
}

// timerC is the channel of the next deadline; nil when there is none.
func (ck *checkpointer) timerC() <-chan time.Time {
	if ck == nil || ck.timer == nil {
		return nil
	}
	return ck.timer.C
}

// arm sets the timer to the coordinator's next deadline.
func (ck *checkpointer) arm() {
	if ck.timer != nil {
		ck.timer.Stop()
		ck.timer = nil
	}
	d, ok := ck.coord.Deadline()
	if !ok {
		return
	}
	ck.timer = time.NewTimer(time.Until(d))
}

// tick runs the coordinator's time-based rules.
func (ck *checkpointer) tick() {
	ck.do(ck.coord.Tick(time.Now()))
	ck.arm()
}

// handle takes a checkpoint event or a task update of the attempt.
func (ck *checkpointer) handle(ev any) {
	if ck == nil {
		return
	}
	now := time.Now()
	switch e := ev.(type) {
	case rpc.FinalCheckpointWanted:
		ck.finalWanted[e.Exec] = ck.triggers
	case taskUpdate:
		if e.State == rpc.TaskFinished {
			delete(ck.finalWanted, e.Exec)
			ck.finished[e.Exec] = true
			ck.do(ck.coord.Finished(now, subtaskID(e.Exec.Vertex, e.Exec.Subtask)))
			// A source that finished before it took a pending checkpoint
			// sends no barrier: subtasks left with only finished upstream
			// subtasks take it when triggered directly.
			for id := range ck.pending {
				for _, v := range ck.j.Graph.Vertices {
					if v.Head().Source == nil {
						ck.triggerFinishedInputs(v, id)
					}
				}
			}
		}
	case checkpointAck:
		if p := ck.pending[e.Checkpoint]; p != nil {
			if ck.acked[e.Checkpoint] == nil {
				ck.acked[e.Checkpoint] = map[rpc.ExecutionID]bool{}
			}
			ck.acked[e.Checkpoint][e.Exec] = true
			if err := p.Add(e.Files...); err != nil {
				ck.do(ck.coord.Decline(now, e.Checkpoint, subtaskID(e.Exec.Vertex, e.Exec.Subtask), err))
				break
			}
		}
		ck.do(ck.coord.Ack(now, e.Checkpoint, subtaskID(e.Exec.Vertex, e.Exec.Subtask), e.Size))
	case checkpointDecline:
		ck.do(ck.coord.Decline(now, e.Checkpoint, subtaskID(e.Exec.Vertex, e.Exec.Subtask), e.Err))
	case savepointRequest:
		actions := ck.coord.TriggerNow(now)
		if len(actions) == 0 {
			e.reply <- savepointResult{err: fmt.Errorf("%w: no subtask is running", ErrNoSavepoint)}
			break
		}
		ck.savepoints[actions[0].Checkpoint] = e
		ck.do(actions)
	case enumeratorAck:
		id := enumeratorID(e.vertex)
		p := ck.pending[e.checkpoint]
		if e.err != nil || p == nil {
			if e.err != nil {
				ck.do(ck.coord.Decline(now, e.checkpoint, id, e.err))
			}
			break
		}
		w, err := p.Create(context.Background(), storage.Part{Operator: id, Subtask: 0, KeyGroups: storage.NoKeyGroups})
		if err == nil {
			_, err = w.Write(e.state)
			if err == nil {
				_, err = w.Commit()
			} else {
				w.Abort()
			}
		}
		if err != nil {
			ck.do(ck.coord.Decline(now, e.checkpoint, id, fmt.Errorf("writing the split enumerator state: %w", err)))
			break
		}
		ck.do(ck.coord.Ack(now, e.checkpoint, id, int64(len(e.state))))
	}
	ck.arm()
	ck.triggerFinal()
}

// do carries out the coordinator's actions.
func (ck *checkpointer) do(actions []coordinator.Action) {
	j := ck.j
	for _, a := range actions {
		switch a.Kind {
		case coordinator.Trigger:
			ck.trigger(a.Checkpoint)
		case coordinator.Complete:
			delete(ck.acked, a.Checkpoint)
			ck.complete(a.Checkpoint)
		case coordinator.Abort:
			delete(ck.acked, a.Checkpoint)
			if p := ck.pending[a.Checkpoint]; p != nil {
				delete(ck.pending, a.Checkpoint)
				_ = p.Abort(context.Background())
			}
			j.log.Warn("checkpoint failed", slog.Int64("checkpoint", a.Checkpoint), slog.Any("error", a.Err))
			ck.notify(a.Checkpoint, false)
			ck.savepointFailed(a.Checkpoint, a.Err)
		case coordinator.FailJob:
			ck.failJob = a.Err
		}
	}
	ck.record()
}

// triggerFinal triggers a checkpoint at once when a subtask waits for
// its final checkpoint and none was triggered since it asked, rather than
// leaving it to wait for the interval.
func (ck *checkpointer) triggerFinal() {
	for _, at := range ck.finalWanted {
		if at == ck.triggers {
			ck.do(ck.coord.TriggerNext(time.Now()))
			ck.arm()
			return
		}
	}
}

func (ck *checkpointer) trigger(id int64) {
	ck.triggers++
	j := ck.j
	p, err := ck.store.BeginCheckpoint(context.Background(), uint64(id))
	if err != nil {
		j.log.Warn("checkpoint failed to start", slog.Int64("checkpoint", id), slog.Any("error", err))
		ck.do(ck.coord.Decline(time.Now(), id, "job manager", err))
		return
	}
	ck.pending[id] = p
	j.log.Debug("checkpoint triggered", slog.Int64("checkpoint", id))
	req, isSavepoint := ck.savepoints[id]
	opts := req.opts
	opts.Savepoint = isSavepoint
	attempt := j.attempt
	coordDone := j.coordCtx.Done()
	for _, v := range j.Graph.Vertices {
		if v.Head().Source == nil {
			ck.triggerFinishedInputs(v, id)
			continue
		}
		c, ok := j.coordinator(v.ID, attempt)
		if !ok {
			continue
		}
		v := v
		c.Checkpoint(id, func(state []byte, err error) {
			// On the source coordinator's goroutine: the readers get the
			// trigger after the splits assigned before the snapshot.
			// The job loop may be closing this coordinator, which waits
			// for this goroutine: give up once the attempt ends.
			select {
			case j.updates <- enumeratorAck{attempt: attempt, vertex: v, checkpoint: id, state: state, err: err}:
			case <-coordDone:
				return
			}
			if err != nil {
				return
			}
			for i := 0; i < v.Parallelism; i++ {
				exec := rpc.ExecutionID{Job: j.ID, Vertex: v.ID, Subtask: i, Attempt: attempt}
				// A subtask that has finished owes nothing.
				_ = j.tmFor(v, i).TriggerCheckpoint(context.Background(), exec, id, opts.ToRPC())
			}
		})
	}
}

// triggerFinishedInputs triggers checkpoint id at the running subtasks of
// v, a vertex with inputs, if every upstream subtask has finished without
// taking it: no barrier of it can reach them (Flink's checkpoints after
// tasks finish). One that took it sent its barrier, which brings the
// checkpoint downstream in its place.
func (ck *checkpointer) triggerFinishedInputs(v *graph.Vertex, id int64) {
	j := ck.j
	for _, in := range v.Inputs {
		for i := 0; i < in.Source.Parallelism; i++ {
			exec := rpc.ExecutionID{Job: j.ID, Vertex: in.Source.ID, Subtask: i, Attempt: j.attempt}
			if !ck.finished[exec] || ck.acked[id][exec] {
				return
			}
		}
	}
	for i := 0; i < v.Parallelism; i++ {
		exec := rpc.ExecutionID{Job: j.ID, Vertex: v.ID, Subtask: i, Attempt: j.attempt}
		if !ck.finished[exec] {
			_, savepoint := ck.savepoints[id]
			_ = j.tmFor(v, i).TriggerCheckpoint(context.Background(), exec, id, rpc.TriggerOptions{Savepoint: savepoint})
		}
	}
}

func (ck *checkpointer) complete(id int64) {
	j := ck.j
	p := ck.pending[id]
	delete(ck.pending, id)
	if p == nil {
		return
	}
	props := map[string][]byte{}
	for _, v := range j.Graph.Vertices {
		for _, n := range v.Nodes {
			props[task.ParallelismProperty(n.StateID())] = []byte(strconv.Itoa(v.Parallelism))
			props[task.MaxParallelismProperty(n.StateID())] = []byte(strconv.Itoa(n.MaxParallelism))
		}
	}
	var st coordinator.Stats
	for _, s := range ck.coord.History() {
		if s.ID == id {
			st = s
		}
	}
	c, err := p.Complete(context.Background(), storage.Metadata{Timestamp: st.Triggered, Properties: props})
	if err != nil && c == nil {
		j.log.Warn("checkpoint failed to complete", slog.Int64("checkpoint", id), slog.Any("error", err))
		ck.notify(id, false)
		ck.savepointFailed(id, err)
		return
	}
	if err != nil {
		j.log.Warn("deleting old checkpoints", slog.Any("error", err))
	}
	where := j.ck.location + "/" + j.ck.key + "/chk-" + strconv.FormatInt(id, 10)
	j.ck.mu.Lock()
	j.ck.paths[id] = where
	j.ck.mu.Unlock()
	j.log.Info("checkpoint completed", slog.Int64("checkpoint", id), slog.Int64("bytes", st.Size),
		slog.Duration("duration", st.Duration), slog.Int("files", len(c.Files)), slog.String("path", where))
	ck.notify(id, true)
	// The history shows the checkpoint completed before a savepoint's
	// requester hears of it.
	ck.record()
	if req, ok := ck.savepoints[id]; ok {
		delete(ck.savepoints, id)
		ck.copySavepoint(c, req)
	}
}

// copySavepoint copies completed checkpoint c, a savepoint, out of the
// job's checkpoint storage into the requested directory, where no
// retention deletes it, and answers the request; a stopping savepoint
// then stops the job.
func (ck *checkpointer) copySavepoint(c *storage.Checkpoint, req savepointRequest) {
	j := ck.j
	ctx := context.Background()
	job := "savepoint-" + j.ck.key
	dst, err := storage.Open(ctx, req.dir, job)
	if err == nil {
		_, err = ck.store.CopyTo(ctx, c, dst)
		_ = dst.Close()
	}
	if err != nil {
		req.reply <- savepointResult{err: fmt.Errorf("%w: copying savepoint %d to %s: %w", ErrNoSavepoint, c.ID, req.dir, err)}
		if req.opts.Stop || req.opts.Drain {
			ck.failJob = fmt.Errorf("stop with savepoint: %w", err)
		}
		return
	}
	path := strings.TrimRight(req.dir, "/") + "/" + job + "/chk-" + strconv.FormatUint(c.ID, 10)
	j.log.Info("savepoint completed", slog.Uint64("checkpoint", c.ID), slog.String("path", path))
	req.reply <- savepointResult{path: path}
	if req.opts.Stop || req.opts.Drain {
		j.stopped = true
		if req.opts.Stop {
			// The sources read nothing after the barrier: end the job.
			j.Cancel()
		}
	}
}

// savepointFailed answers the request of savepoint id, if it was one.
func (ck *checkpointer) savepointFailed(id int64, cause error) {
	req, ok := ck.savepoints[id]
	if !ok {
		return
	}
	delete(ck.savepoints, id)
	req.reply <- savepointResult{err: fmt.Errorf("%w: checkpoint %d: %w", ErrNoSavepoint, id, cause)}
	if req.opts.Stop {
		// The sources stopped at the barrier; recover by failing over.
		ck.failJob = fmt.Errorf("stop with savepoint: %w", cause)
	}
}

func (ck *checkpointer) notify(id int64, complete bool) {
	j := ck.j
	for _, tm := range j.taskManagers() {
		_ = tm.NotifyCheckpoint(context.Background(), j.ID, j.attempt, id, complete)
	}
}

// record copies the coordinator's history into the job's.
func (ck *checkpointer) record() {
	j := ck.j
	h := ck.coord.History()
	j.ck.mu.Lock()
	defer j.ck.mu.Unlock()
	for _, s := range h {
		i := len(j.ck.history) - 1
		for i >= 0 && j.ck.history[i].ID != s.ID {
			i--
		}
		cs := CheckpointStats{Stats: s, Path: j.ck.paths[s.ID]}
		if i >= 0 {
			j.ck.history[i] = cs
		} else {
			j.ck.history = append(j.ck.history, cs)
		}
	}
	if n := len(j.ck.history); n > maxHistory {
		j.ck.history = append([]CheckpointStats(nil), j.ck.history[n-maxHistory:]...)
	}
}

// maxHistory is how many checkpoints a job's history keeps.
const maxHistory = 100

// stop ends the attempt's checkpoints: those pending are aborted.
func (ck *checkpointer) stop() {
	if ck == nil {
		return
	}
	if ck.timer != nil {
		ck.timer.Stop()
	}
	for id, p := range ck.pending {
		_ = p.Abort(context.Background())
		delete(ck.pending, id)
	}
	for id := range ck.savepoints {
		ck.savepointFailed(id, errAttemptEnded)
	}
	// Checkpoints still in progress end with the attempt.
	j := ck.j
	j.ck.mu.Lock()
	defer j.ck.mu.Unlock()
	for i := range j.ck.history {
		if s := &j.ck.history[i]; s.Status == coordinator.InProgress {
			s.Status = coordinator.Failed
			s.Duration = time.Since(s.Triggered)
			s.Failure = errAttemptEnded
		}
	}
}

// errAttemptEnded is the failure of the checkpoints in progress when an
// attempt of the job ended.
var errAttemptEnded = errors.New("freshet: the job attempt ended before the checkpoint completed")

// Checkpoints returns the job's recent checkpoints, oldest first.
func (j *Job) Checkpoints() []CheckpointStats {
	if j.ck == nil {
		return nil
	}
	j.ck.mu.Lock()
	defer j.ck.mu.Unlock()
	return append([]CheckpointStats(nil), j.ck.history...)
}
