package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrNoSuchTask is returned for an event to a subtask that is not running
// (it ended or has not been deployed); the JobManager drops such events,
// as Flink does.
var ErrNoSuchTask = errors.New("freshet: no such task")

// ErrCancellationTimeout is wrapped by the failure a TaskManager reports
// for a subtask still running when its job's cancellation timeout expired;
// the subtask's goroutine is abandoned, as Go cannot stop it.
var ErrCancellationTimeout = errors.New("freshet: cancellation timed out")

// ErrSlotNotAllocated is returned for a deployment into a slot the
// TaskManager does not have, or that holds a subtask of another job.
var ErrSlotNotAllocated = errors.New("freshet: slot not allocated to the job")

// sentinels are the errors a SerializedError still matches with errors.Is
// after crossing, by code.
var sentinels = [...]struct {
	code string
	err  error
}{
	{"no_such_task", ErrNoSuchTask},
	{"cancellation_timeout", ErrCancellationTimeout},
	{"slot_not_allocated", ErrSlotNotAllocated},
	{"unknown_taskmanager", ErrUnknownTaskManager},
	{"unknown_job", ErrUnknownJob},
	{"canceled", context.Canceled},
	{"deadline_exceeded", context.DeadlineExceeded},
}

// SerializedError is an error as plain data: its message, the Go type of
// every error in its chain, and the codes of the known sentinels it
// matches, so that errors.Is still works for those on the other side.
type SerializedError struct {
	Message string
	// Type is the Go type of the error, as %T prints it.
	Type string
	// Causes are the errors it wraps, depth first: each Unwrap, and every
	// branch of a joined error.
	Causes []ErrorFrame
	// Codes name the sentinels (ErrNoSuchTask, ErrCancellationTimeout,
	// context.Canceled, context.DeadlineExceeded) the error matches.
	Codes []string
	// Local, when not 0, is the error's handle in the sending process's
	// ErrorTable: a receiver in the same process (the embedded cluster)
	// gets the original error back, with every type and sentinel of the
	// program's own; any other receiver ignores it.
	Local uint64
}

// ErrorFrame is one error of a SerializedError's chain.
type ErrorFrame struct {
	Message string
	Type    string
}

// SerializeError returns err as plain data, or nil for nil. With a table,
// the original is kept there for a receiver in this process (see Local).
func SerializeError(err error, table *ErrorTable) *SerializedError {
	if err == nil {
		return nil
	}
	se := &SerializedError{Message: err.Error(), Type: fmt.Sprintf("%T", err)}
	var walk func(error)
	walk = func(e error) {
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if c := u.Unwrap(); c != nil {
				se.Causes = append(se.Causes, ErrorFrame{Message: c.Error(), Type: fmt.Sprintf("%T", c)})
				walk(c)
			}
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				if c != nil {
					se.Causes = append(se.Causes, ErrorFrame{Message: c.Error(), Type: fmt.Sprintf("%T", c)})
					walk(c)
				}
			}
		}
	}
	walk(err)
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			se.Codes = append(se.Codes, s.code)
		}
	}
	se.Local = table.put(err)
	return se
}

// Err returns the error se describes, or nil for nil: the original when
// table holds it (the sender was in this process), else a *RemoteError.
// It takes the original out of the table: call it once per message.
func (se *SerializedError) Err(table *ErrorTable) error {
	if se == nil {
		return nil
	}
	if err, ok := table.take(se.Local); ok {
		return err
	}
	return &RemoteError{Serialized: *se}
}

// RemoteError is an error that came from another process. It prints the
// original message and matches the known sentinels the original matched.
type RemoteError struct {
	Serialized SerializedError
}

func (e *RemoteError) Error() string { return e.Serialized.Message }

// Is reports whether target is a known sentinel the original error matched.
func (e *RemoteError) Is(target error) bool {
	for _, code := range e.Serialized.Codes {
		for _, s := range sentinels {
			if s.code == code && s.err == target {
				return true
			}
		}
	}
	return false
}

// ErrorTable keeps the errors serialized in this process until a receiver
// in this process takes them back, so that the embedded cluster's
// messages stay plain data and its errors keep their identity. The zero
// value is not usable; a nil table keeps nothing.
type ErrorTable struct {
	mu   sync.Mutex
	next uint64
	errs map[uint64]error
}

// NewErrorTable returns an empty table.
func NewErrorTable() *ErrorTable { return &ErrorTable{errs: map[uint64]error{}} }

func (t *ErrorTable) put(err error) uint64 {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next++
	t.errs[t.next] = err
	return t.next
}

func (t *ErrorTable) take(id uint64) (error, bool) {
	if t == nil || id == 0 {
		return nil, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	err, ok := t.errs[id]
	delete(t.errs, id)
	return err, ok
}

// Len is the number of errors the table holds, for tests.
func (t *ErrorTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.errs)
}
