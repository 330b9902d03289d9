package connectortest

import (
	"context"
	"errors"
	"sync"
)

// Snapshots records, per checkpoint, whether each of a sink's subtasks
// that took its snapshot left a pre-committed transaction with records,
// for a test that fails a job at a chosen point of a checkpoint: after
// every subtask pre-committed, say, so that transactions are left open.
type Snapshots struct {
	subtasks int

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
