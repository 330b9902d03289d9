package nats

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/freshet-io/freshet/sink"
)

// DefaultMaxPending is how many publishes a sink writer keeps in flight
// (sent, not yet acknowledged by the stream) when SinkMaxPending is not set.
const DefaultMaxPending = 1024

// ErrInvalidConfig is wrapped by the errors of a source or sink configured
// wrongly.
var ErrInvalidConfig = errors.New("freshet/nats: invalid configuration")

// Serializer turns a record into the subject it is published to and the
// message's data. It is called on the writer's goroutine; the sink keeps
// no reference to data after the publish was acknowledged.
type Serializer[T any] func(v T) (subject string, data []byte, err error)

// Sink publishes every record to a JetStream stream, with a message id
// (the Nats-Msg-Id header) made of the sink's id prefix, the subtask and
// the record's position in the subtask's output, which the writer keeps
// in every checkpoint. (A checkpoint id with the position since that
// checkpoint would not do: after a failure the job restores the last
// completed checkpoint and never takes again the ones that had been
// started but did not complete, so the records after them would get new
// ids.) A subtask that restarts from a checkpoint writes the
// records after it again with the same ids, provided it receives them in
// the same order (a deterministic, replayable input through forward
// connections), and the stream drops them as duplicates while they are
// within its duplicate window. A replay in another order can drop records
// whose ids others had taken: see the package documentation. At every checkpoint the writer waits until
// the stream has acknowledged everything published before it, so a
// completed checkpoint means the records before it are stored.
//
// The positions are those of the subtasks, so the sink's parallelism
// cannot change on a restore. Create it with NewSink. Each writer opens
// its own connection.
type Sink[T any] struct {
	url        string
	serialize  Serializer[T]
	prefix     string
	maxPending int
	natsOpts   []nats.Option
	recordID   func(T) string
}

// WithMessageID makes each message's id the sink's id prefix followed by
// what id returns for its record, rather than the record's position, and
// returns s. For input that does not replay in the same order after a
// failure (a NATS source, whose redeliveries come in another order, or
// any source at a parallelism above 1 through a shuffle), records that
// carry their own identity (such as the stream sequence they were read
// at) are still stored once. id must return the same string for the same
// record in every run of the job.
func (s *Sink[T]) WithMessageID(id func(T) string) *Sink[T] {
	s.recordID = id
	return s
}

var _ sink.Checkpointed[int] = (*Sink[int])(nil)

// SinkOption configures a Sink.
type SinkOption func(*sinkConfig)

type sinkConfig struct {
	prefix     string
	maxPending int
	natsOpts   []nats.Option
}

// SinkMaxPending limits the publishes a writer keeps unacknowledged.
func SinkMaxPending(n int) SinkOption {
	return func(c *sinkConfig) { c.maxPending = n }
}

// SinkNatsOptions are passed to nats.Connect for every writer's connection.
func SinkNatsOptions(opts ...nats.Option) SinkOption {
	return func(c *sinkConfig) { c.natsOpts = append(c.natsOpts, opts...) }
}

// NewSink returns a sink that publishes to the JetStream server at url the
// messages serialize makes of its records. The subjects must belong to a
// stream with a duplicate window longer than a job takes to recover.
//
// idPrefix starts the message ids, as Flink's Kafka sink's transactional
// id prefix does its transactions. Positions start from 0 in a job that
// is not restored from a checkpoint, so within the duplicate window two
// sinks publishing to one stream, and two runs of a job started afresh,
// need different prefixes (the stream would drop the later messages as
// duplicates); a run restored from a checkpoint keeps its prefix.
func NewSink[T any](url, idPrefix string, serialize Serializer[T], opts ...SinkOption) *Sink[T] {
	c := sinkConfig{maxPending: DefaultMaxPending}
	for _, o := range opts {
		o(&c)
	}
	return &Sink[T]{url: url, serialize: serialize, prefix: idPrefix, maxPending: c.maxPending, natsOpts: c.natsOpts}
}

func (s *Sink[T]) validate() error {
	switch {
	case s.url == "":
		return fmt.Errorf("%w: sink has no server URL", ErrInvalidConfig)
	case s.prefix == "":
		return fmt.Errorf("%w: sink has no message id prefix", ErrInvalidConfig)
	case s.serialize == nil:
		return fmt.Errorf("%w: sink has no Serializer", ErrInvalidConfig)
	case s.maxPending < 1:
		return fmt.Errorf("%w: sink max pending %d is below 1", ErrInvalidConfig, s.maxPending)
	}
	return nil
}

// CreateWriter implements sink.Sink; the runtime calls
// CreateCheckpointedWriter instead.
func (s *Sink[T]) CreateWriter(ctx sink.InitContext) (sink.Writer[T], error) {
	w, _, err := s.CreateCheckpointedWriter(ctx, nil)
	return w, err
}

// CreateCheckpointedWriter implements sink.Checkpointed. The writer's
// state is the number of records it had written at the checkpoint, where
// the positions of the records after it start.
func (s *Sink[T]) CreateCheckpointedWriter(ctx sink.InitContext, restored [][]byte) (sink.Writer[T], sink.CheckpointHooks, error) {
	if err := s.validate(); err != nil {
		return nil, sink.CheckpointHooks{}, err
	}
	if len(restored) > 1 {
		// Positions of several old subtasks cannot be merged into one.
		return nil, sink.CheckpointHooks{}, fmt.Errorf("%w: nats sink restored with the state of %d subtasks: the sink's parallelism cannot change", ErrInvalidConfig, len(restored))
	}
	var pos int64
	for _, b := range restored {
		p, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return nil, sink.CheckpointHooks{}, fmt.Errorf("restoring nats sink position: %w", err)
		}
		pos = p
	}
	nc, err := nats.Connect(s.url, s.natsOpts...)
	if err != nil {
		return nil, sink.CheckpointHooks{}, fmt.Errorf("connecting nats sink to %s: %w", s.url, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(s.maxPending))
	if err != nil {
		nc.Close()
		return nil, sink.CheckpointHooks{}, fmt.Errorf("opening jetstream for nats sink: %w", err)
	}
	w := &sinkWriter[T]{
		ctx: ctx.Context(), nc: nc, js: js, serialize: s.serialize,
		idBase: s.prefix + "-" + strconv.Itoa(ctx.SubtaskIndex()) + "-",
		pos:    pos, maxPending: s.maxPending,
		prefix: s.prefix + "-", recordID: s.recordID,
	}
	hooks := sink.CheckpointHooks{SnapshotState: w.snapshot}
	return w, hooks, nil
}

// sinkWriter publishes asynchronously and waits for the acks at every
// checkpoint and flush. All its methods run on the subtask's goroutine.
type sinkWriter[T any] struct {
	ctx        context.Context
	nc         *nats.Conn
	js         jetstream.JetStream
	serialize  Serializer[T]
	idBase     string
	epoch      int64 // the last checkpoint, or 0 before the first
	pos        int64 // records written since epoch
	pending    []jetstream.PubAckFuture
	maxPending int
	closed     bool
	prefix     string
	recordID   func(T) string
}

func (w *sinkWriter[T]) msgID() string {
	return w.idBase + strconv.FormatInt(w.pos, 10)
}

// Write implements sink.Writer.
func (w *sinkWriter[T]) Write(v T, _ sink.Context) error {
	if w.closed {
		return errors.New("nats sink: write after close")
	}
	subject, data, err := w.serialize(v)
	if err != nil {
		return fmt.Errorf("serializing record for nats: %w", err)
	}
	id := w.msgID()
	if w.recordID != nil {
		id = w.prefix + w.recordID(v)
	}
	w.pos++
	f, err := w.js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: data}, jetstream.WithMsgID(id))
	if err != nil {
		return fmt.Errorf("publishing to %s: %w", subject, err)
	}
	w.pending = append(w.pending, f)
	if len(w.pending) >= w.maxPending {
		return w.await()
	}
	return nil
}

// await waits until the stream has acknowledged every pending publish.
func (w *sinkWriter[T]) await() error {
	for i, f := range w.pending {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			w.pending = w.pending[i+1:]
			return fmt.Errorf("publishing to %s: %w", f.Msg().Subject, err)
		case <-w.ctx.Done():
			return fmt.Errorf("awaiting nats publish acks: %w", w.ctx.Err())
		}
	}
	clear(w.pending)
	w.pending = w.pending[:0]
	return nil
}

func (w *sinkWriter[T]) snapshot(checkpointID int64) ([][]byte, error) {
	if err := w.await(); err != nil {
		return nil, fmt.Errorf("flushing nats sink for checkpoint %d: %w", checkpointID, err)
	}
	return [][]byte{strconv.AppendInt(nil, w.pos, 10)}, nil
}

// Flush implements sink.Writer: it waits for the pending acks.
func (w *sinkWriter[T]) Flush(bool) error { return w.await() }

// Close implements sink.Writer.
func (w *sinkWriter[T]) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	w.pending = nil
	w.nc.Close()
	return nil
}
