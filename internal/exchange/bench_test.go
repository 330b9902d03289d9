package exchange

import (
	"context"
	"testing"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/internal/operator"
)

// BenchmarkWriterKeyed is the sending side of a keyed exchange: one op is
// one record partitioned by key group into batches for two targets.
func BenchmarkWriterKeyed(b *testing.B) {
	hash, _ := keygroup.Hasher[int64](nil)
	targets := []ChannelWriter{&releaser[int64]{}, &releaser[int64]{}}
	w, err := NewRecordWriter[int64](context.Background(), targets, &KeyGroups[int64, int64]{Key: func(v int64) int64 { return v % 1000 }, Hash: hash, MaxParallelism: 128}, WriterConfig{BatchSize: 256})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := range b.N {
		w.Collect(operator.Record[int64]{Value: int64(i)})
	}
}

// BenchmarkWriterKeyedRuns is BenchmarkWriterKeyed with the records handed
// over in runs of 256, as a chain does with CollectBatch: one op is one record.
func BenchmarkWriterKeyedRuns(b *testing.B) {
	hash, _ := keygroup.Hasher[int64](nil)
	targets := []ChannelWriter{&releaser[int64]{}, &releaser[int64]{}}
	w, err := NewRecordWriter[int64](context.Background(), targets, &KeyGroups[int64, int64]{Key: func(v int64) int64 { return v % 1000 }, Hash: hash, MaxParallelism: 128}, WriterConfig{BatchSize: 256})
	if err != nil {
		b.Fatal(err)
	}
	run := make([]operator.Record[int64], 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i += len(run) {
		for j := range run {
			run[j].Value = int64(i + j)
		}
		w.CollectBatch(run[:min(len(run), b.N-i)])
	}
}

// BenchmarkWriterForward is a one-target writer: one op is one record.
func BenchmarkWriterForward(b *testing.B) {
	w, err := NewRecordWriter[int64](context.Background(), []ChannelWriter{&releaser[int64]{}}, nil, WriterConfig{BatchSize: 256})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := range b.N {
		w.Collect(operator.Record[int64]{Value: int64(i)})
	}
}

// BenchmarkGateBatches measures a batch crossing a gate between goroutines:
// one op is one batch of 256 records sent by a writer and read back.
func BenchmarkGateBatches(b *testing.B) {
	g := NewGate(1, 4)
	ctx := context.Background()
	pool := PoolFor[int64]()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w, _ := NewRecordWriter[int64](ctx, []ChannelWriter{g.Channel(0)}, nil, WriterConfig{BatchSize: 256})
		for i := range b.N * 256 {
			w.Collect(operator.Record[int64]{Value: int64(i)})
		}
		_ = w.Event(Envelope{Kind: KindEndOfInput})
	}()
	b.ReportAllocs()
	var sum int64
	for {
		e, _, err := g.Next(ctx, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		if e.Kind == KindEndOfInput {
			break
		}
		bt := e.Batch.(*Batch[int64])
		for _, r := range bt.Records {
			sum += r.Value
		}
		Release(pool, bt)
	}
	<-done
}

// rec100 is a 100-byte record with a codec that copies its bytes, the
// record of the network benchmarks in package bench.
type rec100 [100]byte

type rec100Codec struct{}

func (rec100Codec) Append(dst []byte, v rec100) []byte { return append(dst, v[:]...) }

func (rec100Codec) Decode(src []byte) (v rec100, n int, err error) {
	if len(src) < len(v) {
		return v, 0, codec.ErrCorrupt
	}
	return rec100(src[:len(v)]), len(v), nil
}

// rawRec100Codec is rec100Codec that says its encoding is the values'
// bytes (codec.Raw), so batches copy them without calling it.
type rawRec100Codec struct{ rec100Codec }

func (rawRec100Codec) RawSize() int { return len(rec100{}) }

// batchCodecs are the codecs the batch benchmarks compare.
var batchCodecs = []struct {
	name string
	c    codec.Codec[rec100]
}{{"codec", rec100Codec{}}, {"raw", rawRec100Codec{}}}

// BenchmarkEncodeBatch encodes batches of 256 100-byte records, as a
// record writer does for another process: one op is one record.
func BenchmarkEncodeBatch(b *testing.B) {
	recs := make([]operator.Record[rec100], 256)
	for i := range recs {
		recs[i].Value[0], recs[i].Value[99] = byte(i), byte(i+1)
	}
	for _, bc := range batchCodecs {
		b.Run(bc.name, func(b *testing.B) {
			var dst []byte
			b.ReportAllocs()
			b.SetBytes(100)
			for i := 0; i < b.N; i += len(recs) {
				var err error
				if dst, err = EncodeBatch(bc.c, dst[:0], recs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeBatch decodes batches of 256 100-byte records, as a
// gate's reader does with what arrives from another process: one op is one
// record.
func BenchmarkDecodeBatch(b *testing.B) {
	recs := make([]operator.Record[rec100], 256)
	for i := range recs {
		recs[i].Value[0], recs[i].Value[99] = byte(i), byte(i+1)
	}
	src, err := EncodeBatch[rec100](rec100Codec{}, nil, recs)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range batchCodecs {
		b.Run(bc.name, func(b *testing.B) {
			var batch Batch[rec100]
			b.ReportAllocs()
			b.SetBytes(100)
			for i := 0; i < b.N; i += len(recs) {
				batch.Records = batch.Records[:0]
				if err := DecodeBatch(bc.c, src, &batch); err != nil {
					b.Fatal(err)
				}
			}
			if batch.Records[255] != recs[255] {
				b.Fatalf("decoded %v, want %v", batch.Records[255], recs[255])
			}
		})
	}
}
