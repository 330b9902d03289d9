package bench

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/freshet-io/freshet/sink"
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
