package nats_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/freshet-io/freshet"
	natsconn "github.com/freshet-io/freshet/connector/nats"
	"github.com/freshet-io/freshet/state"
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

// counted is a value with how many values of its key the job's state
// had counted with it.
type counted struct {
	Seq uint64
	V   int64
	N   int64
}

var countState = state.NewValue[int64]("count")

// copyJob reads stream IN and writes OUT at parallelism p, failing at a
// record of each of f's first attempts: a copy of each value (times 10),
// with the sequence it was read at as its message id, and, for each
// value, the number of values of its key (v % keys) the job's state has
// counted with it, as "key:count" with that as its id. The output holds
// each copy once whatever the source does, as the stream drops copies of
// an id; it holds the counts 1 to n of a key of n values, each once, only
// if the job's state counted every value once. With restore, the job
// resumes from that savepoint; bounded, its source ends when drained.
func copyJob(t *testing.T, url string, p, keys int, f *failer, bounded bool, restore string) *freshet.Env {
	t.Helper()
	opts := []freshet.Option{freshet.WithParallelism(p),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(20, 10*time.Millisecond)),
		freshet.WithCheckpointing(20*time.Millisecond, freshet.CheckpointStorage(t.TempDir()))}
	if restore != "" {
		opts = append(opts, freshet.WithRestoreFrom(restore))
	}
	env := quietEnv(opts...)
	srcOpts := []natsconn.SourceOption{natsconn.SourceFetchBatch(50), natsconn.SourceAckWait(2 * time.Second)}
	if bounded {
		srcOpts = append(srcOpts, natsconn.SourceStopWhenDrained())
	}
	in := freshet.FromSource(env, natsconn.NewSource(url, "IN", "copier", decodeSequenced, srcOpts...), "nats-in").UID("nats-in")
	checked := freshet.Process(in, freshet.ProcessFunc(func(ctx *freshet.Context, v sequenced, out freshet.Collector[sequenced]) error {
		time.Sleep(50 * time.Microsecond) // spread the input over several checkpoints
		if err := f.check(ctx.Runtime().Attempt()); err != nil {
			return err
		}
		out.Collect(v)
		return nil
	})).UID("check")
	counts := freshet.KeyedProcess(freshet.KeyBy(checked, func(v sequenced) int64 { return v.V % int64(keys) }),
		freshet.KeyedProcessFunc(func(ctx *freshet.KeyedContext[int64], v sequenced, out freshet.Collector[counted]) error {
			c := state.Value(ctx.State(), countState)
			n, _ := c.Value()
			n++
			c.Update(n)
			out.Collect(counted{Seq: v.Seq, V: v.V, N: n})
			return nil
		})).UID("counter")
	copies := natsconn.NewSink(url, "copy", func(v counted) (string, []byte, error) {
		return "out.copy", strconv.AppendInt(nil, v.V*10, 10), nil
	}).WithMessageID(func(v counted) string { return strconv.FormatUint(v.Seq, 10) })
	// The sinks keep parallelism 2: theirs cannot change on a restore.
	freshet.SinkTo(counts, copies, "nats-copies").UID("nats-copies").SetParallelism(2)
	tally := natsconn.NewSink(url, "count", func(v counted) (string, []byte, error) {
		return "out.count", fmt.Appendf(nil, "%d:%d", v.V%int64(keys), v.N), nil
	}).WithMessageID(func(v counted) string { return fmt.Sprintf("count-%d-%d", v.V%int64(keys), v.N) })
	freshet.SinkTo(counts, tally, "nats-counts").UID("nats-counts").SetParallelism(2)
	return env
}

// TestNATSToNATSExactlyOnce copies a stream at parallelism 3 (its sinks
// at 2) in a job
// that fails at random records six times, stops it with a savepoint,
// publishes more and resumes it at parallelism 2, failing six times
// again. The source redelivers what no completed checkpoint covered, in
// another order and to any reader; the output stream holds each value's
// copy once, and the counts the job's state made of each key's values
// are 1 to that key's number of values, each once: the state counted
// every message once, across the failures and the rescale.
func TestNATSToNATSExactlyOnce(t *testing.T) {
	const (
		half = 2000
		n    = 2 * half
		keys = 7
	)
	url := startServer(t)
	js := connect(t, url)
	createStream(t, js, "IN", "in.>")
	out := createStream(t, js, "OUT", "out.>")
	publishNumbers(t, js, "in.a", half)

	first := &failer{attempts: 6, at: 20 + rand.Int64N(n/24)}
	env := copyJob(t, url, 3, keys, first, false, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	// Once every failure has happened and the attempt after them is
	// reading (the record that failed the last one comes again to it).
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for first.processed(first.attempts) == 0 {
		select {
		case <-tick.C:
		case <-jc.Done():
			t.Fatalf("the job at parallelism 3 ended before it was stopped: %v", jc.Wait())
		}
	}
	path, err := jc.StopWithSavepoint(ctx, t.TempDir(), false)
	if err != nil {
		t.Fatalf("stopping the job at parallelism 3 with a savepoint: %v", err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatalf("job at parallelism 3: %v", err)
	}
	if got := first.failed.Load(); got < 5 {
		t.Fatalf("%d injected failures at parallelism 3, want at least 5", got)
	}

	pub, cancelPub := context.WithTimeout(ctx, 30*time.Second)
	defer cancelPub()
	for i := half; i < n; i++ {
		if _, err := js.PublishAsync("in.a", strconv.AppendInt(nil, int64(i), 10)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-pub.Done():
		t.Fatal("publishing timed out")
	}
	second := &failer{attempts: 6, at: 20 + rand.Int64N(n/24)}
	env = copyJob(t, url, 2, keys, second, true, path)
	if _, err := runJob(t, env); err != nil {
		t.Fatalf("job resumed at parallelism 2 failed: %v", err)
	}
	if got := second.failed.Load(); got < 5 {
		t.Fatalf("%d injected failures at parallelism 2, want at least 5", got)
	}

	copies, tallies := map[int64]int{}, map[string]int{}
	for _, b := range readAll(t, out) {
		if strings.Contains(string(b), ":") {
			tallies[string(b)]++
			continue
		}
		v, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		copies[v]++
	}
	for i := range int64(n) {
		if c := copies[i*10]; c != 1 {
			t.Errorf("value %d stored %d times, want once", i*10, c)
		}
	}
	if len(copies) != n {
		t.Errorf("output holds %d distinct values, want %d", len(copies), n)
	}
	want := 0
	for k := range keys {
		per := (n - k + keys - 1) / keys // values v < n with v % keys == k
		for c := 1; c <= per; c++ {
			id := fmt.Sprintf("%d:%d", k, c)
			if tallies[id] != 1 {
				t.Errorf("count %s stored %d times, want once", id, tallies[id])
			}
			delete(tallies, id)
		}
		want += per
	}
	if want != n {
		t.Fatalf("the keys have %d values in all, want %d", want, n)
	}
	if len(tallies) > 0 {
		t.Errorf("unexpected counts (a value counted twice): %v", tallies)
	}
}
