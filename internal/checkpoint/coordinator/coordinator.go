// Package coordinator decides when a job's checkpoints start, complete,
// expire and fail (Flink's CheckpointCoordinator), as a deterministic,
// single-threaded core: the job master feeds it the time and the subtasks'
// acknowledgements and declines, and carries out the Actions it returns
// (inject barriers at the sources, notify completion, abort, fail the job).
// It does no I/O and keeps no clock.
//
// Rules, as in Flink:
//
//   - A checkpoint is triggered every Interval, counted from the previous
//     trigger, but never sooner than MinPause after the previous checkpoint
//     ended, and never while MaxConcurrent checkpoints are in progress.
//   - It completes when every subtask that was running when it was
//     triggered has acknowledged it; a subtask that finishes (bounded
//     input) owes no acknowledgement.
//   - It fails when a subtask declines it or when Timeout passes. Failures
//     in a row beyond TolerableFailures fail the job; a completed
//     checkpoint resets the count. A newer completed checkpoint subsumes
//     older ones still in progress, which are aborted without counting as
//     failures.
package coordinator

import (
	"errors"
	"fmt"
	"time"
)

// ErrTooManyFailures is the cause of a FailJob action: more checkpoints
// failed in a row than are tolerated.
var ErrTooManyFailures = errors.New("freshet: exceeded the tolerable number of failed checkpoints")

// Config configures a Coordinator. Zero values take Flink's defaults where
// Flink has them.
type Config struct {
	Interval time.Duration // required, > 0
	// MinPause is the least time between the end of a checkpoint and the
	// start of the next (default 0).
	MinPause time.Duration
	// Timeout aborts a checkpoint still in progress after it (default 10 min).
	Timeout time.Duration
	// MaxConcurrent is how many checkpoints may be in progress (default 1).
	MaxConcurrent int
	// TolerableFailures is how many checkpoints may fail in a row before
	// the job fails (default 0: the first failure fails the job).
	TolerableFailures int
}

func (c *Config) validate() error {
	switch {
	case c.Interval <= 0:
		return fmt.Errorf("checkpoint interval must be positive, got %s", c.Interval)
	case c.MinPause < 0:
		return fmt.Errorf("minimum pause between checkpoints must not be negative, got %s", c.MinPause)
	case c.Timeout < 0:
		return fmt.Errorf("checkpoint timeout must not be negative, got %s", c.Timeout)
	case c.MaxConcurrent < 0:
		return fmt.Errorf("max concurrent checkpoints must not be negative, got %d", c.MaxConcurrent)
	case c.TolerableFailures < 0:
		return fmt.Errorf("tolerable failed checkpoints must not be negative, got %d", c.TolerableFailures)
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 1
	}
	return nil
}

// Kind is what an Action asks for.
type Kind uint8

// The kinds of Action.
const (
	// Trigger starts Checkpoint: inject its barrier at every running source.
	Trigger Kind = iota + 1
	// Complete: Checkpoint is complete; write its metadata, then notify
	// every subtask (the commit point of transactional sinks).
	Complete
	// Abort: Checkpoint will not complete; notify the subtasks.
	Abort
	// FailJob: fail the job with Err.
	FailJob
)

func (k Kind) String() string {
	return [...]string{"?", "Trigger", "Complete", "Abort", "FailJob"}[k]
}

// Action is one thing the job master must do, in the order returned.
type Action struct {
	Kind       Kind
	Checkpoint int64
	Err        error // the reason, for Abort and FailJob
}

func (a Action) String() string {
	if a.Err != nil {
		return fmt.Sprintf("%s(%d: %v)", a.Kind, a.Checkpoint, a.Err)
	}
	return fmt.Sprintf("%s(%d)", a.Kind, a.Checkpoint)
}

// Status is the state of a checkpoint in the history.
type Status uint8

// Checkpoint statuses.
const (
	InProgress Status = iota
	Completed
	Failed
)

func (s Status) String() string { return [...]string{"IN_PROGRESS", "COMPLETED", "FAILED"}[s] }

// Stats describes one checkpoint, for status reports.
type Stats struct {
	ID        int64
	Status    Status
	Triggered time.Time
	Duration  time.Duration // until completed or failed
	Size      int64         // bytes acknowledged so far
	Acked     int           // subtasks that acknowledged
	Expected  int           // subtasks that owe an acknowledgement
	Failure   error         // why it failed
	// Savepoint marks a checkpoint triggered on request (TriggerNow).
	Savepoint bool
}

// Coordinator is the checkpoint state of one job run.
type Coordinator struct {
	cfg      Config
	running  map[string]bool // subtasks not finished
	pending  []*pending      // in progress, oldest first
	nextID   int64
	lastTrig time.Time
	lastEnd  time.Time // end of the latest checkpoint, completed or failed
	started  bool
	failures int // in a row
	history  []*Stats
	keep     int
	latest   int64 // latest completed, 0 if none
	out      []Action
}

type pending struct {
	stats *Stats
	owed  map[string]bool
}

// New returns a coordinator for the job's subtasks (any stable ids), the
// first checkpoint to be numbered firstID (1 for a fresh job; after a
// restore, one more than the restored checkpoint). It keeps the stats of
// the last keep checkpoints (default 10).
func New(cfg Config, subtasks []string, firstID int64, keep int) (*Coordinator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if firstID < 1 {
		firstID = 1
	}
	if keep < 1 {
		keep = 10
	}
	c := &Coordinator{cfg: cfg, running: make(map[string]bool, len(subtasks)), nextID: firstID, keep: keep}
	for _, s := range subtasks {
		c.running[s] = true
	}
	return c, nil
}

// Start begins triggering at now: the first checkpoint is due one
// Interval later.
func (c *Coordinator) Start(now time.Time) {
	c.started, c.lastTrig = true, now
}

// Tick triggers a checkpoint that is due and expires those past their
// timeout. The returned slice is valid until the next call.
func (c *Coordinator) Tick(now time.Time) []Action {
	c.out = c.out[:0]
	for len(c.pending) > 0 && !now.Before(c.pending[0].stats.Triggered.Add(c.cfg.Timeout)) {
		p := c.pending[0]
		c.fail(now, p, fmt.Errorf("checkpoint %d expired after %s", p.stats.ID, c.cfg.Timeout))
	}
	if c.started && len(c.running) > 0 && len(c.pending) < c.cfg.MaxConcurrent && !now.Before(c.due()) {
		c.trigger(now)
	}
	return c.out
}

// due is when the next checkpoint may be triggered.
func (c *Coordinator) due() time.Time {
	d := c.lastTrig.Add(c.cfg.Interval)
	if !c.lastEnd.IsZero() {
		if p := c.lastEnd.Add(c.cfg.MinPause); p.After(d) {
			d = p
		}
	}
	return d
}

// Deadline is when Tick must next be called.
func (c *Coordinator) Deadline() (time.Time, bool) {
	var d time.Time
	ok := false
	if c.started && len(c.running) > 0 && len(c.pending) < c.cfg.MaxConcurrent {
		d, ok = c.due(), true
	}
	if len(c.pending) > 0 {
		if e := c.pending[0].stats.Triggered.Add(c.cfg.Timeout); !ok || e.Before(d) {
			d, ok = e, true
		}
	}
	return d, ok
}

// TriggerNow triggers a savepoint at once, whatever the interval, minimum
// pause and checkpoints in progress (as Flink's savepoints are). Its
// failure does not count against the tolerable failures. The Trigger
// action returned carries its id.
func (c *Coordinator) TriggerNow(now time.Time) []Action {
	c.out = c.out[:0]
	if len(c.running) == 0 {
		return c.out
	}
	c.trigger(now)
	c.pending[len(c.pending)-1].stats.Savepoint = true
	return c.out
}

// TriggerNext triggers a checkpoint at once, whatever the interval and
// minimum pause, unless one is in progress: the final checkpoint that
// finished subtasks wait for. The Trigger action returned carries its id.
func (c *Coordinator) TriggerNext(now time.Time) []Action {
	c.out = c.out[:0]
	if len(c.running) == 0 || len(c.pending) > 0 {
		return c.out
	}
	c.trigger(now)
	return c.out
}

func (c *Coordinator) trigger(now time.Time) {
	id := c.nextID
	c.nextID++
	c.lastTrig = now
	owed := make(map[string]bool, len(c.running))
	for s := range c.running {
		owed[s] = true
	}
	st := &Stats{ID: id, Status: InProgress, Triggered: now, Expected: len(owed)}
	c.pending = append(c.pending, &pending{stats: st, owed: owed})
	c.record(st)
	c.out = append(c.out, Action{Kind: Trigger, Checkpoint: id})
}

// Ack records subtask's acknowledgement of checkpoint id, with the size of
// its state.
func (c *Coordinator) Ack(now time.Time, id int64, subtask string, size int64) []Action {
	c.out = c.out[:0]
	p := c.find(id)
	if p == nil || !p.owed[subtask] {
		return c.out // late, duplicate, or for a checkpoint already ended
	}
	delete(p.owed, subtask)
	p.stats.Acked++
	p.stats.Size += size
	c.maybeComplete(now, p)
	return c.out
}

// Decline records that subtask could not take checkpoint id: it fails.
func (c *Coordinator) Decline(now time.Time, id int64, subtask string, reason error) []Action {
	c.out = c.out[:0]
	if p := c.find(id); p != nil {
		c.fail(now, p, fmt.Errorf("checkpoint %d declined by %s: %w", id, subtask, reason))
	}
	return c.out
}

// Finished records that subtask has finished: it owes no further
// acknowledgement, and checkpoints waiting only for it complete.
func (c *Coordinator) Finished(now time.Time, subtask string) []Action {
	c.out = c.out[:0]
	delete(c.running, subtask)
	for _, p := range append([]*pending(nil), c.pending...) {
		if p.owed[subtask] {
			delete(p.owed, subtask)
			p.stats.Expected--
			c.maybeComplete(now, p)
		}
	}
	return c.out
}

func (c *Coordinator) find(id int64) *pending {
	for _, p := range c.pending {
		if p.stats.ID == id {
			return p
		}
	}
	return nil
}

func (c *Coordinator) maybeComplete(now time.Time, p *pending) {
	if len(p.owed) > 0 {
		return
	}
	// Older checkpoints still in progress are subsumed.
	for len(c.pending) > 0 && c.pending[0] != p {
		old := c.pending[0]
		c.end(now, old, Failed, fmt.Errorf("checkpoint %d subsumed by %d", old.stats.ID, p.stats.ID))
		c.out = append(c.out, Action{Kind: Abort, Checkpoint: old.stats.ID, Err: old.stats.Failure})
	}
	c.end(now, p, Completed, nil)
	if !p.stats.Savepoint {
		c.failures = 0
	}
	c.latest = p.stats.ID
	c.out = append(c.out, Action{Kind: Complete, Checkpoint: p.stats.ID})
}

func (c *Coordinator) fail(now time.Time, p *pending, err error) {
	c.end(now, p, Failed, err)
	c.out = append(c.out, Action{Kind: Abort, Checkpoint: p.stats.ID, Err: err})
	if p.stats.Savepoint {
		return
	}
	c.failures++
	if c.failures > c.cfg.TolerableFailures {
		c.out = append(c.out, Action{Kind: FailJob, Checkpoint: p.stats.ID, Err: fmt.Errorf("%w (%d in a row, %d tolerated): %w", ErrTooManyFailures, c.failures, c.cfg.TolerableFailures, err)})
	}
}

// end takes p out of the pending list with its final status.
func (c *Coordinator) end(now time.Time, p *pending, s Status, err error) {
	for i, q := range c.pending {
		if q == p {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			break
		}
	}
	p.stats.Status, p.stats.Duration, p.stats.Failure = s, now.Sub(p.stats.Triggered), err
	c.lastEnd = now
}

func (c *Coordinator) record(st *Stats) {
	c.history = append(c.history, st)
	if len(c.history) > c.keep {
		c.history = c.history[len(c.history)-c.keep:]
	}
}

// History returns the stats of the most recent checkpoints, oldest first.
func (c *Coordinator) History() []Stats {
	out := make([]Stats, len(c.history))
	for i, h := range c.history {
		out[i] = *h
	}
	return out
}

// Latest is the id of the latest completed checkpoint, if any.
func (c *Coordinator) Latest() (int64, bool) { return c.latest, c.latest > 0 }
