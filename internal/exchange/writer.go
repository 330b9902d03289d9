package exchange

import (
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/operator"
)

// Batch is a run of records passed between subtasks as one unit.
type Batch[T any] struct {
	Records []operator.Record[T]
}

var pools sync.Map // reflect.Type → *sync.Pool of *Batch[T]

// PoolFor returns the shared pool of batches of T.
func PoolFor[T any]() *sync.Pool {
	t := reflect.TypeFor[T]()
	if p, ok := pools.Load(t); ok {
		return p.(*sync.Pool)
	}
	p, _ := pools.LoadOrStore(t, &sync.Pool{New: func() any { return new(Batch[T]) }})
	return p.(*sync.Pool)
}

// Release clears b and returns it to its pool.
func Release[T any](pool *sync.Pool, b *Batch[T]) {
	clear(b.Records)
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
	// Encode makes the writer send encoded batches (as a remote channel would).
	Encode bool
}

// RecordWriter is the Output that partitions records into per-target batches
// and sends them downstream. It is owned by the subtask's goroutine.
type RecordWriter[T any] struct {
	ctx     context.Context
	targets []ChannelWriter
	part    Partitioner[T]
	cfg     WriterConfig
	pool    *sync.Pool
	bufs    []*Batch[T]
	codec   codec.Codec[T]
	scratch []byte
	// sel holds the record being partitioned: handing the partitioner a
	// pointer into the writer, not to Collect's argument, keeps the record
	// from escaping to the heap on every call.
	sel operator.Record[T]
}

// NewRecordWriter returns a writer sending to targets. part may be nil when
// there is one target or the writer broadcasts.
func NewRecordWriter[T any](ctx context.Context, targets []ChannelWriter, part Partitioner[T], cfg WriterConfig) (*RecordWriter[T], error) {
	if cfg.BatchSize < 1 {
		cfg.BatchSize = 1
	}
	w := &RecordWriter[T]{ctx: ctx, targets: targets, part: part, cfg: cfg, pool: PoolFor[T](), bufs: make([]*Batch[T], len(targets))}
	if cfg.Encode {
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
	if w.cfg.Broadcast {
		for i := range w.targets {
			w.add(i, r)
		}
		return
	}
	i := 0
	if len(w.targets) > 1 {
		w.sel = r
		i = w.part.Select(&w.sel, len(w.targets))
	}
	w.add(i, r)
}

func (w *RecordWriter[T]) add(i int, r operator.Record[T]) {
	b := w.bufs[i]
	if b == nil {
		b = w.pool.Get().(*Batch[T])
		if cap(b.Records) < w.cfg.BatchSize {
			b.Records = make([]operator.Record[T], 0, w.cfg.BatchSize)
		}
		w.bufs[i] = b
	}
	b.Records = append(b.Records, r)
	if len(b.Records) >= w.cfg.BatchSize {
		if err := w.flushOne(i); err != nil {
			operator.Fail(err)
		}
	}
}

func (w *RecordWriter[T]) flushOne(i int) error {
	b := w.bufs[i]
	if b == nil || len(b.Records) == 0 {
		return nil
	}
	w.bufs[i] = nil
	e := Envelope{Kind: KindRecords, Batch: b, Count: len(b.Records)}
	if w.codec != nil {
		e = Envelope{Kind: KindEncoded, Bytes: EncodeBatch(w.codec, nil, b.Records), Count: len(b.Records)}
		Release(w.pool, b)
	}
	return w.targets[i].Send(w.ctx, e)
}

// Flush sends every partial batch.
func (w *RecordWriter[T]) Flush() error {
	for i := range w.bufs {
		if err := w.flushOne(i); err != nil {
			return err
		}
	}
	return nil
}

// EmitWatermark implements operator.Output: it flushes, then sends the
// watermark to every target.
func (w *RecordWriter[T]) EmitWatermark(wm int64) {
	if err := w.Event(Envelope{Kind: KindWatermark, Watermark: wm}); err != nil {
		operator.Fail(err)
	}
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

// EncodeBatch appends the encoding of records to dst: a count, then each
// record's timestamp and value.
func EncodeBatch[T any](c codec.Codec[T], dst []byte, records []operator.Record[T]) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(records)))
	for i := range records {
		dst = binary.AppendVarint(dst, records[i].Timestamp)
		dst = c.Append(dst, records[i].Value)
	}
	return dst
}

// DecodeBatch decodes a batch encoded by EncodeBatch into b.
func DecodeBatch[T any](c codec.Codec[T], src []byte, b *Batch[T]) error {
	n, k := binary.Uvarint(src)
	if k <= 0 || n > uint64(len(src)) {
		return fmt.Errorf("decoding batch header: %w", codec.ErrCorrupt)
	}
	src = src[k:]
	for i := uint64(0); i < n; i++ {
		ts, k := binary.Varint(src)
		if k <= 0 {
			return fmt.Errorf("decoding timestamp of record %d: %w", i, codec.ErrCorrupt)
		}
		src = src[k:]
		v, m, err := c.Decode(src)
		if err != nil {
			return fmt.Errorf("decoding record %d: %w", i, err)
		}
		src = src[m:]
		b.Records = append(b.Records, operator.Record[T]{Value: v, Timestamp: ts})
	}
	if len(src) != 0 {
		return fmt.Errorf("decoding batch: %d trailing bytes: %w", len(src), codec.ErrCorrupt)
	}
	return nil
}
