package nats_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/connectortest"
	natsconn "github.com/freshet-io/freshet/connector/nats"
	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/source"
)

func publishNumbers(t *testing.T, js jetstream.JetStream, subject string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		if _, err := js.PublishAsync(subject, strconv.AppendInt(nil, int64(i), 10)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publishing timed out")
	}
}

func atoiDeserializer(m jetstream.Msg) (int64, error) {
	return strconv.ParseInt(string(m.Data()), 10, 64)
}

// finalCounts counts the values in the job's final checkpointed state.
func finalCounts(c *connectortest.Collector[int64]) map[int64]int {
	out := map[int64]int{}
	for _, v := range c.Final() {
		out[v]++
	}
	return out
}

func consumerInfo(t *testing.T, js jetstream.JetStream, stream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestSourceReadsAll reads a stream at parallelism 2 until it is drained:
// every message arrives once, and all are acknowledged when the job ends.
func TestSourceReadsAll(t *testing.T) {
	const n = 3000
	url := startServer(t)
	js := connect(t, url)
	createStream(t, js, "IN", "in.>")
	publishNumbers(t, js, "in.a", n)

	cs := connectortest.NewCollector[int64]()
	env := quietEnv(freshet.WithParallelism(2),
		freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	nums := freshet.FromSource(env, natsconn.NewSource(url, "IN", "reader", atoiDeserializer,
		natsconn.SourceStopWhenDrained(), natsconn.SourceFetchBatch(100)), "nats")
	freshet.SinkTo(nums, cs.Sink(), "count").UID("count")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := env.Execute(ctx, "nats-source"); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	counts := finalCounts(cs)
	for i := range int64(n) {
		if counts[i] != 1 {
			t.Errorf("value %d counted %d times, want once", i, counts[i])
		}
	}
	if info := consumerInfo(t, js, "IN", "reader"); info.NumAckPending != 0 || info.NumPending != 0 {
		t.Fatalf("consumer has %d messages unacknowledged and %d undelivered, want none", info.NumAckPending, info.NumPending)
	}
}

// TestSourceUnderFailures reads a stream in a job that fails after
// checkpoints: every message is processed at least once, all are
// acknowledged at the end, and the final checkpointed state counts each
// message once, at any parallelism.
func TestSourceUnderFailures(t *testing.T) {
	for _, p := range []int{1, 3} {
		t.Run("parallelism-"+strconv.Itoa(p), func(t *testing.T) { testSourceUnderFailures(t, p) })
	}
}

func testSourceUnderFailures(t *testing.T, parallelism int) {
	const n = 3000
	url := startServer(t)
	js := connect(t, url)
	createStream(t, js, "IN", "in.>")
	publishNumbers(t, js, "in.a", n)

	cs := connectortest.NewCollector[int64]()
	f := &failer{attempts: 3, at: n / 4}
	env := quietEnv(freshet.WithParallelism(parallelism),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(20, 10*time.Millisecond)),
		freshet.WithCheckpointing(20*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	nums := freshet.FromSource(env, natsconn.NewSource(url, "IN", "reader", atoiDeserializer,
		natsconn.SourceStopWhenDrained(), natsconn.SourceFetchBatch(20), natsconn.SourceAckWait(2*time.Second)), "nats")
	checked := freshet.Process(nums, freshet.ProcessFunc(func(ctx *freshet.Context, v int64, out freshet.Collector[int64]) error {
		time.Sleep(100 * time.Microsecond) // spread the input over several checkpoints
		if err := f.check(ctx.Runtime().Attempt()); err != nil {
			return err
		}
		out.Collect(v)
		return nil
	}))
	freshet.SinkTo(checked, cs.Sink(), "count").UID("count")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "nats-source-failures")
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if got := f.failed.Load(); got < 2 {
		t.Fatalf("%d injected failures, want at least 2", got)
	}
	written := cs.Written()
	for i := range int64(n) {
		if written[i] < 1 {
			t.Errorf("value %d never processed", i)
		}
	}
	counts := finalCounts(cs)
	for i := range int64(n) {
		if counts[i] != 1 {
			t.Errorf("value %d counted %d times in the final state, want once", i, counts[i])
		}
	}
	if info := consumerInfo(t, js, "IN", "reader"); info.NumAckPending != 0 || info.NumPending != 0 {
		t.Fatalf("consumer has %d messages unacknowledged and %d undelivered, want none", info.NumAckPending, info.NumPending)
	}
}

type readerCtx struct{ m *metric.Group }

func (readerCtx) SubtaskIndex() int        { return 0 }
func (readerCtx) Parallelism() int         { return 1 }
func (readerCtx) SendSplitRequest()        {}
func (c readerCtx) Metrics() *metric.Group { return c.m }

type sliceOutput struct{ vs []int64 }

func (o *sliceOutput) Collect(v int64)                       { o.vs = append(o.vs, v) }
func (o *sliceOutput) CollectWithTimestamp(v int64, _ int64) { o.vs = append(o.vs, v) }

// TestSourceAcknowledgesOnCheckpointCompletion drives a reader through a
// checkpoint: what it emitted stays unacknowledged when the checkpoint is
// taken and when it is aborted, and is acknowledged once a checkpoint
// covering it completes. Its metrics count the bytes read and the
// messages pending, in batches of 10.
func TestSourceAcknowledgesOnCheckpointCompletion(t *testing.T) {
	const n = 50
	url := startServer(t)
	js := connect(t, url)
	createStream(t, js, "IN", "in.>")
	publishNumbers(t, js, "in.a", n)

	src := natsconn.NewSource(url, "IN", "reader", atoiDeserializer, natsconn.SourceFetchBatch(10))
	m := metric.NewGroup()
	r, err := src.CreateReader(readerCtx{m})
	if err != nil {
		t.Fatal(err)
	}
	l, ok := r.(source.CheckpointListener)
	if !ok {
		t.Fatalf("reader %T does not implement source.CheckpointListener", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out sliceOutput
	deadline := time.Now().Add(20 * time.Second)
	for len(out.vs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("read %d messages, want %d", len(out.vs), n)
		}
		before := len(out.vs)
		st, err := r.PollNext(&out)
		if err != nil {
			t.Fatal(err)
		}
		if before == 0 && len(out.vs) > 0 {
			// The fetcher read the consumer's pending count after its
			// first fetch of 10 (40 left), and again a second later.
			if p := m.Gauge("pending").Value(); p < 0 || p >= n || int(p)%10 != 0 {
				t.Errorf("pending %v after the first batch, want a multiple of 10 below %d (40 unless a second passed)", p, n)
			}
		}
		if st == source.NothingAvailable {
			select {
			case <-r.Available():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i)
	}
	if !slices.Equal(out.vs, want) {
		t.Fatalf("read %v, want %v", out.vs, want)
	}
	if got, bytes := m.Counter("bytesRead").Count(), int64(10+2*(n-10)); got != bytes {
		t.Errorf("bytesRead %d, want %d", got, bytes)
	}
	for p := m.Gauge("pending"); p.Value() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("pending %v once every message was read, want 0", p.Value())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ackPending := func() int {
		return consumerInfo(t, js, "IN", "reader").NumAckPending
	}
	splits, err := r.SnapshotState(1)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(splits); got != 0 {
		t.Fatalf("reader given no split snapshotted %d", got)
	}
	if err := l.NotifyCheckpointAborted(1); err != nil {
		t.Fatal(err)
	}
	if got := ackPending(); got != n {
		t.Fatalf("%d messages unacknowledged after checkpoint 1 was taken and aborted, want %d", got, n)
	}
	if _, err := r.SnapshotState(2); err != nil {
		t.Fatal(err)
	}
	if err := l.NotifyCheckpointComplete(2); err != nil {
		t.Fatal(err)
	}
	for got := ackPending(); got != 0; got = ackPending() {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages unacknowledged after checkpoint 2 completed, want 0", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pollUntil polls the readers, collecting what they emit into outs, until
// done returns true; it fails t after 20 seconds.
func pollUntil(t *testing.T, readers []source.Reader[int64, natsconn.Split], outs []*sliceOutput, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !done() {
		if time.Now().After(deadline) {
			t.Fatal("readers did not get there within 20s")
		}
		more := false
		for i, r := range readers {
			st, err := r.PollNext(outs[i])
			if err != nil {
				t.Fatal(err)
			}
			more = more || st == source.MoreAvailable
		}
		if !more {
			<-tick.C
		}
	}
}

// TestSourceRestoredReadersDropWhatAnyReaderCovered has one reader read a
// stream and snapshot it without acknowledging, then close, so the server
// redelivers everything; two readers restored with its union state drop
// every redelivered message, whichever of them the server gives it to,
// and acknowledge it, then read what is published after, each message
// once.
func TestSourceRestoredReadersDropWhatAnyReaderCovered(t *testing.T) {
	const n, more = 60, 40
	url := startServer(t)
	js := connect(t, url)
	createStream(t, js, "IN", "in.>")
	publishNumbers(t, js, "in.a", n)
	src := natsconn.NewSource(url, "IN", "reader", atoiDeserializer, natsconn.SourceFetchBatch(7))
	newReader := func() source.Reader[int64, natsconn.Split] {
		r, err := src.CreateReader(readerCtx{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	first := newReader()
	if err := first.Start(ctx); err != nil {
		t.Fatal(err)
	}
	out := &sliceOutput{}
	pollUntil(t, []source.Reader[int64, natsconn.Split]{first}, []*sliceOutput{out}, func() bool { return len(out.vs) == n })
	if _, err := first.SnapshotState(1); err != nil {
		t.Fatal(err)
	}
	union, err := first.(source.UnionStateReader).SnapshotUnionState(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(union) != 1 || len(union[0]) != 2 {
		// One range, 1 to 60: two bytes.
		t.Fatalf("union state %v, want one element of one range", union)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	readers := []source.Reader[int64, natsconn.Split]{newReader(), newReader()}
	outs := []*sliceOutput{{}, {}}
	for _, r := range readers {
		if err := r.(source.UnionStateReader).RestoreUnionState(union); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer r.Close()
	}
	settled := func() bool {
		info := consumerInfo(t, js, "IN", "reader")
		return info.NumAckPending == 0 && info.NumPending == 0 && info.AckFloor.Stream == n
	}
	pollUntil(t, readers, outs, settled)
	if len(outs[0].vs)+len(outs[1].vs) != 0 {
		t.Fatalf("restored readers emitted %v and %v, want nothing", outs[0].vs, outs[1].vs)
	}
	ctx2, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	for i := range more {
		if _, err := js.Publish(ctx2, "in.a", strconv.AppendInt(nil, int64(n+i), 10)); err != nil {
			t.Fatal(err)
		}
	}
	pollUntil(t, readers, outs, func() bool { return len(outs[0].vs)+len(outs[1].vs) >= more })
	got := slices.Sorted(slices.Values(append(slices.Clone(outs[0].vs), outs[1].vs...)))
	want := make([]int64, more)
	for i := range want {
		want[i] = int64(n + i)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("restored readers emitted %v, want %v", got, want)
	}
}

// TestSourceHoldsMessagesPastAckWait has a reader hold what it read,
// covered by a checkpoint that does not complete, for three times the
// consumer's AckWait while a second reader polls the same consumer: the
// first keeps telling the server the messages are in progress, so none is
// redelivered (to the second, which would emit it again), and all are
// acknowledged when the checkpoint completes.
func TestSourceHoldsMessagesPastAckWait(t *testing.T) {
	const n = 20
	const ackWait = time.Second
	url := startServer(t)
	js := connect(t, url)
	createStream(t, js, "IN", "in.>")
	publishNumbers(t, js, "in.a", n)
	src := natsconn.NewSource(url, "IN", "reader", atoiDeserializer, natsconn.SourceFetchBatch(10), natsconn.SourceAckWait(ackWait))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readers := make([]source.Reader[int64, natsconn.Split], 2)
	outs := []*sliceOutput{{}, {}}
	for i := range readers {
		r, err := src.CreateReader(readerCtx{})
		if err != nil {
			t.Fatal(err)
		}
		readers[i] = r
		defer r.Close()
	}
	if err := readers[0].Start(ctx); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, readers[:1], outs[:1], func() bool { return len(outs[0].vs) == n })
	if _, err := readers[0].SnapshotState(1); err != nil {
		t.Fatal(err)
	}
	if err := readers[1].Start(ctx); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(3 * ackWait)
	pollUntil(t, readers, outs, func() bool { return time.Now().After(until) })
	if info := consumerInfo(t, js, "IN", "reader"); info.NumRedelivered != 0 || info.NumAckPending != n {
		t.Fatalf("after 3 AckWaits: %d messages redelivered, %d unacknowledged, want 0 and %d", info.NumRedelivered, info.NumAckPending, n)
	}
	if len(outs[0].vs) != n || len(outs[1].vs) != 0 {
		t.Fatalf("readers emitted %d and %d messages, want %d and 0", len(outs[0].vs), len(outs[1].vs), n)
	}
	if err := readers[0].(source.CheckpointListener).NotifyCheckpointComplete(1); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, readers, outs, func() bool { return consumerInfo(t, js, "IN", "reader").NumAckPending == 0 })
}
