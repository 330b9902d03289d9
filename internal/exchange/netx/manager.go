package netx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/freshet-io/freshet/internal/exchange"
)

// Defaults of a Manager's options.
const (
	DefaultBufferSize    = 32 << 10
	DefaultBufferTimeout = 100 * time.Millisecond
	DefaultBuffers       = 4
	DefaultBacklog       = 4
	DefaultMaxFrameSize  = 8 << 20
)

// ErrClosed is returned by a Manager, and by the channels of its
// connections, once it is closed.
var ErrClosed = errors.New("freshet: network manager closed")

// ErrChannelClosed is given to a channel whose peer closed it: a producer
// that went away before its end of input, or a consumer whose gate closed.
var ErrChannelClosed = errors.New("freshet: network channel closed by its peer")

type config struct {
	process          string
	bufferSize       int
	bufferTimeout    time.Duration
	buffers          int
	backlog          int
	maxFrame         int
	handshakeTimeout time.Duration
}

// Option configures a Manager.
type Option func(*config)

// WithProcessID names this process in handshakes and errors.
func WithProcessID(id string) Option { return func(c *config) { c.process = id } }

// WithBufferSize sets the size of the buffers records are encoded into
// (32 KiB by default).
func WithBufferSize(n int) Option { return func(c *config) { c.bufferSize = n } }

// WithBufferTimeout sets how long a partly filled buffer waits for more
// before it is sent (Flink's buffer timeout, 100 ms by default). Zero sends
// every batch and event at once.
func WithBufferTimeout(d time.Duration) Option { return func(c *config) { c.bufferTimeout = d } }

// WithBuffers sets the buffers a receiving channel owns and announces as
// credit (4 by default).
func WithBuffers(n int) Option { return func(c *config) { c.buffers = n } }

// WithBacklog sets how many filled buffers a sending channel queues
// without credit before it stops being available (4 by default); it
// queues up to exchange.Overdraft more before Send blocks.
func WithBacklog(n int) Option { return func(c *config) { c.backlog = n } }

// WithMaxFrameSize bounds the frames a connection accepts (8 MiB by
// default); a larger one fails the connection. An encoded batch must fit
// in one frame.
func WithMaxFrameSize(n int) Option { return func(c *config) { c.maxFrame = n } }

// Manager owns the data connections of one process: the ones it dials to
// send channels to other processes, and the ones it accepts to receive
// theirs. All its methods may be called from any goroutine.
type Manager struct {
	cfg  config
	ln   net.Listener
	pool sync.Pool // *buf of cfg.bufferSize
	wg   sync.WaitGroup
	mu   struct {
		sync.Mutex
		closed bool
		dials  map[string]*dial // outgoing connections by address
		conns  map[*conn]struct{}
		// inputs are gate channels registered and not yet opened by a
		// producer; pending are channels opened by a producer and not yet
		// registered; failed are pending channels whose connection failed.
		inputs  map[ChannelID]input
		pending map[ChannelID]*inChan
		failed  map[ChannelID]error
	}
}

type input struct {
	target exchange.ChannelWriter
	fail   func(error)
}

type dial struct {
	done chan struct{}
	c    *conn
	err  error
}

// NewManager returns a manager that accepts connections on ln (which it
// closes on Close). ln may be nil for a process that only sends.
func NewManager(ln net.Listener, opts ...Option) (*Manager, error) {
	cfg := config{
		bufferSize:       DefaultBufferSize,
		bufferTimeout:    DefaultBufferTimeout,
		buffers:          DefaultBuffers,
		backlog:          DefaultBacklog,
		maxFrame:         DefaultMaxFrameSize,
		handshakeTimeout: 10 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case cfg.bufferSize < 256:
		return nil, fmt.Errorf("freshet: network buffer size %d is below 256 bytes", cfg.bufferSize)
	case cfg.maxFrame < cfg.bufferSize+bufferHeader:
		return nil, fmt.Errorf("freshet: maximum frame size %d is below the buffer size %d", cfg.maxFrame, cfg.bufferSize)
	case cfg.buffers < 1 || cfg.backlog < 1:
		return nil, fmt.Errorf("freshet: network buffers (%d) and backlog (%d) must be at least 1", cfg.buffers, cfg.backlog)
	case cfg.bufferTimeout < 0:
		return nil, fmt.Errorf("freshet: negative buffer timeout %s", cfg.bufferTimeout)
	}
	m := &Manager{cfg: cfg, ln: ln}
	size := cfg.bufferSize
	m.pool.New = func() any { return &buf{data: make([]byte, bufferHeader, size)} }
	m.mu.dials = map[string]*dial{}
	m.mu.conns = map[*conn]struct{}{}
	m.mu.inputs = map[ChannelID]input{}
	m.mu.pending = map[ChannelID]*inChan{}
	m.mu.failed = map[ChannelID]error{}
	if ln != nil {
		m.wg.Add(1)
		go m.accept()
	}
	return m, nil
}

// Addr is the address the manager accepts connections on, nil without one.
func (m *Manager) Addr() net.Addr {
	if m.ln == nil {
		return nil
	}
	return m.ln.Addr()
}

func (m *Manager) accept() {
	defer m.wg.Done()
	for {
		nc, err := m.ln.Accept()
		if err != nil {
			return // closed; Close fails the connections
		}
		c := m.newConn(nc, false)
		if c == nil {
			return
		}
		go func() {
			defer m.wg.Done()
			c.run(nil)
		}()
	}
}

// newConn registers a connection and counts the goroutine that will run
// it in m.wg, or closes it and returns nil when the manager is closed.
func (m *Manager) newConn(nc net.Conn, dialer bool) *conn {
	c := &conn{m: m, nc: nc, peer: nc.RemoteAddr().String(), dialer: dialer, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	c.mu.writers = map[uint32]*Writer{}
	c.mu.inputs = map[uint32]*inChan{}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		nc.Close()
		return nil
	}
	m.mu.conns[c] = struct{}{}
	m.wg.Add(1) // under the lock, so never after Close's Wait began
	return c
}

// spawn runs f in a goroutine of the manager, unless it is closed.
func (m *Manager) spawn(f func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
	return true
}

// connTo returns the connection to addr, dialing it if there is none.
func (m *Manager) connTo(ctx context.Context, addr string) (*conn, error) {
	for {
		m.mu.Lock()
		if m.mu.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		d := m.mu.dials[addr]
		if d == nil {
			d = &dial{done: make(chan struct{})}
			m.mu.dials[addr] = d
			m.mu.Unlock()
			c, err := m.dial(ctx, addr)
			m.mu.Lock()
			d.c, d.err = c, err
			if err != nil && m.mu.dials[addr] == d {
				delete(m.mu.dials, addr)
			}
			m.mu.Unlock()
			close(d.done)
			return c, err
		}
		m.mu.Unlock()
		select {
		case <-d.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to %s: %w", addr, ctx.Err())
		}
		if d.err == nil && !d.c.failed() {
			return d.c, nil
		}
		m.mu.Lock()
		if m.mu.dials[addr] == d {
			delete(m.mu.dials, addr)
		}
		m.mu.Unlock()
		if d.err != nil {
			return nil, d.err
		}
	}
}

func (m *Manager) dial(ctx context.Context, addr string) (*conn, error) {
	var dl net.Dialer
	nc, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	c := m.newConn(nc, true)
	if c == nil {
		return nil, ErrClosed
	}
	c.key = addr
	ready := make(chan error, 1)
	go func() {
		defer m.wg.Done()
		c.run(ready)
	}()
	select {
	case err := <-ready:
		if err != nil {
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		c.fail(fmt.Errorf("connecting to %s: %w", addr, ctx.Err()))
		return nil, fmt.Errorf("connecting to %s: %w", addr, ctx.Err())
	}
}

// removeConn forgets a failed connection.
func (m *Manager) removeConn(c *conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.mu.conns, c)
	if d := m.mu.dials[c.key]; d != nil && d.c == c {
		delete(m.mu.dials, c.key)
	}
}

// Writer returns the sending end of channel id, whose consumer's process
// accepts connections at addr: a ChannelWriter for the producing subtask's
// record writer. Records reach it either encoded (KindEncoded) or as typed
// batches, which enc encodes (see EncoderFor); enc may be nil when the
// record writer encodes. The caller closes the Writer when it is done
// with it (after sending end-of-input, or when its task ends).
func (m *Manager) Writer(ctx context.Context, addr string, id ChannelID, enc Encoder) (*Writer, error) {
	c, err := m.connTo(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("opening channel %s: %w", id, err)
	}
	w := &Writer{m: m, c: c, id: id, enc: enc, timeout: m.cfg.bufferTimeout, capacity: m.cfg.backlog}
	if err := c.addWriter(w); err != nil {
		return nil, fmt.Errorf("opening channel %s: %w", id, err)
	}
	return w, nil
}

// Register makes target, the channel of a local input gate, receive
// channel id. target is normally gate.RemoteChannel(i), which keeps the
// producer's Seq of priority events (exact channel state for unaligned
// checkpoints). fail is called once, from another goroutine, when the
// channel fails (its connection failed or its producer abandoned it); the
// consuming task then fails. The channel may be registered before or after
// its producer opens it.
//
// Registering a channel of an attempt of a job forgets what earlier
// attempts of the job left: channels opened by their producers that no
// consumer will register (closed, which fails their producers with
// ErrChannelClosed), and the failures of such channels.
func (m *Manager) Register(id ChannelID, target exchange.ChannelWriter, fail func(error)) error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	stale := m.forgetEarlierLocked(id)
	defer func() {
		for _, in := range stale {
			in.consumerClosed(fmt.Errorf("attempt %d of job %s has started", id.Attempt, id.Job))
		}
	}()
	if err, ok := m.mu.failed[id]; ok {
		delete(m.mu.failed, id)
		m.mu.Unlock()
		fail(err)
		return nil
	}
	if in := m.mu.pending[id]; in != nil {
		delete(m.mu.pending, id)
		m.mu.Unlock()
		in.bind(target, fail)
		return nil
	}
	if _, ok := m.mu.inputs[id]; ok {
		m.mu.Unlock()
		return fmt.Errorf("freshet: channel %s registered twice", id)
	}
	m.mu.inputs[id] = input{target: target, fail: fail}
	m.mu.Unlock()
	return nil
}

// forgetEarlierLocked drops the failures and unregistered channels of the
// attempts of id's job before id's, and returns those channels.
func (m *Manager) forgetEarlierLocked(id ChannelID) []*inChan {
	for old := range m.mu.failed {
		if old.Job == id.Job && old.Attempt < id.Attempt {
			delete(m.mu.failed, old)
		}
	}
	var stale []*inChan
	for old, in := range m.mu.pending {
		if old.Job == id.Job && old.Attempt < id.Attempt {
			delete(m.mu.pending, old)
			stale = append(stale, in)
		}
	}
	return stale
}

// Unregister forgets a channel registered and not yet opened.
func (m *Manager) Unregister(id ChannelID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.mu.inputs, id)
	delete(m.mu.failed, id)
}

// opened binds a channel a producer opened to its registered gate
// channel, or keeps it until it is registered.
func (m *Manager) opened(in *inChan) {
	m.mu.Lock()
	r, ok := m.mu.inputs[in.id]
	if ok {
		delete(m.mu.inputs, in.id)
	} else {
		m.mu.pending[in.id] = in
	}
	m.mu.Unlock()
	if ok {
		in.bind(r.target, r.fail)
	}
}

// unboundFailed records the failure of a channel not yet registered.
func (m *Manager) unboundFailed(in *inChan, err error) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.pending[in.id] != in {
		return false
	}
	delete(m.mu.pending, in.id)
	m.mu.failed[in.id] = err
	return true
}

// Close closes the listener and every connection, failing their channels
// with ErrClosed, and waits for the manager's goroutines to end.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.closed = true
	conns := make([]*conn, 0, len(m.mu.conns))
	for c := range m.mu.conns {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	var err error
	if m.ln != nil {
		err = m.ln.Close()
	}
	for _, c := range conns {
		c.fail(ErrClosed)
	}
	m.wg.Wait()
	return err
}

func (m *Manager) getBuf() *buf {
	b := m.pool.Get().(*buf)
	b.data = b.data[:bufferHeader]
	b.n = 0
	return b
}

func (m *Manager) putBuf(b *buf) {
	if cap(b.data) == m.cfg.bufferSize {
		m.pool.Put(b)
	}
}
