package nats_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	natsconn "github.com/freshet-io/freshet/connector/nats"
	"github.com/freshet-io/freshet/source"
)

func itoaSerializer(v int64) (string, []byte, error) {
	return "out." + strconv.FormatInt(v%4, 10), strconv.AppendInt(nil, v, 10), nil
}

// TestSinkExactlyOnceUnderFailures publishes numbers from a job at
// parallelism 2 that checkpoints often and fails in its first attempts
// after checkpoints: the stream holds every number exactly once, the
// replayed records dropped by its duplicate window.
func TestSinkExactlyOnceUnderFailures(t *testing.T) {
	const n = 6000
	url := startServer(t)
	js := connect(t, url)
	stream := createStream(t, js, "OUT", "out.>")

	f := &failer{attempts: 3, at: n / 3}
	env := quietEnv(freshet.WithParallelism(2),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(20, 10*time.Millisecond)),
		freshet.WithCheckpointing(30*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i },
		source.GeneratorCount(n), source.GeneratorRate(10000)), "numbers")
	checked := freshet.Process(nums, freshet.ProcessFunc(func(ctx *freshet.Context, v int64, out freshet.Collector[int64]) error {
		if err := f.check(ctx.Runtime().Attempt()); err != nil {
			return err
		}
		out.Collect(v)
		return nil
	}))
	freshet.SinkTo(checked, natsconn.NewSink(url, "t1", itoaSerializer), "nats").UID("nats")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, "nats-sink")
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if got := f.failed.Load(); got < 2 {
		t.Fatalf("%d injected failures, want at least 2", got)
	}
	completed := 0
	for _, c := range jc.Checkpoints() {
		if c.Status == freshet.CheckpointCompleted {
			completed++
		}
	}
	if completed == 0 {
		t.Fatal("no checkpoint completed")
	}
	msgs := readAll(t, stream)
	seen := make(map[int64]int, n)
	for _, d := range msgs {
		v, err := strconv.ParseInt(string(d), 10, 64)
		if err != nil {
			t.Fatalf("message %q: %v", d, err)
		}
		seen[v]++
	}
	for i := range int64(n) {
		if seen[i] != 1 {
			t.Errorf("value %d stored %d times, want once", i, seen[i])
		}
	}
	if len(msgs) != n {
		t.Fatalf("stream holds %d messages, want %d (restarts %d, checkpoints completed %d)", len(msgs), n, jc.Restarts(), completed)
	}
}
