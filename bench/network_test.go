package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/exchange/netx"
	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/internal/operator"
)

// The network benchmarks. BenchmarkNetworkExchange runs a keyed exchange
// between two TaskManager processes of a cluster (freshet) and between two
// TaskManagers of the embedded cluster (inprocess), joined by the network
// data plane; BenchmarkNetxExchange sends records with netx alone from
// this process to a child process (the test binary re-run as
// TestHelperProcess), so they really cross processes. One op is one record.

const (
	// helperEnv tells a re-run test binary which receiver to be.
	helperEnv = "FRESHET_BENCH_NET_HELPER"
	// netChannels is the number of consumer channels of the keyed exchange.
	netChannels = 2
	// recordSize is the size of a benchmark record's value.
	recordSize = 100
)

// netRecord is the record of the network benchmarks: 100 bytes, keyed by
// its first 8, with a codec that copies them (as a user registers for a
// fixed-size type), so decoding allocates nothing, and that says so
// (codec.Raw), so exchanges copy them without calling it per record.
type netRecord [recordSize]byte

type netRecordCodec struct{}

func (netRecordCodec) Append(dst []byte, v netRecord) []byte { return append(dst, v[:]...) }

func (netRecordCodec) Decode(src []byte) (v netRecord, n int, err error) {
	if len(src) < recordSize {
		return v, 0, codec.ErrCorrupt
	}
	return netRecord(src[:recordSize]), recordSize, nil
}

// RawSize implements codec.Raw: the encoding is the value's bytes.
func (netRecordCodec) RawSize() int { return recordSize }

func init() { codec.Register[netRecord](netRecordCodec{}) }

// netRecords is the ring of record values the sender cycles through.
var netRecords = func() []netRecord {
	r := make([]netRecord, 1024)
	for i := range r {
		binary.LittleEndian.PutUint64(r[i][:], uint64(i*7919))
		for j := 8; j < recordSize; j++ {
			r[i][j] = byte(i + j)
		}
	}
	return r
}()

var netKey = func(v netRecord) int64 { return int64(binary.LittleEndian.Uint64(v[:])) }

// TestHelperProcess is the receiving side of BenchmarkNetxExchange when
// run as a child with helperEnv set; otherwise it skips.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "freshet":
		receiveFreshet()
	case "loop":
		receiveLoop()
	default:
		t.Skip("the child process of BenchmarkNetxExchange")
	}
}

// receiveFreshet accepts the channels of the keyed exchange into one gate,
// decodes every batch, and reports the records and their byte sum.
func receiveFreshet() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERR", err)
		return
	}
	m, err := netx.NewManager(ln, netx.WithProcessID("receiver"), netx.WithBuffers(16))
	if err != nil {
		fmt.Println("ERR", err)
		return
	}
	defer m.Close()
	gate := exchange.NewGate(netChannels, 4)
	failed := make(chan error, netChannels)
	for i := range netChannels {
		if err := m.Register(netChannelID(i), gate.Channel(i), func(err error) { failed <- err }); err != nil {
			fmt.Println("ERR", err)
			return
		}
	}
	fmt.Println("ADDR", ln.Addr())
	c := codec.Must[netRecord]()
	pool := exchange.PoolFor[netRecord]()
	var count, sum int64
	wake := make(chan struct{})
	go func() {
		err := <-failed
		fmt.Println("ERR", err)
		close(wake)
	}()
	for ended := 0; ended < netChannels; {
		e, woken, err := gate.Next(context.Background(), nil, wake)
		if err != nil || woken {
			return
		}
		switch e.Kind {
		case exchange.KindEncoded:
			b := pool.Get().(*exchange.Batch[netRecord])
			err := exchange.DecodeBatch(c, e.Bytes, b)
			e.ReleaseBytes() // as a task's reader does, so the slab is reused
			if err != nil {
				fmt.Println("ERR", err)
				return
			}
			for _, r := range b.Records {
				count++
				sum += int64(r.Value[recordSize-1])
			}
			exchange.Release(pool, b)
		case exchange.KindEndOfInput:
			ended++
		}
	}
	fmt.Println("DONE", count, sum, cpuTime().Nanoseconds())
	io.Copy(io.Discard, os.Stdin) // until the parent is done with us
}

// receiveLoop reads one plain TCP connection to its end and reports the
// records (recordSize bytes each) it carried.
func receiveLoop() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERR", err)
		return
	}
	defer ln.Close()
	fmt.Println("ADDR", ln.Addr())
	nc, err := ln.Accept()
	if err != nil {
		fmt.Println("ERR", err)
		return
	}
	buf := make([]byte, 64<<10)
	var n, sum int64
	for {
		k, err := nc.Read(buf)
		for _, b := range buf[:k] {
			sum += int64(b)
		}
		n += int64(k)
		if err != nil {
			break
		}
	}
	fmt.Println("DONE", n/recordSize, sum, cpuTime().Nanoseconds())
	io.Copy(io.Discard, os.Stdin)
}

func netChannelID(i int) netx.ChannelID {
	return netx.ChannelID{Job: "bench", ProducerVertex: 1, ConsumerVertex: 2, ConsumerSubtask: 0, Channel: i}
}

// child is a receiving process.
type child struct {
	cmd   *exec.Cmd
	stdin io.Closer
	out   *bufio.Scanner
	addr  string
}

func startChild(b *testing.B, mode string) *child {
	b.Helper()
	// FRESHET_BENCH_CHILD_ARGS adds flags to the child's, such as
	// -test.cpuprofile=child.prof.
	args := append([]string{"-test.run=^TestHelperProcess$"}, strings.Fields(os.Getenv("FRESHET_BENCH_CHILD_ARGS"))...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	b.Cleanup(c.stop)
	c.addr = c.line(b, "ADDR")[0]
	return c
}

// line returns the fields after word of the child's next report.
func (c *child) line(b *testing.B, word string) []string {
	b.Helper()
	for c.out.Scan() {
		f := strings.Fields(c.out.Text())
		if len(f) > 0 && f[0] == word {
			return f[1:]
		}
		if len(f) > 0 && f[0] == "ERR" {
			b.Fatalf("receiving process: %s", c.out.Text())
		}
	}
	b.Fatalf("the receiving process ended without %s: %v", word, c.out.Err())
	return nil
}

func (c *child) stop() {
	c.stdin.Close()
	c.cmd.Wait()
}

// checkDone checks the child's report of count records and byte sum, and
// reports the CPU time the child spent per record.
func checkDone(b *testing.B, f []string, count, sum int64) {
	b.Helper()
	if len(f) == 3 {
		if ns, err := strconv.ParseInt(f[2], 10, 64); err == nil && ns > 0 {
			b.ReportMetric(float64(ns)/float64(count), "recv-cpu-ns/op")
		}
		f = f[:2]
	}
	if len(f) != 2 || f[0] != strconv.FormatInt(count, 10) || f[1] != strconv.FormatInt(sum, 10) {
		b.Fatalf("receiver got %v, want %d records with sum %d", f, count, sum)
	}
}

// BenchmarkNetxExchange measures a keyed exchange of 100-byte records
// from this process to another over loopback: one producer partitions
// records by key group into batches for two channels, which netx encodes
// into 32 KiB buffers and sends over one connection with credit-based flow
// control; the other process decodes every record. loop writes the same
// bytes over one plain TCP connection and reads them.
func BenchmarkNetxExchange(b *testing.B) {
	b.Run("freshet", func(b *testing.B) {
		c := startChild(b, "freshet")
		m, err := netx.NewManager(nil, netx.WithProcessID("sender"))
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		ctx := context.Background()
		enc, err := netx.EncoderFor[netRecord]()
		if err != nil {
			b.Fatal(err)
		}
		targets := make([]exchange.ChannelWriter, netChannels)
		for i := range targets {
			w, err := m.Writer(ctx, c.addr, netChannelID(i), enc)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			targets[i] = w
		}
		hash, _ := keygroup.Hasher[int64](nil)
		fail := operator.NewFailure(new(int), nil)
		w, err := exchange.NewRecordWriter[netRecord](ctx, targets, &exchange.KeyGroups[netRecord, int64]{Key: netKey, Hash: hash, MaxParallelism: 128}, exchange.WriterConfig{BatchSize: 64, Failure: fail})
		if err != nil {
			b.Fatal(err)
		}
		var sum int64
		for i := range b.N {
			sum += int64(netRecords[i&1023][recordSize-1])
		}
		run(b, b.N, func() error {
			run := make([]operator.Record[netRecord], 256)
			for i := 0; i < b.N; i += len(run) {
				for !w.IsAvailable() {
					<-w.Available()
				}
				n := min(len(run), b.N-i)
				for j := range n {
					run[j] = operator.Record[netRecord]{Value: netRecords[(i+j)&1023]}
				}
				w.CollectBatch(run[:n])
				if err := fail.Err(); err != nil {
					return err
				}
			}
			if err := w.Event(exchange.Envelope{Kind: exchange.KindEndOfInput}); err != nil {
				return err
			}
			checkDone(b, c.line(b, "DONE"), int64(b.N), sum)
			return nil
		})
	})
	b.Run("loop", func(b *testing.B) {
		c := startChild(b, "loop")
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		chunk, perChunk, sum := loopChunk(b.N)
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
			checkDone(b, c.line(b, "DONE"), int64(b.N), sum)
			return nil
		})
	})
}

// latencyRate is the rate of BenchmarkNetworkLatency: a tenth of the 3
// million records/s BenchmarkNetxExchange aims for.
const latencyRate = 300_000

// BenchmarkNetworkLatency measures how long single records take from a
// record writer in one network manager to the gate of another over
// loopback, sent at latencyRate records/s (each one flushed by the record
// writer, as at a buffer timeout of 0 in the task), with the network
// buffer timeout at 0 and at 100 ms. One op is one record; it reports the
// 50th and 99th percentiles. Run it with -benchtime=300000x for a second.
//
// cluster/timeout=0s and cluster/timeout=100ms run the job program
// bench/netjob on a cluster of processes (see netCluster) at latencyRate
// with the job's buffer timeout (freshet.WithBufferTimeout, which the
// workers' network managers take too) at 0 and 100 ms: 100-byte records
// carrying their creation time from a generator source in one TaskManager
// process, keyed, to sinks in the other, which take each record's latency
// from its creation to the sink. They report its p50-ms and p99-ms, and
// the records/s the sinks saw.
func BenchmarkNetworkLatency(b *testing.B) {
	for _, timeout := range []time.Duration{0, 100 * time.Millisecond} {
		b.Run(fmt.Sprintf("timeout=%s", timeout), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			recv, err := netx.NewManager(ln)
			if err != nil {
				b.Fatal(err)
			}
			defer recv.Close()
			send, err := netx.NewManager(nil, netx.WithBufferTimeout(timeout))
			if err != nil {
				b.Fatal(err)
			}
			defer send.Close()
			ctx := context.Background()
			gate := exchange.NewGate(1, 64)
			if err := recv.Register(netChannelID(0), gate.Channel(0), func(error) {}); err != nil {
				b.Fatal(err)
			}
			enc, _ := netx.EncoderFor[int64]()
			nw, err := send.Writer(ctx, ln.Addr().String(), netChannelID(0), enc)
			if err != nil {
				b.Fatal(err)
			}
			defer nw.Close()
			w, err := exchange.NewRecordWriter[int64](ctx, []exchange.ChannelWriter{nw}, nil, exchange.WriterConfig{BatchSize: 1})
			if err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := codec.Must[int64]()
				var batch exchange.Batch[int64]
				for {
					e, _, err := gate.Next(ctx, nil, nil)
					if err != nil || e.Kind == exchange.KindEndOfInput {
						return
					}
					batch.Records = batch.Records[:0]
					err = exchange.DecodeBatch(c, e.Bytes, &batch)
					e.ReleaseBytes()
					if err != nil {
						return
					}
					now := time.Now().UnixNano()
					for _, r := range batch.Records {
						lat = append(lat, time.Duration(now-r.Value))
					}
				}
			}()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				// Pace: record i leaves at start + i/latencyRate.
				if d := time.Until(start.Add(time.Duration(i) * time.Second / latencyRate)); d > 0 && i%64 == 0 {
					time.Sleep(d)
				}
				w.Collect(operator.Record[int64]{Value: time.Now().UnixNano()})
			}
			_ = w.Event(exchange.Envelope{Kind: exchange.KindEndOfInput})
			wg.Wait()
			b.StopTimer()
			if len(lat) != b.N {
				b.Fatalf("received %d records, want %d", len(lat), b.N)
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
	b.Run("cluster", func(b *testing.B) {
		for _, timeout := range []time.Duration{0, 100 * time.Millisecond} {
			b.Run(fmt.Sprintf("timeout=%s", timeout), func(b *testing.B) {
				c := startNetCluster(b)
				b.ResetTimer()
				res := c.run(b, b.N, latencyRate, timeout)
				b.StopTimer()
				ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
				b.ReportMetric(ms(res.percentile(0.5)), "p50-ms")
				b.ReportMetric(ms(res.percentile(0.99)), "p99-ms")
				if res.window > 0 {
					b.ReportMetric(float64(res.records)/res.window.Seconds(), "records/s")
				}
			})
		}
	})
}

// loopChunk is what the loops write: a 32 KiB chunk of whole records,
// how many records it holds, and the sum of the bytes of the first n
// records sent chunk after chunk, which the reader must count.
func loopChunk(n int) (chunk []byte, perChunk int, sum int64) {
	chunk = make([]byte, 0, 32<<10)
	for len(chunk)+recordSize <= cap(chunk) {
		chunk = append(chunk, netRecords[len(chunk)/recordSize&1023][:]...)
	}
	perChunk = len(chunk) / recordSize
	for i := range n {
		for _, v := range netRecords[i%perChunk&1023] {
			sum += int64(v)
		}
	}
	return chunk, perChunk, sum
}
