package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/sink"
)

// DeliveryGuarantee is what a Sink promises about its records after
// failures.
type DeliveryGuarantee uint8

const (
	// None produces asynchronously and waits only at the end of input:
	// records in flight at a failure may be lost.
	None DeliveryGuarantee = iota
	// AtLeastOnce waits at every checkpoint and at the end of input until
	// every record produced so far is acknowledged: no record is lost,
	// and records after the last completed checkpoint are written again
	// after a failure.
	AtLeastOnce
	// ExactlyOnce writes in Kafka transactions committed when checkpoints
	// complete (see Sink): read_committed consumers see every record once.
	ExactlyOnce
)

func (g DeliveryGuarantee) String() string {
	switch g {
	case None:
		return "none"
	case AtLeastOnce:
		return "at-least-once"
	case ExactlyOnce:
		return "exactly-once"
	}
	return "DeliveryGuarantee(" + strconv.Itoa(int(g)) + ")"
}

// Sink writes records to Kafka. The Serializer chooses each record's topic,
// key, value, headers and, with a manual partitioner in ClientOptions, its
// partition.
//
// With ExactlyOnce every subtask writes through transactional producers
// whose transactional ids are TransactionalIDPrefix-subtask-n, n counting
// up: a transaction is flushed at each checkpoint's snapshot and committed
// when the checkpoint completes; a bounded job commits its last
// transaction with its final checkpoint. After a failure the restored
// transactions are committed again (a commit already made is recognised)
// and the ids after them are initialised in turn, which aborts the
// transactions the failed attempt left open, until an id that was never
// used. Two jobs must not share a prefix. Transactions stay open across a
// checkpoint interval, so the producer's transaction timeout
// (kgo.TransactionTimeout in ClientOptions, 40 s by default) must exceed
// the interval plus the time a restart takes, and must not exceed the
// brokers' transaction.max.timeout.ms: the writers check it when they
// start (ErrTransactionTimeout).
//
// Each transaction's state records the parallelism that wrote it. After a
// restore at a lower parallelism, new subtask i answers for the old
// subtasks j >= parallelism with j mod parallelism == i: at its first
// commit, when every subtask has committed the transactions it restored,
// it initialises j's ids from the last one it knows of (or from the first)
// up to one never used, which aborts what j left open.
type Sink[T any] struct {
	// Brokers are the seed brokers, "host:port". Required.
	Brokers []string
	// Serializer makes the record to produce for a value. Required. The
	// record must name its topic unless ClientOptions set a default one.
	Serializer func(T) (*kgo.Record, error)
	// DeliveryGuarantee defaults to None.
	DeliveryGuarantee DeliveryGuarantee
	// TransactionalIDPrefix starts the transactional ids of an
	// ExactlyOnce sink. Required for ExactlyOnce.
	TransactionalIDPrefix string
	// ClientOptions are added to the options of every client the sink
	// makes (TLS, SASL, partitioner, linger, transaction timeout).
	ClientOptions []kgo.Opt
}

var (
	_ sink.Checkpointed[string] = (*Sink[string])(nil)
	_ sink.Validator            = (*Sink[string])(nil)
)

// Validate reports what is wrong with the sink's configuration.
func (s *Sink[T]) Validate() error {
	var errs []error
	if len(s.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	if s.Serializer == nil {
		errs = append(errs, errors.New("no serializer"))
	}
	switch s.DeliveryGuarantee {
	case None, AtLeastOnce:
	case ExactlyOnce:
		if s.TransactionalIDPrefix == "" {
			errs = append(errs, errors.New("exactly-once needs a transactional id prefix"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown delivery guarantee %v", s.DeliveryGuarantee))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: sink: %w", ErrInvalidConfig, err)
	}
	return nil
}

// CreateWriter implements sink.Sink. The runtime calls
// CreateCheckpointedWriter instead.
func (s *Sink[T]) CreateWriter(ctx sink.InitContext) (sink.Writer[T], error) {
	w, _, err := s.CreateCheckpointedWriter(ctx, nil)
	return w, err
}

// CreateCheckpointedWriter implements sink.Checkpointed.
func (s *Sink[T]) CreateCheckpointedWriter(ctx sink.InitContext, restored [][]byte) (sink.Writer[T], sink.CheckpointHooks, error) {
	if err := s.Validate(); err != nil {
		return nil, sink.CheckpointHooks{}, err
	}
	if s.DeliveryGuarantee == ExactlyOnce {
		tp := &sink.TwoPhaseCommit[T, *txn]{
			Codec: txnCodec{},
			NewWriter: func(ctx sink.InitContext) (sink.TransactionalWriter[T, *txn], error) {
				if err := s.checkTransactionTimeout(ctx.Context()); err != nil {
					return nil, err
				}
				return &txnWriter[T]{s: s, ctx: ctx.Context(), subtask: ctx.SubtaskIndex(), parallelism: ctx.Parallelism(),
					removed: map[int]int64{}, bytesWritten: ctx.Metrics().Counter("bytesWritten")}, nil
			},
		}
		return tp.CreateCheckpointedWriter(ctx, restored)
	}
	cl, err := s.newClient()
	if err != nil {
		return nil, sink.CheckpointHooks{}, err
	}
	w := &writer[T]{s: s, ctx: ctx.Context(), cl: cl, errs: newProduceErr(ctx.Metrics().Counter("bytesWritten"))}
	var hooks sink.CheckpointHooks
	if s.DeliveryGuarantee == AtLeastOnce {
		hooks.SnapshotState = func(id int64) ([][]byte, error) {
			if err := w.flush(); err != nil {
				return nil, fmt.Errorf("kafka sink: flushing at checkpoint %d: %w", id, err)
			}
			return nil, nil
		}
	}
	return w, hooks, nil
}

// ErrTransactionTimeout is wrapped by the error of an ExactlyOnce sink whose
// producers' transaction timeout (kgo.TransactionTimeout, 40 s unless set
// in ClientOptions) exceeds the brokers' transaction.max.timeout.ms.
var ErrTransactionTimeout = errors.New("freshet: kafka transaction timeout exceeds the brokers' maximum")

// checkTransactionTimeout compares the producers' transaction timeout with
// the brokers' transaction.max.timeout.ms. Brokers that do not describe
// their configuration (no permission) are not checked here; their
// producers then fail to initialise with the same error.
func (s *Sink[T]) checkTransactionTimeout(ctx context.Context) error {
	cl, err := s.newClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	timeout, _ := cl.OptValue(kgo.TransactionTimeout).(time.Duration)
	rs, err := kadm.NewClient(cl).DescribeBrokerConfigs(ctx)
	if err != nil {
		return nil
	}
	for _, r := range rs {
		if r.Err != nil {
			continue
		}
		for _, c := range r.Configs {
			if c.Key != "transaction.max.timeout.ms" || c.Value == nil {
				continue
			}
			ms, err := strconv.ParseInt(*c.Value, 10, 64)
			if err == nil && timeout > time.Duration(ms)*time.Millisecond {
				return fmt.Errorf("%w: kgo.TransactionTimeout is %v, the brokers' transaction.max.timeout.ms %d ms; lower it in ClientOptions",
					ErrTransactionTimeout, timeout, ms)
			}
		}
	}
	return nil
}

func (s *Sink[T]) newClient(extra ...kgo.Opt) (*kgo.Client, error) {
	opts := append(slices.Clone(s.ClientOptions), kgo.SeedBrokers(s.Brokers...))
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka sink: creating client: %w", err)
	}
	return cl, nil
}

// produceErr keeps the first error of asynchronous produce callbacks. The
// subtask checks it before every record, so it is one atomic load.
type produceErr struct {
	err atomic.Pointer[error]
	// written counts the keys' and values' bytes of the records the
	// brokers acknowledged.
	written *metric.Counter
	// promise is set, the callback given to every Produce: a method value
	// made once rather than once per record.
	promise func(*kgo.Record, error)
}

func newProduceErr(written *metric.Counter) *produceErr {
	p := &produceErr{written: written}
	p.promise = p.set
	return p
}

func (p *produceErr) set(r *kgo.Record, err error) {
	if err == nil {
		p.written.Add(int64(len(r.Key) + len(r.Value)))
		return
	}
	// A variable of its own: taking the parameter's address would move
	// it to the heap on every call.
	first := fmt.Errorf("producing to %s: %w", r.Topic, err)
	p.err.CompareAndSwap(nil, &first)
}

func (p *produceErr) get() error {
	if err := p.err.Load(); err != nil {
		return *err
	}
	return nil
}

// writer is the writer of a None or AtLeastOnce sink: one idempotent
// producer.
type writer[T any] struct {
	s    *Sink[T]
	ctx  context.Context
	cl   *kgo.Client
	errs *produceErr
}

func (w *writer[T]) Write(v T, _ sink.Context) error {
	if err := w.errs.get(); err != nil {
		return fmt.Errorf("kafka sink: %w", err)
	}
	rec, err := w.s.Serializer(v)
	if err != nil {
		return fmt.Errorf("kafka sink: serializing: %w", err)
	}
	w.cl.Produce(w.ctx, rec, w.errs.promise)
	return nil
}

// WriteBatch implements sink.BatchWriter.
func (w *writer[T]) WriteBatch(rs []sink.Record[T], _ int64) error {
	if err := w.errs.get(); err != nil {
		return fmt.Errorf("kafka sink: %w", err)
	}
	for i := range rs {
		rec, err := w.s.Serializer(rs[i].Value)
		if err != nil {
			return fmt.Errorf("kafka sink: serializing: %w", err)
		}
		w.cl.Produce(w.ctx, rec, w.errs.promise)
	}
	return nil
}

func (w *writer[T]) flush() error {
	if err := w.cl.Flush(w.ctx); err != nil {
		return err
	}
	return w.errs.get()
}

func (w *writer[T]) Flush(endOfInput bool) error {
	if !endOfInput && w.s.DeliveryGuarantee == None {
		return nil
	}
	if err := w.flush(); err != nil {
		return fmt.Errorf("kafka sink: flushing: %w", err)
	}
	return nil
}

func (w *writer[T]) Close() error {
	w.cl.Close()
	return nil
}

// txn is one Kafka transaction of an ExactlyOnce sink. In a checkpoint it
// is its transactional id, producer id and epoch, which are enough to
// commit it from another process.
type txn struct {
	ID         string
	Counter    int64
	ProducerID int64
	Epoch      int16
	// Written is whether a record was produced in the transaction: an
	// empty one never reached the broker and has nothing to commit.
	Written bool
	// Subtask and Parallelism are the writer's that began it.
	Subtask, Parallelism int

	cl   *kgo.Client // nil for a transaction restored from a checkpoint
	errs *produceErr
}

type txnCodec struct{}

func (txnCodec) Append(dst []byte, t *txn) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(t.ID)))
	dst = append(dst, t.ID...)
	dst = binary.AppendVarint(dst, t.Counter)
	dst = binary.AppendVarint(dst, t.ProducerID)
	dst = binary.AppendVarint(dst, int64(t.Epoch))
	if t.Written {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(t.Subtask))
	return binary.AppendUvarint(dst, uint64(t.Parallelism))
}

func (txnCodec) Decode(src []byte) (*txn, int, error) {
	corrupt := fmt.Errorf("kafka transaction: %w", codec.ErrCorrupt)
	l, n := binary.Uvarint(src)
	if n <= 0 || uint64(len(src)-n) < l {
		return nil, 0, corrupt
	}
	t := &txn{ID: string(src[n : n+int(l)])}
	off := n + int(l)
	var vals [3]int64
	for i := range vals {
		v, m := binary.Varint(src[off:])
		if m <= 0 {
			return nil, 0, corrupt
		}
		vals[i], off = v, off+m
	}
	t.Counter, t.ProducerID, t.Epoch = vals[0], vals[1], int16(vals[2])
	if off >= len(src) || src[off] > 1 {
		return nil, 0, corrupt
	}
	t.Written = src[off] == 1
	off++
	var ints [2]uint64
	for i := range ints {
		v, m := binary.Uvarint(src[off:])
		if m <= 0 || v > 1<<31 {
			return nil, 0, corrupt
		}
		ints[i], off = v, off+m
	}
	t.Subtask, t.Parallelism = int(ints[0]), int(ints[1])
	return t, off, nil
}

// txnWriter is the TransactionalWriter of one subtask: a producer per
// transaction, so that a pre-committed transaction waits for its commit
// while the next one is written.
type txnWriter[T any] struct {
	s           *Sink[T]
	ctx         context.Context
	subtask     int
	parallelism int
	next        int64 // counter of the next transactional id
	probed      bool  // the ids a failed attempt may have left open were aborted
	admin       *kgo.Client
	live        map[*txn]struct{}
	// removed are the subtasks of the restored state's parallelism that
	// no longer exist and whose ids this subtask aborts (old subtask j
	// >= parallelism with j mod parallelism == subtask), with the counter
	// from which to abort them (-1 when no restored transaction of theirs
	// came to this subtask: from 0). Cleared once done.
	removed map[int]int64
	// bytesWritten counts the keys' and values' bytes the brokers
	// acknowledged, in every transaction.
	bytesWritten *metric.Counter
}

func (w *txnWriter[T]) txnID(subtask int, n int64) string {
	return w.s.TransactionalIDPrefix + "-" + strconv.Itoa(subtask) + "-" + strconv.FormatInt(n, 10)
}

// initTxn makes a producer with transactional id n of subtask and
// initialises it, which aborts a transaction left open under that id.
func (w *txnWriter[T]) initTxn(subtask int, n int64) (*txn, error) {
	id := w.txnID(subtask, n)
	t := &txn{ID: id, Counter: n, Subtask: subtask, Parallelism: w.parallelism, errs: newProduceErr(w.bytesWritten)}
	cl, err := w.s.newClient(kgo.TransactionalID(id))
	if err != nil {
		return nil, err
	}
	if t.ProducerID, t.Epoch, err = cl.ProducerID(w.ctx); err != nil {
		cl.Close()
		if errors.Is(err, kerr.InvalidTransactionTimeout) {
			err = fmt.Errorf("%w: %w", ErrTransactionTimeout, err)
		}
		return nil, fmt.Errorf("kafka sink: initialising transactional id %s: %w", id, err)
	}
	t.cl = cl
	return t, nil
}

// noteRestored records, for a transaction of the restored state, the
// parallelism that wrote it, so that the ids of subtasks removed since are
// aborted.
func (w *txnWriter[T]) noteRestored(t *txn) {
	for j := w.parallelism; j < t.Parallelism; j++ {
		if j%w.parallelism != w.subtask {
			continue
		}
		if _, ok := w.removed[j]; !ok {
			w.removed[j] = -1
		}
	}
	if t.Subtask >= w.parallelism && t.Subtask%w.parallelism == w.subtask && strings.HasPrefix(t.ID, w.s.TransactionalIDPrefix+"-") {
		// Ids after the restored ones may have been left open.
		w.removed[t.Subtask] = max(w.removed[t.Subtask], t.Counter)
	}
}

// abortRemoved initialises the ids of the removed subtasks this subtask
// answers for, from the counter noted for each (or 0) up to one that was
// never used, aborting the transactions they left open. It runs at the
// first commit of this writer's own transactions: by then every subtask
// has committed the restored transactions it was given, which aborting
// them first would lose.
func (w *txnWriter[T]) abortRemoved() error {
	for j, from := range w.removed {
		for n := max(from, 0); ; n++ {
			t, err := w.initTxn(j, n)
			if err != nil {
				return fmt.Errorf("aborting transactions of removed subtask %d: %w", j, err)
			}
			t.cl.Close()
			if t.Epoch == 0 {
				break
			}
		}
		delete(w.removed, j)
	}
	return nil
}

// BeginTransaction implements sink.TransactionalWriter. The first one
// initialises the ids from the next unused counter on until one that was
// never used, aborting what a failed attempt left open under them.
func (w *txnWriter[T]) BeginTransaction() (*txn, error) {
	var t *txn
	for {
		var err error
		if t, err = w.initTxn(w.subtask, w.next); err != nil {
			return nil, err
		}
		w.next++
		if w.probed || t.Epoch == 0 {
			break
		}
		t.cl.Close()
	}
	w.probed = true
	if err := t.cl.BeginTransaction(); err != nil {
		t.cl.Close()
		return nil, fmt.Errorf("kafka sink: beginning transaction %s: %w", t.ID, err)
	}
	if w.live == nil {
		w.live = map[*txn]struct{}{}
	}
	w.live[t] = struct{}{}
	return t, nil
}

// Write implements sink.TransactionalWriter.
func (w *txnWriter[T]) Write(t *txn, v T, _ sink.Context) error {
	if err := t.errs.get(); err != nil {
		return fmt.Errorf("kafka sink: transaction %s: %w", t.ID, err)
	}
	rec, err := w.s.Serializer(v)
	if err != nil {
		return fmt.Errorf("kafka sink: serializing: %w", err)
	}
	t.Written = true
	t.cl.Produce(w.ctx, rec, t.errs.promise)
	return nil
}

// PreCommit implements sink.TransactionalWriter: it waits until every
// record of t is acknowledged.
func (w *txnWriter[T]) PreCommit(t *txn) error {
	if err := t.cl.Flush(w.ctx); err != nil {
		return fmt.Errorf("kafka sink: flushing transaction %s: %w", t.ID, err)
	}
	if err := t.errs.get(); err != nil {
		return fmt.Errorf("kafka sink: transaction %s: %w", t.ID, err)
	}
	return nil
}

// Commit implements sink.TransactionalWriter. A restored transaction is
// committed with its producer id and epoch; a commit already made is
// recognised by the broker as a retry.
func (w *txnWriter[T]) Commit(t *txn) error {
	if t.cl != nil {
		err := t.cl.EndTransaction(w.ctx, kgo.TryCommit)
		w.release(t)
		if err != nil {
			return fmt.Errorf("kafka sink: committing transaction %s: %w", t.ID, err)
		}
		if len(w.removed) > 0 {
			if err := w.abortRemoved(); err != nil {
				return fmt.Errorf("kafka sink: %w", err)
			}
		}
		return nil
	}
	w.noteRestored(t)
	w.next = max(w.next, t.Counter+1)
	if !t.Written {
		return nil
	}
	if err := w.endRestored(t, true); err != nil {
		return fmt.Errorf("kafka sink: committing restored transaction %s: %w", t.ID, err)
	}
	return nil
}

// Abort implements sink.TransactionalWriter. A restored transaction is
// aborted by initialising its id again.
func (w *txnWriter[T]) Abort(t *txn) error {
	if t.cl != nil {
		err := t.cl.AbortBufferedRecords(w.ctx)
		if err == nil {
			err = t.cl.EndTransaction(w.ctx, kgo.TryAbort)
		}
		w.release(t)
		if err != nil {
			return fmt.Errorf("kafka sink: aborting transaction %s: %w", t.ID, err)
		}
		return nil
	}
	// The open transaction's id is initialised again by the first
	// BeginTransaction, which aborts it, or, for a removed subtask, by
	// abortRemoved.
	w.noteRestored(t)
	w.next = max(w.next, t.Counter)
	return nil
}

func (w *txnWriter[T]) release(t *txn) {
	t.cl.Close()
	t.cl = nil
	delete(w.live, t)
}

// endRestored ends a transaction of an earlier attempt with an EndTxn
// request carrying its producer id and epoch.
func (w *txnWriter[T]) endRestored(t *txn, commit bool) error {
	if w.admin == nil {
		cl, err := w.s.newClient()
		if err != nil {
			return err
		}
		w.admin = cl
	}
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID = t.ID
	req.ProducerID = t.ProducerID
	req.ProducerEpoch = t.Epoch
	req.Commit = commit
	resp, err := req.RequestWith(w.ctx, w.admin)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// Close implements sink.TransactionalWriter: it closes the producers of
// pending transactions without ending them, for a restore to commit.
func (w *txnWriter[T]) Close() error {
	for t := range w.live {
		t.cl.Close()
		t.cl = nil
	}
	w.live = nil
	if w.admin != nil {
		w.admin.Close()
		w.admin = nil
	}
	return nil
}
