package bench

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
)

// run times fn, which must process records records, as the whole of a
// sub-benchmark, and reports records/s. By the package convention records is
// b.N, so ns/op is the (wall-clock) time per record. It also reports
// cpu-ns/op, the CPU time the whole process spent per record (all goroutines,
// the garbage collector included): on a busy machine it is steadier than
// ns/op, and for a parallel job it is the total cost of a record.
func run(b *testing.B, records int, fn func() error) {
	b.Helper()
	b.ReportAllocs()
	runtime.GC()
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	err := fn()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(records), "cpu-ns/op")
	}
}

// cpuTime is the CPU time (user and system) the process has used so far, or
// 0 where it cannot be read.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// counter is a bounded source emitting the int64 values 0..N-1, split into
// one contiguous range per reader, without allocating per record.
type counter struct{ N int64 }

// counterPoll is how many values a counter reader emits per PollNext.
const counterPoll = 256

type countSplit struct {
	ID        int
	Next, End int64
}

func (s countSplit) SplitID() string { return "count-" + strconv.Itoa(s.ID) }

func (c *counter) Boundedness() source.Boundedness { return source.Bounded }

func (c *counter) CreateEnumerator(ctx source.EnumeratorContext[countSplit]) (source.Enumerator[countSplit], error) {
	p := int64(ctx.Parallelism())
	var splits []countSplit
	for i := int64(0); i < p; i++ {
		lo, hi := i*c.N/p, (i+1)*c.N/p
		if lo < hi {
			splits = append(splits, countSplit{ID: int(i), Next: lo, End: hi})
		}
	}
	return source.NewStatic(ctx, splits), nil
}

func (c *counter) CreateReader(source.ReaderContext) (source.Reader[int64, countSplit], error) {
	return &counterReader{}, nil
}

type counterReader struct {
	splits []countSplit
	done   bool
	buf    []int64
}

var never = make(chan struct{})

func (r *counterReader) Start(context.Context) error { return nil }

func (r *counterReader) PollNext(out source.Output[int64]) (source.InputStatus, error) {
	if len(r.splits) == 0 {
		if r.done {
			return source.EndOfInput, nil
		}
		return source.NothingAvailable, nil
	}
	sp := &r.splits[0]
	end := min(sp.Next+counterPoll, sp.End)
	if bo, ok := out.(source.BatchOutput[int64]); ok {
		// Hand the poll's values over at once, as a reader of fetched
		// batches would.
		vs := r.buf[:0]
		for v := sp.Next; v < end; v++ {
			vs = append(vs, v)
		}
		r.buf = vs
		bo.CollectAll(vs)
	} else {
		for v := sp.Next; v < end; v++ {
			out.Collect(v)
		}
	}
	sp.Next = end
	if sp.Next == sp.End {
		r.splits = r.splits[1:]
	}
	return source.MoreAvailable, nil
}

func (r *counterReader) Available() <-chan struct{}    { return never }
func (r *counterReader) AddSplits(splits []countSplit) { r.splits = append(r.splits, splits...) }
func (r *counterReader) NotifyNoMoreSplits()           { r.done = true }
func (r *counterReader) Close() error                  { return nil }

// discard is a sink that keeps only the number and the sum of the values
// it receives, over all its subtasks.
type discard struct {
	count, sum atomic.Int64
}

func (d *discard) CreateWriter(sink.InitContext) (sink.Writer[int64], error) {
	return &discardWriter{d: d}, nil
}

type discardWriter struct {
	d          *discard
	count, sum int64
}

func (w *discardWriter) Write(v int64, _ sink.Context) error {
	w.count++
	w.sum += v
	return nil
}

// WriteBatch implements sink.BatchWriter.
func (w *discardWriter) WriteBatch(rs []sink.Record[int64], _ int64) error {
	for i := range rs {
		w.count++
		w.sum += rs[i].Value
	}
	return nil
}

func (w *discardWriter) Flush(bool) error { return nil }

func (w *discardWriter) Close() error {
	w.d.count.Add(w.count)
	w.d.sum.Add(w.sum)
	w.count, w.sum = 0, 0
	return nil
}
