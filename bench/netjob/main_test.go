package main

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
)

// runReports runs the job embedded and returns the sinks' reports.
func runReports(t *testing.T, o Options) []Report {
	t.Helper()
	o.Report = filepath.Join(t.TempDir(), "report.jsonl")
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithTaskManagers(2), freshet.WithNetworkDataPlane(),
		freshet.WithBufferTimeout(o.BufferTimeout), freshet.WithLogger(slog.New(slog.DiscardHandler)))
	Build(env, o)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := env.Execute(ctx, "netjob"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(o.Report)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Report
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Report
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	if len(out) != 2 || out[0].Subtask == out[1].Subtask {
		t.Fatalf("reports %+v, want one of each of the 2 sink subtasks", out)
	}
	return out
}

func TestJobReports(t *testing.T) {
	const events = 20000
	rs := runReports(t, Options{Events: events, BufferTimeout: time.Millisecond})
	var n int64
	for _, r := range rs {
		n += r.Records
		if r.Parallelism != 2 || r.Records == 0 || r.FirstNanos == 0 || r.LastNanos < r.FirstNanos || r.LatencyMicros != nil {
			t.Fatalf("report %+v of an unpaced run", r)
		}
	}
	if n != events {
		t.Fatalf("the sinks got %d records, want %d", n, events)
	}
}

func TestJobReportsLatency(t *testing.T) {
	const events = 2000
	rs := runReports(t, Options{Events: events, Rate: 20000, BufferTimeout: 0})
	var n int64
	for _, r := range rs {
		var inHist int64
		for _, c := range r.LatencyMicros {
			inHist += c
		}
		if inHist != r.Records || r.P50Micros <= 0 || r.P99Micros < r.P50Micros || r.P99Micros > int64(10*time.Second/time.Microsecond) {
			t.Fatalf("report %+v: %d records in the latency histogram", r, inHist)
		}
		n += r.Records
	}
	if n != events {
		t.Fatalf("the sinks got %d records, want %d", n, events)
	}
}

func TestRoundMicros(t *testing.T) {
	for _, c := range [][2]int64{{0, 0}, {63, 63}, {64, 64}, {65, 64}, {127, 126}, {128, 128}, {131, 128}, {1000, 992}, {1 << 20, 1 << 20}, {1<<20 + 1<<15 - 1, 1 << 20}, {1<<20 + 1<<15, 1<<20 + 1<<15}} {
		if got := roundMicros(c[0]); got != c[1] {
			t.Errorf("roundMicros(%d) = %d, want %d", c[0], got, c[1])
		}
	}
}

func TestPercentile(t *testing.T) {
	h := map[int64]int64{10: 50, 20: 49, 1000: 1}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0, 10}, {0.49, 10}, {0.5, 20}, {0.98, 20}, {0.99, 1000}, {1, 1000}} {
		if got := Percentile(h, c.q); got != c.want {
			t.Errorf("Percentile(%v) = %d, want %d", c.q, got, c.want)
		}
	}
	if got := Percentile(nil, 0.5); got != 0 {
		t.Errorf("Percentile of nothing = %d, want 0", got)
	}
}
