package cluster

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/freshet-io/freshet/internal/jobmanager"
	"github.com/freshet-io/freshet/internal/rpc"
)

// TestStartJobLeavesHeartbeatsFree checks that a TaskManager answers
// heartbeats while it fetches a job's program (a worker starting on a busy
// machine takes seconds: a job master must not take the TaskManager for
// lost meanwhile), and that a second start of the same job waits for the
// first rather than fetching beside it.
func TestStartJobLeavesHeartbeatsFree(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fetches.Add(1) == 1 {
			close(entered)
			<-release
		}
		http.Error(w, "no such artifact", http.StatusNotFound)
	}))
	defer srv.Close()
	te := NewTaskExecutor(TaskExecutorConfig{ID: "tm", Slots: 1, CacheDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	defer te.Close()
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock() // first: srv.Close and te.Close wait for the fetch
	start := rpc.JobStart{Job: "j", Artifact: "a", Checksum: strings.Repeat("0", 64), Dispatcher: strings.TrimPrefix(srv.URL, "http://")}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, errs[0] = te.StartJob(context.Background(), start)
	}()
	<-entered
	second := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(second)
		_, errs[1] = te.StartJob(context.Background(), start)
	}()

	answered := make(chan error, 1)
	go func() { answered <- te.Heartbeat(context.Background(), "j") }()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a heartbeat waited for a worker's start")
	}
	select {
	case <-second:
		t.Fatal("a second start of the job did not wait for the first")
	default:
	}
	unblock()
	wg.Wait()
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("start %d: %v, want the fetch's 404", i, err)
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (the second start tries again after the first failed)", n)
	}
}

// recordingRM fails every allocation and records what it was asked to
// exclude.
type recordingRM struct {
	rpc.ResourceManagerGateway
	mu       sync.Mutex
	excludes [][]string
}

func (r *recordingRM) AllocateSlots(_ context.Context, job rpc.JobID, n int, exclude []string) ([]rpc.SlotGrant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.excludes = append(r.excludes, exclude)
	return nil, jobmanager.ErrNotEnoughSlots
}

// TestLostTaskManagerServesAgain checks that a TaskManager the job master
// lost is kept out of its slot requests for a heartbeat timeout and an
// interval only: one that merely missed heartbeats serves the job again.
func TestLostTaskManagerServesAgain(t *testing.T) {
	rm := &recordingRM{}
	hb := rpc.HeartbeatConfig{Interval: 200 * time.Millisecond, Timeout: time.Second}
	c := &clusterSlots{log: slog.New(slog.DiscardHandler), rm: rm, hb: hb, slotTimeout: 2500 * time.Millisecond,
		tms: map[string]*remoteTM{}, lost: map[string]time.Time{"tm-1@127.0.0.1:1": time.Now()}}
	if _, err := c.Slots(context.Background(), "j", 2); !errors.Is(err, jobmanager.ErrNotEnoughSlots) {
		t.Fatalf("Slots: %v", err)
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if len(rm.excludes) < 2 {
		t.Fatalf("%d allocation attempts", len(rm.excludes))
	}
	if first := rm.excludes[0]; len(first) != 1 || first[0] != "tm-1@127.0.0.1:1" {
		t.Errorf("the first request excluded %v, want the lost TaskManager", first)
	}
	if last := rm.excludes[len(rm.excludes)-1]; len(last) != 0 {
		t.Errorf("a request %s after the loss excluded %v", c.slotTimeout, last)
	}
}

// failingWorker is a worker's gateway whose CancelJob fails as its
// connection closes (exit, when set, makes its process exit then), or,
// with hang, never answers.
type failingWorker struct {
	rpc.TaskExecutorGateway
	exit func()
	hang bool
}

func (w failingWorker) CancelJob(ctx context.Context, _ rpc.JobID) error {
	if w.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if w.exit != nil {
		go w.exit()
	}
	return errors.New("error reading from server: connection reset by peer")
}

// TestCancelJobAtFailingWorker checks that cancelling a job succeeds
// whatever its worker does, so that the job master does not take the
// TaskManager for lost: a worker that exits meanwhile (it abandons a
// subtask that ignored an earlier cancellation) is let go; one that fails
// the call and runs on, or does not answer (hung, stopped), is killed.
func TestCancelJobAtFailingWorker(t *testing.T) {
	for _, tc := range []struct {
		name   string
		gw     failingWorker
		killed bool
	}{
		{"exits", failingWorker{exit: func() {}}, false},
		{"runs on", failingWorker{}, true},
		{"hangs", failingWorker{hang: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := NewTaskExecutor(TaskExecutorConfig{ID: "tm", Slots: 1, Heartbeat: rpc.HeartbeatConfig{Interval: 100 * time.Millisecond, Timeout: 2 * time.Second},
				Logger: slog.New(slog.DiscardHandler)})
			cmd := exec.Command("sleep", "60")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			w := &worker{job: "j", cmd: cmd, exited: make(chan struct{})}
			var state atomic.Pointer[os.ProcessState]
			go func() {
				_ = cmd.Wait()
				state.Store(cmd.ProcessState)
				close(w.exited)
			}()
			defer func() { _ = cmd.Process.Kill(); <-w.exited }()
			gw := tc.gw
			if gw.exit != nil {
				gw.exit = func() { _ = cmd.Process.Signal(syscall.SIGTERM) }
			}
			w.gw = gw
			te.workers["j"] = w
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := te.CancelJob(ctx, "j"); err != nil {
				t.Fatalf("CancelJob: %v", err)
			}
			select {
			case <-w.exited:
			default:
				t.Fatal("CancelJob returned while the worker runs")
			}
			ws := state.Load().Sys().(syscall.WaitStatus)
			if got := ws.Signaled() && ws.Signal() == syscall.SIGKILL; got != tc.killed {
				t.Fatalf("the worker ended with %v; killed %v, want %v", state.Load(), got, tc.killed)
			}
		})
	}
}

// TestWorkerNetwork: a TaskManager's data port range and buffer settings
// reach its workers' data planes through their environment, each worker
// on the lowest port of the range no other worker has.
func TestWorkerNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	te := NewTaskExecutor(TaskExecutorConfig{ID: "tm", Slots: 1, Logger: slog.New(slog.DiscardHandler),
		Network: NetworkConfig{DataPort: base, SegmentSize: 4096, BuffersPerChannel: 3}})
	te.mu.Lock()
	first, second := te.takePortLocked(), te.takePortLocked()
	te.mu.Unlock()
	if first != base || second != base+1 {
		t.Fatalf("ports %d and %d, want %d and %d", first, second, base, base+1)
	}
	te.releasePort(first)
	te.mu.Lock()
	again := te.takePortLocked()
	te.mu.Unlock()
	if again != base {
		t.Fatalf("after a worker's exit the next port is %d, want %d again", again, base)
	}

	for _, kv := range te.cfg.Network.env(first) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	n, err := networkFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if want := (NetworkConfig{DataPort: base, SegmentSize: 4096, BuffersPerChannel: 3}); n != want {
		t.Fatalf("a worker reads %+v, want %+v", n, want)
	}
	d, err := newWorkerData("127.0.0.1", "tm", 0, n)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(base)); d.Address() != want {
		t.Errorf("the worker's data plane is at %s, want %s", d.Address(), want)
	}
	// A second worker on the same port fails naming it.
	if _, err := newWorkerData("127.0.0.1", "tm", 0, n); err == nil || !strings.Contains(err.Error(), "taskmanager.data.port "+strconv.Itoa(base)) {
		t.Errorf("a taken data port: %v", err)
	}
}
