package exchange

import (
	"context"
	"fmt"
	"sync"
)

// Gate merges the input channels of one subtask. Each channel is a bounded
// FIFO; the gate hands out envelopes in the order channels became available,
// and can block individual channels (barrier alignment), which leaves their
// queues full and so backpressures exactly their producers.
//
// Any number of producers may Send concurrently (one per channel); one
// goroutine, the subtask's, calls Next.
type Gate struct {
	channels []*channel
	avail    chan int // indexes of channels with one more queued envelope
	done     chan struct{}
	once     sync.Once

	// owned by the reading goroutine
	blocked  []bool
	deferred []int
}

type channel struct {
	gate  *Gate
	index int
	q     chan Envelope
}

// NewGate returns a gate with n channels, each buffering up to capacity envelopes.
func NewGate(n, capacity int) *Gate {
	if capacity < 1 {
		capacity = 1
	}
	g := &Gate{
		channels: make([]*channel, n),
		avail:    make(chan int, n*capacity),
		done:     make(chan struct{}),
		blocked:  make([]bool, n),
	}
	for i := range g.channels {
		g.channels[i] = &channel{gate: g, index: i, q: make(chan Envelope, capacity)}
	}
	return g
}

// NumChannels is the number of channels of g.
func (g *Gate) NumChannels() int { return len(g.channels) }

// Channel returns the writer that feeds channel i of g.
func (g *Gate) Channel(i int) ChannelWriter { return g.channels[i] }

// Close makes every blocked and future Send fail with ErrGateClosed.
func (g *Gate) Close() { g.once.Do(func() { close(g.done) }) }

// Send implements ChannelWriter.
func (c *channel) Send(ctx context.Context, e Envelope) error {
	e.Channel = c.index
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
	// Cannot block: avail has room for every queued envelope.
	c.gate.avail <- c.index
	return nil
}

// Next returns the next envelope from an unblocked channel, waiting until one
// is available, mail arrives, or ctx ends. idle, when not nil, is called
// before Next waits (the subtask flushes its outputs there). When mail
// arrives first, Next returns it instead of an envelope.
func (g *Gate) Next(ctx context.Context, idle func() error, mail <-chan func() error) (Envelope, func() error, error) {
	select {
	case f := <-mail:
		return Envelope{}, f, nil
	default:
	}
	for {
		i, ok := g.poll()
		if !ok {
			if idle != nil {
				if err := idle(); err != nil {
					return Envelope{}, nil, err
				}
			}
			select {
			case i = <-g.avail:
			case f := <-mail:
				return Envelope{}, f, nil
			case <-ctx.Done():
				return Envelope{}, nil, ctx.Err()
			}
		}
		if g.blocked[i] {
			g.deferred = append(g.deferred, i)
			continue
		}
		return <-g.channels[i].q, nil, nil
	}
}

// poll returns the next channel with a queued envelope, if any, without waiting.
func (g *Gate) poll() (int, bool) {
	select {
	case i := <-g.avail:
		return i, true
	default:
		return 0, false
	}
}

// TryNext returns the next envelope if one is available without waiting.
func (g *Gate) TryNext() (Envelope, bool) {
	for {
		select {
		case i := <-g.avail:
			if g.blocked[i] {
				g.deferred = append(g.deferred, i)
				continue
			}
			return <-g.channels[i].q, true
		default:
			return Envelope{}, false
		}
	}
}

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
		g.avail <- c
	}
}

func (g *Gate) String() string { return fmt.Sprintf("gate(%d channels)", len(g.channels)) }
