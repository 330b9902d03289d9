package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The cluster benchmarks (BenchmarkNetworkExchange/freshet and
// BenchmarkNetworkLatency/cluster) run the job program bench/netjob on a
// cluster of processes on 127.0.0.1: a JobManager and two TaskManagers
// with two slots each, started with freshet cluster start the first time
// a benchmark asks for it and stopped by TestMain. The job's sources fill
// the first TaskManager's two slots and its sinks, in a slot sharing
// group of their own, the second's, so each runs in the worker process of
// its TaskManager and every record crosses a loopback connection between
// the two. FRESHET_BENCH_JOB_ARGS adds flags to the job program's, such as
// --cpuprofile=/tmp/netjob.prof (a profile per worker process).

const (
	netTaskManagers = 2
	netSlots        = 2
)

var (
	netClusterOnce sync.Once
	netClusterRun  *netCluster
	netClusterErr  error
)

// TestMain stops the cluster the benchmarks started.
func TestMain(m *testing.M) {
	code := m.Run()
	if netClusterRun != nil {
		netClusterRun.stop()
	}
	os.Exit(code)
}

// netCluster is a running cluster and the binaries it was started from.
type netCluster struct {
	dir     string // the binaries, the processes' logs and pids
	freshet string // the freshet command
	job     string // the job program bench/netjob
	rest    string // http://host:port
}

// startNetCluster builds the freshet command and bench/netjob and starts
// the cluster, once per benchmark process.
func startNetCluster(b *testing.B) *netCluster {
	b.Helper()
	netClusterOnce.Do(func() { netClusterRun, netClusterErr = newNetCluster() })
	if netClusterErr != nil {
		b.Fatal(netClusterErr)
	}
	return netClusterRun
}

func newNetCluster() (*netCluster, error) {
	dir, err := os.MkdirTemp("", "freshet-bench-cluster-")
	if err != nil {
		return nil, err
	}
	c := &netCluster{dir: dir, freshet: filepath.Join(dir, "freshet"), job: filepath.Join(dir, "netjob")}
	for _, p := range [][2]string{{c.freshet, "../cmd/freshet"}, {c.job, "./netjob"}} {
		if out, err := exec.Command("go", "build", "-o", p[0], p[1]).CombinedOutput(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("go build %s: %v\n%s", p[1], err, out)
		}
	}
	out, err := exec.Command(c.freshet, "cluster", "start", "--dir", dir, "--taskmanagers", strconv.Itoa(netTaskManagers),
		"-D", "rest.port=0", "-D", "jobmanager.rpc.port=0", "-D", "taskmanager.numberOfTaskSlots="+strconv.Itoa(netSlots),
		"-D", "artifact.dir="+filepath.Join(dir, "artifacts")).CombinedOutput()
	m := regexp.MustCompile(`REST API at (\S+),`).FindSubmatch(out)
	if err != nil || m == nil {
		logs := c.logs()
		c.stop()
		return nil, fmt.Errorf("freshet cluster start: %v\n%s%s", err, out, logs)
	}
	c.rest = string(m[1])
	return c, nil
}

func (c *netCluster) stop() {
	_ = exec.Command(c.freshet, "cluster", "stop", "--dir", c.dir).Run()
	_ = os.RemoveAll(c.dir)
}

// logs returns the end of every process's log.
func (c *netCluster) logs() string {
	var sb strings.Builder
	files, _ := filepath.Glob(filepath.Join(c.dir, "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		fmt.Fprintf(&sb, "\n%s:\n%s", filepath.Base(f), b)
	}
	return sb.String()
}

// waitIdle waits until every slot of the cluster is free, so that the next
// job's sources and sinks take the TaskManagers' slots in order.
func (c *netCluster) waitIdle(b *testing.B) {
	b.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var o struct {
			TaskManagers   int `json:"taskmanagers"`
			SlotsAvailable int `json:"slots-available"`
		}
		resp, err := http.Get(c.rest + "/overview")
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(body, &o); err != nil {
			last = fmt.Sprintf("GET /overview: %s: %s", resp.Status, body)
			continue
		}
		if o.TaskManagers == netTaskManagers && o.SlotsAvailable == netTaskManagers*netSlots {
			return
		}
		last = string(body)
	}
	b.Fatalf("the cluster's slots are not all free after 30s: %s%s", last, c.logs())
}

// netReport is one line of bench/netjob's report: what one sink subtask
// measured (its Report type).
type netReport struct {
	Subtask       int             `json:"subtask"`
	Parallelism   int             `json:"parallelism"`
	Records       int64           `json:"records"`
	FirstNanos    int64           `json:"first_ns"`
	LastNanos     int64           `json:"last_ns"`
	LatencyMicros map[int64]int64 `json:"latency_us"`
}

// netResult is what the sink subtasks of a run measured together.
type netResult struct {
	records int64
	// window is from the first record any subtask received to the last.
	window time.Duration
	// latency counts records by latency in (rounded) microseconds.
	latency map[int64]int64
}

// percentile returns the latency below or at which a fraction q of the
// records lie.
func (r netResult) percentile(q float64) time.Duration {
	var total int64
	keys := make([]int64, 0, len(r.latency))
	for k, n := range r.latency {
		keys = append(keys, k)
		total += n
	}
	slices.Sort(keys)
	rank := min(int64(q*float64(total)), total-1)
	var seen int64
	for _, k := range keys {
		if seen += r.latency[k]; seen > rank {
			return time.Duration(k) * time.Microsecond
		}
	}
	return 0
}

// run runs bench/netjob on the cluster with events records, rate records/s
// (0: unlimited) and the buffer timeout, waits for it to finish and returns
// what its sinks measured. It fails b unless the sinks got every record.
func (c *netCluster) run(b *testing.B, events int, rate float64, timeout time.Duration) netResult {
	b.Helper()
	c.waitIdle(b)
	report := filepath.Join(b.TempDir(), "report.jsonl")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := []string{"--address", c.rest, "run", c.job, "--events", strconv.Itoa(events),
		"--rate", strconv.FormatFloat(rate, 'f', -1, 64), "--buffer-timeout", timeout.String(), "--report", report}
	args = append(args, strings.Fields(os.Getenv("FRESHET_BENCH_JOB_ARGS"))...)
	if out, err := exec.CommandContext(ctx, c.freshet, args...).CombinedOutput(); err != nil {
		b.Fatalf("freshet %s: %v\n%s%s", strings.Join(args, " "), err, out, c.logs())
	}
	content, err := os.ReadFile(report)
	if err != nil {
		b.Fatalf("reading the sinks' report: %v", err)
	}
	var reports []netReport
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		var r netReport
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			b.Fatalf("report line %q: %v", sc.Text(), err)
		}
		reports = append(reports, r)
	}
	if len(reports) != 2 || reports[0].Subtask == reports[1].Subtask || reports[0].Parallelism != 2 {
		b.Fatalf("the report has %d lines, want one for each of the 2 sink subtasks:\n%s", len(reports), content)
	}
	res := netResult{latency: map[int64]int64{}}
	var first, last int64
	for _, r := range reports {
		res.records += r.Records
		if r.Records > 0 {
			if first == 0 || r.FirstNanos < first {
				first = r.FirstNanos
			}
			last = max(last, r.LastNanos)
		}
		for k, n := range r.LatencyMicros {
			res.latency[k] += n
		}
	}
	if res.records != int64(events) {
		b.Fatalf("the sinks got %d records, want %d:\n%s", res.records, events, content)
	}
	res.window = time.Duration(last - first)
	return res
}
