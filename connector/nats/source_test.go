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
// acknowledged at the end, and at parallelism 1 the final checkpointed
// state counts each message once (at 2, at least once).
func TestSourceUnderFailures(t *testing.T) {
	for _, p := range []int{1, 2} {
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
		if counts[i] < 1 || (parallelism == 1 && counts[i] != 1) {
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
