package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSocketRetryDelay is the wait between connection attempts when
// SocketRetries is given no delay.
const DefaultSocketRetryDelay = 500 * time.Millisecond

// socketQueueLen is how many batches of lines (of up to pollBatch each) a
// socket reader's goroutine may read ahead of PollNext.
const socketQueueLen = 16

// SocketSplit is the one split of a SocketSource: the address to read from.
type SocketSplit struct {
	Addr string
}

// SplitID implements Split.
func (s SocketSplit) SplitID() string { return "socket-" + s.Addr }

// SocketOption configures a SocketSource.
type SocketOption func(*socketConfig)

type socketConfig struct {
	maxRetries int
	retryDelay time.Duration
}

// SocketRetries makes a reader whose connection attempt fails try again up
// to maxRetries more times (forever if maxRetries is negative), waiting
// delay between attempts (DefaultSocketRetryDelay if delay is 0; a negative
// delay is an error). By default a failed connection attempt fails the reader at once.
// Retries apply to connecting only: once connected, the source ends when
// the peer closes the connection.
func SocketRetries(maxRetries int, delay time.Duration) SocketOption {
	return func(c *socketConfig) { c.maxRetries, c.retryDelay = maxRetries, delay }
}

// SocketSource reads '\n'-terminated lines of text from a TCP connection,
// like Flink's socketTextStream. A '\r' before the '\n' is removed, and a
// last line without '\n' is emitted too. It is unbounded as far as the job
// is concerned, but its reader ends when the peer closes the connection.
// Records carry no timestamp of their own.
//
// Only one reader connects: the source's single split goes to subtask 0
// and the readers of other subtasks end at once, so the source is meant to
// run at parallelism 1. Connection and read errors fail the reader with an
// error naming the address; invalid options are reported by
// CreateEnumerator and CreateReader.
type SocketSource struct {
	addr string
	cfg  socketConfig
}

var _ Source[string, SocketSplit] = (*SocketSource)(nil)

// Socket returns a source of the lines read from the TCP address addr
// ("host:port").
func Socket(addr string, opts ...SocketOption) *SocketSource {
	s := &SocketSource{addr: addr}
	for _, o := range opts {
		o(&s.cfg)
	}
	return s
}

func (s *SocketSource) validate() error {
	switch {
	case s.addr == "":
		return errors.New("socket source: address is empty")
	case s.cfg.retryDelay < 0:
		return fmt.Errorf("socket source %s: retry delay must be >= 0, got %v", s.addr, s.cfg.retryDelay)
	}
	return nil
}

// Boundedness implements Source.
func (s *SocketSource) Boundedness() Boundedness { return Unbounded }

// CreateEnumerator implements Source: it assigns the one split to subtask 0.
func (s *SocketSource) CreateEnumerator(ctx EnumeratorContext[SocketSplit]) (Enumerator[SocketSplit], error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return NewStatic(ctx, []SocketSplit{{Addr: s.addr}}), nil
}

// RestoreEnumerator implements Source.
func (s *SocketSource) RestoreEnumerator(ctx EnumeratorContext[SocketSplit], unassigned []SocketSplit) (Enumerator[SocketSplit], error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return NewStatic(ctx, unassigned), nil
}

// CreateReader implements Source.
func (s *SocketSource) CreateReader(ReaderContext) (Reader[string, SocketSplit], error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	delay := s.cfg.retryDelay
	if delay == 0 {
		delay = DefaultSocketRetryDelay
	}
	return &socketReader{
		maxRetries: s.cfg.maxRetries,
		retryDelay: delay,
		notify:     make(chan struct{}, 1),
	}, nil
}

// socketReader reads its splits one after the other; each is read by a
// socketConn goroutine that hands batches of lines over a bounded channel.
type socketReader struct {
	maxRetries int
	retryDelay time.Duration
	ctx        context.Context
	pending    []SocketSplit
	conn       *socketConn // the split being read, or nil
	buf        []string    // lines received but not yet emitted
	noMore     bool
	closed     bool
	// notify receives (without blocking the sender) after every batch a
	// socketConn queues and when it ends, so it is ready whenever the
	// queue may hold something PollNext has not seen.
	notify chan struct{}
}

func (r *socketReader) Start(ctx context.Context) error {
	r.ctx = ctx
	return nil
}

func (r *socketReader) PollNext(out Output[string]) (InputStatus, error) {
	if r.closed {
		return EndOfInput, ErrReaderClosed
	}
	emitted := 0
	for {
		if len(r.buf) > 0 {
			k := min(len(r.buf), pollBatch-emitted)
			emit(out, r.buf[:k])
			clear(r.buf[:k])
			r.buf = r.buf[k:]
			if emitted += k; emitted == pollBatch {
				return MoreAvailable, nil
			}
		}
		if r.conn == nil {
			if len(r.pending) == 0 {
				switch {
				case emitted > 0:
					return MoreAvailable, nil
				case r.noMore:
					return EndOfInput, nil
				}
				return NothingAvailable, nil
			}
			r.conn = r.connect(r.pending[0])
			r.pending = r.pending[1:]
		}
		select {
		case batch, ok := <-r.conn.batches:
			if ok {
				r.buf = batch
				continue
			}
			c := r.conn
			r.conn = nil
			c.stop()
			if c.err != nil {
				return EndOfInput, c.err
			}
		default:
			if emitted > 0 {
				return MoreAvailable, nil
			}
			return NothingAvailable, nil
		}
	}
}

// connect starts reading sp on a goroutine of its own.
func (r *socketReader) connect(sp SocketSplit) *socketConn {
	ctx := r.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &socketConn{
		addr:    sp.Addr,
		batches: make(chan []string, socketQueueLen),
		notify:  r.notify,
		cancel:  cancel,
	}
	c.wg.Add(1)
	go c.run(ctx, r.maxRetries, r.retryDelay)
	return c
}

func (r *socketReader) Available() <-chan struct{} {
	if r.conn == nil {
		return never
	}
	return r.notify
}

func (r *socketReader) AddSplits(splits []SocketSplit) {
	r.pending = append(r.pending, splits...)
}

func (r *socketReader) NotifyNoMoreSplits() { r.noMore = true }

// SnapshotState implements Reader. A socket cannot be replayed: the split
// has no position, and after a restore the reader connects anew and reads
// what the server sends from then on (at most once, as Flink's socket
// source).
func (r *socketReader) SnapshotState(int64) ([]SocketSplit, error) {
	out := append([]SocketSplit(nil), r.pending...)
	if r.conn != nil {
		out = append(out, SocketSplit{Addr: r.conn.addr})
	}
	return out, nil
}

func (r *socketReader) Close() error {
	r.closed = true
	if r.conn != nil {
		r.conn.stop()
		r.conn = nil
	}
	r.buf = nil
	return nil
}

// socketConn is the goroutine reading one connection.
type socketConn struct {
	addr    string
	batches chan []string // closed when run returns
	notify  chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// failed counts the connection attempts that failed.
	failed atomic.Int64
	// err is why run ended, nil at the end of input; it is written before
	// batches is closed and read after.
	err error
}

// stop makes run return and waits for it.
func (c *socketConn) stop() {
	c.cancel()
	c.wg.Wait()
}

func (c *socketConn) run(ctx context.Context, maxRetries int, delay time.Duration) {
	defer c.wg.Done()
	defer func() {
		close(c.batches)
		c.signal()
	}()
	conn, err := c.dial(ctx, maxRetries, delay)
	if err != nil {
		c.err = err
		return
	}
	// Closing the connection when ctx ends unblocks a pending Read.
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		conn.Close()
		close(closed)
	})
	defer func() {
		if stop() {
			conn.Close()
		} else {
			<-closed
		}
	}()
	if err := c.read(ctx, conn); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		c.err = fmt.Errorf("reading from %s: %w", c.addr, err)
	}
}

func (c *socketConn) dial(ctx context.Context, maxRetries int, delay time.Duration) (net.Conn, error) {
	var d net.Dialer
	for attempt := 0; ; attempt++ {
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err == nil {
			return conn, nil
		}
		c.failed.Add(1)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connecting to %s: %w", c.addr, ctx.Err())
		}
		if maxRetries >= 0 && attempt >= maxRetries {
			return nil, fmt.Errorf("connecting to %s: %w", c.addr, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("connecting to %s: %w", c.addr, ctx.Err())
		case <-t.C:
		}
	}
}

// read queues the lines of conn in batches until the end of input. A batch
// is queued when it is full or when no further complete line is buffered,
// so that lines are not held back while the peer is quiet.
func (c *socketConn) read(ctx context.Context, conn net.Conn) error {
	br := bufio.NewReaderSize(conn, readBufferSize)
	var scratch []byte
	batch := make([]string, 0, pollBatch)
	send := func() bool {
		select {
		case c.batches <- batch:
		case <-ctx.Done():
			return false
		}
		c.signal()
		batch = make([]string, 0, pollBatch)
		return true
	}
	for {
		line, _, err := readLine(br, &scratch, MaxLineBytes)
		if err == io.EOF {
			if len(batch) > 0 && !send() {
				return ctx.Err()
			}
			return nil
		}
		if err != nil {
			return err
		}
		batch = append(batch, line)
		if len(batch) == pollBatch || !lineBuffered(br) {
			if !send() {
				return ctx.Err()
			}
		}
	}
}

func (c *socketConn) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// lineBuffered reports whether br holds a complete line, which reading
// will return without waiting for the peer.
func lineBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}
