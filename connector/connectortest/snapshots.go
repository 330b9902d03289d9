package connectortest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/freshet-io/freshet/sink"
)

// Snapshots records, per checkpoint, whether each of a sink's subtasks
// that took its snapshot left a pre-committed transaction with records,
// for a test that fails a job at a chosen point of a checkpoint: after
// every subtask pre-committed, say, so that transactions are left open.
type Snapshots struct {
	subtasks int
	failedAt atomic.Int64

	mu      sync.Mutex
	written map[int64]map[int]bool
	changed chan struct{} // closed and replaced when written changes
}

// NewSnapshots returns a record for a sink of subtasks subtasks.
func NewSnapshots(subtasks int) *Snapshots {
	return &Snapshots{subtasks: subtasks, written: map[int64]map[int]bool{}, changed: make(chan struct{})}
}

// Report records that subtask took its snapshot of checkpoint id, having
// pre-committed a transaction with records or not.
func (s *Snapshots) Report(id int64, subtask int, written bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written[id] == nil {
		s.written[id] = map[int]bool{}
	}
	s.written[id][subtask] = written
	close(s.changed)
	s.changed = make(chan struct{})
}

// AllWritten reports whether every subtask took its snapshot of
// checkpoint id and pre-committed a transaction with records.
func (s *Snapshots) AllWritten(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allWrittenLocked(id)
}

func (s *Snapshots) allWrittenLocked(id int64) bool {
	subs := s.written[id]
	for _, w := range subs {
		if !w {
			return false
		}
	}
	return len(subs) == s.subtasks
}

// Wait waits until every subtask has taken its snapshot of checkpoint id
// and reports whether each pre-committed a transaction with records.
func (s *Snapshots) Wait(ctx context.Context, id int64) (bool, error) {
	for {
		s.mu.Lock()
		done, all, changed := len(s.written[id]) == s.subtasks, s.allWrittenLocked(id), s.changed
		s.mu.Unlock()
		if done {
			return all, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false, errors.New("the subtask stopped while waiting for the others' snapshots")
		}
	}
}

// FailAfterPreCommits wraps the checkpoint hooks of an exactly-once sink's
// writer so that it never hears that a checkpoint completed, and its job
// fails with err at the snapshot of the first checkpoint, from the third
// on, at which every subtask pre-committed a transaction with records, as
// at the checkpoint before: subtask 0 waits, after its own pre-commit,
// until every subtask has pre-committed, then fails the checkpoint.
// written reports whether subtask sub's transaction of checkpoint id
// holds records.
func (s *Snapshots) FailAfterPreCommits(ctx sink.InitContext, hooks sink.CheckpointHooks, err error, written func(ctx context.Context, sub int, id int64) (bool, error)) sink.CheckpointHooks {
	hooks.NotifyCheckpointComplete = nil
	snap, sub := hooks.SnapshotState, ctx.SubtaskIndex()
	hooks.SnapshotState = func(id int64) ([][]byte, error) {
		st, serr := snap(id)
		if serr != nil || s.failedAt.Load() != 0 {
			return st, serr
		}
		w, werr := written(ctx.Context(), sub, id)
		if werr != nil {
			return nil, werr
		}
		s.Report(id, sub, w)
		if sub != 0 || id < 3 {
			return st, nil
		}
		all, werr := s.Wait(ctx.Context(), id)
		if werr != nil {
			return nil, werr
		}
		if all && s.AllWritten(id-1) && s.failedAt.CompareAndSwap(0, id) {
			return nil, fmt.Errorf("after the pre-commits of checkpoint %d: %w", id, err)
		}
		return st, nil
	}
	return hooks
}

// FailedAt is the checkpoint at which FailAfterPreCommits failed the job,
// or 0.
func (s *Snapshots) FailedAt() int64 { return s.failedAt.Load() }
