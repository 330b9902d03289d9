package graph

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/operator"
)

// Type carries the typed glue of one element type, so the runtime can wire
// operators of any types together without reflection on the record path.
type Type interface {
	String() string
	// Link returns the Output[T] that calls op, the one-input operator at
	// index idx of a chain, directly.
	Link(op operator.Operator, cur *int, idx int, f *operator.Failure) (any, error)
	// FanOut combines several Output[T] into one.
	FanOut(outs []any) any
	// Discard returns an Output[T] that drops everything.
	Discard() any
	// NewWriter returns a record writer (an Output[T]) sending to targets.
	NewWriter(ctx context.Context, targets []exchange.ChannelWriter, p Partitioning, subtask, maxParallelism int, cfg exchange.WriterConfig) (Writer, error)
	// NewReader returns the function feeding envelopes of records into op:
	// a one-input operator when input is 0, else input 1 or 2 of a
	// two-input operator.
	NewReader(op operator.Operator, input int) (func(e *exchange.Envelope) error, error)
	// CheckCodec reports whether values of the type can be encoded.
	CheckCodec() error
	// AppendEnvelope appends the encoded batch of e, an envelope of
	// records of the type, to dst: the bytes of a KindEncoded envelope
	// carrying the same records (channel state of a checkpoint).
	AppendEnvelope(dst []byte, e *exchange.Envelope) ([]byte, error)
}

// Writer is a record writer seen without its type.
type Writer interface {
	operator.Flusher
	Output() any
	Event(e exchange.Envelope) error
	// IsAvailable and Available tell whether every target has room; see
	// exchange.RecordWriter.
	IsAvailable() bool
	Available() <-chan struct{}
}

// TypeOf returns the Type of T.
func TypeOf[T any]() Type { return typeOf[T]{} }

type typeOf[T any] struct{}

func (typeOf[T]) String() string { return reflect.TypeFor[T]().String() }

func (typeOf[T]) CheckCodec() error {
	_, err := codec.Of[T]()
	return err
}

func (typeOf[T]) AppendEnvelope(dst []byte, e *exchange.Envelope) ([]byte, error) {
	switch e.Kind {
	case exchange.KindEncoded:
		return append(dst, e.Bytes...), nil
	case exchange.KindRecords:
		c, err := codec.Of[T]()
		if err != nil {
			return dst, err
		}
		return exchange.EncodeBatch(c, dst, e.Batch.(*exchange.Batch[T]).Records)
	}
	return dst, fmt.Errorf("encoding a %s envelope as records", e.Kind)
}

func (typeOf[T]) Link(op operator.Operator, cur *int, idx int, f *operator.Failure) (any, error) {
	in, ok := op.(operator.OneInput[T])
	if !ok {
		return nil, fmt.Errorf("operator %T is not a one-input operator of %s", op, reflect.TypeFor[T]())
	}
	l := &operator.Link[T]{Op: in, Cur: cur, Idx: idx, Failure: f}
	l.Batch, _ = op.(operator.BatchInput[T])
	return l, nil
}

func (typeOf[T]) FanOut(outs []any) any {
	f := make(operator.FanOut[T], len(outs))
	for i, o := range outs {
		f[i] = o.(operator.Output[T])
	}
	return f
}

func (typeOf[T]) Discard() any { return operator.Discard[T]{} }

type writer[T any] struct{ *exchange.RecordWriter[T] }

func (w writer[T]) Output() any { return w.RecordWriter }

func (typeOf[T]) NewWriter(ctx context.Context, targets []exchange.ChannelWriter, p Partitioning, subtask, maxParallelism int, cfg exchange.WriterConfig) (Writer, error) {
	var part exchange.Partitioner[T]
	switch p.Kind {
	case PartitionBroadcast:
		cfg.Broadcast = true
	case PartitionRebalance:
		part = &exchange.RoundRobin[T]{Next: subtask}
	case PartitionRescale:
		part = &exchange.RoundRobin[T]{}
	case PartitionShuffle:
		part = &exchange.Random[T]{R: rand.New(rand.NewPCG(rand.Uint64(), uint64(subtask)))}
	case PartitionGlobal:
		part = exchange.First[T]{}
	case PartitionKeyGroups, PartitionCustom:
		pp, ok := p.New(subtask, maxParallelism).(exchange.Partitioner[T])
		if !ok {
			return nil, fmt.Errorf("partitioner for %s has the wrong type", reflect.TypeFor[T]())
		}
		part = pp
	}
	w, err := exchange.NewRecordWriter(ctx, targets, part, cfg)
	if err != nil {
		return nil, err
	}
	return writer[T]{w}, nil
}

func (typeOf[T]) NewReader(op operator.Operator, input int) (func(e *exchange.Envelope) error, error) {
	var process func(operator.Record[T]) error
	var batch func([]operator.Record[T]) error
	switch input {
	case 0:
		if in, ok := op.(operator.OneInput[T]); ok {
			process = in.ProcessElement
			if b, ok := op.(operator.BatchInput[T]); ok {
				batch = b.ProcessBatch
			}
		}
	case 1:
		if in, ok := op.(operator.Input1[T]); ok {
			process = in.ProcessElement1
		}
	case 2:
		if in, ok := op.(operator.Input2[T]); ok {
			process = in.ProcessElement2
		}
	}
	if process == nil {
		if input == 0 {
			return nil, fmt.Errorf("operator %T is not a one-input operator of %s", op, reflect.TypeFor[T]())
		}
		return nil, fmt.Errorf("operator %T does not take input %d of type %s", op, input, reflect.TypeFor[T]())
	}
	pool := exchange.PoolFor[T]()
	var (
		c    codec.Codec[T]
		once sync.Once
		cerr error
	)
	return func(e *exchange.Envelope) error {
		var b *exchange.Batch[T]
		switch e.Kind {
		case exchange.KindRecords:
			b = e.Batch.(*exchange.Batch[T])
		case exchange.KindEncoded:
			once.Do(func() { c, cerr = codec.Of[T]() })
			if cerr != nil {
				return cerr
			}
			b = pool.Get().(*exchange.Batch[T])
			err := exchange.DecodeBatch(c, e.Bytes, b)
			// The records are decoded into b: the envelope's memory
			// can be reused.
			e.ReleaseBytes()
			if err != nil {
				exchange.Release(pool, b)
				return fmt.Errorf("reading channel %d: %w", e.Channel, err)
			}
		default:
			return fmt.Errorf("reader got %s envelope", e.Kind)
		}
		if batch != nil {
			err := batch(b.Records)
			exchange.Release(pool, b)
			return err
		}
		for i := range b.Records {
			if err := process(b.Records[i]); err != nil {
				exchange.Release(pool, b)
				return err
			}
		}
		exchange.Release(pool, b)
		return nil
	}, nil
}
