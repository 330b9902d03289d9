// Package barrier decides what a subtask does with the checkpoint barriers
// arriving on its input channels (Flink's CheckpointBarrierHandler): when
// to block a channel, when to take the subtask's snapshot, which channels'
// in-flight records belong to the checkpoint, and when a checkpoint is
// aborted.
//
// A Handler is a deterministic, single-threaded core: the task feeds it
// barriers, cancellation barriers, the end of channels and the time, and
// carries out the Actions it returns. It does no I/O and keeps no clock.
//
// Modes, as in Flink:
//
//   - ExactlyOnce (aligned): a channel that delivered the barrier of
//     checkpoint n is blocked (its later records wait in its queue) until
//     every channel has delivered it; then the snapshot is taken and all
//     channels are unblocked. With an aligned-checkpoint timeout, alignment
//     that has lasted longer than the timeout since the first barrier
//     switches to unaligned for that checkpoint.
//   - Unaligned: the first barrier of n triggers the snapshot at once (the
//     barrier overtakes the records in flight); the records that arrive
//     afterwards on a channel, up to that channel's barrier, belong to the
//     checkpoint as channel state and must be persisted with it.
//   - AtLeastOnce: nothing is blocked; the snapshot is taken when every
//     channel has delivered the barrier, so records after a barrier may be
//     in the snapshot and are replayed after a restore (duplicates, no
//     loss).
//
// A channel that has ended (its upstream finished) needs no barrier: it
// never holds a checkpoint back. A barrier of a newer checkpoint aborts a
// pending older one; a cancellation barrier aborts its checkpoint; barriers
// of checkpoints older than the latest seen are ignored.
package barrier

import (
	"fmt"
	"time"
)

// Mode is how a subtask handles barriers.
type Mode uint8

// The modes.
const (
	ExactlyOnce Mode = iota // aligned
	Unaligned
	AtLeastOnce
)

func (m Mode) String() string {
	switch m {
	case ExactlyOnce:
		return "exactly-once"
	case Unaligned:
		return "unaligned"
	case AtLeastOnce:
		return "at-least-once"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Kind is what an Action asks for.
type Kind uint8

// The kinds of Action.
const (
	// Block stops taking records from Channel: they wait in its queue.
	Block Kind = iota + 1
	// UnblockAll takes records from every channel again.
	UnblockAll
	// Snapshot takes the subtask's snapshot for Checkpoint and forwards
	// its barrier downstream; Unaligned says the snapshot is unaligned
	// (channel state follows through Persist actions).
	Snapshot
	// Persist makes the records that arrive on Channel from now on, up to
	// its barrier, part of Checkpoint's channel state.
	Persist
	// StopPersist ends the channel state of Channel for Checkpoint: its
	// barrier arrived.
	StopPersist
	// ChannelStateDone says all channel state of Checkpoint is recorded.
	ChannelStateDone
	// Abort abandons Checkpoint at this subtask (a newer barrier, a
	// cancellation barrier); the subtask tells the coordinator it
	// declined, and forwards a cancellation barrier.
	Abort
)

func (k Kind) String() string {
	return [...]string{"?", "Block", "UnblockAll", "Snapshot", "Persist", "StopPersist", "ChannelStateDone", "Abort"}[k]
}

// Action is one thing the task must do, in the order returned.
type Action struct {
	Kind       Kind
	Checkpoint int64
	Channel    int  // for Block, Persist, StopPersist
	Unaligned  bool // for Snapshot
}

func (a Action) String() string {
	switch a.Kind {
	case Block, Persist, StopPersist:
		return fmt.Sprintf("%s(%d, ch %d)", a.Kind, a.Checkpoint, a.Channel)
	case UnblockAll:
		return "UnblockAll"
	case Snapshot:
		if a.Unaligned {
			return fmt.Sprintf("Snapshot(%d, unaligned)", a.Checkpoint)
		}
		return fmt.Sprintf("Snapshot(%d)", a.Checkpoint)
	}
	return fmt.Sprintf("%s(%d)", a.Kind, a.Checkpoint)
}

// Config configures a Handler.
type Config struct {
	Channels int
	Mode     Mode
	// AlignedTimeout, in ExactlyOnce mode, switches a checkpoint whose
	// alignment has lasted this long (since its first barrier here) to
	// unaligned. Zero never switches.
	AlignedTimeout time.Duration
}

// Handler is the barrier state of one subtask's inputs.
type Handler struct {
	cfg     Config
	ended   []bool
	live    int // channels not ended
	seen    []bool
	nSeen   int   // live channels that delivered the current barrier
	blocked int   // channels blocked for alignment
	current int64 // the pending checkpoint, or the latest handled
	pending bool
	// unaligned is set once the pending checkpoint's snapshot is taken
	// before all barriers arrived (Unaligned mode or a timed-out alignment).
	unaligned bool
	started   time.Time // first barrier of the pending checkpoint
	out       []Action
}

// New returns a handler for cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Channels < 1 {
		return nil, fmt.Errorf("barrier handler: %d channels, want at least 1", cfg.Channels)
	}
	if cfg.Mode > AtLeastOnce {
		return nil, fmt.Errorf("barrier handler: unknown mode %d", cfg.Mode)
	}
	if cfg.AlignedTimeout < 0 {
		return nil, fmt.Errorf("barrier handler: aligned-checkpoint timeout %s is negative", cfg.AlignedTimeout)
	}
	return &Handler{cfg: cfg, ended: make([]bool, cfg.Channels), live: cfg.Channels, seen: make([]bool, cfg.Channels)}, nil
}

// Pending reports the checkpoint being aligned or whose channel state is
// being recorded, if any.
func (h *Handler) Pending() (int64, bool) { return h.current, h.pending }

// Barrier handles the barrier of checkpoint id from channel ch at now.
// The returned slice is valid until the next call.
func (h *Handler) Barrier(ch int, id int64, now time.Time) []Action {
	h.out = h.out[:0]
	if h.ended[ch] || id < h.current || (id == h.current && !h.pending) {
		return h.out // old, or a checkpoint already done or aborted
	}
	if id > h.current {
		if h.pending {
			h.abort()
		}
		h.begin(id, now)
	}
	if h.seen[ch] {
		return h.out // a second barrier of one checkpoint on a channel: ignore
	}
	h.seen[ch] = true
	h.nSeen++
	switch {
	case h.unaligned:
		h.out = append(h.out, Action{Kind: StopPersist, Checkpoint: id, Channel: ch})
	case h.cfg.Mode == Unaligned:
		h.snapshotUnaligned()
	case h.cfg.Mode == ExactlyOnce && h.nSeen < h.live:
		h.out = append(h.out, Action{Kind: Block, Checkpoint: id, Channel: ch})
		h.blocked++
		h.checkTimeout(now)
	}
	h.maybeComplete()
	return h.out
}

// Cancel handles a cancellation barrier of checkpoint id (an upstream
// subtask declined it) from channel ch.
func (h *Handler) Cancel(ch int, id int64) []Action {
	h.out = h.out[:0]
	if h.ended[ch] || id < h.current || (id == h.current && !h.pending) {
		return h.out // old, or already completed or aborted here
	}
	if h.pending {
		h.abort() // the pending checkpoint is id or older
	}
	if id > h.current {
		// A checkpoint whose barriers have not arrived here: abort it now,
		// so that its later barriers are ignored.
		h.current = id
		h.out = append(h.out, Action{Kind: Abort, Checkpoint: id})
	}
	return h.out
}

// EndOfInput handles the end of channel ch: it no longer holds
// checkpoints back.
func (h *Handler) EndOfInput(ch int) []Action {
	h.out = h.out[:0]
	if h.ended[ch] {
		return h.out
	}
	h.ended[ch] = true
	h.live--
	if h.pending {
		if h.seen[ch] {
			h.nSeen--
			h.seen[ch] = false
		} else if h.unaligned {
			// Its records before the end were all in flight: the channel
			// state of the channel is complete.
			h.out = append(h.out, Action{Kind: StopPersist, Checkpoint: h.current, Channel: ch})
		}
		h.maybeComplete()
	}
	return h.out
}

// Tick lets a time-based rule act: an aligned checkpoint whose alignment
// has lasted longer than the aligned-checkpoint timeout turns unaligned.
func (h *Handler) Tick(now time.Time) []Action {
	h.out = h.out[:0]
	if h.pending {
		h.checkTimeout(now)
	}
	return h.out
}

// Deadline is when Tick must next be called, if at all.
func (h *Handler) Deadline() (time.Time, bool) {
	if !h.pending || h.unaligned || h.cfg.Mode != ExactlyOnce || h.cfg.AlignedTimeout == 0 {
		return time.Time{}, false
	}
	return h.started.Add(h.cfg.AlignedTimeout), true
}

func (h *Handler) begin(id int64, now time.Time) {
	h.current, h.pending, h.unaligned, h.started = id, true, false, now
	clear(h.seen)
	h.nSeen, h.blocked = 0, 0
}

func (h *Handler) checkTimeout(now time.Time) {
	if d, ok := h.Deadline(); ok && !now.Before(d) {
		// Unblock first: the blocked channels' records are after their
		// barriers, not part of the checkpoint.
		h.unblock()
		h.snapshotUnaligned()
	}
}

// snapshotUnaligned takes the pending checkpoint's snapshot now and starts
// recording the channel state of every live channel still before its
// barrier.
func (h *Handler) snapshotUnaligned() {
	h.unaligned = true
	h.out = append(h.out, Action{Kind: Snapshot, Checkpoint: h.current, Unaligned: true})
	for ch := range h.seen {
		if !h.seen[ch] && !h.ended[ch] {
			h.out = append(h.out, Action{Kind: Persist, Checkpoint: h.current, Channel: ch})
		}
	}
}

// maybeComplete ends the pending checkpoint once every live channel has
// delivered its barrier.
func (h *Handler) maybeComplete() {
	if !h.pending || h.nSeen < h.live {
		return
	}
	h.pending = false
	if h.unaligned {
		h.out = append(h.out, Action{Kind: ChannelStateDone, Checkpoint: h.current})
		return
	}
	h.out = append(h.out, Action{Kind: Snapshot, Checkpoint: h.current})
	h.unblock()
}

// unblock unblocks the channels alignment blocked, if any.
func (h *Handler) unblock() {
	if h.blocked > 0 {
		h.out = append(h.out, Action{Kind: UnblockAll})
		h.blocked = 0
	}
}

// abort abandons the pending checkpoint.
func (h *Handler) abort() {
	h.unblock()
	h.out = append(h.out, Action{Kind: Abort, Checkpoint: h.current})
	h.pending = false
}
