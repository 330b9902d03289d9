package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
)

// netSink counts the records it receives and sums their last bytes, over
// all its subtasks: every record was decoded on its way.
type netSink struct {
	count, sum atomic.Int64
}

func (s *netSink) CreateWriter(sink.InitContext) (sink.Writer[netRecord], error) {
	return &netSinkWriter{s: s}, nil
}

type netSinkWriter struct {
	s          *netSink
	count, sum int64
}

func (w *netSinkWriter) Write(v netRecord, _ sink.Context) error {
	w.count++
	w.sum += int64(v[recordSize-1])
	return nil
}

// WriteBatch implements sink.BatchWriter.
func (w *netSinkWriter) WriteBatch(rs []sink.Record[netRecord], _ int64) error {
	for i := range rs {
		w.count++
		w.sum += int64(rs[i].Value[recordSize-1])
	}
	return nil
}

func (w *netSinkWriter) Flush(bool) error { return nil }

func (w *netSinkWriter) Close() error {
	w.s.count.Add(w.count)
	w.s.sum.Add(w.sum)
	w.count, w.sum = 0, 0
	return nil
}

// BenchmarkNetworkExchange measures a keyed exchange of 100-byte records
// between two TaskManagers joined by the network data plane: a generator
// source at parallelism 2 on one TaskManager, keyed by the records' first
// 8 bytes, and a sink at parallelism 2 on the other (its own slot sharing
// group), so that every record is encoded, crosses one loopback TCP
// connection with credit-based flow control and is decoded. One op is one
// record.
//
//   - freshet runs the job program bench/netjob on a cluster of processes
//     (a JobManager and two TaskManagers with two slots each, started once
//     by the benchmark process, see netCluster): the sources run in one
//     TaskManager's worker process and the sinks in the other's. records/s
//     is measured by the sinks, from the first record they receive to the
//     last, so it leaves out the job's start; ns/op includes it.
//   - inprocess runs the same job on the embedded cluster's two
//     TaskManagers in this process (freshet.WithNetworkDataPlane); its time
//     includes the job's start.
//   - loop writes the same bytes over one plain TCP connection from one
//     goroutine and reads them in another.
func BenchmarkNetworkExchange(b *testing.B) {
	b.Run("freshet", func(b *testing.B) {
		c := startNetCluster(b)
		b.ResetTimer()
		res := c.run(b, b.N, 0, 100*time.Millisecond)
		b.StopTimer()
		if res.window > 0 {
			b.ReportMetric(float64(res.records)/res.window.Seconds(), "records/s")
		}
	})
	b.Run("inprocess", func(b *testing.B) {
		var sum int64
		for i := range b.N {
			sum += int64(netRecords[i&1023][recordSize-1])
		}
		out := &netSink{}
		env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithTaskManagers(2), freshet.WithNetworkDataPlane(),
			freshet.WithLogger(slog.New(slog.DiscardHandler)))
		src := freshet.FromSource(env, source.Generator(func(i int64) netRecord { return netRecords[i&1023] }, source.GeneratorCount(int64(b.N))), "records")
		freshet.SinkTo(freshet.KeyBy(src, netKey).Stream(), out, "sink").SlotSharingGroup("sinks")
		run(b, b.N, func() error { return env.Execute(context.Background(), "network-exchange") })
		if out.count.Load() != int64(b.N) || out.sum.Load() != sum {
			b.Fatalf("the sink got %d records with sum %d, want %d with sum %d", out.count.Load(), out.sum.Load(), b.N, sum)
		}
	})
	b.Run("loop", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		chunk, perChunk, want := loopChunk(b.N)
		type result struct {
			n, sum int64
			err    error
		}
		got := make(chan result, 1)
		go func() {
			nc, err := ln.Accept()
			if err != nil {
				got <- result{err: err}
				return
			}
			defer nc.Close()
			buf := make([]byte, 64<<10)
			var r result
			for {
				k, err := nc.Read(buf)
				for _, c := range buf[:k] {
					r.sum += int64(c)
				}
				r.n += int64(k)
				if err != nil {
					if err != io.EOF {
						r.err = err
					}
					break
				}
			}
			got <- r
		}()
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		run(b, b.N, func() error {
			for i := 0; i < b.N; i += perChunk {
				n := min(perChunk, b.N-i)
				if _, err := nc.Write(chunk[:n*recordSize]); err != nil {
					return err
				}
			}
			if err := nc.(*net.TCPConn).CloseWrite(); err != nil {
				return err
			}
			r := <-got
			if r.err != nil {
				return r.err
			}
			if r.n != int64(b.N)*recordSize || r.sum != want {
				b.Fatalf("the reader got %d bytes with sum %d, want %d with sum %d", r.n, r.sum, b.N*recordSize, want)
			}
			return nil
		})
	})
}
