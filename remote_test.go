package freshet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/internal/rest"
	"github.com/freshet-io/freshet/source"
)

// servedJob runs an unbounded job embedded with its REST API served, and
// returns its embedded client and a client attached through the API, as
// ExecuteAsync returns for a job on a cluster.
func servedJob(t *testing.T, opts ...freshet.Option) (embedded, remote *freshet.JobClient, address string) {
	t.Helper()
	env := freshet.NewEnv(append([]freshet.Option{quietLogger(), freshet.WithREST("127.0.0.1:0")}, opts...)...)
	t.Cleanup(func() { env.Close() })
	ticks := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorRate(2000)), "ticks").UID("ticks")
	freshet.Collect(freshet.Map(ticks.Rebalance(), func(v int64) int64 { return v }))
	jc, err := env.ExecuteAsync(context.Background(), "served")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jc.Cancel(); _ = jc.Wait() })
	address = "http://" + env.RESTAddress()
	return jc, freshet.AttachJob(address, jc.ID(), time.Minute), address
}

func quietLogger() freshet.Option {
	return freshet.WithLogger(slog.New(slog.DiscardHandler))
}

// TestRemoteJobClient drives a job through its REST API: status,
// checkpoints, a savepoint, cancellation, and a savepoint refused once the
// job has ended.
func TestRemoteJobClient(t *testing.T) {
	dir := t.TempDir()
	jc, rc, _ := servedJob(t, freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(dir)))
	if rc.ID() != jc.ID() {
		t.Fatalf("ID %q, want %q", rc.ID(), jc.ID())
	}
	waitUntil(t, "a completed checkpoint", func() bool {
		_, ok := rc.LatestCheckpoint()
		return rc.Status() == freshet.JobRunning && ok
	})
	latest, _ := rc.LatestCheckpoint()
	var embedded freshet.CheckpointStats
	for _, c := range jc.Checkpoints() {
		if c.ID == latest.ID {
			embedded = c
		}
	}
	if latest.Path == "" || latest.Path != embedded.Path || latest.Size != embedded.Size || latest.Status != freshet.CheckpointCompleted ||
		latest.Trigger.UnixMilli() != embedded.Trigger.UnixMilli() {
		t.Fatalf("checkpoint %d through the API %+v, embedded %+v", latest.ID, latest, embedded)
	}
	if h := rc.Checkpoints(); h[0].ID > h[len(h)-1].ID {
		t.Fatalf("checkpoints not oldest first: %+v", h)
	}
	spDir := t.TempDir()
	sp, err := rc.TriggerSavepoint(context.Background(), spDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sp); err != nil || !strings.HasPrefix(sp, spDir) {
		t.Fatalf("savepoint %q in %s: %v", sp, spDir, err)
	}
	checkSavepointListed(t, "through the API", rc.Checkpoints(), sp)
	checkSavepointListed(t, "embedded", jc.Checkpoints(), sp)
	if n := rc.Restarts(); n != 0 {
		t.Fatalf("%d restarts", n)
	}
	rc.Cancel()
	if err := rc.Wait(); err != nil {
		t.Fatal(err)
	}
	if st, est := rc.Status(), jc.Status(); st != freshet.JobCanceled || est != freshet.JobCanceled {
		t.Fatalf("after Cancel: %s through the API, %s embedded", st, est)
	}
	rc.Cancel() // an ended job: nothing to do
	if _, err := rc.TriggerSavepoint(context.Background(), spDir); !errors.Is(err, freshet.ErrNoSavepoint) || !strings.Contains(err.Error(), jc.ID()) {
		t.Fatalf("savepoint of an ended job: %v", err)
	}
}

func TestRemoteStopWithSavepoint(t *testing.T) {
	_, rc, _ := servedJob(t)
	waitUntil(t, "the job to run", func() bool { return rc.Status() == freshet.JobRunning })
	dir := t.TempDir()
	sp, err := rc.StopWithSavepoint(context.Background(), dir, false)
	if err != nil || !strings.HasPrefix(sp, dir) {
		t.Fatalf("stop with savepoint: %q, %v", sp, err)
	}
	if err := rc.Wait(); err != nil || rc.Status() != freshet.JobFinished {
		t.Fatalf("after stop: %v, %s", err, rc.Status())
	}
}

func TestRemoteJobFailed(t *testing.T) {
	env := freshet.NewEnv(quietLogger(), freshet.WithREST("127.0.0.1:0"), freshet.WithRestartStrategy(freshet.NoRestart()))
	defer env.Close()
	s := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(100)), "numbers")
	freshet.Collect(freshet.Process(s, freshet.ProcessFunc[int64, int64](func(_ *freshet.Context, v int64, out freshet.Collector[int64]) error {
		if v == 42 {
			return errors.New("boom at 42")
		}
		out.Collect(v)
		return nil
	})))
	jc, err := env.ExecuteAsync(context.Background(), "failing")
	if err != nil {
		t.Fatal(err)
	}
	address := "http://" + env.RESTAddress()
	rc := freshet.AttachJob(address, jc.ID(), time.Minute)
	err = rc.Wait()
	if !errors.Is(err, freshet.ErrJobNotFinished) || !strings.Contains(err.Error(), "boom at 42") ||
		!strings.Contains(err.Error(), address) || !strings.Contains(err.Error(), jc.ID()) {
		t.Fatalf("Wait: %v", err)
	}
	if st := rc.Status(); st != freshet.JobFailed {
		t.Fatalf("status %s", st)
	}
}

// fakeCluster serves GET /jobs/j with the state given and the documents
// set, as a cluster's REST API would.
type fakeCluster struct {
	state      atomic.Value // string
	exceptions rest.Exceptions
	ckpts      rest.Checkpoints
	savepoint  rest.SavepointStatus
}

func (f *fakeCluster) serve(t *testing.T) string {
	t.Helper()
	m := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	m.HandleFunc("GET /jobs/j", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, rest.JobDetails{ID: "j", State: f.state.Load().(string), Restarts: 2})
	})
	m.HandleFunc("GET /jobs/j/exceptions", func(w http.ResponseWriter, _ *http.Request) { reply(w, f.exceptions) })
	m.HandleFunc("GET /jobs/j/checkpoints", func(w http.ResponseWriter, _ *http.Request) { reply(w, f.ckpts) })
	m.HandleFunc("POST /jobs/j/savepoints", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		reply(w, rest.TriggerResponse{RequestID: "0123456789abcdef0123456789abcdef"})
	})
	m.HandleFunc("GET /jobs/j/savepoints/0123456789abcdef0123456789abcdef", func(w http.ResponseWriter, _ *http.Request) { reply(w, f.savepoint) })
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		reply(w, rest.ErrorBody{Errors: []string{"no job " + strings.TrimPrefix(r.URL.Path, "/jobs/")}, Code: rest.CodeJobNotFound})
	})
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestRemoteJobStatus(t *testing.T) {
	f := &fakeCluster{}
	rc := freshet.AttachJob(f.serve(t), "j", time.Minute)
	for _, tc := range []struct {
		state string
		want  freshet.JobStatus
	}{
		{"INITIALIZING", freshet.JobCreated},
		{"CREATED", freshet.JobCreated},
		{"RUNNING", freshet.JobRunning},
		{"FAILING", freshet.JobFailing},
		{"RESTARTING", freshet.JobRestarting},
		{"CANCELLING", freshet.JobCanceling},
		{"CANCELED", freshet.JobCanceled},
		{"FINISHED", freshet.JobFinished},
		{"FAILED", freshet.JobFailed},
	} {
		t.Run(tc.state, func(t *testing.T) {
			f.state.Store(tc.state)
			if st := rc.Status(); st != tc.want {
				t.Fatalf("%s is %s, want %s", tc.state, st, tc.want)
			}
			if n := rc.Restarts(); n != 2 {
				t.Fatalf("%d restarts, want 2", n)
			}
		})
	}
	// A state the client does not know leaves the last one read.
	f.state.Store("SUSPENDED")
	if st := rc.Status(); st != freshet.JobFailed {
		t.Fatalf("after an unknown state: %s", st)
	}
}

func TestRemoteJobFailure(t *testing.T) {
	f := &fakeCluster{exceptions: rest.Exceptions{RootException: "operator map failed: it broke"}}
	f.state.Store("FAILED")
	address := f.serve(t)
	err := freshet.AttachJob(address, "j", time.Minute).Wait()
	want := fmt.Sprintf("freshet: the job did not finish: job j on the cluster at %s FAILED: operator map failed: it broke", address)
	if !errors.Is(err, freshet.ErrJobNotFinished) || err.Error() != want {
		t.Fatalf("Wait: %v\nwant %s", err, want)
	}
}

func TestRemoteCheckpoints(t *testing.T) {
	f := &fakeCluster{ckpts: rest.Checkpoints{History: []rest.Checkpoint{ // newest first
		{ID: 3, Status: "IN_PROGRESS", TriggerTimestamp: 3000},
		{ID: 2, Status: "FAILED", TriggerTimestamp: 2000, Duration: 20, FailureMessage: "expired"},
		{ID: 1, Status: "COMPLETED", TriggerTimestamp: 1000, Duration: 10, StateSize: 99, ExternalPath: "/ck/j/chk-1"},
	}}}
	rc := freshet.AttachJob(f.serve(t), "j", time.Minute)
	h := rc.Checkpoints()
	if len(h) != 3 {
		t.Fatalf("%d checkpoints: %+v", len(h), h)
	}
	c1, c2, c3 := h[0], h[1], h[2]
	if c1.ID != 1 || c1.Status != freshet.CheckpointCompleted || c1.Path != "/ck/j/chk-1" || c1.Size != 99 ||
		c1.Duration != 10*time.Millisecond || !c1.Trigger.Equal(time.UnixMilli(1000)) || c1.Failure != nil {
		t.Errorf("checkpoint 1: %+v", c1)
	}
	if c2.ID != 2 || c2.Status != freshet.CheckpointFailed || c2.Failure == nil || c2.Failure.Error() != "expired" || c2.Path != "" {
		t.Errorf("checkpoint 2: %+v", c2)
	}
	if c3.ID != 3 || c3.Status != freshet.CheckpointInProgress {
		t.Errorf("checkpoint 3: %+v", c3)
	}
	if l, ok := rc.LatestCheckpoint(); !ok || l.ID != 1 {
		t.Errorf("latest: %+v %v", l, ok)
	}
}

func TestRemoteSavepointNotTaken(t *testing.T) {
	f := &fakeCluster{}
	f.savepoint.Status.ID = rest.SavepointCompleted
	f.savepoint.Operation = &rest.SavepointOperation{FailureCause: &rest.FailureCause{Class: rest.SavepointNotTaken, StackTrace: "the job ended first"}}
	address := f.serve(t)
	_, err := freshet.AttachJob(address, "j", time.Minute).TriggerSavepoint(context.Background(), "/sp")
	want := fmt.Sprintf("taking a savepoint of job j on the cluster at %s: freshet: savepoint not taken: the job ended first", address)
	if !errors.Is(err, freshet.ErrNoSavepoint) || err.Error() != want {
		t.Fatalf("TriggerSavepoint: %v\nwant %s", err, want)
	}
}

func TestRemoteJobUnknown(t *testing.T) {
	address := (&fakeCluster{}).serve(t)
	rc := freshet.AttachJob(address, "nope", time.Minute)
	err := rc.Wait()
	want := fmt.Sprintf("reading the status of job nope on the cluster at %s: freshet: no job nope", address)
	var re *rest.Error
	if !errors.As(err, &re) || re.Code != rest.CodeJobNotFound || err.Error() != want {
		t.Fatalf("Wait: %v\nwant %s", err, want)
	}
}

func TestRemoteUnreachable(t *testing.T) {
	// A port nothing listens on: taken, then closed.
	srv := httptest.NewServer(http.NotFoundHandler())
	address := srv.URL
	srv.Close()
	rc := freshet.AttachJob(address, "j", 300*time.Millisecond)
	if st := rc.Status(); st != freshet.JobCreated {
		t.Fatalf("status %s", st)
	}
	err := rc.Wait()
	if err == nil || !strings.Contains(err.Error(), "job j on the cluster at "+address) || !strings.Contains(err.Error(), "giving up after 300ms") {
		t.Fatalf("Wait: %v", err)
	}
	// Submitting fails at once, naming the address.
	env := freshet.NewEnv(quietLogger(), freshet.WithJobManager(address))
	freshet.Collect(freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(1)), "one"))
	_, err = env.ExecuteAsync(context.Background(), "unreachable")
	var ce *rest.ConnectError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `submitting job "unreachable" to the cluster at `+address) {
		t.Fatalf("ExecuteAsync: %v", err)
	}
}

// waitUntil polls cond until it holds, for at most a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkSavepointListed checks that h lists the savepoint at path (a
// folder named after its checkpoint, chk-ID) completed and marked a
// savepoint, and no other checkpoint as one.
func checkSavepointListed(t *testing.T, how string, h []freshet.CheckpointStats, path string) {
	t.Helper()
	id, err := strconv.ParseInt(path[strings.LastIndex(path, "chk-")+len("chk-"):], 10, 64)
	if err != nil {
		t.Fatalf("savepoint path %q: %v", path, err)
	}
	found := false
	for _, c := range h {
		if c.ID == id {
			found = c.Savepoint && c.Status == freshet.CheckpointCompleted
		} else if c.Savepoint {
			t.Fatalf("%s: checkpoint %d is marked a savepoint, want only %d: %+v", how, c.ID, id, h)
		}
	}
	if !found {
		t.Fatalf("%s: savepoint %d not listed completed and marked: %+v", how, id, h)
	}
}
