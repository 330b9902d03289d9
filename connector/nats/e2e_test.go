package nats_test

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/freshet-io/freshet"
	natsconn "github.com/freshet-io/freshet/connector/nats"
)

// sequenced is a value with the stream sequence it was read at.
type sequenced struct {
	Seq uint64
	V   int64
}

func decodeSequenced(m jetstream.Msg) (sequenced, error) {
	md, err := m.Metadata()
	if err != nil {
		return sequenced{}, err
	}
	v, err := strconv.ParseInt(string(m.Data()), 10, 64)
	return sequenced{Seq: md.Sequence.Stream, V: v}, err
}

// TestNATSToNATSExactlyOnce reads one stream and writes another at
// parallelism 2 in a job that fails at random records six times: the
// source redelivers what no completed checkpoint covered, in another
// order and perhaps to another reader, and the sink's message ids, made
// of the sequence each record was read at, have the output stream drop
// every second copy, so it holds each input message once.
func TestNATSToNATSExactlyOnce(t *testing.T) {
	const n = 4000
	url := startServer(t)
	js := connect(t, url)
	createStream(t, js, "IN", "in.>")
	out := createStream(t, js, "OUT", "out.>")
	publishNumbers(t, js, "in.a", n)

	f := &failer{attempts: 6, at: 20 + rand.Int64N(n/24)}
	env := quietEnv(freshet.WithParallelism(2),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(20, 10*time.Millisecond)),
		freshet.WithCheckpointing(20*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	in := freshet.FromSource(env, natsconn.NewSource(url, "IN", "copier", decodeSequenced,
		natsconn.SourceStopWhenDrained(), natsconn.SourceFetchBatch(50), natsconn.SourceAckWait(2*time.Second)), "nats-in")
	checked := freshet.Process(in, freshet.ProcessFunc(func(ctx *freshet.Context, v sequenced, out freshet.Collector[sequenced]) error {
		time.Sleep(50 * time.Microsecond) // spread the input over several checkpoints
		if err := f.check(ctx.Runtime().Attempt()); err != nil {
			return err
		}
		out.Collect(v)
		return nil
	})).Rebalance()
	snk := natsconn.NewSink(url, "copy", func(v sequenced) (string, []byte, error) {
		return "out.a", strconv.AppendInt(nil, v.V*10, 10), nil
	}).WithMessageID(func(v sequenced) string { return strconv.FormatUint(v.Seq, 10) })
	freshet.SinkTo(checked, snk, "nats-out").UID("nats-out")
	if _, err := runJob(t, env); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if got := f.failed.Load(); got < 5 {
		t.Fatalf("%d injected failures, want at least 5", got)
	}
	counts := map[int64]int{}
	for _, b := range readAll(t, out) {
		v, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		counts[v]++
	}
	for i := range int64(n) {
		if c := counts[i*10]; c != 1 {
			t.Errorf("value %d stored %d times, want once", i*10, c)
		}
	}
	if len(counts) != n {
		t.Errorf("output holds %d distinct values, want %d", len(counts), n)
	}
}
