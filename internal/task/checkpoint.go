package task

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/checkpoint/barrier"
	"github.com/freshet-io/freshet/internal/checkpoint/storage"
	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
)

// CheckpointSpec is how a subtask takes part in checkpoints.
type CheckpointSpec struct {
	Mode barrier.Mode
	// AlignedTimeout switches an aligned checkpoint whose alignment has
	// lasted this long to unaligned; 0 never does.
	AlignedTimeout time.Duration
	// Storage receives the subtask's state files.
	Storage *storage.Storage
	// Ack acknowledges checkpoint id with the files the subtask wrote and
	// their total size. It must not block.
	Ack func(id int64, files []storage.File, size int64)
	// Decline tells the coordinator the subtask could not take checkpoint
	// id. It must not block.
	Decline func(id int64, err error)
	// Final makes a subtask whose input ended wait, before it ends, for a
	// checkpoint taken after its operators finished to complete (Flink's
	// final checkpoint), so that what its operators commit when a
	// checkpoint completes (a transactional sink's last transaction) is
	// committed exactly once. Without it, or when no such checkpoint is
	// taken (a job stopped with a savepoint), the operators' Final hooks
	// commit at the end.
	Final bool
	// AwaitFinal tells the coordinator that the subtask finished and
	// waits for its final checkpoint. It must not block.
	AwaitFinal func()
}

// TriggerOptions says what a source does around a savepoint's barrier
// (Flink's stop-with-savepoint).
type TriggerOptions struct {
	// Stop stops the source after the barrier: it reads nothing more
	// until the job is cancelled.
	Stop bool
	// Drain ends the source: its final watermark goes before the barrier
	// (so event-time windows fire) and its end of input after.
	Drain bool
	// Savepoint makes the barrier a savepoint's: aligned, whatever the
	// job's checkpoints are, so it holds no records in flight.
	Savepoint bool
}

// Restore is the checkpoint a subtask restores its state from.
type Restore struct {
	Storage    *storage.Storage
	Checkpoint *storage.Checkpoint
}

// ParallelismProperty is the checkpoint property recording the parallelism
// an operator (by its state id) had when the checkpoint was taken.
func ParallelismProperty(stateID string) string { return "parallelism/" + stateID }

// MaxParallelismProperty is the checkpoint property recording the max
// parallelism (number of key groups) an operator had.
func MaxParallelismProperty(stateID string) string { return "maxParallelism/" + stateID }

// ChannelStateID is the state id under which the in-flight records of the
// subtasks of a chain headed by node are stored.
func ChannelStateID(head *graph.Node) string { return "channels/" + head.StateID() }

// OldParallelism returns the parallelism the operator of stateID had in c,
// or 0 if c does not record it.
func OldParallelism(c *storage.Checkpoint, stateID string) int {
	b, ok := c.Properties[ParallelismProperty(stateID)]
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return 0
	}
	return n
}

// ckState is the progress of one checkpoint in a subtask: its state files
// being written, and the channel state of an unaligned checkpoint being
// recorded. The last part to finish acknowledges it.
type ckState struct {
	id      int64
	mu      sync.Mutex
	waiting int // parts not yet written
	files   []storage.File
	size    int64
	failed  bool
}

// channelState records the in-flight records of an unaligned checkpoint:
// those taken from a channel between the snapshot and the channel's
// barrier, and, when the barrier arrives, those it overtook, which the
// gate spills at once.
type channelState struct {
	ck *ckState
	// persisting[ch]: records of ch taken now belong to the checkpoint
	// (its barrier has not arrived).
	persisting []bool
	buf        []byte // channel, length, encoded batch; repeated
}

// initCheckpoints sets up the barrier handler of a subtask with inputs.
func (t *Task) initCheckpoints() error {
	cs := t.spec.Checkpoints
	if cs == nil || t.spec.Gate == nil {
		return nil
	}
	h, err := barrier.New(barrier.Config{Channels: t.spec.Gate.NumChannels(), Mode: cs.Mode, AlignedTimeout: cs.AlignedTimeout})
	if err != nil {
		return err
	}
	t.barriers = h
	if cs.Mode == barrier.Unaligned || cs.AlignedTimeout > 0 {
		// Savepoints are aligned, and never time out into unaligned.
		if t.savepointBarriers, err = barrier.New(barrier.Config{Channels: t.spec.Gate.NumChannels(), Mode: barrier.ExactlyOnce}); err != nil {
			return err
		}
	}
	return nil
}

// TriggerCheckpoint takes the snapshot of checkpoint id in a source
// subtask, or in a subtask whose upstream subtasks have all finished, and
// sends its barrier downstream. It must run on the task's goroutine
// (through Post, after the split assignments posted before it).
//
// A subtask with inputs is triggered only once every upstream subtask has
// finished: what its channels still hold is all the input it will ever
// get, which no restored upstream sends again, so the snapshot stores it as
// channel state (as Flink checkpoints after tasks finished).
func (t *Task) TriggerCheckpoint(id int64, opts TriggerOptions) error {
	cs := t.spec.Checkpoints
	if cs == nil {
		return errors.New("checkpoint triggered in a job without checkpoints")
	}
	// A subtask triggered directly may have taken the checkpoint (or a
	// newer one) at its barriers already, or be aligning it.
	if id <= t.lastCheckpoint {
		return nil
	}
	for _, h := range []*barrier.Handler{t.barriers, t.savepointBarriers} {
		if h == nil {
			continue
		}
		if p, ok := h.Pending(); ok && p >= id {
			return nil
		}
	}
	if t.spec.Gate == nil {
		src, _ := t.head.(operator.SourceDriver)
		if opts.Drain && src != nil {
			// Event time ends before the savepoint: every window and
			// timer fires, and the savepoint holds what is left.
			if err := t.chain.Call(func() error { src.EndOfInput(); return nil }); err != nil {
				return err
			}
		}
		t.inSavepoint = opts.Savepoint
		err := t.snapshot(id, cs.Mode == barrier.Unaligned && !opts.Savepoint, false)
		t.inSavepoint = false
		if err != nil {
			return err
		}
		switch {
		case opts.Drain:
			t.sourceDone = true // the source ends after the barrier
		case opts.Stop:
			t.suspended = true // nothing more after the barrier
		}
		return nil
	}
	t.inSavepoint = opts.Savepoint
	err := t.snapshot(id, false, true)
	t.inSavepoint = false
	if err != nil || t.chState == nil {
		return err
	}
	// Restored records not yet replayed come first.
	t.chState.buf = append(t.chState.buf, t.replay...)
	for ch := range t.spec.Gate.NumChannels() {
		for _, e := range t.spec.Gate.SpillAll(ch) {
			if e.Kind == exchange.KindRecords || e.Kind == exchange.KindEncoded {
				if err := t.recordAlways(&e); err != nil {
					return err
				}
			}
		}
	}
	t.writeChannelState()
	return nil
}

// NotifyCheckpoint tells the chain that checkpoint id completed (or was
// aborted). It must run on the task's goroutine.
func (t *Task) NotifyCheckpoint(id int64, complete bool) error {
	if t.chain == nil {
		return nil
	}
	if complete && id > t.completed {
		t.completed = id
	}
	return t.chain.NotifyCheckpoint(id, complete)
}

// snapshot takes the chain's snapshot for checkpoint id, forwards the
// barrier (ahead of the records in flight when unaligned) and writes the
// state files asynchronously. With withChannels (an unaligned snapshot at
// a barrier, or a triggered subtask with inputs) it starts recording the
// checkpoint's channel state too.
func (t *Task) snapshot(id int64, unaligned, withChannels bool) error {
	cs := t.spec.Checkpoints
	t.lastCheckpoint = max(t.lastCheckpoint, id)
	if t.finished && t.finalID == 0 {
		t.finalID = id
	}
	snaps, err := t.chain.Snapshot(id, t.inSavepoint)
	if t.chain.failure.Failed() || err != nil {
		finishIncremental(snaps, errors.New("checkpoint declined"))
	}
	if t.chain.failure.Failed() {
		return err
	}
	if err != nil {
		t.log("declining checkpoint", id, err)
		cs.Decline(id, err)
		return t.sendEvent(exchange.Envelope{Kind: exchange.KindCancelBarrier, Checkpoint: id, Priority: unaligned, Savepoint: t.inSavepoint})
	}
	if err := t.sendEvent(exchange.Envelope{Kind: exchange.KindBarrier, Checkpoint: id, Priority: unaligned, Savepoint: t.inSavepoint}); err != nil {
		return err
	}
	ck := &ckState{id: id, waiting: 1}
	if withChannels && t.spec.Gate != nil {
		ck.waiting++
		n := t.spec.Gate.NumChannels()
		t.chState = &channelState{ck: ck, persisting: make([]bool, n)}
	}
	t.async.Add(1)
	go func() {
		defer t.async.Done()
		files, size, err := t.writeSnapshots(id, snaps)
		t.partDone(ck, files, size, err)
	}()
	return nil
}

// partDone records that a part of checkpoint ck was written, and
// acknowledges it (or declines it) once the last part is.
func (t *Task) partDone(ck *ckState, files []storage.File, size int64, err error) {
	ck.mu.Lock()
	defer ck.mu.Unlock()
	if ck.failed {
		return
	}
	if err != nil {
		ck.failed = true
		t.spec.Checkpoints.Decline(ck.id, err)
		return
	}
	ck.files = append(ck.files, files...)
	ck.size += size
	if ck.waiting--; ck.waiting == 0 {
		t.spec.Checkpoints.Ack(ck.id, ck.files, ck.size)
	}
}

func (t *Task) sendEvent(e exchange.Envelope) error {
	for _, w := range t.writers {
		if err := w.Event(e); err != nil {
			return err
		}
	}
	return nil
}

func (t *Task) log(msg string, id int64, err error) {
	if t.spec.Logger != nil {
		t.spec.Logger.Warn(msg, "checkpoint", id, "error", err)
	}
}

// writeSnapshots writes the chain's state files for checkpoint id: the
// canonical snapshots, and for incremental ones the table files not
// stored before (in the shared folder) and the part file listing them.
func (t *Task) writeSnapshots(id int64, snaps []OperatorSnapshot) (files []storage.File, size int64, err error) {
	if len(snaps) == 0 {
		return nil, 0, nil
	}
	ctx := context.Background()
	p, err := t.spec.Checkpoints.Storage.BeginCheckpoint(ctx, uint64(id))
	if err != nil {
		finishIncremental(snaps, err)
		return nil, 0, err
	}
	defer p.Release()
	for i, s := range snaps {
		sid := s.Node.StateID()
		part := storage.Part{Operator: sid, Subtask: t.spec.Subtask, KeyGroups: storage.KeyGroupRange{Start: s.KeyGroups.Start, End: s.KeyGroups.End}}
		var fs []storage.File
		switch {
		case s.Incremental != nil:
			var shared []statebackend.SharedFile
			fs, shared, err = writeIncremental(ctx, p, part, s.Incremental)
			s.Incremental.Finish(shared, err)
		case s.Keyed != nil:
			fs, err = writeFile(ctx, p, part, s.Keyed)
		}
		if err == nil && s.Operator != nil {
			part.KeyGroups = storage.NoKeyGroups
			var f []storage.File
			f, err = writeFile(ctx, p, part, s.Operator)
			fs = append(fs, f...)
		}
		if err != nil {
			finishIncremental(snaps[i+1:], err)
			return nil, 0, err
		}
		reused := map[string]bool{}
		if s.Incremental != nil {
			for _, r := range s.Incremental.Reuse {
				reused[r.Name] = true
			}
		}
		for _, f := range fs {
			files = append(files, f)
			if !reused[f.Name] {
				size += f.Size // what this checkpoint wrote, as Flink reports it
			}
		}
	}
	return files, size, nil
}

// finishIncremental ends the incremental snapshots of snaps that will not
// be written.
func finishIncremental(snaps []OperatorSnapshot, err error) {
	for _, s := range snaps {
		if s.Incremental != nil {
			s.Incremental.Finish(nil, err)
		}
	}
}

// writeIncremental stores incremental snapshot inc of part: its table
// files not stored before, then its part file. It returns the part file
// and every table file it refers to, marked Shared, and those table files
// as the backend knows them.
func writeIncremental(ctx context.Context, p *storage.Pending, part storage.Part, inc *statebackend.Incremental) ([]storage.File, []statebackend.SharedFile, error) {
	shared := make([]statebackend.SharedFile, 0, len(inc.SSTs))
	for _, f := range inc.SSTs {
		if s, ok := inc.Reuse[f.Name]; ok {
			shared = append(shared, s)
			continue
		}
		w, err := p.CreateShared(ctx, part)
		if err != nil {
			return nil, nil, err
		}
		if err := copyFile(w, filepath.Join(inc.Dir, f.Name)); err != nil {
			w.Abort()
			return nil, nil, fmt.Errorf("uploading %s of %s: %w", f.Name, part, err)
		}
		sf, err := w.Commit()
		if err != nil {
			return nil, nil, fmt.Errorf("uploading %s of %s: %w", f.Name, part, err)
		}
		shared = append(shared, statebackend.SharedFile{Local: f.Name, Name: sf.Name, Size: sf.Size, CRC32C: sf.CRC32C})
	}
	data, err := inc.Encode(shared)
	if err != nil {
		return nil, nil, err
	}
	files, err := writeFile(ctx, p, part, data)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range shared {
		files = append(files, storage.File{Name: s.Name, Part: part, Size: s.Size, CRC32C: s.CRC32C, Shared: true})
	}
	return files, shared, nil
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// writeFile writes data as the state file of part.
func writeFile(ctx context.Context, p *storage.Pending, part storage.Part, data []byte) ([]storage.File, error) {
	w, err := p.Create(ctx, part)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return nil, fmt.Errorf("writing %s: %w", part, err)
	}
	f, err := w.Commit()
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", part, err)
	}
	return []storage.File{f}, nil
}

func (t *Task) writeFiles(id int64, parts []storage.Part, data [][]byte) (_ []storage.File, size int64, err error) {
	ctx := context.Background()
	p, err := t.spec.Checkpoints.Storage.BeginCheckpoint(ctx, uint64(id))
	if err != nil {
		return nil, 0, err
	}
	defer p.Release()
	files := make([]storage.File, 0, len(parts))
	for i, part := range parts {
		fs, err := writeFile(ctx, p, part, data[i])
		if err != nil {
			return nil, 0, err
		}
		files = append(files, fs...)
		size += fs[0].Size
	}
	return files, size, nil
}

// onBarrier handles the barrier (or cancel barrier) e from its channel.
func (t *Task) onBarrier(e *exchange.Envelope) error {
	if t.barriers == nil {
		return nil // a job without checkpoints sends none
	}
	h := t.barriers
	if e.Savepoint && t.savepointBarriers != nil {
		h = t.savepointBarriers
		t.inSavepoint = true
		defer func() { t.inSavepoint = false }()
	}
	var actions []barrier.Action
	if e.Kind == exchange.KindCancelBarrier {
		actions = h.Cancel(e.Channel, e.Checkpoint)
	} else {
		actions = h.Barrier(e.Channel, e.Checkpoint, time.Now())
	}
	// The records this barrier overtook, still queued, belong to the
	// checkpoint's channel state if the subtask's snapshot is taken (at
	// this barrier or before).
	t.barrierCh, t.barrierSeq = e.Channel, e.Seq
	err := t.apply(actions)
	t.barrierCh = -1
	if err != nil {
		return err
	}
	t.armAlignmentTimer()
	return nil
}

// spill records the records of channel ch that the barrier at Seq until
// overtook.
func (t *Task) spill(ch int, until int64) error {
	spilled, err := t.spec.Gate.Spill(t.runCtx, ch, until)
	if err != nil {
		return err
	}
	for _, e := range spilled {
		if e.Kind == exchange.KindRecords || e.Kind == exchange.KindEncoded {
			if err := t.recordAlways(&e); err != nil {
				return err
			}
		}
	}
	return nil
}

// apply carries out the barrier handler's actions.
func (t *Task) apply(actions []barrier.Action) error {
	for _, a := range actions {
		switch a.Kind {
		case barrier.Block:
			t.spec.Gate.Block(a.Channel)
		case barrier.UnblockAll:
			for ch := range t.spec.Gate.NumChannels() {
				t.spec.Gate.Unblock(ch)
			}
		case barrier.Snapshot:
			if err := t.snapshot(a.Checkpoint, a.Unaligned, a.Unaligned); err != nil {
				return err
			}
			// The barrier that completed an unaligned snapshot here
			// overtook records of its channel.
			if a.Unaligned && t.chState != nil && t.barrierCh >= 0 {
				if err := t.spill(t.barrierCh, t.barrierSeq); err != nil {
					return err
				}
			}
		case barrier.Persist:
			if s := t.chState; s != nil && s.ck.id == a.Checkpoint {
				s.persisting[a.Channel] = true
			}
		case barrier.StopPersist:
			if s := t.chState; s != nil && s.ck.id == a.Checkpoint {
				s.persisting[a.Channel] = false
				if a.Channel == t.barrierCh {
					if err := t.spill(a.Channel, t.barrierSeq); err != nil {
						return err
					}
				}
			}
		case barrier.ChannelStateDone:
			if s := t.chState; s != nil && s.ck.id == a.Checkpoint {
				t.writeChannelState()
			}
		case barrier.Abort:
			if s := t.chState; s != nil && s.ck.id == a.Checkpoint {
				t.chState = nil
				t.partDone(s.ck, nil, 0, fmt.Errorf("checkpoint %d aborted at %s", a.Checkpoint, t.Name()))
			}
			if err := t.sendEvent(exchange.Envelope{Kind: exchange.KindCancelBarrier, Checkpoint: a.Checkpoint, Savepoint: t.inSavepoint}); err != nil {
				return err
			}
		}
	}
	return nil
}

// record adds e, a batch of records about to be processed, to the channel
// state being recorded if it belongs to it.
func (t *Task) record(e *exchange.Envelope) error {
	if !t.chState.persisting[e.Channel] {
		return nil
	}
	return t.recordAlways(e)
}

func (t *Task) recordAlways(e *exchange.Envelope) error {
	s := t.chState
	typ := t.spec.Vertex.Head().In[t.inputOf[e.Channel]-1]
	n := len(s.buf)
	s.buf = binary.AppendUvarint(s.buf, uint64(e.Channel))
	s.buf = append(s.buf, 0, 0, 0, 0)
	at := len(s.buf)
	var err error
	if s.buf, err = typ.AppendEnvelope(s.buf, e); err != nil {
		s.buf = s.buf[:n]
		return fmt.Errorf("recording channel state: %w", err)
	}
	binary.BigEndian.PutUint32(s.buf[at-4:at], uint32(len(s.buf)-at))
	return nil
}

// writeChannelState writes the channel state recorded, now complete.
func (t *Task) writeChannelState() {
	s := t.chState
	t.chState = nil
	part := storage.Part{Operator: ChannelStateID(t.spec.Vertex.Head()), Subtask: t.spec.Subtask, KeyGroups: storage.NoKeyGroups}
	buf := s.buf
	t.async.Add(1)
	go func() {
		defer t.async.Done()
		if len(buf) == 0 {
			t.partDone(s.ck, nil, 0, nil)
			return
		}
		files, size, err := t.writeFiles(s.ck.id, []storage.Part{part}, [][]byte{buf})
		t.partDone(s.ck, files, size, err)
	}()
}

// armAlignmentTimer makes the handler's next deadline (an aligned
// checkpoint's timeout) run Tick on the task's goroutine.
func (t *Task) armAlignmentTimer() {
	d, ok := t.barriers.Deadline()
	if !ok || t.alignTimer == d {
		return
	}
	t.alignTimer = d
	time.AfterFunc(time.Until(d), func() {
		_ = t.PostPriority(func() error {
			if err := t.apply(t.barriers.Tick(time.Now())); err != nil {
				return err
			}
			t.armAlignmentTimer()
			return nil
		})
	})
}

// restore reads the state of the chain's operators from the checkpoint
// of t.spec.Restore and hands it to the chain before it opens.
func (t *Task) restore(ctx context.Context) error {
	r := t.spec.Restore
	if r == nil {
		return nil
	}
	nodes := t.chain.Nodes()
	backends := make([]statebackend.Backend, len(nodes))
	opStates := make([]*statebackend.OperatorState, len(nodes))
	par := t.spec.Vertex.Parallelism
	for i, n := range nodes {
		sid := n.StateID()
		kgs := keygroup.RangeFor(n.MaxParallelism, par, t.spec.Subtask)
		var keyed [][]byte
		oldPar := OldParallelism(r.Checkpoint, sid)
		old := make([][]byte, oldPar)
		for _, f := range r.Checkpoint.Files {
			if f.Part.Operator != sid || f.Shared {
				continue // shared files are read through the part file that lists them
			}
			if f.Part.KeyGroups.Empty() {
				if f.Part.Subtask >= oldPar {
					return fmt.Errorf("restoring %s: checkpoint %d has operator state of subtask %d of %d", n.Name, r.Checkpoint.ID, f.Part.Subtask, oldPar)
				}
				b, err := t.readFile(ctx, f)
				if err != nil {
					return err
				}
				old[f.Part.Subtask] = b
				continue
			}
			if f.Part.KeyGroups.End < kgs.Start || f.Part.KeyGroups.Start > kgs.End {
				continue
			}
			b, err := t.readFile(ctx, f)
			if err != nil {
				return err
			}
			keyed = append(keyed, b)
		}
		if len(keyed) > 0 {
			in := statebackend.Restore{Snapshots: keyed, Fetch: t.fetchShared(ctx), Checkpoint: int64(r.Checkpoint.ID),
				Reuse: t.spec.Checkpoints != nil && r.Storage == t.spec.Checkpoints.Storage}
			b, err := t.backendConfig(n).Restore(n.MaxParallelism, kgs, in)
			if err != nil {
				return fmt.Errorf("restoring keyed state of %s from checkpoint %d: %w", n.Name, r.Checkpoint.ID, err)
			}
			backends[i] = b
		}
		s, err := statebackend.RestoreOperatorState(old, par, t.spec.Subtask)
		if err != nil {
			return fmt.Errorf("restoring operator state of %s from checkpoint %d: %w", n.Name, r.Checkpoint.ID, err)
		}
		opStates[i] = s
	}
	t.chain.UseBackends(backends)
	t.chain.UseOperatorState(opStates)
	return t.readChannelState(ctx)
}

// fetchShared returns how the subtask's backends get the shared files of
// the checkpoint it restores.
func (t *Task) fetchShared(ctx context.Context) statebackend.Fetch {
	r := t.spec.Restore
	return func(f statebackend.SharedFile, path string) error {
		return r.Storage.CopyFile(ctx, r.Checkpoint, storage.File{Name: f.Name, Size: f.Size, CRC32C: f.CRC32C, Shared: true}, path)
	}
}

func (t *Task) readFile(ctx context.Context, f storage.File) ([]byte, error) {
	r := t.spec.Restore
	return r.Storage.ReadFile(ctx, r.Checkpoint, f)
}

// readChannelState loads the in-flight records an unaligned checkpoint
// stored for this subtask; replayChannelState feeds them to the chain
// before any new input.
func (t *Task) readChannelState(ctx context.Context) error {
	r := t.spec.Restore
	head := t.spec.Vertex.Head()
	sid := ChannelStateID(head)
	for _, f := range r.Checkpoint.Files {
		if f.Part.Operator != sid || f.Part.Subtask != t.spec.Subtask {
			continue
		}
		if old := OldParallelism(r.Checkpoint, head.StateID()); old != t.spec.Vertex.Parallelism {
			return fmt.Errorf("restoring %s: the in-flight records of an unaligned checkpoint cannot be restored at parallelism %d (it was taken at %d)", head.Name, t.spec.Vertex.Parallelism, old)
		}
		b, err := t.readFile(ctx, f)
		if err != nil {
			return err
		}
		t.replay = b
	}
	return nil
}

// nextReplay returns the next restored in-flight envelope, which the
// subtask processes before any new input, one per turn of its loop so that
// mail (a checkpoint's trigger) runs in between.
func (t *Task) nextReplay() (exchange.Envelope, error) {
	b := t.replay
	ch, n := binary.Uvarint(b)
	if n <= 0 || len(b) < n+4 {
		return exchange.Envelope{}, fmt.Errorf("restoring channel state: %w", codec.ErrCorrupt)
	}
	size := int(binary.BigEndian.Uint32(b[n:]))
	b = b[n+4:]
	if size > len(b) || int(ch) >= len(t.inputOf) {
		return exchange.Envelope{}, fmt.Errorf("restoring channel state: %w", codec.ErrCorrupt)
	}
	t.replay = b[size:]
	return exchange.Envelope{Kind: exchange.KindEncoded, Channel: int(ch), Bytes: b[:size:size]}, nil
}
