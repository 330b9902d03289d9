package task

import (
	"sync"
	"sync/atomic"
)

// mailbox holds the mail posted to a subtask: functions that must run on its
// goroutine. It has two lanes: priority mail (checkpoint triggers, barriers
// that overtake data) runs before any ordinary mail and before the next
// input; ordinary mail (split assignments, timers, coordinator events) runs
// in the order it was posted, between elements.
//
// Any goroutine may put mail; putting never blocks, as the queues are
// unbounded, so a poster can never deadlock with a subtask that waits for
// room in its outputs. Only the subtask's goroutine takes mail.
type mailbox struct {
	// pending counts the queued mails, so that the subtask's loop can tell
	// there is none with one atomic load.
	pending atomic.Int64
	// wake holds a token when mail was put since the subtask last looked:
	// the subtask selects on it while it waits for input or output room.
	wake chan struct{}
	mu   struct {
		sync.Mutex
		priority []func() error
		ordinary []func() error
		head     int // index of the next ordinary mail
		closed   bool
	}
}

func newMailbox() *mailbox { return &mailbox{wake: make(chan struct{}, 1)} }

// put queues f in the priority or the ordinary lane and wakes the subtask.
// It reports false when the mailbox is closed (the subtask ended).
func (m *mailbox) put(f func() error, priority bool) bool {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return false
	}
	if priority {
		m.mu.priority = append(m.mu.priority, f)
	} else {
		m.mu.ordinary = append(m.mu.ordinary, f)
	}
	m.pending.Add(1)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default: // a token is already there
	}
	return true
}

// hasMail reports whether mail is queued; one atomic load.
func (m *mailbox) hasMail() bool { return m.pending.Load() > 0 }

// take returns the next mail: the oldest priority mail if any, else the
// oldest ordinary mail, else nil. Only the subtask's goroutine calls it.
func (m *mailbox) take() func() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var f func() error
	switch {
	case len(m.mu.priority) > 0:
		f = m.mu.priority[0]
		m.mu.priority[0] = nil
		m.mu.priority = m.mu.priority[1:]
		if len(m.mu.priority) == 0 {
			m.mu.priority = nil
		}
	case m.mu.head < len(m.mu.ordinary):
		f = m.mu.ordinary[m.mu.head]
		m.mu.ordinary[m.mu.head] = nil
		m.mu.head++
		switch {
		case m.mu.head == len(m.mu.ordinary):
			// Reuse the slice's memory once it is drained.
			m.mu.ordinary, m.mu.head = m.mu.ordinary[:0], 0
		case m.mu.head >= 64 && 2*m.mu.head >= len(m.mu.ordinary):
			// Mail keeps coming: drop the taken half rather than grow.
			n := copy(m.mu.ordinary, m.mu.ordinary[m.mu.head:])
			clear(m.mu.ordinary[n:])
			m.mu.ordinary, m.mu.head = m.mu.ordinary[:n], 0
		}
	default:
		return nil
	}
	m.pending.Add(-1)
	return f
}

// close makes every later put fail and drops the queued mail.
func (m *mailbox) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.closed = true
	m.mu.priority, m.mu.ordinary, m.mu.head = nil, nil, 0
	m.pending.Store(0)
}
