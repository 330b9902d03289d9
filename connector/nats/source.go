package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/source"
)

// Source defaults.
const (
	// DefaultAckWait is the consumer's AckWait when SourceAckWait is not
	// set: how long the server waits for an ack before redelivering.
	DefaultAckWait = 30 * time.Second
	// DefaultMaxAckPending is how many messages the consumer lets readers
	// hold unacknowledged, which must cover a checkpoint interval.
	DefaultMaxAckPending = 100_000
	// DefaultFetchBatch is how many messages a reader asks for at once.
	DefaultFetchBatch = 256
)

// fetchWait is how long one fetch waits for messages.
const fetchWait = 200 * time.Millisecond

// A fetch that finds no responders is tried again every fetchRetryPause
// for fetchRetryFor before the reader fails.
var (
	fetchRetryFor   = 10 * time.Second
	fetchRetryPause = 100 * time.Millisecond
)

// ErrReconnected is wrapped by the error that fails a job whose NATS
// source, at a parallelism above 1, lost its connection to the server and
// re-established it: the server, if it restarted, redelivers at once the
// messages delivered and not acknowledged, perhaps to other readers than
// those that emitted them, and only the job's restore from its last
// checkpoint (after which every reader knows what it covered) keeps
// those from being counted twice.
var ErrReconnected = errors.New("freshet/nats: the source's connection to the server was re-established")

// Deserializer turns a message into a record. It must not acknowledge the
// message: the reader does when a checkpoint covers it.
type Deserializer[T any] func(m jetstream.Msg) (T, error)

// Split is the share of a durable consumer one subtask reads.
type Split struct {
	ID string
	// Pending is only read, from checkpoints of earlier versions of the
	// source, which kept in it the stream sequences of the messages the
	// checkpoint covered that the server might deliver again; the
	// readers' union state keeps them now (see Source).
	Pending []uint64
}

// SplitID implements source.Split.
func (s Split) SplitID() string { return s.ID }

// Source reads a JetStream stream through a durable pull consumer with
// explicit acks, shared by its readers (one per subtask). Records carry
// the time the stream stored the message as their timestamp.
//
// A reader acknowledges a message when a checkpoint that covers it has
// completed (it implements source.CheckpointListener), so a failure has the
// server redeliver every message no completed checkpoint covers: at least
// once. Every checkpoint also keeps, as ranges of stream sequences, the
// messages it covers that the server may still deliver again (those not
// acknowledged when it was taken, or acknowledged above the consumer's
// acknowledgement floor, which a server restart may forget), in the
// readers' union state (source.UnionStateReader): after a restore, at
// any parallelism, every reader knows all of them, so whichever reader
// the server redelivers one to drops it and acknowledges it. While a
// reader lives it keeps telling the server that the messages it holds are
// in progress, so a checkpoint that takes longer than the consumer's
// AckWait does not have them redelivered to another reader. The job's
// state thus counts every message once, at any parallelism and across a
// rescale. A server that restarts redelivers at once what was delivered
// and not acknowledged, to any reader: at parallelism 1 the reader knows
// those messages and drops them; above 1 a reader whose connection was
// re-established fails the job with ErrReconnected, and the restore tells
// the copies apart.
//
// Create it with NewSource.
type Source[T any] struct {
	url         string
	stream      string
	durable     string
	deserialize Deserializer[T]
	cfg         sourceConfig
}

var (
	_ source.Source[int, Split] = (*Source[int])(nil)
	_ source.CheckpointListener = (*reader[int])(nil)
	_ source.UnionStateReader   = (*reader[int])(nil)
	_ source.Validator          = (*Source[int])(nil)
)

// SourceOption configures a Source.
type SourceOption func(*sourceConfig)

type sourceConfig struct {
	bounded       bool
	ackWait       time.Duration
	maxAckPending int
	batch         int
	filter        []string
	natsOpts      []nats.Option
}

// SourceStopWhenDrained makes the source bounded: a reader ends when a
// fetch finds nothing and the consumer has no messages left to deliver.
func SourceStopWhenDrained() SourceOption {
	return func(c *sourceConfig) { c.bounded = true }
}

// SourceAckWait sets the consumer's AckWait, after which the server
// redelivers a message not acknowledged by a reader that died without
// closing. A living reader tells the server every third of it that the
// messages it holds, waiting for a checkpoint, are in progress, so they
// are not redelivered however long a checkpoint takes.
func SourceAckWait(d time.Duration) SourceOption {
	return func(c *sourceConfig) { c.ackWait = d }
}

// SourceMaxAckPending sets the consumer's MaxAckPending.
func SourceMaxAckPending(n int) SourceOption {
	return func(c *sourceConfig) { c.maxAckPending = n }
}

// SourceFetchBatch sets how many messages a reader fetches at once.
func SourceFetchBatch(n int) SourceOption {
	return func(c *sourceConfig) { c.batch = n }
}

// SourceFilterSubjects limits the consumer to the given subjects.
func SourceFilterSubjects(subjects ...string) SourceOption {
	return func(c *sourceConfig) { c.filter = append(c.filter, subjects...) }
}

// SourceNatsOptions are passed to nats.Connect for every reader's connection.
func SourceNatsOptions(opts ...nats.Option) SourceOption {
	return func(c *sourceConfig) { c.natsOpts = append(c.natsOpts, opts...) }
}

// NewSource returns a source of the records deserialize makes of the
// messages of stream, read through the durable consumer named durable on
// the server at url. The consumer is created, or updated, with explicit
// acks when a reader starts.
func NewSource[T any](url, stream, durable string, deserialize Deserializer[T], opts ...SourceOption) *Source[T] {
	c := sourceConfig{ackWait: DefaultAckWait, maxAckPending: DefaultMaxAckPending, batch: DefaultFetchBatch}
	for _, o := range opts {
		o(&c)
	}
	return &Source[T]{url: url, stream: stream, durable: durable, deserialize: deserialize, cfg: c}
}

// Validate implements source.Validator: it checks the configuration
// without connecting.
func (s *Source[T]) Validate() error {
	switch {
	case s.url == "":
		return fmt.Errorf("%w: source has no server URL", ErrInvalidConfig)
	case s.stream == "" || s.durable == "":
		return fmt.Errorf("%w: source needs a stream and a durable consumer name", ErrInvalidConfig)
	case s.deserialize == nil:
		return fmt.Errorf("%w: source has no Deserializer", ErrInvalidConfig)
	case s.cfg.ackWait <= 0:
		return fmt.Errorf("%w: source ack wait %v is not positive", ErrInvalidConfig, s.cfg.ackWait)
	case s.cfg.batch < 1:
		return fmt.Errorf("%w: source fetch batch %d is below 1", ErrInvalidConfig, s.cfg.batch)
	}
	return nil
}

// Boundedness implements source.Source.
func (s *Source[T]) Boundedness() source.Boundedness {
	if s.cfg.bounded {
		return source.Bounded
	}
	return source.Unbounded
}

func (s *Source[T]) splitID(subtask int) string {
	return "nats-" + s.stream + "-" + s.durable + "-" + strconv.Itoa(subtask)
}

// CreateEnumerator implements source.Source: one split per subtask.
func (s *Source[T]) CreateEnumerator(ctx source.EnumeratorContext[Split]) (source.Enumerator[Split], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	splits := make([]Split, ctx.Parallelism())
	for i := range splits {
		splits[i] = Split{ID: s.splitID(i)}
	}
	return source.NewStatic(ctx, splits), nil
}

// RestoreEnumerator implements source.Source.
func (s *Source[T]) RestoreEnumerator(ctx source.EnumeratorContext[Split], unassigned []Split) (source.Enumerator[Split], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return source.NewStatic(ctx, unassigned), nil
}

// CreateReader implements source.Source.
func (s *Source[T]) CreateReader(ctx source.ReaderContext) (source.Reader[T, Split], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	m := ctx.Metrics()
	return &reader[T]{
		src:       s,
		shared:    ctx.Parallelism() > 1,
		bytesRead: m.Counter("bytesRead"),
		pending:   m.Gauge("pending"),
		seen:      map[uint64]int64{},
		groups:    map[int64][]jetstream.Msg{},
		msgs:      make(chan []jetstream.Msg, 4),
		notify:    make(chan struct{}, 1),
	}, nil
}

// reader emits what a fetching goroutine hands it. PollNext,
// SnapshotState and the other methods run on the subtask's goroutine.
type reader[T any] struct {
	src *Source[T]
	nc  *nats.Conn
	// shared says other readers share the consumer (parallelism above
	// 1): the reader then fails once its connection was re-established.
	shared bool
	splits []Split
	// seen maps the stream sequence of every message this reader emitted
	// that may come again to where it is: 0 emitted since the last
	// snapshot, a checkpoint id for one taken but not completed, or acked
	// for one acknowledged (or covered by the checkpoint the reader was
	// restored from). A message that comes again after its acknowledgement
	// was lost (a server restart) is acknowledged again, not emitted; one
	// that comes again before is kept to be acknowledged with its group.
	// Entries at or below the consumer's acknowledgement floor, which the
	// server will never deliver again, are dropped.
	seen map[uint64]int64
	// restored holds what the checkpoint restored from covered, of all
	// readers: a message among them that comes again is acknowledged,
	// not emitted. It shrinks as the acknowledgement floor rises.
	restored seqRanges
	ackFloor atomic.Uint64   // the consumer's, as the fetcher last read it
	cur      []jetstream.Msg // emitted since the last snapshot
	groups   map[int64][]jetstream.Msg
	buf      []jetstream.Msg

	msgs   chan []jetstream.Msg // from the fetcher
	notify chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     struct {
		sync.Mutex
		err     error
		drained bool
	}
	ended, closed bool
	// endSnap is the first checkpoint taken after the end of input (0:
	// none yet); final says one such has completed, or the end-of-input
	// notification came: what is left is acknowledged on Close.
	endSnap int64
	final   bool

	// bytesRead counts the data bytes of the messages emitted; pending
	// is the consumer's NumPending (messages not yet delivered to it), as
	// the fetcher last read it (about once a second).
	bytesRead *metric.Counter
	pending   *metric.Gauge
}

func (r *reader[T]) Start(ctx context.Context) error {
	s := r.src
	nc, err := nats.Connect(s.url, s.cfg.natsOpts...)
	if err != nil {
		return fmt.Errorf("connecting nats source to %s: %w", s.url, err)
	}
	r.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("opening jetstream for nats source: %w", err)
	}
	cc := jetstream.ConsumerConfig{
		Durable:       s.durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.ackWait,
		MaxAckPending: s.cfg.maxAckPending,
	}
	switch len(s.cfg.filter) {
	case 0:
	case 1:
		cc.FilterSubject = s.cfg.filter[0]
	default:
		cc.FilterSubjects = s.cfg.filter
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, s.stream, cc)
	if err != nil {
		return fmt.Errorf("creating consumer %s on stream %s: %w", s.durable, s.stream, err)
	}
	fctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	r.wg.Add(1)
	go r.fetch(fctx, cons)
	return nil
}

// fetch runs until ctx ends, handing batches to PollNext until, in a
// bounded source, the consumer is drained. Every third of the AckWait it
// tells the server that the messages it handed over that are not settled
// yet (acknowledged, or negatively on Close) are in progress, which
// restarts their AckWait: while the reader lives, however long a
// checkpoint takes, the server does not redeliver them to another reader,
// which would not know them.
func (r *reader[T]) fetch(ctx context.Context, cons jetstream.Consumer) {
	defer r.wg.Done()
	defer r.wake()
	var floorRead time.Time
	var unreachable time.Time // since when fetches found no responders, zero while they do
	var held []jetstream.Msg  // handed over, perhaps not settled yet
	progress := time.NewTicker(r.src.cfg.ackWait / 3)
	defer progress.Stop()
	for ctx.Err() == nil {
		select {
		case <-progress.C:
			held = inProgress(held)
		default:
		}
		batch, err := cons.Fetch(r.src.cfg.batch, jetstream.FetchMaxWait(min(fetchWait, r.src.cfg.ackWait/3)))
		var got []jetstream.Msg
		if err == nil {
			for m := range batch.Messages() {
				got = append(got, m)
			}
			if err = batch.Error(); errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				err = nil
			}
		}
		if err != nil && len(got) == 0 && errors.Is(err, nats.ErrNoResponders) {
			// The consumer is briefly unreachable (a JetStream leader
			// changing, a server busy starting it): try again for a
			// while before failing.
			if unreachable.IsZero() {
				unreachable = time.Now()
			}
			if time.Since(unreachable) < fetchRetryFor {
				select {
				case <-time.After(fetchRetryPause):
					continue
				case <-ctx.Done():
					return
				}
			}
		}
		if err != nil {
			for _, m := range got {
				_ = m.Nak()
			}
			r.fail(fmt.Errorf("fetching from consumer %s: %w", r.src.durable, err))
			return
		}
		unreachable = time.Time{}
		if len(got) > 0 && r.shared && r.nc.Stats().Reconnects > 0 {
			// A server that restarted redelivers at once what was
			// delivered and not acknowledged, to any reader: only a
			// restore, after which every reader knows what the
			// checkpoint covered, tells the copies apart. These came
			// through the new connection; the reader does not emit
			// them.
			for _, m := range got {
				_ = m.Nak()
			}
			r.fail(fmt.Errorf("nats source reading consumer %s: %w", r.src.durable, ErrReconnected))
			return
		}
		if time.Since(floorRead) >= time.Second {
			// For the reader to forget what the server will never
			// deliver again.
			if info, err := cons.Info(ctx); err == nil {
				r.ackFloor.Store(info.AckFloor.Stream)
				r.pending.Set(float64(info.NumPending))
				floorRead = time.Now()
			}
		}
		if len(got) > 0 {
			held = append(held, got...)
			for sent := false; !sent; {
				select {
				case r.msgs <- got:
					r.wake()
					sent = true
				case <-progress.C:
					held = inProgress(held)
				case <-ctx.Done():
					// Fetched while the reader closed: let another have them.
					for _, m := range got {
						_ = m.Nak()
					}
					return
				}
			}
			continue
		}
		if r.src.cfg.bounded {
			info, err := cons.Info(ctx)
			if err != nil {
				if ctx.Err() == nil {
					r.fail(fmt.Errorf("reading consumer %s info: %w", r.src.durable, err))
				}
				return
			}
			r.pending.Set(float64(info.NumPending))
			if info.NumPending == 0 {
				r.mu.Lock()
				r.mu.drained = true
				r.mu.Unlock()
				r.wake()
				// The messages still held wait for the checkpoint
				// after the end of input.
				for {
					select {
					case <-progress.C:
						held = inProgress(held)
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}
}

// inProgress tells the server that the messages of held not settled yet
// are in progress and returns those, reusing held.
func inProgress(held []jetstream.Msg) []jetstream.Msg {
	kept := held[:0]
	for _, m := range held {
		if err := m.InProgress(); errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			continue
		}
		kept = append(kept, m)
	}
	clear(held[len(kept):])
	return kept
}

func (r *reader[T]) wake() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *reader[T]) fail(err error) {
	r.mu.Lock()
	if r.mu.err == nil {
		r.mu.err = err
	}
	r.mu.Unlock()
}

func (r *reader[T]) PollNext(out source.Output[T]) (source.InputStatus, error) {
	if r.closed {
		return source.EndOfInput, source.ErrReaderClosed
	}
	if r.ended {
		return source.EndOfInput, nil
	}
	if len(r.buf) == 0 {
		select {
		case r.buf = <-r.msgs:
		default:
		}
	}
	if len(r.buf) == 0 {
		r.mu.Lock()
		err, drained := r.mu.err, r.mu.drained
		r.mu.Unlock()
		if err != nil {
			return source.EndOfInput, err
		}
		if drained && len(r.msgs) == 0 {
			r.ended = true
			return source.EndOfInput, nil
		}
		return source.NothingAvailable, nil
	}
	var bytes int64
	defer func() { r.bytesRead.Add(bytes) }()
	for _, m := range r.buf {
		md, err := m.Metadata()
		if err != nil {
			return source.EndOfInput, fmt.Errorf("reading metadata of message on %s: %w", m.Subject(), err)
		}
		seq := md.Sequence.Stream
		if len(r.restored) > 0 && r.restored.contains(seq) {
			// Covered by the checkpoint restored from, whichever reader
			// emitted it.
			if err := m.Ack(); err != nil {
				return source.EndOfInput, fmt.Errorf("acknowledging message %d: %w", seq, err)
			}
			continue
		}
		if where, ok := r.seen[seq]; ok {
			// Delivered again: not emitted twice.
			switch where {
			case acked:
				if err := m.Ack(); err != nil {
					return source.EndOfInput, fmt.Errorf("acknowledging message %d: %w", seq, err)
				}
			case 0:
				r.cur = append(r.cur, m)
			default:
				r.groups[where] = append(r.groups[where], m)
			}
			continue
		}
		v, err := r.src.deserialize(m)
		if err != nil {
			return source.EndOfInput, fmt.Errorf("deserializing message %d on %s: %w", md.Sequence.Stream, m.Subject(), err)
		}
		out.CollectWithTimestamp(v, md.Timestamp.UnixMilli())
		bytes += int64(len(m.Data()))
		r.cur = append(r.cur, m)
		r.seen[seq] = 0
	}
	clear(r.buf)
	r.buf = nil
	return source.MoreAvailable, nil
}

func (r *reader[T]) Available() <-chan struct{} { return r.notify }

func (r *reader[T]) AddSplits(splits []Split) {
	for _, s := range splits {
		if len(s.Pending) > 0 {
			r.restored = r.restored.union(rangesOf(slices.Clone(s.Pending)))
		}
		r.splits = append(r.splits, Split{ID: s.ID})
	}
}

// RestoreUnionState implements source.UnionStateReader: elements are
// the sequence ranges every reader's snapshot kept.
func (r *reader[T]) RestoreUnionState(elements [][]byte) error {
	for i, e := range elements {
		rs, err := decodeRanges(e)
		if err != nil {
			return fmt.Errorf("restoring the sequences of nats source element %d: %w", i, err)
		}
		r.restored = r.restored.union(rs)
	}
	return nil
}

func (r *reader[T]) NotifyNoMoreSplits() {}

// SnapshotState moves the messages emitted since the last checkpoint into
// this checkpoint's group and returns the reader's splits;
// SnapshotUnionState, called next, returns the sequences this checkpoint
// covers.
func (r *reader[T]) SnapshotState(checkpointID int64) ([]Split, error) {
	if r.ended && r.endSnap == 0 {
		r.endSnap = checkpointID
	}
	if len(r.cur) > 0 {
		for _, m := range r.cur {
			if md, err := m.Metadata(); err == nil {
				r.seen[md.Sequence.Stream] = checkpointID
			}
		}
		r.groups[checkpointID] = append(r.groups[checkpointID], r.cur...)
		r.cur = nil
	}
	return slices.Clone(r.splits), nil
}

// SnapshotUnionState implements source.UnionStateReader: one element, the
// ranges of the sequences of every message the checkpoint covers that
// the server may still deliver again: those this reader emitted and did
// not acknowledge, those it acknowledged above the acknowledgement floor
// last read, whose acknowledgement a server restart may have lost, and
// those of the checkpoint it was restored from above that floor. Every
// reader keeps the last, so the merge on a restore has copies to drop.
func (r *reader[T]) SnapshotUnionState(int64) ([][]byte, error) {
	pending := make([]uint64, 0, len(r.seen))
	for seq := range r.seen {
		pending = append(pending, seq)
	}
	all := rangesOf(pending).union(r.restored)
	if len(all) == 0 {
		return nil, nil
	}
	return [][]byte{appendRanges(nil, all)}, nil
}

// NotifyCheckpointComplete acknowledges the messages that checkpoint
// checkpointID (and any earlier one) covers: the job will not read them
// again. Once a checkpoint taken after the end of input has completed, or
// at source.EndOfInputCheckpoint, Close acknowledges what is left.
func (r *reader[T]) NotifyCheckpointComplete(checkpointID int64) error {
	if checkpointID == source.EndOfInputCheckpoint || (r.endSnap != 0 && checkpointID >= r.endSnap) {
		r.final = true
	}
	for id, g := range r.groups {
		if id > checkpointID {
			continue
		}
		for _, m := range g {
			if err := m.Ack(); err != nil {
				return fmt.Errorf("acknowledging messages of checkpoint %d: %w", id, err)
			}
			if md, err := m.Metadata(); err == nil {
				r.seen[md.Sequence.Stream] = acked
			}
		}
		delete(r.groups, id)
	}
	floor := r.ackFloor.Load()
	for seq, where := range r.seen {
		if where == acked && seq <= floor {
			delete(r.seen, seq)
		}
	}
	r.restored = r.restored.above(floor)
	return nil
}

// acked marks a sequence in reader.seen as acknowledged.
const acked = -1

// NotifyCheckpointAborted keeps the messages of checkpoint checkpointID,
// which the next checkpoint to complete covers.
func (r *reader[T]) NotifyCheckpointAborted(int64) error { return nil }

// Close stops fetching. After the end of input and the completion of a
// checkpoint taken after it (or the end-of-input notification of a job
// without one), it acknowledges what is left: the job finished. Otherwise
// it negatively acknowledges the messages not acknowledged, which the
// server then redelivers at once to the readers of the restarted job.
func (r *reader[T]) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	if r.nc == nil {
		return nil
	}
	settle := func(m jetstream.Msg) error {
		if r.final {
			return m.Ack()
		}
		return m.Nak()
	}
	var errs []error
	for _, g := range r.groups {
		for _, m := range g {
			errs = append(errs, settle(m))
		}
	}
	for _, m := range r.cur {
		errs = append(errs, settle(m))
	}
	for _, m := range r.buf {
		errs = append(errs, m.Nak())
	}
	for {
		select {
		case b := <-r.msgs:
			for _, m := range b {
				errs = append(errs, m.Nak())
			}
			continue
		default:
		}
		break
	}
	errs = append(errs, r.nc.Flush())
	r.nc.Close()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing nats source reader: %w", err)
	}
	return nil
}
