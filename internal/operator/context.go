package operator

import (
	"context"
	"fmt"
	"time"

	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/metric"
)

// Context is what the runtime gives an operator at Open.
type Context struct {
	Ctx            context.Context // ends when the subtask stops
	JobName        string
	TaskName       string // name of the operator
	Subtask        int    // index of this subtask, from 0
	Parallelism    int
	MaxParallelism int
	Attempt        int
	// RestoredCheckpoint is the id of the checkpoint (or savepoint) the
	// subtask was restored from, 0 on a fresh start. It is set even when
	// the checkpoint held no state for this operator or subtask.
	RestoredCheckpoint int64
	// KeyGroups is the first and last key group this subtask owns (keyed operators).
	KeyGroupStart, KeyGroupEnd int
	// Current points at the index of the operator in the chain that is running,
	// so a failure can name it.
	Current *int
	Index   int
	// Failure is the chain's failure slot: Fail raises on it.
	Failure *Failure
	// Timers schedules processing-time callbacks on the subtask's goroutine.
	Timers ProcessingTimeService
	// SetIdle tells downstream that the subtask's output is idle (no
	// records or watermarks for a while) or active again; sources whose
	// watermark strategy has idleness call it.
	SetIdle func(idle bool) error
	// Backend holds the keyed state and timers of the operator; nil means
	// one made by NewBackend when the operator first asks for it.
	Backend statebackend.Backend
	// NewBackend makes the operator's backend, with the operator's max
	// parallelism; nil means the heap backend.
	NewBackend func(maxParallelism int) (statebackend.Backend, error)
	// AutoWatermarkInterval is how often periodic watermark generators
	// emit; 0 turns periodic watermarks off.
	AutoWatermarkInterval time.Duration
	// OperatorState is the operator's operator state (lists not tied to a
	// key), restored from a checkpoint when OperatorState.IsRestored.
	OperatorState *statebackend.OperatorState
	// Metrics is the group of the metrics the operator (its reader,
	// writer or user function) registers; nil when nothing shows them:
	// they count, unseen.
	Metrics *metric.Group
	// hooks are called at checkpoints, in the order registered.
	hooks []CheckpointHooks
}

// CheckpointHooks are what an operator (or a function it calls) does at a
// checkpoint. Any of them may be nil. Each runs on the subtask's goroutine;
// an error fails the checkpoint (Snapshot) or the subtask (the others).
type CheckpointHooks struct {
	// Snapshot runs when the subtask takes its snapshot for checkpoint id,
	// before the operator's state is written: the operator moves what it
	// keeps outside its state into OperatorState.
	Snapshot func(id int64) error
	// Complete runs once checkpoint id has completed: the commit point of
	// transactional sinks.
	Complete func(id int64) error
	// Aborted runs when checkpoint id will not complete.
	Aborted func(id int64) error
	// Final runs when the subtask ends after its input ended without a
	// checkpoint taken after it finished having completed (none is taken
	// in a job without periodic checkpoints, or one stopped with a
	// savepoint): what waited for a checkpoint to complete is committed
	// now, as no restore will need it again.
	Final func() error
}

// OnCheckpoint registers hooks; operators call it in Open.
func (c *Context) OnCheckpoint(h CheckpointHooks) { c.hooks = append(c.hooks, h) }

// Hooks returns the hooks registered.
func (c *Context) Hooks() []CheckpointHooks { return c.hooks }

// IsRestored reports whether the operator's subtask was restored from a
// checkpoint.
func (c *Context) IsRestored() bool { return c.OperatorState != nil && c.OperatorState.IsRestored() }

// State returns the operator's operator state.
func (c *Context) State() *statebackend.OperatorState {
	if c.OperatorState == nil {
		c.OperatorState = statebackend.NewOperatorState()
	}
	return c.OperatorState
}

// ProcessingTimeService is the subtask's clock and processing-time
// scheduler. Callbacks run on the subtask's goroutine, between records, so
// operators need no locks. A test harness implements it with a manual clock.
type ProcessingTimeService interface {
	// Now is the current processing time in milliseconds since the epoch.
	Now() int64
	// Schedule calls fn once processing time reaches ts (at once if it has).
	// An error from fn fails the subtask.
	Schedule(ts int64, fn func() error)
}

// Fail fails the subtask with err once the current call into the chain
// returns; use it where an error cannot be returned (an Output's Collect, a
// user function's call into its context). It does not unwind the caller.
func (c *Context) Fail(err error) { c.Failure.Raise(err) }

// StateBackend returns the backend the operator keeps its state in.
func (c *Context) StateBackend() statebackend.Backend {
	if c.Backend == nil && c.NewBackend != nil {
		b, err := c.NewBackend(c.MaxParallelism)
		if err != nil {
			// The subtask fails after the call; until then the operator
			// keeps its state on the heap.
			if c.Failure != nil {
				c.Fail(fmt.Errorf("creating the state backend: %w", err))
			}
			b = nil
		}
		c.Backend = b
	}
	if c.Backend == nil {
		c.Backend = statebackend.NewHeap(c.MaxParallelism)
	}
	return c.Backend
}
