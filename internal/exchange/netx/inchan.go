package netx

import (
	"context"
	"fmt"
	"sync"

	"github.com/freshet-io/freshet/internal/exchange"
)

// inChan is the receiving end of one remote channel. The connection's
// reader adds the buffers that arrive; its feeder goroutine hands their
// envelopes to the local gate channel (target) as it has room, and returns
// a credit to the sender for each buffer it has handed over completely.
// A short buffer that finds the feeder idle and the gate channel with room
// is handed over by the reader itself. Priority events skip the queued
// buffers.
type inChan struct {
	c    *conn
	num  uint32
	id   ChannelID
	wake chan struct{}
	// ctx ends when the channel fails, to stop a Send the feeder blocks in.
	ctx    context.Context
	cancel context.CancelFunc
	// delivered counts the envelopes the feeder handed over, priority
	// events excluded; the feeder's.
	delivered int64
	mu        struct {
		sync.Mutex
		core   recvCredit
		bufs   [][]exchange.Envelope // received buffers; the first is partly handed over
		prio   []exchange.Envelope
		target exchange.ChannelWriter
		fail   func(error)
		err    error
		done   bool // end of input handed over, or the channel failed
		// idle is set while the feeder waits with nothing to hand over;
		// direct while the reader hands a buffer over itself, which the
		// feeder then leaves alone.
		idle, direct bool
		// until is the highest Seq of the priority events handed over:
		// the envelopes sent before it are handed over even while the
		// gate channel is over its capacity, as the consumer may be
		// waiting for them (Gate.Spill).
		until int64
	}
}

func newInChan(c *conn, num uint32, id ChannelID) *inChan {
	in := &inChan{c: c, num: num, id: id, wake: make(chan struct{}, 1)}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	in.mu.core = newRecvCredit(c.m.cfg.buffers)
	return in
}

func (in *inChan) signal() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// bind connects the channel to its gate channel, announces its credit and
// starts its feeder.
func (in *inChan) bind(target exchange.ChannelWriter, fail func(error)) {
	in.mu.Lock()
	in.mu.target, in.mu.fail = target, fail
	err := in.mu.err
	n := in.mu.core.open()
	in.mu.Unlock()
	if err != nil {
		fail(err)
		return
	}
	if !in.c.m.spawn(in.feed) {
		fail(ErrClosed)
		return
	}
	in.c.send(outFrame{data: appendChanInt(nil, frameCredit, in.num, n)}, true)
}

// receive queues a buffer's envelopes (reader goroutine). A short buffer
// that arrives while the feeder is idle and the gate channel has room for
// it is handed over at once, saving the hop through the feeder: the gate
// channel takes exchange.Overdraft envelopes past its capacity without
// blocking, so the reader never waits for a consumer.
func (in *inChan) receive(backlog int, envs []exchange.Envelope) error {
	in.mu.Lock()
	err := in.mu.core.received(backlog)
	if err != nil || in.mu.done {
		in.mu.Unlock()
		for i := range envs {
			envs[i].ReleaseBytes() // dropped, never handed over
		}
		if err != nil {
			return fmt.Errorf("channel %s: %w", in.id, err)
		}
		return nil
	}
	target := in.mu.target
	if in.mu.idle && len(in.mu.bufs) == 0 && len(in.mu.prio) == 0 && len(envs) <= exchange.Overdraft && target != nil && target.IsAvailable() {
		in.mu.direct = true
		in.mu.Unlock()
		in.handOver(target, envs)
		return nil
	}
	in.mu.bufs = append(in.mu.bufs, envs)
	in.mu.Unlock()
	in.signal()
	return nil
}

// handOver hands a whole buffer to the gate channel on the reader's
// goroutine while the feeder is idle (in.mu.direct is set).
func (in *inChan) handOver(target exchange.ChannelWriter, envs []exchange.Envelope) {
	for _, e := range envs {
		if err := target.Send(in.ctx, e); err != nil {
			in.mu.Lock()
			in.mu.direct = false
			in.mu.Unlock()
			if in.ctx.Err() == nil {
				in.consumerClosed(err)
			}
			in.signal()
			return
		}
		in.delivered++
		if e.Kind == exchange.KindEndOfInput {
			in.mu.Lock()
			in.mu.done, in.mu.direct = true, false
			in.mu.Unlock()
			in.c.removeInput(in.num)
			in.signal()
			return
		}
	}
	in.mu.Lock()
	in.mu.direct = false
	credit := 0
	if !in.mu.done {
		credit = in.mu.core.consumed()
	}
	in.mu.Unlock()
	if credit > 0 {
		in.c.send(outFrame{data: appendChanInt(nil, frameCredit, in.num, credit)}, true)
	}
}

func (in *inChan) receivePriority(e exchange.Envelope) {
	in.mu.Lock()
	in.mu.prio = append(in.mu.prio, e)
	in.mu.Unlock()
	in.signal()
}

func (in *inChan) announced(backlog int) {
	in.mu.Lock()
	in.mu.core.announced(backlog)
	in.mu.Unlock()
}

// fail ends the channel with err and tells its consumer, once.
func (in *inChan) fail(err error) {
	in.mu.Lock()
	if in.mu.done {
		in.mu.Unlock()
		return
	}
	in.mu.done = true
	in.mu.err = err
	in.mu.bufs, in.mu.prio = nil, nil
	fail := in.mu.fail
	in.mu.Unlock()
	in.cancel()
	in.signal()
	in.c.removeInput(in.num)
	if fail != nil {
		fail(err)
	} else {
		in.c.m.unboundFailed(in, err)
	}
}

// feed hands envelopes to the gate channel until the channel ends.
func (in *inChan) feed() {
	defer in.cancel()
	ctx := in.ctx
	for {
		in.mu.Lock()
		if in.mu.done {
			in.mu.Unlock()
			return
		}
		target := in.mu.target
		if len(in.mu.prio) > 0 {
			e := in.mu.prio[0]
			in.mu.prio = in.mu.prio[1:]
			in.mu.until = max(in.mu.until, e.Seq)
			in.mu.Unlock()
			if err := target.Send(ctx, e); err != nil {
				in.consumerClosed(err)
				return
			}
			continue
		}
		if len(in.mu.bufs) == 0 || in.mu.direct {
			in.mu.idle = true
			in.mu.Unlock()
			<-in.wake
			in.mu.Lock()
			in.mu.idle = false
			in.mu.Unlock()
			continue
		}
		e := in.mu.bufs[0][0]
		owed := in.delivered < in.mu.until
		in.mu.Unlock()
		if !owed && !target.IsAvailable() {
			select {
			case <-target.Available():
			case <-in.wake:
			}
			continue
		}
		if err := target.Send(ctx, e); err != nil {
			if ctx.Err() == nil {
				in.consumerClosed(err)
			}
			return
		}
		in.delivered++
		credit := 0
		in.mu.Lock()
		if !in.mu.done {
			b := in.mu.bufs[0]
			b[0] = exchange.Envelope{}
			if b = b[1:]; len(b) > 0 {
				in.mu.bufs[0] = b
			} else {
				in.mu.bufs[0] = nil
				in.mu.bufs = in.mu.bufs[1:]
				credit = in.mu.core.consumed()
			}
		}
		ended := e.Kind == exchange.KindEndOfInput
		if ended {
			in.mu.done = true
		}
		in.mu.Unlock()
		if ended {
			in.c.removeInput(in.num)
			return
		}
		if credit > 0 {
			in.c.send(outFrame{data: appendChanInt(nil, frameCredit, in.num, credit)}, true)
		}
	}
}

// consumerClosed ends a channel whose gate no longer takes envelopes and
// tells the sender.
func (in *inChan) consumerClosed(err error) {
	in.mu.Lock()
	in.mu.done = true
	in.mu.bufs, in.mu.prio = nil, nil
	in.mu.Unlock()
	in.c.removeInput(in.num)
	in.c.send(outFrame{data: appendChanString(nil, frameClose, in.num, err.Error())}, true)
}
