package netx

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/exchange"
)

// Encoder appends the encoded batch of e, an envelope of typed records
// (KindRecords), to dst, as exchange.EncodeBatch does, and takes e's batch
// (it returns it to its pool).
type Encoder func(dst []byte, e *exchange.Envelope) ([]byte, error)

// EncoderFor returns the Encoder of batches of T.
func EncoderFor[T any]() (Encoder, error) {
	c, err := codec.Of[T]()
	if err != nil {
		return nil, fmt.Errorf("encoding exchange: %w", err)
	}
	pool := exchange.PoolFor[T]()
	return func(dst []byte, e *exchange.Envelope) ([]byte, error) {
		b := e.Batch.(*exchange.Batch[T])
		dst, err := exchange.EncodeBatch(c, dst, b.Records)
		exchange.Release(pool, b)
		return dst, err
	}, nil
}

// Writer is the sending end of one remote channel, an
// exchange.ChannelWriter. One goroutine, the producing subtask's, calls
// Send, IsAvailable and Available; Close may be called from any.
//
// Send encodes envelopes into the current buffer; a buffer is sealed when
// full, when an event was added to it (so events are not delayed), when
// the buffer timeout passes after its first envelope, or at once with a
// zero timeout. Sealed buffers wait for credit. The Writer is available
// while fewer than its backlog limit wait; Send blocks only when
// exchange.Overdraft more wait. A priority event is sent at once, ahead of
// every waiting buffer, without credit.
type Writer struct {
	m        *Manager
	c        *conn
	id       ChannelID
	num      uint32
	enc      Encoder
	timeout  time.Duration
	capacity int

	queued atomic.Int64 // mu.core.queued(), for IsAvailable
	failed atomic.Bool  // mu.err is set

	mu struct {
		sync.Mutex
		cur    *buf // the buffer being filled, nil when none
		armed  bool // the flush timer runs for cur
		timer  *time.Timer
		core   sendCredit
		out    []sendable
		seq    int64 // envelopes sent, priority events excluded
		last   int   // size of the last envelope, to guess if the next fits
		err    error
		avail  chan struct{}
		ended  bool // end-of-input was sent
		closed bool // Close was called
	}
}

// ID is the channel's id.
func (w *Writer) ID() ChannelID { return w.id }

// IsAvailable implements exchange.ChannelWriter.
func (w *Writer) IsAvailable() bool {
	return w.queued.Load() < int64(w.capacity) || w.failed.Load()
}

// Available implements exchange.ChannelWriter.
func (w *Writer) Available() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.core.queued() < w.capacity || w.mu.err != nil {
		return closedChan
	}
	if w.mu.avail == nil {
		w.mu.avail = make(chan struct{})
	}
	return w.mu.avail
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// CopiesBytes implements exchange.CopyingChannel: Send copies an encoded
// envelope's bytes into the current buffer.
func (w *Writer) CopiesBytes() bool { return true }

// Send implements exchange.ChannelWriter. It keeps no reference to an
// encoded envelope's Bytes: they are copied into the current buffer.
func (w *Writer) Send(ctx context.Context, e exchange.Envelope) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.err != nil {
		return w.mu.err
	}
	if w.mu.closed {
		return fmt.Errorf("channel %s: %w", w.id, ErrClosed)
	}
	if e.Priority {
		if e.Kind == exchange.KindRecords || e.Kind == exchange.KindEncoded {
			return fmt.Errorf("freshet: channel %s: records cannot be sent as a priority event", w.id)
		}
		w.c.send(outFrame{data: appendEvent(nil, w.num, w.mu.seq, &e)}, true)
		return nil
	}
	for w.mu.core.queued() >= w.capacity+exchange.Overdraft {
		if w.mu.avail == nil {
			w.mu.avail = make(chan struct{})
		}
		ch := w.mu.avail
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			w.mu.Lock()
			return ctx.Err()
		}
		w.mu.Lock()
		if w.mu.err != nil {
			return w.mu.err
		}
	}
	if err := w.appendLocked(&e); err != nil {
		return err
	}
	w.mu.seq++
	switch {
	case e.Kind != exchange.KindRecords && e.Kind != exchange.KindEncoded, w.timeout == 0:
		if e.Kind == exchange.KindEndOfInput {
			w.mu.ended = true
		}
		w.sealLocked()
	case len(w.mu.cur.data) >= w.m.cfg.bufferSize:
		w.sealLocked()
	case !w.mu.armed:
		w.mu.armed = true
		if w.mu.timer == nil {
			w.mu.timer = time.AfterFunc(w.timeout, w.onTimeout)
		} else {
			w.mu.timer.Reset(w.timeout)
		}
	}
	return nil
}

// appendLocked adds e to the current buffer, sealing the current one
// first if e is unlikely to fit, or moving e to a new one if it did not.
func (w *Writer) appendLocked(e *exchange.Envelope) error {
	size := w.m.cfg.bufferSize
	if w.mu.cur != nil && len(w.mu.cur.data)+w.mu.last > size {
		w.sealLocked()
	}
	if w.mu.cur == nil {
		w.mu.cur = w.m.getBuf()
	}
	b := w.mu.cur
	start := len(b.data)
	switch e.Kind {
	case exchange.KindRecords:
		if w.enc == nil {
			return fmt.Errorf("freshet: channel %s: typed records need an encoder", w.id)
		}
		b.data = append(b.data, byte(exchange.KindEncoded), 0)
		b.data = binary.AppendUvarint(b.data, uint64(e.Count))
		at := len(b.data)
		b.data = append(b.data, 0, 0, 0, 0)
		var err error
		b.data, err = w.enc(b.data, e)
		if err != nil {
			b.data = b.data[:start]
			return err
		}
		binary.BigEndian.PutUint32(b.data[at:], uint32(len(b.data)-at-4))
	default:
		b.data = appendEnvelope(b.data, e)
	}
	w.mu.last = len(b.data) - start
	if len(b.data)-bufferHeader > w.m.cfg.maxFrame-8 {
		b.data = b.data[:start]
		return fmt.Errorf("freshet: channel %s: an envelope of %d bytes exceeds the maximum frame size %d", w.id, w.mu.last, w.m.cfg.maxFrame)
	}
	b.n++
	if len(b.data) > size && b.n > 1 {
		// It did not fit: it starts a buffer of its own.
		nb := w.m.getBuf()
		nb.data = append(nb.data, b.data[start:]...)
		nb.n = 1
		b.data = b.data[:start]
		b.n--
		w.sealLocked()
		w.mu.cur = nb
	}
	return nil
}

// sealLocked queues the current buffer and sends what credit allows.
func (w *Writer) sealLocked() {
	b := w.mu.cur
	w.mu.cur = nil
	w.mu.armed = false
	if b == nil || b.n == 0 {
		if b != nil {
			w.m.putBuf(b)
		}
		return
	}
	out, announce := w.mu.core.push(b, w.mu.out[:0])
	w.sendLocked(out)
	if announce {
		w.c.send(outFrame{data: appendChanInt(nil, frameBacklog, w.num, w.mu.core.queued())}, true)
	}
}

// sendLocked hands sendable buffers to the connection.
func (w *Writer) sendLocked(out []sendable) {
	for i, s := range out {
		d := s.b.data
		binary.BigEndian.PutUint32(d[0:], uint32(len(d)-headerSize))
		d[4] = frameBuffer
		binary.BigEndian.PutUint32(d[5:], w.num)
		binary.BigEndian.PutUint32(d[9:], uint32(s.backlog))
		w.c.send(outFrame{data: d, b: s.b}, false)
		out[i] = sendable{}
	}
	w.mu.out = out[:0]
	n := w.mu.core.queued()
	w.queued.Store(int64(n))
	if n < w.capacity && w.mu.avail != nil {
		close(w.mu.avail)
		w.mu.avail = nil
	}
	if w.mu.ended && n == 0 && w.mu.cur == nil {
		w.c.removeWriter(w.num)
	}
}

// onTimeout seals the buffer the timer was armed for.
func (w *Writer) onTimeout() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.armed && w.mu.err == nil {
		w.sealLocked()
	}
}

// addCredit takes credit the receiver announced.
func (w *Writer) addCredit(n int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.err != nil {
		return nil
	}
	out, err := w.mu.core.addCredit(n, w.mu.out[:0])
	if err != nil {
		return fmt.Errorf("channel %s: %w", w.id, err)
	}
	w.sendLocked(out)
	return nil
}

// Flush seals the current buffer now, whatever the buffer timeout.
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.err == nil {
		w.sealLocked()
	}
}

// fail makes every later Send return err and wakes a waiting producer.
func (w *Writer) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failLocked(err)
}

func (w *Writer) failLocked(err error) {
	if w.mu.err != nil {
		return
	}
	w.mu.err = err
	w.failed.Store(true)
	if w.mu.avail != nil {
		close(w.mu.avail)
		w.mu.avail = nil
	}
	if w.mu.timer != nil {
		w.mu.timer.Stop()
	}
	w.mu.armed = false
	if w.mu.cur != nil {
		w.m.putBuf(w.mu.cur)
		w.mu.cur = nil
	}
}

// Close releases the channel. Buffers already sealed are still sent; a
// channel closed before its end of input was sealed is closed at the
// receiver too, which fails its consumer with ErrChannelClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.err != nil || w.mu.closed {
		return nil
	}
	w.mu.closed = true
	if w.mu.ended {
		// What is queued still goes; sendLocked forgets the channel after.
		if w.mu.core.queued() == 0 {
			w.c.removeWriter(w.num)
		}
		return nil
	}
	w.c.send(outFrame{data: appendChanString(nil, frameClose, w.num, "producer closed the channel before its end of input")}, false)
	w.failLocked(fmt.Errorf("channel %s: %w", w.id, ErrClosed))
	w.c.removeWriter(w.num)
	return nil
}
