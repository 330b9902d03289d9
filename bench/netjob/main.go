// Command netjob is the job of the cluster network benchmarks
// (BenchmarkNetworkExchange/freshet and BenchmarkNetworkLatency/cluster in
// package bench): a generator source of 100-byte records at parallelism 2
// in the default slot sharing group, keyed by the records' first 8 bytes,
// into a sink at parallelism 2 in the slot sharing group "sinks". On a
// cluster of two TaskManagers with two slots each the sources run in one
// TaskManager's worker process and the sinks in the other's, so every
// record is encoded, crosses a loopback connection and is decoded.
//
//	go build -o /tmp/netjob ./bench/netjob
//	freshet run /tmp/netjob --events 10000000 --report /tmp/report.jsonl
//
// Each sink subtask measures what it receives and, when it closes, appends
// one JSON line to --report (see Report): the records it received, the
// times of the first and the last, and with --rate the latency of every
// record, from its creation in the generator (the time is in the record)
// to the sink, in a histogram. The benchmark merges the subtasks' lines.
// --report must be an absolute path: the workers do not run in the
// directory freshet run was started in.
//
// --cpuprofile FILE writes a CPU profile of each worker process to
// FILE.PID: the source's process stops its profile when the generator
// makes its last record, the sink's when its first subtask closes.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math/bits"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
)

// recordSize is the size of a record.
const recordSize = 100

// Record is the benchmark's record: its first 8 bytes are its key, the
// next 8 its creation time in Unix nanoseconds when the run is paced
// (0 otherwise), the rest filler. Its codec copies the bytes, as a user
// registers for a fixed-size type, so decoding allocates nothing, and says
// so (codec.Raw), so exchanges copy them without calling it per record.
type Record [recordSize]byte

type recordCodec struct{}

func (recordCodec) Append(dst []byte, v Record) []byte { return append(dst, v[:]...) }

func (recordCodec) Decode(src []byte) (v Record, n int, err error) {
	if len(src) < recordSize {
		return v, 0, codec.ErrCorrupt
	}
	return Record(src[:recordSize]), recordSize, nil
}

// RawSize implements codec.Raw: the encoding is the value's bytes.
func (recordCodec) RawSize() int { return recordSize }

func init() { codec.Register[Record](recordCodec{}) }

// records is the ring of values the generator cycles through.
var records = func() []Record {
	r := make([]Record, 1024)
	for i := range r {
		binary.LittleEndian.PutUint64(r[i][:], uint64(i*7919))
		for j := 16; j < recordSize; j++ {
			r[i][j] = byte(i + j)
		}
	}
	return r
}()

// Key is the key selector: the record's first 8 bytes.
func Key(r Record) uint64 { return binary.LittleEndian.Uint64(r[:8]) }

// Options are the job's settings.
type Options struct {
	Events        int64
	Rate          float64 // records/s over both sources; 0 unlimited
	BufferTimeout time.Duration
	Report        string
	// lastRecord, when set, is called by the generator as it makes the
	// last record.
	lastRecord func()
}

// Build declares the job on env.
func Build(env *freshet.Env, o Options) {
	paced, last, done := o.Rate > 0, o.Events-1, o.lastRecord
	gen := func(i int64) Record {
		r := records[i&1023]
		if paced {
			binary.LittleEndian.PutUint64(r[8:], uint64(time.Now().UnixNano()))
		}
		if i == last && done != nil {
			done()
		}
		return r
	}
	src := freshet.FromSource(env, source.Generator(gen, source.GeneratorCount(o.Events), source.GeneratorRate(o.Rate)), "records").
		UID("records")
	freshet.SinkTo(freshet.KeyBy(src, Key).Stream(), &Sink{Path: o.Report}, "measure").UID("measure").SlotSharingGroup("sinks")
}

func main() {
	var o Options
	flag.Int64Var(&o.Events, "events", 1_000_000, "how many records (at least 1)")
	flag.Float64Var(&o.Rate, "rate", 0, "records per second over both sources (0: unlimited); records then carry their creation time")
	flag.DurationVar(&o.BufferTimeout, "buffer-timeout", 100*time.Millisecond, "the buffer timeout (freshet.WithBufferTimeout)")
	flag.StringVar(&o.Report, "report", "", "the file each sink subtask appends its JSON line to (required, absolute)")
	cpuProfile := flag.String("cpuprofile", "", "write each worker process's CPU profile to this path with .PID appended")
	flag.Parse()
	if o.Events < 1 || o.Report == "" {
		fmt.Fprintln(os.Stderr, "netjob: --events must be at least 1 and --report is required")
		os.Exit(2)
	}
	if *cpuProfile != "" {
		stop, err := startProfile(*cpuProfile + "." + strconv.Itoa(os.Getpid()))
		if err != nil {
			fmt.Fprintln(os.Stderr, "netjob:", err)
			os.Exit(1)
		}
		o.lastRecord, stopProfile = func() { go stop() }, stop
	}
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithBufferTimeout(o.BufferTimeout))
	Build(env, o)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := env.Execute(ctx, "netjob"); err != nil {
		fmt.Fprintln(os.Stderr, "netjob:", err)
		os.Exit(1)
	}
}

// stopProfile, when set, ends the process's CPU profile and writes it.
var stopProfile func()

// startProfile starts a CPU profile into memory and returns the function
// that stops it and writes it to path, once. Processes that never stop it
// (the job master) write nothing.
func startProfile(path string) (stop func(), err error) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		return nil, fmt.Errorf("starting the CPU profile: %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "netjob: writing the CPU profile: %v\n", err)
			}
		})
	}, nil
}

// Report is what one sink subtask measured, one JSON line of --report.
type Report struct {
	Subtask     int   `json:"subtask"`
	Parallelism int   `json:"parallelism"`
	Attempt     int   `json:"attempt"`
	Records     int64 `json:"records"`
	// FirstNanos and LastNanos are when the subtask received its first
	// and its last record, in Unix nanoseconds (0 without records).
	FirstNanos int64 `json:"first_ns"`
	LastNanos  int64 `json:"last_ns"`
	// LatencyMicros counts the records of a paced run by latency in
	// microseconds, each rounded down to one of 32 to 64 values per power
	// of two (at most 3% low); the key is the rounded value.
	LatencyMicros map[int64]int64 `json:"latency_us,omitempty"`
	P50Micros     int64           `json:"p50_us,omitempty"`
	P99Micros     int64           `json:"p99_us,omitempty"`
}

// Sink measures the records it receives and appends each subtask's Report
// to Path when the subtask closes.
type Sink struct {
	Path string
}

// CreateWriter implements sink.Sink.
func (s *Sink) CreateWriter(ctx sink.InitContext) (sink.Writer[Record], error) {
	return &writer{path: s.Path, r: Report{Subtask: ctx.SubtaskIndex(), Parallelism: ctx.Parallelism(), Attempt: ctx.Attempt()}}, nil
}

type writer struct {
	path string
	r    Report
}

func (w *writer) Write(v Record, _ sink.Context) error {
	w.add(time.Now().UnixNano(), &v)
	return nil
}

// WriteBatch implements sink.BatchWriter: one clock reading per batch.
func (w *writer) WriteBatch(rs []sink.Record[Record], _ int64) error {
	if len(rs) == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	for i := range rs {
		w.add(now, &rs[i].Value)
	}
	return nil
}

func (w *writer) add(now int64, v *Record) {
	if w.r.Records == 0 {
		w.r.FirstNanos = now
	}
	w.r.Records++
	w.r.LastNanos = now
	if created := int64(binary.LittleEndian.Uint64(v[8:16])); created != 0 {
		if w.r.LatencyMicros == nil {
			w.r.LatencyMicros = map[int64]int64{}
		}
		w.r.LatencyMicros[roundMicros(max(0, now-created)/1000)]++
	}
}

// roundMicros keeps the 6 highest bits of us.
func roundMicros(us int64) int64 {
	if us < 64 {
		return us
	}
	e := bits.Len64(uint64(us)) - 6
	return us >> e << e
}

// Percentile returns the value below or at which a fraction q of the
// histogram's records lie.
func Percentile(h map[int64]int64, q float64) int64 {
	var total int64
	keys := make([]int64, 0, len(h))
	for k, n := range h {
		keys = append(keys, k)
		total += n
	}
	slices.Sort(keys)
	rank := min(int64(q*float64(total)), total-1)
	var seen int64
	for _, k := range keys {
		if seen += h[k]; seen > rank {
			return k
		}
	}
	return 0
}

func (w *writer) Flush(bool) error { return nil }

// Close appends the subtask's report, one line in one write to a file
// opened for appending, so that the subtasks' lines do not mix.
func (w *writer) Close() error {
	if stopProfile != nil {
		stopProfile()
	}
	if w.r.LatencyMicros != nil {
		w.r.P50Micros, w.r.P99Micros = Percentile(w.r.LatencyMicros, 0.5), Percentile(w.r.LatencyMicros, 0.99)
	}
	b, err := json.Marshal(w.r)
	if err != nil {
		return fmt.Errorf("encoding the report of subtask %d: %w", w.r.Subtask, err)
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("opening the report: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("writing the report to %s: %w", w.path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing the report %s: %w", w.path, err)
	}
	return nil
}
