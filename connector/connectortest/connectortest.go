// Package connectortest is the conformance suite every Freshet connector
// passes, in the spirit of watermill's pub/sub test suite: the same
// scenarios, run against each source and sink through a small harness the
// connector's tests provide.
//
// The suite's records are Records: a partition (a Kafka partition, a NATS
// subject, a file) and a sequence number within it, encoded as the text
// "partition:seq". A source's harness publishes encoded records into the
// external system and builds a stream that decodes them with Decode; a
// sink's harness attaches the sink to a stream of Records and reads back
// what the external system holds.
//
// Source scenarios (RunSource):
//   - order: the records of each partition arrive in order, each once;
//   - resume: a job with checkpoints fails at random records (at least
//     five times) and the state it ends with holds every record once
//     (at least once for sources that say so);
//   - bad-record: an undecodable record fails the job with an error that
//     wraps ErrBadRecord, naming where it was;
//   - slow-consumer: a slow operator downstream loses and duplicates
//     nothing;
//   - restart: the external system restarts while the job reads (when the
//     harness can restart it), and the job's state still holds every
//     record once (at least once).
//
// Sink scenarios (RunSink):
//   - exactly-once (or at-least-once): a job fails at random records at
//     least five times and the committed output holds every record once
//     (at least once), each partition in order when the sink keeps order;
//   - trickle: records arrive slower than checkpoints, so that checkpoints
//     complete with nothing written;
//   - bad-record: a record the sink cannot write fails the job with an
//     error that wraps ErrBadRecord;
//   - restart: the external system restarts while the job writes.
package connectortest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
)

// Record is the suite's record: the Seq-th record of partition Partition.
type Record struct {
	Partition int
	Seq       int64
}

func (r Record) String() string {
	return strconv.Itoa(r.Partition) + ":" + strconv.FormatInt(r.Seq, 10)
}

// Encode returns r as the text "partition:seq".
func (r Record) Encode() []byte { return []byte(r.String()) }

// ErrBadRecord is wrapped by Decode's errors, and by the error a sink
// harness returns for a record it is told is bad.
var ErrBadRecord = errors.New("connectortest: bad record")

// BadPayload is what a source harness publishes as an undecodable record.
var BadPayload = []byte("not a record")

// Decode parses a record Encode made.
func Decode(b []byte) (Record, error) {
	p, s, ok := bytes.Cut(b, []byte{':'})
	if !ok {
		return Record{}, fmt.Errorf("%w: %q has no ':'", ErrBadRecord, b)
	}
	part, err := strconv.Atoi(string(p))
	if err != nil {
		return Record{}, fmt.Errorf("%w: partition of %q: %v", ErrBadRecord, b, err)
	}
	seq, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("%w: sequence of %q: %v", ErrBadRecord, b, err)
	}
	return Record{Partition: part, Seq: seq}, nil
}

// Records returns perPartition records for each of partitions
// partitions, partition by partition.
func Records(partitions, perPartition int) []Record {
	out := make([]Record, 0, partitions*perPartition)
	for p := range partitions {
		for s := range perPartition {
			out = append(out, Record{Partition: p, Seq: int64(s)})
		}
	}
	return out
}

// Guarantee is what a connector promises across failures.
type Guarantee uint8

const (
	// ExactlyOnce: after failures every record is in the result once.
	ExactlyOnce Guarantee = iota
	// AtLeastOnce: after failures every record is in the result, some
	// perhaps more than once.
	AtLeastOnce
)

func (g Guarantee) String() string {
	if g == AtLeastOnce {
		return "at-least-once"
	}
	return "exactly-once"
}

// Source is what RunSource needs of a source connector. Each scenario
// runs on fresh external state: Setup is called at its start.
type Source struct {
	// Partitions is how many partitions the external system has; records
	// of partition p go to the p-th.
	Partitions int
	// Parallelism of the jobs; 2 when 0.
	Parallelism int
	// Guarantee the source gives the job's state across failures at
	// Parallelism.
	Guarantee Guarantee
	// Ordered says the records of one partition reach the job in order.
	Ordered bool
	// Setup prepares fresh external state for one scenario (a topic, a
	// stream, a directory) and returns the scenario's harness.
	Setup func(t *testing.T) SourceScenario
}

// SourceScenario is one scenario's view of the external system.
type SourceScenario struct {
	// Publish writes payloads, each into partition partition, in order.
	Publish func(t *testing.T, partition int, payloads [][]byte)
	// Stream builds the bounded source's stream on env: it reads what was
	// published before the job started and decodes each payload with
	// Decode, failing the job on its error.
	Stream func(env *freshet.Env) *freshet.Stream[Record]
	// Restart, when set, stops and restarts the external system, keeping
	// its data.
	Restart func(t *testing.T)
}

// Sink is what RunSink needs of a sink connector.
type Sink struct {
	// Parallelism of the jobs; 2 when 0.
	Parallelism int
	// Guarantee the sink gives its committed output across failures.
	Guarantee Guarantee
	// Ordered says the sink keeps the order of each partition's records
	// (written by one subtask) in what ReadBack returns.
	Ordered bool
	// Setup prepares fresh external state for one scenario.
	Setup func(t *testing.T) SinkScenario
}

// SinkScenario is one scenario's view of the external system.
type SinkScenario struct {
	// Attach writes stream to the sink. A record r with bad(r) true must
	// fail the job with an error wrapping ErrBadRecord (a serializer that
	// refuses it).
	Attach func(stream *freshet.Stream[Record], bad func(Record) bool)
	// ReadBack returns the committed output, in the order the external
	// system keeps it (per partition, for an ordered sink).
	ReadBack func(t *testing.T) []Record
	// Restart, when set, stops and restarts the external system, keeping
	// its data.
	Restart func(t *testing.T)
}

const jobTimeout = 90 * time.Second

func parallelism(p int) int {
	if p == 0 {
		return 2
	}
	return p
}

func quietEnv(opts ...freshet.Option) *freshet.Env {
	return freshet.NewEnv(append([]freshet.Option{freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)...)
}

// failures are the options of a job that fails and restores.
func failures(t *testing.T, p int) *freshet.Env {
	return quietEnv(freshet.WithParallelism(p),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(50, 5*time.Millisecond)),
		freshet.WithCheckpointing(25*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
}

// RunSource runs the source scenarios.
func RunSource(t *testing.T, s Source) {
	t.Run("order", func(t *testing.T) { sourceOrder(t, s) })
	t.Run("resume", func(t *testing.T) { sourceResume(t, s) })
	t.Run("bad-record", func(t *testing.T) { sourceBadRecord(t, s) })
	t.Run("slow-consumer", func(t *testing.T) { sourceSlowConsumer(t, s) })
	t.Run("restart", func(t *testing.T) { sourceRestart(t, s) })
}

func publishAll(t *testing.T, sc SourceScenario, recs []Record) {
	t.Helper()
	byPart := map[int][][]byte{}
	var parts []int
	for _, r := range recs {
		if _, ok := byPart[r.Partition]; !ok {
			parts = append(parts, r.Partition)
		}
		byPart[r.Partition] = append(byPart[r.Partition], r.Encode())
	}
	for _, p := range parts {
		sc.Publish(t, p, byPart[p])
	}
}

func run(t *testing.T, env *freshet.Env, name string) (*freshet.JobClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	t.Cleanup(cancel)
	jc, err := env.ExecuteAsync(ctx, name)
	if err != nil {
		return nil, err
	}
	return jc, jc.Wait()
}

func sourceOrder(t *testing.T, s Source) {
	sc := s.Setup(t)
	recs := Records(s.Partitions, 200)
	publishAll(t, sc, recs)
	env := quietEnv(freshet.WithParallelism(parallelism(s.Parallelism)))
	out := freshet.Collect(sc.Stream(env))
	if _, err := run(t, env, "conformance-source-order"); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	got := out.Values()
	checkOnce(t, got, recs, ExactlyOnce)
	if s.Ordered {
		checkOrdered(t, got)
	}
}

func sourceResume(t *testing.T, s Source) {
	sc := s.Setup(t)
	recs := Records(s.Partitions, 1000)
	publishAll(t, sc, recs)
	p := parallelism(s.Parallelism)
	env := failures(t, p)
	f := newFailer(len(recs), p, 5)
	c := NewCollector[Record]()
	checked := pass(sc.Stream(env), f.check)
	freshet.SinkTo(checked, c.Sink(), "collect").UID("collect")
	if _, err := run(t, env, "conformance-source-resume"); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if got := f.failed.Load(); got < 5 {
		t.Fatalf("%d injected failures, want at least 5", got)
	}
	checkOnce(t, c.Final(), recs, s.Guarantee)
}

func sourceBadRecord(t *testing.T, s Source) {
	sc := s.Setup(t)
	sc.Publish(t, 0, [][]byte{Record{Seq: 0}.Encode(), BadPayload, Record{Seq: 1}.Encode()})
	env := quietEnv(freshet.WithParallelism(parallelism(s.Parallelism)))
	freshet.Collect(sc.Stream(env))
	_, err := run(t, env, "conformance-source-bad-record")
	if !errors.Is(err, ErrBadRecord) {
		t.Fatalf("job ended with %v, want an error wrapping ErrBadRecord", err)
	}
}

func sourceSlowConsumer(t *testing.T, s Source) {
	sc := s.Setup(t)
	recs := Records(s.Partitions, 100)
	publishAll(t, sc, recs)
	env := quietEnv(freshet.WithParallelism(parallelism(s.Parallelism)),
		freshet.WithCheckpointing(20*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	slow := pass(sc.Stream(env), func(*freshet.Context) error {
		time.Sleep(time.Millisecond)
		return nil
	})
	out := freshet.Collect(slow)
	if _, err := run(t, env, "conformance-source-slow-consumer"); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	got := out.Values()
	checkOnce(t, got, recs, ExactlyOnce)
	if s.Ordered {
		checkOrdered(t, got)
	}
}

func sourceRestart(t *testing.T, s Source) {
	sc := s.Setup(t)
	if sc.Restart == nil {
		t.Skip("the external system cannot be restarted in a test")
	}
	recs := Records(s.Partitions, 300)
	publishAll(t, sc, recs)
	env := failures(t, parallelism(s.Parallelism))
	c := NewCollector[Record]()
	var seen atomic.Int64
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		for seen.Load() < int64(len(recs))/4 {
			time.Sleep(5 * time.Millisecond)
		}
		sc.Restart(t)
	}()
	counted := pass(sc.Stream(env), func(*freshet.Context) error {
		seen.Add(1)
		time.Sleep(200 * time.Microsecond)
		return nil
	})
	freshet.SinkTo(counted, c.Sink(), "collect").UID("collect")
	_, err := run(t, env, "conformance-source-restart")
	<-restarted
	if err != nil {
		t.Fatalf("job failed: %v", err)
	}
	checkOnce(t, c.Final(), recs, s.Guarantee)
}

// RunSink runs the sink scenarios.
func RunSink(t *testing.T, s Sink) {
	t.Run("delivery", func(t *testing.T) { sinkDelivery(t, s) })
	t.Run("trickle", func(t *testing.T) { sinkTrickle(t, s) })
	t.Run("bad-record", func(t *testing.T) { sinkBadRecord(t, s) })
	t.Run("restart", func(t *testing.T) { sinkRestart(t, s) })
}

// generated is a replayable source of n records over partitions
// partitions, read by one subtask in order and partitioned so that one
// sink subtask writes each partition, in order.
func generated(env *freshet.Env, partitions, n int, opts ...source.GeneratorOption) *freshet.Stream[Record] {
	per := int64(n / partitions)
	gen := source.Generator(func(i int64) Record {
		return Record{Partition: int(i % int64(partitions)), Seq: i / int64(partitions)}
	}, append([]source.GeneratorOption{source.GeneratorCount(per * int64(partitions))}, opts...)...)
	src := freshet.FromSource(env, gen, "records").SetParallelism(1)
	return freshet.PartitionCustom(src, func(p, n int) int { return p % n }, func(r Record) int { return r.Partition })
}

// pass runs check on every record of s (on the subtask that has it) and
// passes the record on unless check fails.
func pass(s *freshet.Stream[Record], check func(*freshet.Context) error) *freshet.Stream[Record] {
	return freshet.Process(s, freshet.ProcessFunc(func(ctx *freshet.Context, r Record, out freshet.Collector[Record]) error {
		if err := check(ctx); err != nil {
			return err
		}
		out.Collect(r)
		return nil
	}))
}

func sinkDelivery(t *testing.T, s Sink) {
	sc := s.Setup(t)
	const partitions, n = 4, 4000
	p := parallelism(s.Parallelism)
	env := failures(t, p)
	f := newFailer(n, p, 5)
	recs := generated(env, partitions, n)
	checked := pass(recs, f.check)
	sc.Attach(checked, func(Record) bool { return false })
	if _, err := run(t, env, "conformance-sink-delivery"); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if got := f.failed.Load(); got < 5 {
		t.Fatalf("%d injected failures, want at least 5", got)
	}
	got := sc.ReadBack(t)
	checkOnce(t, got, Records(partitions, n/partitions), s.Guarantee)
	if s.Ordered && s.Guarantee == ExactlyOnce {
		checkOrdered(t, got)
	}
}

func sinkTrickle(t *testing.T, s Sink) {
	sc := s.Setup(t)
	const partitions, n = 2, 40
	env := quietEnv(freshet.WithParallelism(parallelism(s.Parallelism)),
		freshet.WithCheckpointing(5*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	sc.Attach(generated(env, partitions, n, source.GeneratorRate(100)), func(Record) bool { return false })
	jc, err := run(t, env, "conformance-sink-trickle")
	if err != nil {
		t.Fatalf("job failed: %v", err)
	}
	completed := 0
	for _, c := range jc.Checkpoints() {
		if c.Status == freshet.CheckpointCompleted {
			completed++
		}
	}
	if completed < 3 {
		t.Fatalf("%d checkpoints completed, want several while records trickled in", completed)
	}
	got := sc.ReadBack(t)
	checkOnce(t, got, Records(partitions, n/partitions), ExactlyOnce)
}

func sinkBadRecord(t *testing.T, s Sink) {
	sc := s.Setup(t)
	env := quietEnv(freshet.WithParallelism(parallelism(s.Parallelism)))
	sc.Attach(generated(env, 2, 100), func(r Record) bool { return r.Partition == 1 && r.Seq == 7 })
	_, err := run(t, env, "conformance-sink-bad-record")
	if !errors.Is(err, ErrBadRecord) {
		t.Fatalf("job ended with %v, want an error wrapping ErrBadRecord", err)
	}
}

func sinkRestart(t *testing.T, s Sink) {
	sc := s.Setup(t)
	if sc.Restart == nil {
		t.Skip("the external system cannot be restarted in a test")
	}
	const partitions, n = 2, 1000
	env := failures(t, parallelism(s.Parallelism))
	var seen atomic.Int64
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		for seen.Load() < n/3 {
			time.Sleep(5 * time.Millisecond)
		}
		sc.Restart(t)
	}()
	counted := pass(generated(env, partitions, n, source.GeneratorRate(4000)), func(*freshet.Context) error {
		seen.Add(1)
		return nil
	})
	sc.Attach(counted, func(Record) bool { return false })
	_, err := run(t, env, "conformance-sink-restart")
	<-restarted
	if err != nil {
		t.Fatalf("job failed: %v", err)
	}
	got := sc.ReadBack(t)
	checkOnce(t, got, Records(partitions, n/partitions), s.Guarantee)
}

// checkOnce fails t unless got holds every record of want once (at
// least once, and nothing else, for AtLeastOnce).
func checkOnce(t *testing.T, got, want []Record, g Guarantee) {
	t.Helper()
	counts := make(map[Record]int, len(want))
	for _, r := range got {
		counts[r]++
	}
	var missing, extra, dup int
	var first []string
	note := func(s string) {
		if len(first) < 5 {
			first = append(first, s)
		}
	}
	for _, r := range want {
		switch c := counts[r]; {
		case c == 0:
			missing++
			note("missing " + r.String())
		case c > 1 && g == ExactlyOnce:
			dup++
			note(fmt.Sprintf("%s %d times", r, c))
		}
		delete(counts, r)
	}
	for r := range counts {
		extra++
		note("unexpected " + r.String())
	}
	if missing+dup+extra > 0 {
		t.Fatalf("%s: %d records, want %d: %d missing, %d duplicated, %d unexpected; %v", g, len(got), len(want), missing, dup, extra, first)
	}
}

// checkOrdered fails t unless the records of each partition in got come
// in order of Seq.
func checkOrdered(t *testing.T, got []Record) {
	t.Helper()
	last := map[int]int64{}
	for i, r := range got {
		if prev, ok := last[r.Partition]; ok && r.Seq <= prev {
			t.Fatalf("record %d is %s after %d:%d: partition out of order", i, r, r.Partition, prev)
		}
		last[r.Partition] = r.Seq
	}
}

// failer fails the job at a random record of each of its first attempts.
type failer struct {
	at       []int64 // per attempt: the record (counted over all subtasks) to fail at
	mu       sync.Mutex
	counts   map[int]*atomic.Int64
	failed   atomic.Int32
	attempts int
}

// newFailer fails attempts 0..k-1 each at a random record among the first
// n/(2pk) that attempt processes: however far an attempt gets, the next
// one has that many records left.
func newFailer(n, p, k int) *failer {
	f := &failer{counts: map[int]*atomic.Int64{}, attempts: k}
	top := max(n/(2*p*k), 2)
	for range k {
		f.at = append(f.at, 1+rand.Int64N(int64(top)))
	}
	return f
}

func (f *failer) check(ctx *freshet.Context) error {
	a := ctx.Runtime().Attempt()
	if a >= f.attempts {
		return nil
	}
	f.mu.Lock()
	c, ok := f.counts[a]
	if !ok {
		c = new(atomic.Int64)
		f.counts[a] = c
	}
	f.mu.Unlock()
	if c.Add(1) == f.at[a] {
		f.failed.Add(1)
		return fmt.Errorf("connectortest: failure injected at record %d of attempt %d", f.at[a], a)
	}
	return nil
}

// Collector is a sink that keeps what it is written in its checkpointed
// state. Final is the state of the last checkpoint that completed in each
// subtask (all it was written, after the end of input): what the job's
// state holds after its failures, so a test can tell exactly-once state
// from at-least-once. Written counts every write, replays included.
type Collector[T comparable] struct {
	mu      sync.Mutex
	state   map[int][]T
	written map[T]int
}

// NewCollector returns an empty collector.
func NewCollector[T comparable]() *Collector[T] {
	return &Collector[T]{state: map[int][]T{}, written: map[T]int{}}
}

// Sink returns the sink writing to c; its state's elements need a codec
// (codec.Of[T]).
func (c *Collector[T]) Sink() *sink.StatefulSink[T, T] {
	return &sink.StatefulSink[T, T]{
		NewWriter: func(ctx sink.InitContext, restored []T) (sink.StatefulWriter[T, T], error) {
			return &collectWriter[T]{c: c, subtask: ctx.SubtaskIndex(), seen: slices.Clone(restored), snaps: map[int64][]T{}}, nil
		},
	}
}

// Final returns the values in the subtasks' last completed checkpoints.
func (c *Collector[T]) Final() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []T
	for _, vs := range c.state {
		out = append(out, vs...)
	}
	return out
}

// Written returns how many times each value was written, in any attempt.
func (c *Collector[T]) Written() map[T]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.written)
}

type collectWriter[T comparable] struct {
	c       *Collector[T]
	subtask int
	seen    []T
	snaps   map[int64][]T
}

func (w *collectWriter[T]) Write(v T, _ sink.Context) error {
	w.seen = append(w.seen, v)
	w.c.mu.Lock()
	w.c.written[v]++
	w.c.mu.Unlock()
	return nil
}

func (w *collectWriter[T]) Flush(bool) error { return nil }
func (w *collectWriter[T]) Close() error     { return nil }

func (w *collectWriter[T]) SnapshotState(id int64) ([]T, error) {
	w.snaps[id] = slices.Clone(w.seen)
	return w.seen, nil
}

func (w *collectWriter[T]) NotifyCheckpointComplete(id int64) error {
	s, ok := w.snaps[id]
	if !ok && id == sink.EndOfInput {
		s, ok = w.seen, true
	}
	if ok {
		w.c.mu.Lock()
		w.c.state[w.subtask] = s
		w.c.mu.Unlock()
	}
	for k := range w.snaps {
		if k <= id {
			delete(w.snaps, k)
		}
	}
	return nil
}

func (w *collectWriter[T]) NotifyCheckpointAborted(id int64) error {
	delete(w.snaps, id)
	return nil
}

// Attempts is a sink that keeps what each attempt of a job wrote, for a
// job whose attempts write each key at most once (its total, when input
// ends): LastByKey gives each key's value from the latest attempt that
// wrote it.
type Attempts[T any] struct {
	mu   sync.Mutex
	vals map[int][]T
}

// CreateWriter implements sink.Sink.
func (a *Attempts[T]) CreateWriter(ctx sink.InitContext) (sink.Writer[T], error) {
	return &attemptWriter[T]{a: a, attempt: ctx.Attempt()}, nil
}

type attemptWriter[T any] struct {
	a       *Attempts[T]
	attempt int
}

func (w *attemptWriter[T]) Write(v T, _ sink.Context) error {
	w.a.mu.Lock()
	defer w.a.mu.Unlock()
	if w.a.vals == nil {
		w.a.vals = map[int][]T{}
	}
	w.a.vals[w.attempt] = append(w.a.vals[w.attempt], v)
	return nil
}

func (w *attemptWriter[T]) Flush(bool) error { return nil }
func (w *attemptWriter[T]) Close() error     { return nil }

// LastByKey returns every key's value from the latest attempt that wrote
// the key: a subtask that finished before the checkpoint a later attempt
// restored from writes nothing again, so its keys' values come from the
// earlier attempt.
func LastByKey[T any, K comparable](a *Attempts[T], key func(T) K) map[K]T {
	a.mu.Lock()
	defer a.mu.Unlock()
	latest, out := map[K]int{}, map[K]T{}
	for n, vs := range a.vals {
		for _, v := range vs {
			k := key(v)
			if prev, ok := latest[k]; !ok || n > prev {
				latest[k], out[k] = n, v
			}
		}
	}
	return out
}
