package exchange

import (
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"unsafe"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/operator"
)

// Batch is a run of records passed between subtasks as one unit.
type Batch[T any] struct {
	Records []operator.Record[T]
	// noScan is set on the pool's batches of records without pointers:
	// Release need not clear them, as it must clear others so the garbage
	// collector can free what their records referenced.
	noScan bool
}

var pools sync.Map // reflect.Type → *sync.Pool of *Batch[T]

// PoolFor returns the shared pool of batches of T.
func PoolFor[T any]() *sync.Pool {
	t := reflect.TypeFor[T]()
	if p, ok := pools.Load(t); ok {
		return p.(*sync.Pool)
	}
	noScan := !hasPointers(reflect.TypeFor[operator.Record[T]]())
	p, _ := pools.LoadOrStore(t, &sync.Pool{New: func() any { return &Batch[T]{noScan: noScan} }})
	return p.(*sync.Pool)
}

// hasPointers reports whether values of t contain pointers the garbage
// collector follows.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	}
	return true
}

// Release empties b and returns it to its pool.
func Release[T any](pool *sync.Pool, b *Batch[T]) {
	if !b.noScan {
		clear(b.Records)
	}
	b.Records = b.Records[:0]
	pool.Put(b)
}

// Partitioner chooses the target of a record among a writer's targets.
// One instance serves one record writer and may keep state.
type Partitioner[T any] interface {
	Select(r *operator.Record[T], targets int) int
}

// WriterConfig configures a RecordWriter.
type WriterConfig struct {
	BatchSize int
	// Broadcast sends every record to every target.
	Broadcast bool
	// Encode makes the writer send encoded batches to every target, as it
	// does to a RemoteChannel.
	Encode bool
	// Failure is the failure slot of the writer's chain: an error sending a
	// batch, or a partitioner's choice out of range, is raised on it.
	Failure *operator.Failure
}

// RecordWriter is the Output that partitions records into per-target batches
// and sends them downstream. It is owned by the subtask's goroutine.
//
// The record path does no allocation and no channel operation: a record is
// copied into the pending batch of its target; batches come from a pool the
// readers return them to, and only a full batch (or a flush) is sent.
type RecordWriter[T any] struct {
	ctx     context.Context
	targets []ChannelWriter
	part    Partitioner[T]
	batched batchSelector[T] // part, when it can choose for a run of records
	cfg     WriterConfig
	mode    writerMode
	pool    *sync.Pool
	pend    []pending[T] // per target
	codec   codec.Codec[T]
	encode  []bool // per target: send encoded batches (a remote channel)
	encoded int    // size of the last encoded batch, to size the next buffer
	// reuse is, per target, whether its batches are encoded into scratch,
	// which the target is done with when Send returns (CopyingChannel).
	reuse   []bool
	scratch []byte
	// sel holds the record being partitioned: handing the partitioner a
	// pointer into the writer rather than to Collect's argument keeps the
	// record from escaping to the heap on every call.
	sel operator.Record[T]
	// idx receives the targets a batchSelector chose for a run.
	idx []int32
}

// pending is the batch being filled for one target.
type pending[T any] struct {
	batch *Batch[T] // nil when none
	// recs is the batch's records so far; its capacity is the batch size,
	// so the batch is full when len(recs) == cap(recs).
	recs []operator.Record[T]
}

type writerMode uint8

const (
	toOne       writerMode = iota // a single target
	partitioned                   // the partitioner picks one target per record
	broadcast                     // every record to every target
)

// selectRun is the most records a batchSelector chooses targets for at once.
const selectRun = 256

// NewRecordWriter returns a writer sending to targets. part may be nil when
// there is one target or the writer broadcasts.
func NewRecordWriter[T any](ctx context.Context, targets []ChannelWriter, part Partitioner[T], cfg WriterConfig) (*RecordWriter[T], error) {
	if cfg.BatchSize < 1 {
		cfg.BatchSize = 1
	}
	if cfg.Failure == nil {
		cfg.Failure = operator.NewFailure(new(int), nil)
	}
	w := &RecordWriter[T]{ctx: ctx, targets: targets, part: part, cfg: cfg, pool: PoolFor[T](), pend: make([]pending[T], len(targets))}
	switch {
	case cfg.Broadcast:
		w.mode = broadcast
	case len(targets) > 1:
		if part == nil {
			return nil, fmt.Errorf("record writer with %d targets needs a partitioner", len(targets))
		}
		w.mode = partitioned
		if b, ok := part.(batchSelector[T]); ok {
			w.batched = b
			w.idx = make([]int32, selectRun)
		}
	}
	encodeAny := false
	w.encode, w.reuse = make([]bool, len(targets)), make([]bool, len(targets))
	for i, t := range targets {
		r, ok := t.(RemoteChannel)
		w.encode[i] = cfg.Encode || ok && r.Remote()
		encodeAny = encodeAny || w.encode[i]
		c, ok := t.(CopyingChannel)
		w.reuse[i] = w.encode[i] && ok && c.CopiesBytes()
	}
	if encodeAny {
		c, err := codec.Of[T]()
		if err != nil {
			return nil, fmt.Errorf("encoding exchange: %w", err)
		}
		w.codec = c
	}
	return w, nil
}

// Collect implements operator.Output.
func (w *RecordWriter[T]) Collect(r operator.Record[T]) {
	switch w.mode {
	case toOne:
		w.add(0, r)
	case partitioned:
		w.sel = r
		w.addChecked(w.part.Select(&w.sel, len(w.targets)), r)
	default:
		for i := range w.targets {
			w.add(i, r)
		}
	}
}

// CollectBatch emits records in order, exactly as calling Collect on each
// would, but copies runs into the pending batch at once when there is one
// target, and lets a partitioner that can choose the targets of a whole run
// do so in one call.
func (w *RecordWriter[T]) CollectBatch(records []operator.Record[T]) {
	switch w.mode {
	case toOne:
		for len(records) > 0 {
			p := &w.pend[0]
			if p.batch == nil {
				w.newBatch(p)
			}
			k := min(len(records), cap(p.recs)-len(p.recs))
			p.recs = append(p.recs, records[:k]...)
			records = records[k:]
			if len(p.recs) == cap(p.recs) {
				w.full(0)
			}
		}
	case partitioned:
		if w.batched == nil {
			n := len(w.targets)
			for i := range records {
				w.sel = records[i]
				w.addChecked(w.part.Select(&w.sel, n), records[i])
			}
			return
		}
		for len(records) > 0 {
			run := records[:min(len(records), len(w.idx))]
			records = records[len(run):]
			idx := w.idx[:len(run)]
			w.batched.selectBatch(run, len(w.targets), idx)
			for j := range run {
				w.add(int(idx[j]), run[j])
			}
		}
	default:
		for i := range records {
			for t := range w.targets {
				w.add(t, records[i])
			}
		}
	}
}

// addChecked is add for a target a partitioner chose: one out of range
// fails the chain and drops r.
func (w *RecordWriter[T]) addChecked(i int, r operator.Record[T]) {
	if uint(i) >= uint(len(w.targets)) {
		w.cfg.Failure.Raise(&PartitionError{Index: i, Targets: len(w.targets)})
		return
	}
	w.add(i, r)
}

// add appends r to the pending batch of target i. The common case, room in
// a pending batch, is small enough to be inlined.
func (w *RecordWriter[T]) add(i int, r operator.Record[T]) {
	p := &w.pend[i]
	if n := len(p.recs); n+1 < cap(p.recs) {
		p.recs = p.recs[:n+1]
		p.recs[n] = r
		return
	}
	w.addSlow(i, r) // no batch yet, or r fills it
}

//go:noinline
func (w *RecordWriter[T]) addSlow(i int, r operator.Record[T]) {
	p := &w.pend[i]
	if p.batch == nil {
		w.newBatch(p)
	}
	p.recs = append(p.recs, r)
	if len(p.recs) == cap(p.recs) {
		w.full(i)
	}
}

// newBatch takes an empty batch from the pool as p's batch.
func (w *RecordWriter[T]) newBatch(p *pending[T]) {
	b := w.pool.Get().(*Batch[T])
	if cap(b.Records) < w.cfg.BatchSize {
		b.Records = make([]operator.Record[T], 0, w.cfg.BatchSize)
	}
	p.batch = b
	p.recs = b.Records[:0:w.cfg.BatchSize]
}

// full sends the full pending batch of target i; it is kept out of line so
// the record path stays small.
//
//go:noinline
func (w *RecordWriter[T]) full(i int) {
	w.cfg.Failure.Raise(w.flushOne(i))
}

func (w *RecordWriter[T]) flushOne(i int) error {
	p := &w.pend[i]
	if len(p.recs) == 0 {
		return nil
	}
	b := p.batch
	b.Records = p.recs
	p.batch, p.recs = nil, nil
	e := Envelope{Kind: KindRecords, Batch: b, Count: len(b.Records)}
	if w.encode[i] {
		var dst []byte
		if w.reuse[i] {
			dst = w.scratch[:0]
		} else {
			dst = make([]byte, 0, w.encoded+w.encoded/8)
		}
		buf, err := EncodeBatch(w.codec, dst, b.Records)
		if err != nil {
			Release(w.pool, b)
			return err
		}
		w.encoded = len(buf)
		if w.reuse[i] {
			w.scratch = buf
		}
		e = Envelope{Kind: KindEncoded, Bytes: buf, Count: len(b.Records)}
		Release(w.pool, b)
	}
	return w.targets[i].Send(w.ctx, e)
}

// Flush sends every partial batch.
func (w *RecordWriter[T]) Flush() error {
	w.sel = operator.Record[T]{}
	for i := range w.pend {
		if err := w.flushOne(i); err != nil {
			return err
		}
	}
	return nil
}

// IsAvailable reports whether every target has room below its capacity.
// The subtask checks it before it takes its next input; it costs one
// check per target and is not called per record.
func (w *RecordWriter[T]) IsAvailable() bool {
	for _, t := range w.targets {
		if !t.IsAvailable() {
			return false
		}
	}
	return true
}

// Available returns a channel closed once the first target that has no
// room gets some, or an already closed one when every target has room.
// Another target may be full by then: the caller checks IsAvailable again
// and waits once more if it must.
func (w *RecordWriter[T]) Available() <-chan struct{} {
	for _, t := range w.targets {
		if !t.IsAvailable() {
			return t.Available()
		}
	}
	return closedChan
}

// EmitWatermark implements operator.Output: it flushes, then sends the
// watermark to every target.
func (w *RecordWriter[T]) EmitWatermark(wm int64) {
	w.cfg.Failure.Raise(w.Event(Envelope{Kind: KindWatermark, Watermark: wm}))
}

// Event flushes pending records, then sends e to every target.
func (w *RecordWriter[T]) Event(e Envelope) error {
	if err := w.Flush(); err != nil {
		return err
	}
	for _, t := range w.targets {
		if err := t.Send(w.ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// The encoding of a batch is its record count (uvarint), then each
// record's timestamp (varint) and value. A batch in which no record has a
// timestamp (operator.NoTimestamp, ten bytes as a varint) leaves them out:
// it starts with a zero byte and the flags byte batchNoTimestamps, then the
// count and the values. A batch of the first form that starts with a zero
// byte is the empty batch, one byte long, so the two cannot be mistaken.
const batchNoTimestamps = 1

// EncodeBatch appends the encoding of records to dst.
//
// A codec that cannot encode a value (a MarshalBinary that fails) panics
// with a *codec.EncodeError; EncodeBatch returns it as its error, so the
// failure never unwinds through the functions that emitted the records.
func EncodeBatch[T any](c codec.Codec[T], dst []byte, records []operator.Record[T]) (_ []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = codec.Recovered(r)
		}
	}()
	stamped := hasTimestamps(records)
	if !stamped && len(records) > 0 {
		dst = append(dst, 0, batchNoTimestamps)
	}
	dst = binary.AppendUvarint(dst, uint64(len(records)))
	if size := codec.RawSize(c); size > 0 {
		return encodeRaw(dst, records, size, stamped), nil
	}
	for i := range records {
		if stamped {
			dst = binary.AppendVarint(dst, records[i].Timestamp)
		}
		dst = c.Append(dst, records[i].Value)
	}
	return dst, nil
}

// hasTimestamps reports whether a record has a timestamp.
func hasTimestamps[T any](records []operator.Record[T]) bool {
	for i := range records {
		if records[i].Timestamp != operator.NoTimestamp {
			return true
		}
	}
	return false
}

// encodeRaw encodes the records of a batch for a codec that encodes
// values as their size bytes in memory (codec.RawSize): each value is
// copied as it is, with no call to the codec, giving the same bytes.
func encodeRaw[T any](dst []byte, records []operator.Record[T], size int, stamped bool) []byte {
	dst = slices.Grow(dst, len(records)*(binary.MaxVarintLen64+size))
	for i := range records {
		if stamped {
			dst = binary.AppendVarint(dst, records[i].Timestamp)
		}
		dst = append(dst, unsafe.Slice((*byte)(unsafe.Pointer(&records[i].Value)), size)...)
	}
	return dst
}

// DecodeBatch decodes a batch encoded by EncodeBatch into b.
func DecodeBatch[T any](c codec.Codec[T], src []byte, b *Batch[T]) error {
	stamped := true
	if len(src) > 1 && src[0] == 0 {
		if src[1] != batchNoTimestamps {
			return fmt.Errorf("decoding batch header: flags %#x: %w", src[1], codec.ErrCorrupt)
		}
		stamped, src = false, src[2:]
	}
	n, k := binary.Uvarint(src)
	if k <= 0 || n > uint64(len(src)) {
		return fmt.Errorf("decoding batch header: %w", codec.ErrCorrupt)
	}
	src = src[k:]
	if size := codec.RawSize(c); size > 0 {
		return decodeRaw(src, int(n), b, size, stamped)
	}
	// Each record is decoded into its place in the batch: a value
	// returned and then appended would be copied twice more.
	recs := slices.Grow(b.Records, int(n))
	defer func() { b.Records = recs }()
	for i := uint64(0); i < n; i++ {
		ts := int64(operator.NoTimestamp)
		if stamped {
			if ts, k = binary.Varint(src); k <= 0 {
				return fmt.Errorf("decoding timestamp of record %d: %w", i, codec.ErrCorrupt)
			}
			src = src[k:]
		}
		recs = recs[:len(recs)+1]
		r := &recs[len(recs)-1]
		var m int
		var err error
		if r.Value, m, err = c.Decode(src); err != nil {
			recs = recs[:len(recs)-1]
			return fmt.Errorf("decoding record %d: %w", i, err)
		}
		r.Timestamp = ts
		src = src[m:]
	}
	if len(src) != 0 {
		return fmt.Errorf("decoding batch: %d trailing bytes: %w", len(src), codec.ErrCorrupt)
	}
	return nil
}

// decodeRaw decodes the n records in src for a codec that encodes values
// as their size bytes in memory (codec.RawSize): each value is copied
// into its record as it is, with no call to the codec.
func decodeRaw[T any](src []byte, n int, b *Batch[T], size int, stamped bool) error {
	recs := slices.Grow(b.Records, n)
	defer func() { b.Records = recs }()
	for i := range n {
		ts, k := int64(operator.NoTimestamp), 0
		if stamped {
			if ts, k = binary.Varint(src); k <= 0 {
				return fmt.Errorf("decoding timestamp of record %d: %w", i, codec.ErrCorrupt)
			}
		}
		if len(src)-k < size {
			return fmt.Errorf("decoding record %d: %d bytes left, want %d: %w", i, len(src)-k, size, codec.ErrCorrupt)
		}
		recs = recs[:len(recs)+1]
		r := &recs[len(recs)-1]
		r.Timestamp = ts
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&r.Value)), size), src[k:k+size])
		src = src[k+size:]
	}
	if len(src) != 0 {
		return fmt.Errorf("decoding batch: %d trailing bytes: %w", len(src), codec.ErrCorrupt)
	}
	return nil
}
