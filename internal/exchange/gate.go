package exchange

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Overdraft is how many envelopes a channel takes beyond its capacity
// before Send blocks (Flink's overdraft buffers). A producer checks that its
// channels are available (below capacity) before it takes its next input, so
// the overdraft only has to hold what one input element emits, plus a flush
// or an event; an element that emits more than that is the rare case in which
// Send blocks the subtask.
const Overdraft = 5

// Gate merges the input channels of one subtask. Each channel is a bounded
// FIFO; the gate hands out envelopes in the order channels became available,
// and can block individual channels (barrier alignment), which leaves their
// queues full and so backpressures exactly their producers.
//
// A channel holds up to its capacity plus Overdraft envelopes. Below its
// capacity it is available; a producer that finds it unavailable stops
// taking input and waits on Available (while still running its mail) instead
// of blocking in Send.
//
// An event sent with Priority (an unaligned checkpoint's barrier) overtakes
// the envelopes queued in its channel: Next returns it before any envelope
// sent after it, and before those queued ahead of it. Its Seq tells the
// reader which of them were sent before it (the records in flight an
// unaligned checkpoint persists); Taken counts what the reader took.
//
// Any number of producers may Send concurrently (one per channel); one
// goroutine, the subtask's, calls Next.
type Gate struct {
	channels []*channel
	avail    chan int // indexes of channels with one more queued envelope
	done     chan struct{}
	once     sync.Once
	// prio counts the priority events queued over all channels; prioWake
	// wakes a waiting reader when one is queued.
	prio     atomic.Int64
	prioWake chan struct{}
	overflow atomic.Int64 // sum of the channels' overflow

	// owned by the reading goroutine
	blocked  []bool
	deferred []int
	taken    []int64 // envelopes taken per channel, priority events excluded
	// local[i] holds envelopes Spill took out of channel i's queue: the
	// head of the channel, served before its queue.
	local [][]Envelope
	// stash holds an envelope taken from a channel whose priority event,
	// sent before it, had not been seen yet: Next returns it next.
	stash   Envelope
	stashed bool
}

type channel struct {
	gate     *Gate
	index    int
	capacity int
	q        chan Envelope // capacity + Overdraft slots
	// queued counts the envelopes in q: Send adds after queueing, the
	// reader subtracts after taking. It is atomic (sequentially
	// consistent) so that a producer that announces it is waiting and then
	// finds the channel full cannot miss the reader's taking an envelope.
	queued  atomic.Int64
	waiting atomic.Bool // a producer waits on mu.avail
	sent    int64       // envelopes sent, priority events excluded; producer's
	// prioN is len(mu.prio), readable without the lock.
	prioN atomic.Int64
	// overflow counts envelopes whose index did not fit in the gate's avail.
	overflow atomic.Int64
	mu       struct {
		sync.Mutex
		avail chan struct{} // closed when the channel is available again
		prio  []Envelope    // priority events not yet taken
	}
}

// NewGate returns a gate with n channels, each available while it holds
// fewer than capacity envelopes and holding at most capacity + Overdraft.
func NewGate(n, capacity int) *Gate {
	if capacity < 1 {
		capacity = 1
	}
	g := &Gate{
		channels: make([]*channel, n),
		avail:    make(chan int, n*(capacity+Overdraft)),
		done:     make(chan struct{}),
		prioWake: make(chan struct{}, 1),
		blocked:  make([]bool, n),
		taken:    make([]int64, n),
		local:    make([][]Envelope, n),
	}
	for i := range g.channels {
		g.channels[i] = &channel{gate: g, index: i, capacity: capacity, q: make(chan Envelope, capacity+Overdraft)}
	}
	return g
}

// Queued is the number of envelopes waiting in channel i.
func (g *Gate) Queued(i int) int { return len(g.channels[i].q) }

// NumChannels is the number of channels of g.
func (g *Gate) NumChannels() int { return len(g.channels) }

// Channel returns the writer that feeds channel i of g.
func (g *Gate) Channel(i int) ChannelWriter { return g.channels[i] }

// RemoteChannel returns the writer that feeds channel i of g from another
// process. It is Channel(i), except that a priority event sent to it keeps
// its Seq: the number of envelopes its producer had sent on the channel
// before it, as the network counted them. Some of those may still be on
// their way when the event overtakes them; Spill waits for them, so the
// network must keep delivering the envelopes sent before a priority event
// while the channel is over its capacity.
func (g *Gate) RemoteChannel(i int) ChannelWriter { return networkChannel{g.channels[i]} }

// networkChannel is a gate channel fed by the network data plane.
type networkChannel struct{ *channel }

// Send implements ChannelWriter.
func (c networkChannel) Send(ctx context.Context, e Envelope) error {
	if e.Priority {
		e.Channel = c.index
		return c.sendPriority(e)
	}
	return c.channel.Send(ctx, e)
}

// Close makes every blocked and future Send fail with ErrGateClosed, and
// every channel available, so that producers waiting for room try to send
// and learn that the gate closed.
func (g *Gate) Close() {
	g.once.Do(func() {
		close(g.done)
		for _, c := range g.channels {
			c.notify()
		}
	})
}

func (g *Gate) closed() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// closedChan is returned by Available when the channel already has room.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// IsAvailable implements ChannelWriter: the channel holds fewer envelopes
// than its capacity, or its gate has closed.
func (c *channel) IsAvailable() bool {
	return c.queued.Load() < int64(c.capacity) || c.gate.closed()
}

// Available implements ChannelWriter.
func (c *channel) Available() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.avail == nil {
		c.mu.avail = make(chan struct{})
	}
	c.waiting.Store(true)
	if c.queued.Load() < int64(c.capacity) || c.gate.closed() {
		return c.wakeLocked()
	}
	return c.mu.avail
}

// taken is called by the reader after it took an envelope from c; it wakes
// a waiting producer when c has room again. Without a waiting producer it
// costs two atomic operations.
func (c *channel) taken() {
	if c.queued.Add(-1) < int64(c.capacity) && c.waiting.Load() {
		c.notify()
	}
}

// notify wakes the producer waiting on c, if any, when c is available.
func (c *channel) notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.avail != nil && (c.queued.Load() < int64(c.capacity) || c.gate.closed()) {
		c.wakeLocked()
	}
}

// wakeLocked closes the channel a producer waits on and returns it.
func (c *channel) wakeLocked() chan struct{} {
	ch := c.mu.avail
	if ch == nil {
		ch = closedChan
	} else {
		close(ch)
	}
	c.mu.avail = nil
	c.waiting.Store(false)
	return ch
}

// Send implements ChannelWriter. It blocks only when the channel holds
// capacity + Overdraft envelopes; a priority event never blocks.
func (c *channel) Send(ctx context.Context, e Envelope) error {
	e.Channel = c.index
	e.Seq = c.sent
	if e.Priority {
		return c.sendPriority(e)
	}
	// Fast path: the gate is open and the queue has room. Both checks are
	// single-channel operations that take no lock when they cannot proceed,
	// much cheaper than the three-way select that waits.
	select {
	case <-c.gate.done:
		return ErrGateClosed
	default:
	}
	select {
	case c.q <- e:
	default:
		select {
		case c.q <- e:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.gate.done:
			return ErrGateClosed
		}
	}
	c.sent++
	c.queued.Add(1)
	// Cannot block: avail has room for every queued envelope.
	c.gate.ready(c.index)
	return nil
}

// ready records that channel i has one more envelope to hand out. avail
// has room for every envelope a channel holds in normal operation; should
// it be full (a producer past its overdraft while records Spill took out
// are still waiting), the channel's count goes to overflow instead, which
// poll serves once avail is empty, so neither producer nor reader blocks.
func (g *Gate) ready(i int) {
	select {
	case g.avail <- i:
	default:
		g.channels[i].overflow.Add(1)
		g.overflow.Add(1)
	}
}

func (c *channel) sendPriority(e Envelope) error {
	if c.gate.closed() {
		return ErrGateClosed
	}
	c.mu.Lock()
	c.mu.prio = append(c.mu.prio, e)
	c.prioN.Add(1)
	c.mu.Unlock()
	c.gate.prio.Add(1)
	select {
	case c.gate.prioWake <- struct{}{}:
	default:
	}
	return nil
}

// popPriority takes c's oldest priority event if it was sent before the
// envelope at seq (any, when seq is negative).
func (c *channel) popPriority(seq int64) (Envelope, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.mu.prio) == 0 || (seq >= 0 && c.mu.prio[0].Seq > seq) {
		return Envelope{}, false
	}
	e := c.mu.prio[0]
	c.mu.prio = c.mu.prio[1:]
	c.prioN.Add(-1)
	c.gate.prio.Add(-1)
	return e, true
}

// Spill takes every envelope of channel i sent before Seq until out of its
// queue and returns every envelope of
// the channel not yet handed out by Next that was sent before until, in
// order: the records in flight an unaligned checkpoint's barrier (at Seq
// until) overtook. Next still hands them out, before the rest of the
// channel. The slice is valid until the next call to Next or Spill.
//
// For a local channel, what was sent before the barrier is queued already
// and Spill does not wait. A channel fed by the network (RemoteChannel)
// may still have some of it on its way: Spill waits for it until ctx ends
// or the gate closes, and returns the error then (the producer went away
// before delivering it, and the job is failing).
func (g *Gate) Spill(ctx context.Context, i int, until int64) ([]Envelope, error) {
	c := g.channels[i]
	for g.taken[i] < until {
		// Its room stays taken until Next hands it out, so spilling does
		// not loosen backpressure.
		var e Envelope
		select {
		case e = <-c.q:
		default:
			select {
			case e = <-c.q:
			case <-ctx.Done():
				return nil, fmt.Errorf("waiting for the records in flight on channel %d: %w", i, ctx.Err())
			case <-g.done:
				return nil, fmt.Errorf("waiting for the records in flight on channel %d: %w", i, ErrGateClosed)
			}
		}
		g.local[i] = append(g.local[i], e)
		g.taken[i]++
	}
	return g.local[i], nil
}

// SpillAll is Spill of everything queued in channel i, for a channel whose
// producer has ended (nothing more is sent to it).
func (g *Gate) SpillAll(i int) []Envelope {
	c := g.channels[i]
	for len(c.q) > 0 {
		g.local[i] = append(g.local[i], <-c.q)
		g.taken[i]++
	}
	return g.local[i]
}

// Taken is the number of envelopes the reader has taken from channel i,
// priority events excluded: the Seq of the next one it will take.
func (g *Gate) Taken(i int) int64 { return g.taken[i] }

// nextPriority returns a queued priority event, if any.
func (g *Gate) nextPriority() (Envelope, bool) {
	if g.prio.Load() == 0 {
		return Envelope{}, false
	}
	for _, c := range g.channels {
		if c.prioN.Load() > 0 {
			if e, ok := c.popPriority(-1); ok {
				return e, true
			}
		}
	}
	return Envelope{}, false
}

// Next returns the next envelope from an unblocked channel, waiting until one
// is available, mail is signalled on wake, or ctx ends. idle, when not nil,
// is called before Next waits (the subtask flushes its outputs there). When
// wake fires first, Next returns woken instead of an envelope. The caller
// checks its mailbox before calling Next: Next looks at wake only when it
// has to wait.
func (g *Gate) Next(ctx context.Context, idle func() error, wake <-chan struct{}) (_ Envelope, woken bool, _ error) {
	for {
		if e, ok := g.nextPriority(); ok {
			return e, false, nil
		}
		// The stash follows what Spill left of its channel.
		if g.stashed && !g.blocked[g.stash.Channel] && len(g.local[g.stash.Channel]) == 0 {
			g.stashed = false
			return g.stash, false, nil
		}
		i, ok := g.poll()
		if !ok {
			if idle != nil {
				if err := idle(); err != nil {
					return Envelope{}, false, err
				}
			}
			select {
			case i = <-g.avail:
			case <-g.prioWake:
				continue
			case <-wake:
				return Envelope{}, true, nil
			case <-ctx.Done():
				return Envelope{}, false, ctx.Err()
			}
		}
		if g.blocked[i] {
			g.deferred = append(g.deferred, i)
			continue
		}
		if l := g.local[i]; len(l) > 0 {
			e := l[0]
			l[0] = Envelope{}
			g.local[i] = l[1:]
			g.channels[i].taken() // its room was kept until now
			return e, false, nil
		}
		e := g.take(i)
		// A priority event sent before e, queued after the check above,
		// comes first.
		if c := g.channels[i]; c.prioN.Load() > 0 {
			if p, ok := c.popPriority(e.Seq); ok {
				g.stash, g.stashed = e, true
				return p, false, nil
			}
		}
		return e, false, nil
	}
}

// take takes the next envelope of channel i, which has one queued.
func (g *Gate) take(i int) Envelope {
	c := g.channels[i]
	e := <-c.q
	c.taken()
	g.taken[i]++
	return e
}

// poll returns the next channel with a queued envelope, if any, without waiting.
func (g *Gate) poll() (int, bool) {
	select {
	case i := <-g.avail:
		return i, true
	default:
	}
	if g.overflow.Load() > 0 {
		for i, c := range g.channels {
			if c.overflow.Load() > 0 {
				c.overflow.Add(-1)
				g.overflow.Add(-1)
				return i, true
			}
		}
	}
	return 0, false
}

// TryNext returns the next envelope if one is available without waiting.
func (g *Gate) TryNext() (Envelope, bool) {
	e, _, err := g.Next(doneCtx, nil, nil)
	return e, err == nil
}

// doneCtx makes Next return at once when nothing is available.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// Block stops Next from returning envelopes of channel i until Unblock.
func (g *Gate) Block(i int) { g.blocked[i] = true }

// Unblock lets channel i be read again, in its original order.
func (g *Gate) Unblock(i int) {
	if !g.blocked[i] {
		return
	}
	g.blocked[i] = false
	kept := g.deferred[:0]
	var ready []int
	for _, c := range g.deferred {
		if c == i {
			ready = append(ready, c)
		} else {
			kept = append(kept, c)
		}
	}
	g.deferred = kept
	for _, c := range ready {
		g.ready(c)
	}
}

func (g *Gate) String() string { return fmt.Sprintf("gate(%d channels)", len(g.channels)) }
