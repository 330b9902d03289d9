package exchange

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/internal/operator"
)

// recorder is a ChannelWriter that keeps what it is sent, copying the
// records of each batch and returning the batch to its pool as a reader does.
type recorder[T any] struct {
	roomy
	envs    []Envelope
	records []operator.Record[T]
	batches [][]operator.Record[T]
}

func (r *recorder[T]) Send(_ context.Context, e Envelope) error {
	if e.Kind == KindRecords {
		b := e.Batch.(*Batch[T])
		r.records = append(r.records, b.Records...)
		r.batches = append(r.batches, slices.Clone(b.Records))
		Release(PoolFor[T](), b)
		e.Batch = nil
	}
	r.envs = append(r.envs, e)
	return nil
}

func recs(vs ...int64) []operator.Record[int64] {
	out := make([]operator.Record[int64], len(vs))
	for i, v := range vs {
		out[i] = operator.Record[int64]{Value: v, Timestamp: v * 10}
	}
	return out
}

func TestWriterBatchesInOrder(t *testing.T) {
	r := &recorder[int64]{}
	w, err := NewRecordWriter[int64](context.Background(), []ChannelWriter{r}, nil, WriterConfig{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	in := recs(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	for _, x := range in {
		w.Collect(x)
	}
	if len(r.batches) != 2 {
		t.Fatalf("sent %d batches before Flush, want the 2 full ones", len(r.batches))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.records, in) {
		t.Fatalf("got %v, want %v", r.records, in)
	}
	if got := []int{len(r.batches[0]), len(r.batches[1]), len(r.batches[2])}; !slices.Equal(got, []int{4, 4, 2}) {
		t.Fatalf("batch sizes %v, want [4 4 2]", got)
	}
	for i, e := range r.envs {
		if e.Kind != KindRecords || e.Count != len(r.batches[i]) {
			t.Fatalf("envelope %d: %s with count %d", i, e.Kind, e.Count)
		}
	}
	// Flushing with nothing pending sends nothing.
	if err := w.Flush(); err != nil || len(r.envs) != 3 {
		t.Fatalf("empty flush: err %v, %d envelopes", err, len(r.envs))
	}
}

func TestCollectBatchMatchesCollect(t *testing.T) {
	in := make([]operator.Record[int64], 1000)
	for i := range in {
		in[i] = operator.Record[int64]{Value: int64(i), Timestamp: int64(i)}
	}
	hash, _ := keygroup.Hasher[int64](nil)
	for _, size := range []int{1, 2, 7, 256} {
		for _, n := range []int{1, 3} {
			for _, bc := range []bool{false, true} {
				mk := func() ([]*recorder[int64], *RecordWriter[int64]) {
					rs := make([]*recorder[int64], n)
					ts := make([]ChannelWriter, n)
					for i := range rs {
						rs[i] = &recorder[int64]{}
						ts[i] = rs[i]
					}
					var p Partitioner[int64]
					if n > 1 && !bc {
						p = &KeyGroups[int64, int64]{Key: func(v int64) int64 { return v % 17 }, Hash: hash, MaxParallelism: 128}
					}
					w, err := NewRecordWriter(context.Background(), ts, p, WriterConfig{BatchSize: size, Broadcast: bc})
					if err != nil {
						t.Fatal(err)
					}
					return rs, w
				}
				one, w1 := mk()
				for _, x := range in {
					w1.Collect(x)
				}
				many, w2 := mk()
				for i := 0; i < len(in); {
					k := min(len(in)-i, 1+i%13)
					w2.CollectBatch(in[i : i+k])
					i += k
				}
				_ = w1.Flush()
				_ = w2.Flush()
				for i := range one {
					if !slices.Equal(one[i].records, many[i].records) || len(one[i].batches) != len(many[i].batches) {
						t.Fatalf("batch size %d, n=%d broadcast=%v target %d: CollectBatch sent %d records in %d batches, Collect %d in %d",
							size, n, bc, i, len(many[i].records), len(many[i].batches), len(one[i].records), len(one[i].batches))
					}
					for _, b := range one[i].batches {
						if len(b) > size {
							t.Fatalf("batch of %d records, batch size %d", len(b), size)
						}
					}
				}
			}
		}
	}
}

func TestEventFlushesPendingRecordsFirst(t *testing.T) {
	rs := []*recorder[int64]{{}, {}}
	w, err := NewRecordWriter[int64](context.Background(), []ChannelWriter{rs[0], rs[1]}, &RoundRobin[int64]{}, WriterConfig{BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range recs(1, 2, 3) {
		w.Collect(x)
	}
	w.EmitWatermark(42)
	if err := w.Event(Envelope{Kind: KindEndOfInput}); err != nil {
		t.Fatal(err)
	}
	want := [][]Kind{{KindRecords, KindWatermark, KindEndOfInput}, {KindRecords, KindWatermark, KindEndOfInput}}
	for i, r := range rs {
		var kinds []Kind
		for _, e := range r.envs {
			kinds = append(kinds, e.Kind)
		}
		if !slices.Equal(kinds, want[i]) {
			t.Fatalf("target %d got %v, want %v", i, kinds, want[i])
		}
		if r.envs[1].Watermark != 42 {
			t.Fatalf("target %d: watermark %d", i, r.envs[1].Watermark)
		}
	}
	if !slices.Equal(rs[0].records, recs(1, 3)) || !slices.Equal(rs[1].records, recs(2)) {
		t.Fatalf("round robin sent %v and %v", rs[0].records, rs[1].records)
	}
}

func TestWriterNeedsPartitioner(t *testing.T) {
	if _, err := NewRecordWriter[int64](context.Background(), []ChannelWriter{&recorder[int64]{}, &recorder[int64]{}}, nil, WriterConfig{}); err == nil {
		t.Fatal("no error for two targets without a partitioner")
	}
}

func TestKeyGroupsMatchesKeygroup(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, maxP := range []int{1, 2, 3, 7, 128, 1000, 4096, 32768, 1<<20 + 3, 1 << 22} {
		for _, n := range []int{1, 2, 3, 5, 64, 128, maxP} {
			if n > maxP {
				continue
			}
			p := &KeyGroups[int32, int32]{Key: func(v int32) int32 { return v }, Hash: func(k int32) int32 { return k }, MaxParallelism: maxP}
			check := func(v int32) {
				r := operator.Record[int32]{Value: v}
				want := keygroup.OperatorIndex(keygroup.ForHash(v, maxP), maxP, n)
				if got := p.Select(&r, n); got != want {
					t.Fatalf("max parallelism %d, %d targets, hash %d: got %d, want %d", maxP, n, v, got, want)
				}
			}
			for _, v := range []int32{0, 1, -1, 1<<31 - 1, -1 << 31} {
				check(v)
			}
			for range 20000 {
				check(int32(rng.Uint32()))
			}
			rs := make([]operator.Record[int32], 300)
			for i := range rs {
				rs[i].Value = int32(rng.Uint32())
			}
			out := make([]int32, len(rs))
			p.selectBatch(rs, n, out)
			for i := range rs {
				if want := p.Select(&rs[i], n); int(out[i]) != want {
					t.Fatalf("max parallelism %d, %d targets: selectBatch chose %d for hash %d, Select %d", maxP, n, out[i], rs[i].Value, want)
				}
			}
		}
	}
}

func TestDivisor(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ds := []uint32{1, 2, 3, 7, 10, 128, 1000, 32768, 65535, 1<<31 - 1, 1 << 31, 1<<32 - 1}
	for range 200 {
		ds = append(ds, rng.Uint32()|1, rng.Uint32N(1<<16)+1)
	}
	for _, d := range ds {
		v := newDivisor(d)
		xs := []uint32{0, 1, d - 1, d, d + 1, 1<<32 - 1, 1<<32 - 2}
		for range 2000 {
			xs = append(xs, rng.Uint32())
		}
		for _, x := range xs {
			if got, want := v.mod(x), x%d; got != want {
				t.Fatalf("%d mod %d: got %d, want %d", x, d, got, want)
			}
			if got, want := fastDiv(x, v.m), x/d; got != want {
				t.Fatalf("%d / %d: got %d, want %d", x, d, got, want)
			}
		}
	}
}

func TestRoundRobin(t *testing.T) {
	p := &RoundRobin[int]{Next: 5}
	var got []int
	for range 7 {
		got = append(got, p.Select(nil, 3))
	}
	if want := []int{2, 0, 1, 2, 0, 1, 2}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestWriterDoesNotAllocatePerRecord(t *testing.T) {
	hash, _ := keygroup.Hasher[int64](nil)
	targets := []ChannelWriter{&releaser[int64]{}, &releaser[int64]{}}
	w, err := NewRecordWriter[int64](context.Background(), targets, &KeyGroups[int64, int64]{Key: func(v int64) int64 { return v % 1000 }, Hash: hash, MaxParallelism: 128}, WriterConfig{BatchSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	var v int64
	allocs := testing.AllocsPerRun(100, func() {
		for range 1000 {
			v++
			w.Collect(operator.Record[int64]{Value: v})
		}
	})
	// Batches come from a pool, which may drop them (the race detector makes
	// it drop some on purpose); what must not happen is an allocation per record.
	if allocs > 10 {
		t.Fatalf("%v allocations per 1000 records", allocs)
	}
}

// releaser returns batches to their pool at once, as a fast reader would.
type releaser[T any] struct {
	roomy
	n int
}

// roomy is the availability of a channel that always has room.
type roomy struct{}

func (roomy) IsAvailable() bool          { return true }
func (roomy) Available() <-chan struct{} { return closedChan }

func (r *releaser[T]) Send(_ context.Context, e Envelope) error {
	if e.Kind == KindRecords {
		b := e.Batch.(*Batch[T])
		r.n += len(b.Records)
		Release(PoolFor[T](), b)
	}
	return nil
}

func TestEncodedRoundTrip(t *testing.T) {
	r := &recorder[string]{}
	w, err := NewRecordWriter[string](context.Background(), []ChannelWriter{r}, nil, WriterConfig{BatchSize: 3, Encode: true})
	if err != nil {
		t.Fatal(err)
	}
	in := []operator.Record[string]{{Value: "a", Timestamp: 1}, {Value: "", Timestamp: operator.NoTimestamp}, {Value: "ccc", Timestamp: -5}, {Value: "dd", Timestamp: 7}}
	for _, x := range in {
		w.Collect(x)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	c, _ := codec.Of[string]()
	var got []operator.Record[string]
	for _, e := range r.envs {
		if e.Kind != KindEncoded {
			t.Fatalf("got %s envelope", e.Kind)
		}
		b := &Batch[string]{}
		if err := DecodeBatch(c, e.Bytes, b); err != nil {
			t.Fatal(err)
		}
		if len(b.Records) != e.Count {
			t.Fatalf("count %d, decoded %d", e.Count, len(b.Records))
		}
		got = append(got, b.Records...)
	}
	if !slices.Equal(got, in) {
		t.Fatalf("got %v, want %v", got, in)
	}
	if err := DecodeBatch(c, r.envs[0].Bytes[:len(r.envs[0].Bytes)-1], &Batch[string]{}); !errors.Is(err, codec.ErrCorrupt) {
		t.Fatalf("truncated batch: %v", err)
	}
}

// TestRawBatches: a codec with the raw encoding (codec.Raw) gives the
// same bytes as calling it for each record, decodes them back, and a
// truncated or padded batch is corrupt.
func TestRawBatches(t *testing.T) {
	var in []operator.Record[rec100]
	for i, ts := range []int64{0, 1, -5, operator.NoTimestamp, 1 << 40} {
		var v rec100
		for j := range v {
			v[j] = byte(i*31 + j)
		}
		in = append(in, operator.Record[rec100]{Value: v, Timestamp: ts})
	}
	want, err := EncodeBatch[rec100](rec100Codec{}, nil, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := EncodeBatch[rec100](rawRec100Codec{}, []byte("x"), in)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "x"+string(want) {
		t.Fatalf("raw encoding differs from the codec's:\n%x\n%x", got[1:], want)
	}
	b := &Batch[rec100]{Records: []operator.Record[rec100]{{Timestamp: 9}}}
	if err := DecodeBatch[rec100](rawRec100Codec{}, want, b); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Records[1:], in) || b.Records[0].Timestamp != 9 {
		t.Fatalf("decoded %v, want the first record kept and then %v", b.Records, in)
	}
	for _, bad := range [][]byte{want[:len(want)-1], append(slices.Clip(want), 0)} {
		if err := DecodeBatch[rec100](rawRec100Codec{}, bad, &Batch[rec100]{}); !errors.Is(err, codec.ErrCorrupt) {
			t.Errorf("batch of %d bytes (%d encoded): got %v, want a corrupt batch", len(bad), len(want), err)
		}
	}
}

// TestBatchesWithoutTimestamps: a batch in which no record has a
// timestamp leaves them out, with every codec, and decodes back; the
// empty batch of the other form still decodes, and unknown flags are
// corrupt.
func TestBatchesWithoutTimestamps(t *testing.T) {
	v := func(i int) rec100 {
		var v rec100
		for j := range v {
			v[j] = byte(i + j)
		}
		return v
	}
	none := []operator.Record[rec100]{{Value: v(1), Timestamp: operator.NoTimestamp}, {Value: v(2), Timestamp: operator.NoTimestamp}}
	for _, bc := range batchCodecs {
		enc, err := EncodeBatch(bc.c, nil, none)
		if err != nil {
			t.Fatal(err)
		}
		if want := 3 + 2*len(rec100{}); len(enc) != want || enc[0] != 0 || enc[1] != batchNoTimestamps || enc[2] != 2 {
			t.Fatalf("%s: encoded %d bytes starting %x, want %d starting 000102", bc.name, len(enc), enc[:3], want)
		}
		b := &Batch[rec100]{}
		if err := DecodeBatch(bc.c, enc, b); err != nil {
			t.Fatalf("%s: %v", bc.name, err)
		}
		if !slices.Equal(b.Records, none) {
			t.Fatalf("%s: decoded %v, want %v", bc.name, b.Records, none)
		}
		if err := DecodeBatch(bc.c, []byte{0}, b); err != nil || len(b.Records) != 2 {
			t.Fatalf("%s: the empty batch: %v, %d records, want 2 kept", bc.name, err, len(b.Records))
		}
		bad := append([]byte{0, 2}, enc[2:]...)
		if err := DecodeBatch(bc.c, bad, &Batch[rec100]{}); !errors.Is(err, codec.ErrCorrupt) {
			t.Errorf("%s: flags 2: got %v, want a corrupt batch", bc.name, err)
		}
		// One timestamp among them: every record keeps its own.
		mixed := append(slices.Clone(none), operator.Record[rec100]{Value: v(3), Timestamp: 7})
		enc, err = EncodeBatch(bc.c, nil, mixed)
		if err != nil {
			t.Fatal(err)
		}
		b = &Batch[rec100]{}
		if err := DecodeBatch(bc.c, enc, b); err != nil || !slices.Equal(b.Records, mixed) || enc[0] != 3 {
			t.Fatalf("%s: mixed batch %x...: decoded %v (%v), want %v", bc.name, enc[:2], b.Records, err, mixed)
		}
	}
}

func TestReleaseClearsOnlyPointers(t *testing.T) {
	if hasPointers(typeOfRecord[int64]()) || hasPointers(typeOfRecord[struct {
		A [3]float64
		B uint8
	}]()) {
		t.Fatal("pointer-free records reported as holding pointers")
	}
	for _, scan := range []bool{hasPointers(typeOfRecord[string]()), hasPointers(typeOfRecord[*int]()), hasPointers(typeOfRecord[[]int]()), hasPointers(typeOfRecord[any]()), hasPointers(typeOfRecord[struct{ M map[int]int }]())} {
		if !scan {
			t.Fatal("records with pointers reported as pointer-free")
		}
	}
	pool := PoolFor[*int]()
	b := pool.Get().(*Batch[*int])
	x := 1
	b.Records = append(b.Records[:0], operator.Record[*int]{Value: &x})
	Release(pool, b)
	if len(b.Records) != 0 || b.Records[:1][0].Value != nil {
		t.Fatal("released batch still references its values")
	}
}

func TestGateKeepsChannelOrder(t *testing.T) {
	const producers, per = 4, 2000
	g := NewGate(producers, 3)
	ctx := context.Background()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := g.Channel(p)
			for i := range per {
				if err := c.Send(ctx, Envelope{Kind: KindWatermark, Watermark: int64(i)}); err != nil {
					t.Error(err)
					return
				}
			}
			_ = c.Send(ctx, Envelope{Kind: KindEndOfInput})
		}()
	}
	next := make([]int64, producers)
	for ended := 0; ended < producers; {
		e, woken, err := g.Next(ctx, nil, nil)
		if err != nil || woken {
			t.Fatalf("Next: %v, woken %t", err, woken)
		}
		if e.Kind == KindEndOfInput {
			if next[e.Channel] != per {
				t.Fatalf("channel %d ended after %d envelopes", e.Channel, next[e.Channel])
			}
			ended++
			continue
		}
		if e.Watermark != next[e.Channel] {
			t.Fatalf("channel %d: got %d, want %d", e.Channel, e.Watermark, next[e.Channel])
		}
		next[e.Channel]++
	}
	wg.Wait()
	if _, ok := g.TryNext(); ok {
		t.Fatal("envelope left after every channel ended")
	}
}

func TestGateBackpressure(t *testing.T) {
	const capacity = 2
	g := NewGate(2, capacity)
	c := g.Channel(0)
	bg := context.Background()
	// Sends to a channel with room, or within its overdraft, never wait:
	// they succeed even with a context that has ended.
	ended, cancelEnded := context.WithCancel(bg)
	cancelEnded()
	for i := range capacity + Overdraft {
		if got, want := c.IsAvailable(), i < capacity; got != want {
			t.Fatalf("IsAvailable with %d queued = %t, want %t", i, got, want)
		}
		if err := c.Send(ended, Envelope{Kind: KindWatermark, Watermark: int64(i)}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	avail := c.Available()
	select {
	case <-avail:
		t.Fatal("Available closed while the channel is over its capacity")
	default:
	}
	// Beyond the overdraft the next send waits, here until its context ends.
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	if err := c.Send(ctx, Envelope{Kind: KindWatermark, Watermark: capacity + Overdraft}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send beyond the overdraft: %v", err)
	}
	// The other channel is not held up.
	if err := g.Channel(1).Send(bg, Envelope{Kind: KindIdle}); err != nil {
		t.Fatal(err)
	}
	// A blocked send waits until the reader takes an envelope, then
	// proceeds.
	wctx := newWaitingCtx(bg)
	sent := make(chan error, 1)
	go func() { sent <- c.Send(wctx, Envelope{Kind: KindWatermark, Watermark: capacity + Overdraft}) }()
	wctx.awaitWaiting(t)
	select {
	case err := <-sent:
		t.Fatalf("send to a full channel returned %v before the reader took anything", err)
	default:
	}
	next := func() Envelope {
		t.Helper()
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		e, _, err := g.Next(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	// Channels are read in the order they were sent to: channel 0's first.
	if e := next(); e.Channel != 0 || e.Watermark != 0 {
		t.Fatalf("first envelope %+v, want channel 0's watermark 0", e)
	}
	if err := <-sent; err != nil {
		t.Fatalf("blocked send after the reader took an envelope: %v", err)
	}
	// Available closes exactly when the reader brings the queue below its
	// capacity.
	got := []int64{0}
	for len(got) < capacity+Overdraft+1 {
		select {
		case <-avail:
			if g.Queued(0) >= capacity {
				t.Fatalf("Available closed with %d queued", g.Queued(0))
			}
		default:
			if g.Queued(0) < capacity {
				t.Fatalf("Available still open with %d queued", g.Queued(0))
			}
		}
		if e := next(); e.Channel == 0 {
			got = append(got, e.Watermark)
		}
	}
	for i, w := range got {
		if w != int64(i) {
			t.Fatalf("got %v, want 0..%d in order", got, capacity+Overdraft)
		}
	}
	if !c.IsAvailable() {
		t.Fatal("empty channel not available")
	}
}

func TestGateCloseMakesChannelsAvailable(t *testing.T) {
	g := NewGate(1, 1)
	c := g.Channel(0)
	for i := range 1 + Overdraft {
		if err := c.Send(context.Background(), Envelope{Kind: KindWatermark, Watermark: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	avail := c.Available()
	g.Close()
	select {
	case <-avail:
	default:
		t.Fatal("Available still open after the gate closed")
	}
	if !c.IsAvailable() {
		t.Fatal("channel of a closed gate not available")
	}
	if err := c.Send(context.Background(), Envelope{Kind: KindIdle}); !errors.Is(err, ErrGateClosed) {
		t.Fatalf("send after close: %v", err)
	}
}

// waitingCtx is a context that reports when a Send waits on it: Send asks
// for Done only when the queue is full and it has to wait for room.
type waitingCtx struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func newWaitingCtx(parent context.Context) *waitingCtx {
	return &waitingCtx{Context: parent, waiting: make(chan struct{})}
}

func (c *waitingCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waiting) })
	return c.Context.Done()
}

// awaitWaiting fails t unless a Send starts waiting on c within 10 s.
func (c *waitingCtx) awaitWaiting(t *testing.T) {
	t.Helper()
	select {
	case <-c.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("send to a full channel did not wait")
	}
}

func TestGateClose(t *testing.T) {
	g := NewGate(1, 1)
	c := g.Channel(0)
	ctx := context.Background()
	for range 1 + Overdraft {
		if err := c.Send(ctx, Envelope{Kind: KindIdle}); err != nil {
			t.Fatal(err)
		}
	}
	wctx := newWaitingCtx(ctx)
	blocked := make(chan error, 1)
	go func() { blocked <- c.Send(wctx, Envelope{Kind: KindActive}) }()
	wctx.awaitWaiting(t)
	select {
	case err := <-blocked:
		t.Fatalf("send to a full channel returned %v before Close", err)
	default:
	}
	g.Close()
	if err := <-blocked; !errors.Is(err, ErrGateClosed) {
		t.Fatalf("blocked send after Close: %v", err)
	}
	if err := c.Send(ctx, Envelope{Kind: KindActive}); !errors.Is(err, ErrGateClosed) {
		t.Fatalf("send after Close: %v", err)
	}
}

func TestGateBlockUnblock(t *testing.T) {
	g := NewGate(2, 4)
	ctx := context.Background()
	for i := range 3 {
		_ = g.Channel(0).Send(ctx, Envelope{Kind: KindWatermark, Watermark: int64(i)})
		_ = g.Channel(1).Send(ctx, Envelope{Kind: KindWatermark, Watermark: int64(10 + i)})
	}
	g.Block(0)
	var got []int64
	for range 3 {
		e, ok := g.TryNext()
		if !ok || e.Channel != 1 {
			t.Fatalf("got %+v %v while channel 0 is blocked", e, ok)
		}
		got = append(got, e.Watermark)
	}
	if e, ok := g.TryNext(); ok {
		t.Fatalf("got %+v from a blocked channel", e)
	}
	g.Unblock(0)
	for range 3 {
		e, _, err := g.Next(ctx, nil, nil)
		if err != nil || e.Channel != 0 {
			t.Fatalf("got %+v %v after Unblock", e, err)
		}
		got = append(got, e.Watermark)
	}
	if !slices.Equal(got, []int64{10, 11, 12, 0, 1, 2}) {
		t.Fatalf("got %v", got)
	}
}

func TestGateWakeAndIdle(t *testing.T) {
	g := NewGate(1, 1)
	wake := make(chan struct{}, 1)
	idled := 0
	idle := func() error { idled++; return nil }
	wake <- struct{}{}
	_, woken, err := g.Next(context.Background(), idle, wake)
	if err != nil || !woken {
		t.Fatalf("Next with a wake-up: %v, woken %t", err, woken)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := g.Next(ctx, idle, wake); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v", err)
	}
	if idled == 0 {
		t.Fatal("idle not called before waiting")
	}
}

func typeOfRecord[T any]() reflect.Type { return reflect.TypeFor[operator.Record[T]]() }

func TestMurmurMatchesKeygroup(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	codes := []int32{0, 1, -1, 4, 1<<31 - 1, -1 << 31}
	for range 1_000_000 {
		codes = append(codes, int32(rng.Uint32()))
	}
	for _, c := range codes {
		if got, want := murmur(c), keygroup.Murmur(c); int32(got) != want {
			t.Fatalf("murmur(%d) = %d, want %d", c, got, want)
		}
	}
	for h, want := range map[int32]uint32{0: 0, 5: 5, -5: 5, 1<<31 - 1: 1<<31 - 1, -1<<31 + 1: 1<<31 - 1, -1 << 31: 0} {
		if got := nonNegative(h); got != want {
			t.Fatalf("nonNegative(%d) = %d, want %d", h, got, want)
		}
	}
}

// A priority event overtakes the envelopes queued in its channel but never
// an envelope sent after it, however the reader and the producer interleave.
func TestGatePriorityOvertakes(t *testing.T) {
	const n = 2000
	g := NewGate(2, 4)
	ctx := context.Background()
	go func() {
		for i := range n {
			for ch := range 2 {
				if i%97 == 13 {
					_ = g.Channel(ch).Send(ctx, Envelope{Kind: KindBarrier, Checkpoint: int64(i), Priority: true})
				}
				_ = g.Channel(ch).Send(ctx, Envelope{Kind: KindWatermark, Watermark: int64(i)})
			}
		}
		for ch := range 2 {
			_ = g.Channel(ch).Send(ctx, Envelope{Kind: KindEndOfInput})
		}
	}()
	next := [2]int64{}
	barriers := 0
	for ended := 0; ended < 2; {
		e, _, err := g.Next(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		switch e.Kind {
		case KindBarrier:
			barriers++
			// Sent before watermark Checkpoint, whose Seq it carries.
			if e.Seq != e.Checkpoint {
				t.Fatalf("barrier %d has Seq %d", e.Checkpoint, e.Seq)
			}
			if next[e.Channel] > e.Seq {
				t.Fatalf("channel %d: barrier sent at %d returned after envelope %d", e.Channel, e.Seq, next[e.Channel]-1)
			}
		case KindEndOfInput:
			ended++
		default:
			if e.Seq != next[e.Channel] || e.Watermark != e.Seq {
				t.Fatalf("channel %d: got envelope %d (seq %d), want %d", e.Channel, e.Watermark, e.Seq, next[e.Channel])
			}
			next[e.Channel]++
			if g.Taken(e.Channel) < next[e.Channel] {
				t.Fatalf("Taken(%d) = %d after envelope %d", e.Channel, g.Taken(e.Channel), e.Seq)
			}
		}
	}
	if want := 2 * ((n - 13 + 96) / 97); barriers != want {
		t.Fatalf("got %d barriers, want %d", barriers, want)
	}
}

// Spill takes the envelopes a priority barrier overtook out of the queue
// without freeing their room; Next still hands them out first, in order.
func TestGateSpill(t *testing.T) {
	const capacity = 2
	g := NewGate(1, capacity)
	c := g.Channel(0)
	ctx := context.Background()
	for i := range capacity + Overdraft {
		if err := c.Send(ctx, Envelope{Kind: KindWatermark, Watermark: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.Send(ctx, Envelope{Kind: KindBarrier, Checkpoint: 1, Priority: true})
	b, _, err := g.Next(ctx, nil, nil)
	if err != nil || b.Kind != KindBarrier || b.Seq != capacity+Overdraft {
		t.Fatalf("got %+v, %v; want the barrier at Seq %d", b, err, capacity+Overdraft)
	}
	spilled, err := g.Spill(context.Background(), 0, b.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if len(spilled) != capacity+Overdraft {
		t.Fatalf("spilled %d envelopes, want %d", len(spilled), capacity+Overdraft)
	}
	if c.IsAvailable() {
		t.Fatal("spilling freed the channel's room")
	}
	for i := range capacity + Overdraft {
		e, _, err := g.Next(ctx, nil, nil)
		if err != nil || e.Watermark != int64(i) {
			t.Fatalf("envelope %d: got %+v, %v", i, e, err)
		}
	}
	if !c.IsAvailable() {
		t.Fatal("the channel has no room after everything was handed out")
	}
	// The queue's freed slots take envelopes beyond the gate's index
	// buffer while spilled ones wait: neither side blocks.
	for i := range capacity + Overdraft {
		_ = c.Send(ctx, Envelope{Kind: KindWatermark, Watermark: int64(10 + i)})
	}
	_ = c.Send(ctx, Envelope{Kind: KindBarrier, Checkpoint: 2, Priority: true})
	b, _, _ = g.Next(ctx, nil, nil)
	if _, err := g.Spill(context.Background(), 0, b.Seq); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 3 {
			_ = c.Send(ctx, Envelope{Kind: KindWatermark, Watermark: int64(20 + i)})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a send blocked on the gate's index buffer")
	}
	var got []int64
	for range capacity + Overdraft + 3 {
		e, _, err := g.Next(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Watermark)
	}
	want := []int64{10, 11, 12, 13, 14, 15, 16, 20, 21, 22}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestEncodingPerChannel: a writer sends typed batches to a local channel
// and encoded ones to a remote channel, each decoding to the same records.
func TestEncodingPerChannel(t *testing.T) {
	local, remote := &recorder[string]{}, &recorder[string]{}
	w, err := NewRecordWriter[string](context.Background(), []ChannelWriter{local, Remote(remote)}, nil, WriterConfig{BatchSize: 2, Broadcast: true})
	if err != nil {
		t.Fatal(err)
	}
	in := []operator.Record[string]{{Value: "a", Timestamp: 1}, {Value: "b", Timestamp: 2}, {Value: "c", Timestamp: 3}}
	for _, x := range in {
		w.Collect(x)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(local.records, in) {
		t.Errorf("local channel got %v, want %v", local.records, in)
	}
	for _, e := range local.envs {
		if e.Kind != KindRecords {
			t.Errorf("local channel got a %s envelope", e.Kind)
		}
	}
	c, _ := codec.Of[string]()
	var got []operator.Record[string]
	for _, e := range remote.envs {
		if e.Kind != KindEncoded {
			t.Fatalf("remote channel got a %s envelope", e.Kind)
		}
		b := &Batch[string]{}
		if err := DecodeBatch(c, e.Bytes, b); err != nil {
			t.Fatal(err)
		}
		got = append(got, b.Records...)
	}
	if !slices.Equal(got, in) {
		t.Errorf("remote channel got %v, want %v", got, in)
	}
	// A type without a codec cannot go to a remote channel.
	if _, err := NewRecordWriter[func()](context.Background(), []ChannelWriter{Remote(&recorder[func()]{})}, nil, WriterConfig{}); err == nil {
		t.Error("a writer of funcs to a remote channel was made")
	}
	if _, err := NewRecordWriter[func()](context.Background(), []ChannelWriter{&recorder[func()]{}}, nil, WriterConfig{}); err != nil {
		t.Errorf("a writer of funcs to a local channel: %v", err)
	}
}

// TestSpillWaitsForTheNetwork: a priority event from the network may
// overtake envelopes still on their way; Spill waits for them, and
// returns when its context ends (their producer went away) or the gate
// closes.
func TestSpillWaitsForTheNetwork(t *testing.T) {
	ctx := context.Background()
	g := NewGate(1, 4)
	ch := g.RemoteChannel(0)
	if err := ch.Send(ctx, Envelope{Kind: KindWatermark, Watermark: 1}); err != nil {
		t.Fatal(err)
	}
	// The producer had sent 3 envelopes before its barrier; 1 arrived.
	if err := ch.Send(ctx, Envelope{Kind: KindBarrier, Checkpoint: 1, Priority: true, Seq: 3}); err != nil {
		t.Fatal(err)
	}
	e, _, err := g.Next(ctx, nil, nil)
	if err != nil || e.Kind != KindBarrier {
		t.Fatalf("got %v (%v), want the barrier", e.Kind, err)
	}
	if err := ch.Send(ctx, Envelope{Kind: KindWatermark, Watermark: 2}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := g.Spill(cctx, 0, e.Seq)
		done <- err
	}()
	cancel() // the third never comes
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Spill returned %v, want context.Canceled", err)
	}
	if got := g.Taken(0); got != 2 {
		t.Fatalf("Spill took %d envelopes, want the 2 that arrived", got)
	}
	g.Close()
	if _, err := g.Spill(ctx, 0, e.Seq); !errors.Is(err, ErrGateClosed) {
		t.Fatalf("Spill on a closed gate returned %v, want ErrGateClosed", err)
	}
}

// copier is a remote channel that is done with an encoded envelope's bytes
// when Send returns: it decodes them there and notes where they were.
type copier struct {
	roomy
	records []operator.Record[string]
	at      []*byte // each envelope's Bytes' first byte
}

func (c *copier) Remote() bool      { return true }
func (c *copier) CopiesBytes() bool { return true }

func (c *copier) Send(_ context.Context, e Envelope) error {
	if e.Kind == KindEncoded {
		b := &Batch[string]{}
		if err := DecodeBatch(codec.Must[string](), e.Bytes, b); err != nil {
			return err
		}
		c.records = append(c.records, b.Records...)
		c.at = append(c.at, unsafe.SliceData(e.Bytes))
	}
	return nil
}

// TestEncodeBufferReuse: a writer encodes every batch for a channel that
// copies them into one buffer, and each batch for one that keeps them into
// a buffer of its own.
func TestEncodeBufferReuse(t *testing.T) {
	cp, keeper := &copier{}, &recorder[string]{}
	w, err := NewRecordWriter[string](context.Background(), []ChannelWriter{cp, Remote(keeper)}, nil, WriterConfig{BatchSize: 2, Broadcast: true})
	if err != nil {
		t.Fatal(err)
	}
	in := []operator.Record[string]{{Value: "a", Timestamp: 1}, {Value: "b", Timestamp: 2}, {Value: "c", Timestamp: 3}, {Value: "d", Timestamp: 4}, {Value: "e", Timestamp: 5}, {Value: "f", Timestamp: 6}}
	for _, x := range in {
		w.Collect(x)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cp.records, in) {
		t.Errorf("the copying channel got %v, want %v", cp.records, in)
	}
	if len(cp.at) != 3 || cp.at[1] != cp.at[0] || cp.at[2] != cp.at[0] {
		t.Errorf("the copying channel's batches were encoded at %v, want 3 at one place", cp.at)
	}
	var got []operator.Record[string]
	seen := map[*byte]bool{}
	for _, e := range keeper.envs {
		b := &Batch[string]{}
		if err := DecodeBatch(codec.Must[string](), e.Bytes, b); err != nil {
			t.Fatal(err)
		}
		got = append(got, b.Records...)
		seen[unsafe.SliceData(e.Bytes)] = true
	}
	if !slices.Equal(got, in) || len(seen) != 3 {
		t.Errorf("the keeping channel got %v in %d buffers, want %v in 3", got, len(seen), in)
	}
}
