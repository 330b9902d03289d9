// Package exchange moves elements between subtasks: input gates that merge
// the channels a subtask reads, record writers that batch and partition what
// a subtask emits, and the partitioners of the DataStream API.
//
// Within one process a channel passes typed batches through a bounded queue
// without encoding; a channel to another process (or any channel, when the
// job forces serialization) carries encoded batches instead. Both sides meet
// at ChannelWriter, the seam where a network transport plugs in.
//
//	record writer ──batch──▶ ChannelWriter ──▶ channel queue ──▶ InputGate ──▶ subtask
//	   (partition, batch)     (local | remote)   (bounded)        (merge, align)
package exchange

import (
	"context"
	"errors"
)

// Kind tells what an Envelope carries.
type Kind uint8

// Envelope kinds.
const (
	KindRecords       Kind = iota // Batch holds a typed batch
	KindEncoded                   // Bytes holds an encoded batch
	KindWatermark                 // Watermark holds the channel's new watermark
	KindIdle                      // the channel became idle
	KindActive                    // the channel became active again
	KindEndOfInput                // the channel will carry nothing more
	KindBarrier                   // Checkpoint's barrier
	KindCancelBarrier             // Checkpoint was declined upstream
	// KindEndOfData: the channel will carry no more records or
	// watermarks, only the barriers of the checkpoints its producer
	// takes after finishing, then KindEndOfInput.
	KindEndOfData
)

func (k Kind) String() string {
	switch k {
	case KindRecords:
		return "records"
	case KindEncoded:
		return "encoded"
	case KindWatermark:
		return "watermark"
	case KindIdle:
		return "idle"
	case KindActive:
		return "active"
	case KindEndOfInput:
		return "end-of-input"
	case KindBarrier:
		return "barrier"
	case KindCancelBarrier:
		return "cancel-barrier"
	case KindEndOfData:
		return "end-of-data"
	}
	return "unknown"
}

// Envelope is the unit a channel carries: a batch of records or one event.
type Envelope struct {
	Kind      Kind
	Channel   int // index of the channel within the receiving gate, set by the gate
	Batch     any // *Batch[T] for KindRecords
	Bytes     []byte
	Count     int   // number of records in Batch or Bytes
	Watermark int64 // for KindWatermark
	// Checkpoint is the checkpoint id of a barrier or cancel barrier.
	Checkpoint int64
	// Priority sends an event ahead of the envelopes queued in the
	// channel (an unaligned checkpoint's barrier overtaking in-flight
	// records). Seq then tells the receiver where it was sent.
	Priority bool
	// Savepoint marks the barrier (or cancel barrier) of a savepoint,
	// which is always aligned, even in a job with unaligned checkpoints.
	Savepoint bool
	// Seq is the envelope's position in its channel: the number of
	// envelopes sent on the channel before it, priority events excluded.
	// The channel sets it.
	Seq int64
	// Owner, when set, owns the memory Bytes points into (a network
	// receive buffer) and reuses it once released: the consumer that has
	// decoded Bytes calls ReleaseBytes. An envelope dropped without that
	// call leaves its memory to the garbage collector.
	Owner BytesOwner
}

// BytesOwner owns the memory the Bytes of encoded envelopes point into.
// Release is called once for each envelope it was given to, from any
// goroutine, when nothing will read that envelope's Bytes again.
type BytesOwner interface {
	Release()
}

// ReleaseBytes tells e's owner, if any, that e's Bytes will not be read
// again, and forgets them. Only the envelope's final consumer calls it,
// once: whoever keeps the bytes (checkpointed channel state) copies them.
func (e *Envelope) ReleaseBytes() {
	if e.Owner != nil {
		e.Owner.Release()
	}
	e.Owner, e.Bytes = nil, nil
}

// ChannelWriter sends envelopes to one input channel of a downstream subtask.
// One goroutine, the producing subtask's, calls its methods.
//
// A channel is available while it holds less than its capacity. Send never
// blocks on an available channel, nor on one over its capacity by less than
// its overdraft (Overdraft for a local channel): a producer checks
// availability before it takes its next input, and the overdraft holds what
// that input makes it emit. Only beyond the overdraft does Send block,
// returning the context's error when ctx ends first.
type ChannelWriter interface {
	Send(ctx context.Context, e Envelope) error
	// IsAvailable reports, without waiting, whether the channel has room
	// below its capacity (or can no longer take anything, so that Send
	// reports why).
	IsAvailable() bool
	// Available returns a channel that is closed once the channel is
	// available; it may be closed already.
	Available() <-chan struct{}
}

// RemoteChannel is a ChannelWriter to a subtask of another process: a
// record writer sends it encoded batches, while a channel to a subtask of
// its own process gets typed batches, unencoded.
type RemoteChannel interface {
	ChannelWriter
	// Remote reports whether the channel's batches must be encoded.
	Remote() bool
}

// CopyingChannel is a ChannelWriter whose Send is done with an encoded
// envelope's Bytes when it returns (a network writer copies them into its
// buffer): a record writer then encodes every batch for it into the same
// buffer, rather than into a new one the channel would only copy.
type CopyingChannel interface {
	ChannelWriter
	// CopiesBytes reports whether Send keeps no reference to e.Bytes.
	CopiesBytes() bool
}

// Remote wraps a channel writer so that record writers encode what they
// send it, as for a subtask of another process.
func Remote(w ChannelWriter) ChannelWriter { return remoteChannel{w} }

type remoteChannel struct{ ChannelWriter }

func (remoteChannel) Remote() bool { return true }

// ErrGateClosed is returned when sending to a gate whose task has ended.
var ErrGateClosed = errors.New("freshet: input gate closed")
