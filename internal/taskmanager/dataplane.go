package taskmanager

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/exchange/netx"
)

// DataPlane connects the subtasks of a TaskManager with those of other
// TaskManagers. Its methods may be called from any goroutine.
type DataPlane interface {
	// Channel opens the sending end of ch, a channel from a subtask of
	// this TaskManager to the input gate of a subtask of TaskManager
	// ch.TaskManager, waiting until ctx ends for that gate to be
	// reachable. Record writers encode what they send it. The
	// TaskManager closes the writer once the producing subtask has ended.
	Channel(ctx context.Context, ch DataChannel) (DataWriter, error)
	// Receive makes target, channel ch.Channel of the input gate of a
	// subtask of this TaskManager, receive ch from its producer on
	// TaskManager ch.TaskManager. fail is called at most once, from any
	// goroutine (possibly before Receive returns), when the channel
	// fails; the consuming subtask then fails. The TaskManager calls stop
	// once the consuming subtask has ended.
	Receive(ch DataChannel, target exchange.ChannelWriter, fail func(error)) (stop func(), err error)
}

// DataChannel is one channel between subtasks of two TaskManagers: from
// the producing subtask to channel Channel of the consuming subtask's
// input gate, in one attempt of a job.
type DataChannel struct {
	Job             string
	Attempt         int
	ProducerVertex  int
	ProducerSubtask int
	ConsumerVertex  int
	ConsumerSubtask int
	// Channel is the index of the channel within the consumer's gate.
	Channel int
	// TaskManager is the other end's TaskManager: the consumer's for
	// Channel, the producer's for Receive.
	TaskManager string
	// Address is where the consumer's TaskManager takes data connections
	// (the deployment's DataAddresses), for Channel; "" when the
	// deployment gives none.
	Address string
}

// Gate is the key of the consumer's input gate.
func (c DataChannel) Gate() exchange.GateKey {
	return exchange.GateKey{Job: c.Job, Vertex: c.ConsumerVertex, Subtask: c.ConsumerSubtask}
}

// ID is the channel's id on the network.
func (c DataChannel) ID() netx.ChannelID {
	return netx.ChannelID{Job: c.Job, Attempt: c.Attempt, ProducerVertex: c.ProducerVertex, ProducerSubtask: c.ProducerSubtask,
		ConsumerVertex: c.ConsumerVertex, ConsumerSubtask: c.ConsumerSubtask, Channel: c.Channel}
}

// DataWriter is the sending end of a channel to another TaskManager.
// Record writers encode what they send it (it is an
// exchange.RemoteChannel whose Remote reports true).
type DataWriter interface {
	exchange.RemoteChannel
	// Close releases the channel once its producer has ended; closed
	// before its end of input, it fails the consumer's channel.
	Close() error
}

// LocalDataPlane joins the TaskManagers of one process, each with its own
// gate registry: a stand-in for the network data plane in which channels
// between TaskManagers pass encoded batches through the consumer's
// registry. Its methods may be called from any goroutine.
type LocalDataPlane struct {
	mu  sync.Mutex
	tms map[string]*exchange.Registry
}

// NewLocalDataPlane returns a data plane joining no TaskManager yet.
func NewLocalDataPlane() *LocalDataPlane {
	return &LocalDataPlane{tms: map[string]*exchange.Registry{}}
}

// Add joins the TaskManager tm whose gates are in registry.
func (p *LocalDataPlane) Add(tm string, registry *exchange.Registry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tms[tm] = registry
}

// Channel implements DataPlane.
func (p *LocalDataPlane) Channel(ctx context.Context, ch DataChannel) (DataWriter, error) {
	p.mu.Lock()
	r := p.tms[ch.TaskManager]
	p.mu.Unlock()
	if r == nil {
		return nil, fmt.Errorf("reaching gate %s: no TaskManager %q", ch.Gate(), ch.TaskManager)
	}
	w, err := r.Channel(ctx, ch.Gate(), ch.Channel)
	if err != nil {
		return nil, err
	}
	return localWriter{w}, nil
}

// Receive implements DataPlane: the producer reaches the gate through
// the consumer's registry, so there is nothing to do.
func (p *LocalDataPlane) Receive(DataChannel, exchange.ChannelWriter, func(error)) (func(), error) {
	return func() {}, nil
}

// localWriter is a gate channel of another TaskManager of this process.
type localWriter struct{ exchange.ChannelWriter }

func (localWriter) Remote() bool { return true }
func (localWriter) Close() error { return nil }

// NetworkDataPlane carries the channels between a TaskManager and others
// over TCP through the TaskManager's netx.Manager (see package netx): a
// producing subtask's channel to another TaskManager is a netx.Writer on
// the connection to the consumer's data address (from the deployment's
// DataAddresses), and a consuming subtask's gate channels whose producers
// run elsewhere are registered with the Manager. A failed connection (its
// peer gone, or a malformed frame) fails the subtasks using it with an
// error naming the peer. Its methods may be called from any goroutine.
type NetworkDataPlane struct {
	m *netx.Manager
}

// NewNetworkDataPlane returns the data plane of the TaskManager whose
// connections m owns; m is the caller's to close, after the TaskManager.
func NewNetworkDataPlane(m *netx.Manager) *NetworkDataPlane { return &NetworkDataPlane{m: m} }

// Channel implements DataPlane.
func (p *NetworkDataPlane) Channel(ctx context.Context, ch DataChannel) (DataWriter, error) {
	if ch.Address == "" {
		return nil, fmt.Errorf("reaching gate %s: the deployment gives no data address of TaskManager %s", ch.Gate(), ch.TaskManager)
	}
	w, err := p.m.Writer(ctx, ch.Address, ch.ID(), nil)
	if err != nil {
		return nil, fmt.Errorf("reaching gate %s on TaskManager %s at %s: %w", ch.Gate(), ch.TaskManager, ch.Address, err)
	}
	return netWriter{w: w, tm: ch.TaskManager}, nil
}

// Receive implements DataPlane.
func (p *NetworkDataPlane) Receive(ch DataChannel, target exchange.ChannelWriter, fail func(error)) (func(), error) {
	id := ch.ID()
	err := p.m.Register(id, target, func(err error) {
		fail(fmt.Errorf("receiving channel %s from TaskManager %s: %w", id, ch.TaskManager, err))
	})
	if err != nil {
		return nil, fmt.Errorf("receiving channel %s from TaskManager %s: %w", id, ch.TaskManager, err)
	}
	return func() { p.m.Unregister(id) }, nil
}

// netWriter is a netx.Writer to the gate of a subtask of TaskManager tm.
type netWriter struct {
	w  *netx.Writer
	tm string
}

// Send implements exchange.ChannelWriter. A channel its consumer closed
// fails with exchange.ErrGateClosed, as a local one does: the consumer
// failed or was cancelled, and reports why itself.
func (n netWriter) Send(ctx context.Context, e exchange.Envelope) error {
	err := n.w.Send(ctx, e)
	if err == nil || err == ctx.Err() {
		return err
	}
	if errors.Is(err, netx.ErrChannelClosed) {
		return fmt.Errorf("sending to TaskManager %s: %w: %w", n.tm, exchange.ErrGateClosed, err)
	}
	return fmt.Errorf("sending to TaskManager %s: %w", n.tm, err)
}

func (n netWriter) IsAvailable() bool          { return n.w.IsAvailable() }
func (n netWriter) Available() <-chan struct{} { return n.w.Available() }
func (n netWriter) Remote() bool               { return true }
func (n netWriter) CopiesBytes() bool          { return n.w.CopiesBytes() }
func (n netWriter) Close() error               { return n.w.Close() }
