package netx

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/freshet-io/freshet/internal/exchange"
)

// conn is one TCP connection between two processes. The dialing side
// sends channels (it has Writers), the accepting side receives them (it
// has inChans). Two goroutines serve it: run reads frames and dispatches
// them, writeLoop writes what the channels queue.
type conn struct {
	m      *Manager
	nc     net.Conn
	peer   string // the peer's address, for errors
	key    string // the address dialed, for a dialer
	dialer bool

	peerID   string // set by the handshake, before any channel uses c
	failOnce sync.Once
	err      error         // why c failed, set before done closes
	done     chan struct{} // closed when c fails
	wake     chan struct{} // wakes writeLoop

	out struct {
		sync.Mutex
		prio []outFrame // control frames and priority events, first
		q    []outFrame // buffer frames and channel closes, in order
	}
	mu struct {
		sync.Mutex
		next    uint32 // the last channel number a dialer gave
		maxIn   uint32 // the highest channel number a receiver saw opened
		writers map[uint32]*Writer
		inputs  map[uint32]*inChan
	}
}

// outFrame is a frame to write; b, when set, is the pooled buffer data
// belongs to, returned to the pool once written.
type outFrame struct {
	data []byte
	b    *buf
}

func (c *conn) failed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// errorf makes an error of c: it names the connection and wraps
// ErrConnection and the cause.
func (c *conn) errorf(err error) error {
	if errors.Is(err, ErrClosed) {
		return err
	}
	who := c.peer
	if c.peerID != "" {
		who = fmt.Sprintf("%s (process %q)", c.peer, c.peerID)
	}
	return fmt.Errorf("%w with %s: %w", ErrConnection, who, err)
}

// fail closes c and fails every channel on it with err. The channels fail
// before the socket closes, so that the side that found what was wrong
// (a malformed frame) tells its consumers before its peer sees the
// connection go.
func (c *conn) fail(err error) {
	c.failOnce.Do(func() {
		c.err = c.errorf(err)
		close(c.done)
		c.m.removeConn(c)
		defer c.nc.Close()
		c.mu.Lock()
		writers := make([]*Writer, 0, len(c.mu.writers))
		for _, w := range c.mu.writers {
			writers = append(writers, w)
		}
		inputs := make([]*inChan, 0, len(c.mu.inputs))
		for _, in := range c.mu.inputs {
			inputs = append(inputs, in)
		}
		clear(c.mu.writers)
		clear(c.mu.inputs)
		c.mu.Unlock()
		for _, w := range writers {
			w.fail(c.err)
		}
		for _, in := range inputs {
			in.fail(c.err)
		}
	})
}

// run does the handshake, reporting its outcome on ready (a dialer's),
// then writes and reads frames until c fails.
func (c *conn) run(ready chan<- error) {
	r := newFrameReader(c.nc)
	err := c.handshake(r)
	if ready != nil {
		ready <- err
	}
	if err != nil {
		c.fail(err)
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.writeLoop()
	}()
	c.readLoop(r)
	wg.Wait()
}

func (c *conn) handshake(r *frameReader) error {
	_ = c.nc.SetDeadline(time.Now().Add(c.m.cfg.handshakeTimeout))
	send := func() error {
		_, err := c.nc.Write(appendHello(nil, c.m.cfg.process))
		return err
	}
	if c.dialer {
		if err := send(); err != nil {
			return fmt.Errorf("sending hello: %w", err)
		}
	}
	f, err := r.next(4 + 2 + 10 + 1024)
	if err != nil {
		return fmt.Errorf("reading hello: %w", err)
	}
	h, err := parseHello(f)
	if err != nil {
		return err
	}
	c.peerID = h.process
	if !c.dialer {
		if err := send(); err != nil {
			return fmt.Errorf("sending hello: %w", err)
		}
	}
	return c.nc.SetDeadline(time.Time{})
}

// writeLoop writes queued frames, priority ones first, with one writev per
// round, until c fails.
func (c *conn) writeLoop() {
	var batch []outFrame
	var bufs net.Buffers
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		for {
			c.out.Lock()
			batch = append(batch[:0], c.out.prio...)
			batch = append(batch, c.out.q...)
			clear(c.out.prio)
			clear(c.out.q)
			c.out.prio, c.out.q = c.out.prio[:0], c.out.q[:0]
			c.out.Unlock()
			if len(batch) == 0 {
				break
			}
			bufs = bufs[:0]
			for _, f := range batch {
				bufs = append(bufs, f.data)
			}
			b := bufs
			_, err := b.WriteTo(c.nc)
			for i, f := range batch {
				if f.b != nil {
					c.m.putBuf(f.b)
				}
				batch[i] = outFrame{}
			}
			clear(bufs[:cap(bufs)])
			if err != nil {
				c.fail(fmt.Errorf("writing: %w", err))
				return
			}
		}
	}
}

// send queues a frame: prio ones (control frames, priority events) go
// before the others.
func (c *conn) send(f outFrame, prio bool) {
	c.out.Lock()
	if prio {
		c.out.prio = append(c.out.prio, f)
	} else {
		c.out.q = append(c.out.q, f)
	}
	c.out.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *conn) readLoop(r *frameReader) {
	for {
		f, err := r.next(c.m.cfg.maxFrame)
		if err != nil {
			if err == io.EOF {
				err = errors.New("connection closed by peer")
			}
			c.fail(fmt.Errorf("reading: %w", err))
			return
		}
		if err := c.handle(f); err != nil {
			c.fail(err)
			return
		}
	}
}

// handle dispatches one frame.
func (c *conn) handle(f frame) error {
	switch f.typ {
	case frameOpen, frameBuffer, frameEvent, frameBacklog:
		if c.dialer {
			return fmt.Errorf("%w: unexpected %s frame from a receiver", ErrProtocol, frameName(f.typ))
		}
	case frameCredit:
		if !c.dialer {
			return fmt.Errorf("%w: unexpected credit frame from a sender", ErrProtocol)
		}
	}
	switch f.typ {
	case frameOpen:
		num, s, err := parseChanString(f)
		if err != nil {
			return err
		}
		id, err := parseChannelID([]byte(s))
		if err != nil {
			return err
		}
		c.mu.Lock()
		if num <= c.mu.maxIn {
			c.mu.Unlock()
			return fmt.Errorf("%w: channel number %d opened out of order", ErrProtocol, num)
		}
		c.mu.maxIn = num
		in := newInChan(c, num, id)
		c.mu.inputs[num] = in
		c.mu.Unlock()
		c.m.opened(in)
	case frameBuffer:
		num, backlog, envs, err := parseBuffer(f.payload, nil)
		if err != nil {
			return err
		}
		in, err := c.input(num)
		if in == nil {
			return err
		}
		// The encoded batches point into the slab: it is reused once
		// their consumer has released them (see slab).
		if f.slab != nil {
			for i := range envs {
				if envs[i].Kind == exchange.KindEncoded {
					f.slab.hold()
					envs[i].Owner = f.slab
				}
			}
		}
		return in.receive(backlog, envs)
	case frameEvent:
		num, e, err := parseEvent(f.payload)
		if err != nil {
			return err
		}
		if in, err := c.input(num); in != nil {
			in.receivePriority(e)
		} else if err != nil {
			return err
		}
	case frameBacklog:
		num, n, err := parseChanInt(f)
		if err != nil {
			return err
		}
		if in, err := c.input(num); in != nil {
			in.announced(n)
		} else if err != nil {
			return err
		}
	case frameCredit:
		num, n, err := parseChanInt(f)
		if err != nil {
			return err
		}
		if w := c.writer(num); w != nil {
			return w.addCredit(n)
		}
	case frameClose:
		num, reason, err := parseChanString(f)
		if err != nil {
			return err
		}
		if c.dialer {
			if w := c.writer(num); w != nil {
				w.fail(fmt.Errorf("channel %s: %w: %s", w.id, ErrChannelClosed, reason))
			}
		} else if in, err := c.input(num); in != nil {
			in.fail(fmt.Errorf("channel %s: %w: %s", in.id, ErrChannelClosed, reason))
		} else if err != nil {
			return err
		}
	case frameError:
		_, msg, err := parseChanString(f)
		if err != nil {
			return err
		}
		return fmt.Errorf("peer failed: %s", msg)
	default:
		return fmt.Errorf("%w: unexpected %s frame", ErrProtocol, frameName(f.typ))
	}
	return nil
}

// input returns the receiving channel num; none and no error for one that
// has ended (frames in flight when it ended are dropped).
func (c *conn) input(num uint32) (*inChan, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if in := c.mu.inputs[num]; in != nil {
		return in, nil
	}
	if num == 0 || num > c.mu.maxIn {
		return nil, fmt.Errorf("%w: frame for channel number %d, which was never opened", ErrProtocol, num)
	}
	return nil, nil
}

// writer returns the sending channel num, nil when it has ended.
func (c *conn) writer(num uint32) *Writer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.writers[num]
}

// addWriter gives w a channel number and opens it at the receiver.
func (c *conn) addWriter(w *Writer) error {
	c.mu.Lock()
	if c.failed() {
		c.mu.Unlock()
		return c.err
	}
	c.mu.next++
	w.num = c.mu.next
	c.mu.writers[w.num] = w
	// Queued under the lock, so that channels opened at once by several
	// producers are opened in the order of their numbers.
	c.send(outFrame{data: appendChanString(nil, frameOpen, w.num, string(w.id.append(nil)))}, true)
	c.mu.Unlock()
	return nil
}

func (c *conn) removeWriter(num uint32) {
	c.mu.Lock()
	delete(c.mu.writers, num)
	c.mu.Unlock()
}

func (c *conn) removeInput(num uint32) {
	c.mu.Lock()
	delete(c.mu.inputs, num)
	c.mu.Unlock()
}
