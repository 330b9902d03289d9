package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
// With ExactlyOnce every subtask writes through transactional producers,
// one per transaction, whose transactional ids are
// TransactionalIDPrefix-subtask-checkpoint, checkpoint being the one after
// the last the subtask had taken when it began the transaction: one is
// flushed at each checkpoint's snapshot and committed when the checkpoint
// completes; a bounded job commits its last transaction with its final
// checkpoint. After a restore from checkpoint C, at any parallelism, the
// pending transactions C's state holds are committed again (a commit
// already made is recognised), and the transactions of the prefix still
// open under an id naming a checkpoint after C (any, on a fresh start)
// are aborted, each by the new subtask whose index is the old subtask's
// modulo the parallelism, before it begins its own; docs/connectors/kafka.md
// gives the rule and why it holds. The brokers must answer
// ListTransactions (Kafka 3.0 or later) and let the sink describe its
// transactional ids. Two jobs must not share a prefix. Transactions stay open across a checkpoint interval, so the
// producer's transaction timeout (kgo.TransactionTimeout in ClientOptions,
// 40 s by default) must exceed the interval plus the time a restart
// takes, and must not exceed the brokers' transaction.max.timeout.ms: the
// writers check it when they start (ErrTransactionTimeout).
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
		var tw *txnWriter[T]
		tp := &sink.TwoPhaseCommit[T, *txn]{
			Codec: txnCodec{},
			NewWriter: func(ctx sink.InitContext) (sink.TransactionalWriter[T, *txn], error) {
				if err := s.checkTransactionTimeout(ctx.Context()); err != nil {
					return nil, err
				}
				tw = newTxnWriter(s, ctx)
				return tw, nil
			},
		}
		w, hooks, err := tp.CreateCheckpointedWriter(ctx, restored)
		if err != nil {
			return nil, hooks, err
		}
		snap := hooks.SnapshotState
		hooks.SnapshotState = func(id int64) ([][]byte, error) { return tw.snapshot(id, snap) }
		return w, hooks, nil
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
	ID string
	// Checkpoint is the checkpoint ID names (see txnID).
	Checkpoint int64
	ProducerID int64
	Epoch      int16
	// Written is whether a record was produced in the transaction: an
	// empty one never reached the broker and has nothing to commit.
	Written bool

	cl   *kgo.Client // nil for a transaction restored from a checkpoint
	errs *produceErr
}

// txnFormat leads every encoded transaction. The sink's earlier format,
// whose ids counted up instead of naming checkpoints, began with the id's
// length, which is never 1, so its state is refused rather than cleaned up
// by a rule it does not follow.
const txnFormat = 1

type txnCodec struct{}

func (txnCodec) Append(dst []byte, t *txn) []byte {
	dst = append(dst, txnFormat)
	dst = binary.AppendUvarint(dst, uint64(len(t.ID)))
	dst = append(dst, t.ID...)
	dst = binary.AppendVarint(dst, t.Checkpoint)
	dst = binary.AppendVarint(dst, t.ProducerID)
	dst = binary.AppendVarint(dst, int64(t.Epoch))
	if t.Written {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func (txnCodec) Decode(src []byte) (*txn, int, error) {
	if len(src) > 0 && src[0] != txnFormat {
		return nil, 0, fmt.Errorf("kafka transaction: %w: format %d, not %d (state of an earlier version of the sink)", codec.ErrCorrupt, src[0], txnFormat)
	}
	corrupt := fmt.Errorf("kafka transaction: %w", codec.ErrCorrupt)
	if len(src) == 0 {
		return nil, 0, corrupt
	}
	off := 1
	l, n := binary.Uvarint(src[off:])
	if n <= 0 || uint64(len(src)-off-n) < l {
		return nil, 0, corrupt
	}
	off += n
	t := &txn{ID: string(src[off : off+int(l)])}
	off += int(l)
	var vals [3]int64
	for i := range vals {
		v, m := binary.Varint(src[off:])
		if m <= 0 {
			return nil, 0, corrupt
		}
		vals[i], off = v, off+m
	}
	t.Checkpoint, t.ProducerID, t.Epoch = vals[0], vals[1], int16(vals[2])
	if off >= len(src) || src[off] > 1 {
		return nil, 0, corrupt
	}
	t.Written = src[off] == 1
	return t, off + 1, nil
}

// The transactional ids of an ExactlyOnce sink are
//
//	TransactionalIDPrefix-subtask-checkpoint
//
// one per transaction, where subtask is the index of the subtask that
// began it and checkpoint is one more than the last checkpoint whose
// snapshot the subtask had taken when it began it (or that the job was
// restored from; 0 on a fresh start): the checkpoint at whose snapshot
// it is to be pre-committed if the subtask takes the next one. A subtask
// begins one transaction when it starts and one at each snapshot, so it
// never uses an id twice in one run, and a transaction named c is
// pre-committed at a checkpoint c or later.
//
// The rule that cleans up after a failure follows. After a restore from
// checkpoint C every subtask had taken C's snapshot, so every transaction
// named c <= C of the attempt that took C was pre-committed by then: it
// was committed, or C's state holds it as pending and the restored
// writers commit it again. A transaction named c > C was begun at C's
// snapshot (the one open then, which C's state holds to abort) or after
// it, by the attempt that failed or an earlier one that got no further
// than C: no state holds it for a commit, and if it is still open it
// blocks read_committed consumers until the brokers time it out. Each of
// these is aborted by initialising a producer with its id, which fences
// the producer that began it and aborts its transaction. A fresh start
// holds nothing and aborts every open transaction of the prefix.
//
// Each lingering id is aborted by one subtask, before that subtask begins
// a transaction of its own: new subtask k of p answers for the ids naming
// old subtasks i with i mod p == k, whatever the old parallelism was. A
// subtask therefore never aborts a transaction another new subtask begins
// (those name that subtask's own index, which maps to itself), nor one a
// restored state holds (those name c <= C), whichever subtask the state
// went to and in whatever order the subtasks start. Checkpoint ids start
// again at C+1 after a restore, so a lingering id may be one a new
// subtask is about to use: that subtask is the one that answers for it,
// and has aborted it by then.
//
// The ids are found with the ListTransactions request (KIP-664, Kafka
// 3.0 or later), which lists the transactional ids the sink may describe
// and their state; the ones in a state other than Empty, Dead or
// completing (PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort)
// are initialised.

// lingering reports whether a transactional id in state (as
// ListTransactions names them) may hold a transaction that nothing will
// end but its coordinator's timeout. Unknown states count as open.
func lingering(state string) bool {
	switch state {
	case "Empty", "Dead", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort":
		return false
	}
	return true
}

// txnWriter is the TransactionalWriter of one subtask: a producer per
// transaction, so that a pre-committed transaction waits for its commit
// while the next one is written.
type txnWriter[T any] struct {
	s                    *Sink[T]
	ctx                  context.Context
	ids                  sink.TransactionIDs
	subtask, parallelism int
	// restored is the checkpoint the job was restored from, 0 on a fresh
	// start.
	restored int64
	// last is the last checkpoint whose snapshot the subtask took (or
	// began), or restored: the next transaction names last+1.
	last    int64
	cleaned bool // lingering transactions were aborted
	admin   *kgo.Client
	live    map[*txn]struct{}
	// bytesWritten counts the keys' and values' bytes the brokers
	// acknowledged, in every transaction.
	bytesWritten *metric.Counter
}

func newTxnWriter[T any](s *Sink[T], ctx sink.InitContext) *txnWriter[T] {
	restored, ok := ctx.RestoredCheckpointID()
	if !ok {
		restored = 0
	}
	return &txnWriter[T]{
		s: s, ctx: ctx.Context(), ids: sink.TransactionIDs{Prefix: s.TransactionalIDPrefix},
		subtask: ctx.SubtaskIndex(), parallelism: ctx.Parallelism(),
		restored: restored, last: restored,
		live:         map[*txn]struct{}{},
		bytesWritten: ctx.Metrics().Counter("bytesWritten"),
	}
}

// snapshot runs snap, the snapshot of the sink.TwoPhaseCommit writer,
// which pre-commits the open transaction and begins the next one, for
// checkpoint id: the next one names id+1.
func (w *txnWriter[T]) snapshot(id int64, snap func(int64) ([][]byte, error)) ([][]byte, error) {
	w.last = max(w.last, id)
	return snap(id)
}

// initTxn makes a producer with transactional id id and initialises it,
// which aborts a transaction left open under that id.
func (w *txnWriter[T]) initTxn(id string) (*kgo.Client, int64, int16, error) {
	cl, err := w.s.newClient(kgo.TransactionalID(id))
	if err != nil {
		return nil, 0, 0, err
	}
	pid, epoch, err := cl.ProducerID(w.ctx)
	if err != nil {
		cl.Close()
		if errors.Is(err, kerr.InvalidTransactionTimeout) {
			err = fmt.Errorf("%w: %w", ErrTransactionTimeout, err)
		}
		return nil, 0, 0, fmt.Errorf("kafka sink: initialising transactional id %s: %w", id, err)
	}
	return cl, pid, epoch, nil
}

// adminClient is the writer's client without a transactional id.
func (w *txnWriter[T]) adminClient() (*kgo.Client, error) {
	if w.admin == nil {
		cl, err := w.s.newClient()
		if err != nil {
			return nil, err
		}
		w.admin = cl
	}
	return w.admin, nil
}

// abortLingering aborts the open transactions of the sink's prefix that
// name a checkpoint after the restored one (any, on a fresh start) and an
// old subtask this one answers for (see txnID).
func (w *txnWriter[T]) abortLingering() error {
	adm, err := w.adminClient()
	if err != nil {
		return err
	}
	listed, err := kadm.NewClient(adm).ListTransactions(w.ctx, nil, nil)
	if err != nil {
		return fmt.Errorf("kafka sink: listing transactions to abort those left open under prefix %s (ListTransactions needs Kafka 3.0 or later and DESCRIBE on the transactional ids): %w",
			w.s.TransactionalIDPrefix, err)
	}
	for _, id := range listed.TransactionalIDs() { // sorted
		if !w.ids.Lingering(id, w.subtask, w.parallelism, w.restored) || !lingering(listed[id].State) {
			continue
		}
		cl, _, _, err := w.initTxn(id)
		if err != nil {
			return fmt.Errorf("kafka sink: aborting lingering transaction %s: %w", id, err)
		}
		cl.Close()
	}
	return nil
}

// BeginTransaction implements sink.TransactionalWriter: a producer with
// the id naming the checkpoint after the last one, initialised. The first
// call, which follows the commits of the restored transactions, aborts the
// lingering transactions this subtask answers for (see txnID).
func (w *txnWriter[T]) BeginTransaction() (*txn, error) {
	if !w.cleaned {
		if err := w.abortLingering(); err != nil {
			return nil, err
		}
		w.cleaned = true
	}
	t := &txn{ID: w.ids.Name(w.subtask, w.last+1), Checkpoint: w.last + 1, errs: newProduceErr(w.bytesWritten)}
	cl, pid, epoch, err := w.initTxn(t.ID)
	if err != nil {
		return nil, err
	}
	t.cl, t.ProducerID, t.Epoch = cl, pid, epoch
	if err := t.cl.BeginTransaction(); err != nil {
		t.cl.Close()
		return nil, fmt.Errorf("kafka sink: beginning transaction %s: %w", t.ID, err)
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
		return nil
	}
	if t.Checkpoint > w.restored {
		return fmt.Errorf("kafka sink: %w: restored transaction %s names checkpoint %d, after the checkpoint the job was restored from (%d)",
			sink.ErrInvalidSink, t.ID, t.Checkpoint, w.restored)
	}
	if !t.Written {
		return nil
	}
	if err := w.endRestored(t, true); err != nil {
		return fmt.Errorf("kafka sink: committing restored transaction %s: %w", t.ID, err)
	}
	return nil
}

// Abort implements sink.TransactionalWriter. A restored transaction is
// aborted by initialising its id again, in the subtask that answers for
// it.
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
	// The transaction open at the checkpoint names the checkpoint after
	// it: the subtask that answers for its id aborts it with the other
	// lingering ones, before it begins a transaction of its own.
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
	adm, err := w.adminClient()
	if err != nil {
		return err
	}
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID = t.ID
	req.ProducerID = t.ProducerID
	req.ProducerEpoch = t.Epoch
	req.Commit = commit
	resp, err := req.RequestWith(w.ctx, adm)
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
