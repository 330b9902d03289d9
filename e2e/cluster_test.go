// Package e2e holds end-to-end tests of a Freshet cluster: real JobManager
// and TaskManager processes on 127.0.0.1, jobs submitted with the CLI.
package e2e

import (
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/freshet-io/freshet/examples/counting/output"
)

var (
	buildOnce sync.Once
	bins      string
	buildErr  error
)

// binaries builds the freshet command, the counting example and the stuck
// job of testdata once.
func binaries(t *testing.T) (freshet, counting, stuck string) {
	t.Helper()
	buildOnce.Do(func() {
		bins, buildErr = os.MkdirTemp("", "freshet-e2e-bin-")
		if buildErr != nil {
			return
		}
		for _, p := range [][2]string{{"freshet", "../cmd/freshet"}, {"counting", "../examples/counting"}, {"stuck", "./testdata/stuck"}} {
			// Built as make image builds the image's binary (static,
			// -trimpath), so the packages compiled for one serve the other.
			build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(bins, p[0]), p[1])
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			out, err := build.CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", p[1], err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(bins, "freshet"), filepath.Join(bins, "counting"), filepath.Join(bins, "stuck")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins != "" {
		os.RemoveAll(bins)
	}
	os.Exit(code)
}

// cluster is a standalone cluster started with freshet cluster start.
type cluster struct {
	t        *testing.T
	freshet  string
	dir      string
	rest     string // http://host:port
	rpc      string
	props    []string
	ckDir    string
	counting string
	stuck    string
}

// startCluster starts a JobManager and taskManagers TaskManagers of 3
// slots each; props, -D flags, are set after (and so over) the defaults.
func startCluster(t *testing.T, taskManagers int, props ...string) *cluster {
	t.Helper()
	freshet, counting, stuck := binaries(t)
	c := &cluster{t: t, freshet: freshet, counting: counting, stuck: stuck, dir: t.TempDir(), ckDir: t.TempDir()}
	c.props = []string{"-D", "rest.port=0", "-D", "jobmanager.rpc.port=0", "-D", "taskmanager.numberOfTaskSlots=3",
		"-D", "heartbeat.interval=300ms", "-D", "heartbeat.timeout=3s", "-D", "execution.checkpointing.dir=" + c.ckDir,
		"-D", "artifact.dir=" + filepath.Join(c.dir, "artifacts")}
	c.props = append(c.props, props...)
	out := c.cli(0, append([]string{"cluster", "start", "--dir", c.dir, "--taskmanagers", strconv.Itoa(taskManagers)}, c.props...)...)
	m := regexp.MustCompile(`REST API at (\S+), RPC at (\S+),`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cluster start printed %q", out)
	}
	c.rest, c.rpc = m[1], m[2]
	t.Cleanup(func() {
		_ = exec.Command(freshet, "cluster", "stop", "--dir", c.dir).Run()
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(c.dir, "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				if len(b) > 6000 {
					b = b[len(b)-6000:]
				}
				t.Logf("%s:\n%s", filepath.Base(l), b)
			}
		}
	})
	return c
}

// cli runs the freshet command against the cluster and checks its exit
// code; it returns the standard output.
func (c *cluster) cli(want int, args ...string) string {
	c.t.Helper()
	if c.rest != "" {
		args = append([]string{"--address", c.rest}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.freshet, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("freshet %s: %v", strings.Join(args, " "), err)
	}
	if code != want {
		c.t.Fatalf("freshet %s: exit code %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout.String(), stderr.String())
	}
	return stdout.String()
}

var jobIDPattern = regexp.MustCompile(`JobID ([0-9a-f]{32})`)

// submit runs the counting job detached and returns its id.
func (c *cluster) submit(parallelism int, savepoint string, args ...string) string {
	c.t.Helper()
	return c.submitProgram(c.counting, parallelism, savepoint, args...)
}

// submitProgram runs the job of program detached and returns its id.
func (c *cluster) submitProgram(program string, parallelism int, savepoint string, args ...string) string {
	c.t.Helper()
	run := []string{"run", "--detached", "--parallelism", strconv.Itoa(parallelism)}
	if savepoint != "" {
		run = append(run, "--from-savepoint", savepoint)
	}
	out := c.cli(0, append(append(run, program), args...)...)
	m := jobIDPattern.FindStringSubmatch(out)
	if m == nil {
		c.t.Fatalf("freshet run printed %q", out)
	}
	return m[1]
}

func (c *cluster) get(path string, v any) error {
	resp, err := http.Get(c.rest + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// children lists the processes whose parent is pid.
func children(t *testing.T, pid int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, not ')'.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			out = append(out, n)
		}
	}
	return out
}

// taskManagerPIDs reads the TaskManagers' process ids from cluster.pids
// (whose first line is the JobManager's).
func (c *cluster) taskManagerPIDs() []int {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "cluster.pids"))
	if err != nil {
		c.t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b))[1:] {
		pid, err := strconv.Atoi(f)
		if err != nil {
			c.t.Fatalf("cluster.pids: %v", err)
		}
		pids = append(pids, pid)
	}
	return pids
}

func httpText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

// waitFor polls cond until it holds.
func (c *cluster) waitFor(what string, timeout time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cluster) state(job string) string {
	var d struct {
		State string `json:"state"`
	}
	if err := c.get("/jobs/"+job, &d); err != nil {
		return "?" + err.Error()
	}
	return d.State
}

func (c *cluster) completedCheckpoints(job string) int {
	var cp struct {
		Counts struct {
			Completed int `json:"completed"`
		} `json:"counts"`
	}
	if c.get("/jobs/"+job+"/checkpoints", &cp) != nil {
		return 0
	}
	return cp.Counts.Completed
}

// counts reads the committed output of the counting job: every count of
// every key, sorted.
func counts(t *testing.T, dir string) map[int][]int {
	t.Helper()
	out, err := output.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkRun checks that each key's counts are from[k]+1 … perKey, each
// once; from nil means from 0. It returns the first count of each key.
func checkRun(t *testing.T, got map[int][]int, keys, perKey int, from map[int]int) {
	t.Helper()
	if len(got) != keys {
		t.Fatalf("%d keys in the output, want %d", len(got), keys)
	}
	for k := range keys {
		if missing, extra := output.OnceEach(got[k], from[k], perKey); len(missing)+len(extra) > 0 {
			t.Fatalf("key %d: %d counts, want each of %d…%d once; missing %v, extra %v", k, len(got[k]), from[k]+1, perKey,
				missing[:min(len(missing), 10)], extra[:min(len(extra), 10)])
		}
	}
}

// TestClusterEndToEnd runs the counting job at parallelism 4 on a
// JobManager and two TaskManagers (processes), checks its exact output,
// lists and inspects it; then runs it again slowly, takes a savepoint,
// cancels it, and resumes it from the savepoint at parallelism 2.
func TestClusterEndToEnd(t *testing.T) {
	c := startCluster(t, 2)
	out1 := t.TempDir()
	const keys, events = 8, 8000
	runOut := c.cli(0, "run", "--parallelism", "4", c.counting, "--out", out1, "--events", strconv.Itoa(events), "--keys", strconv.Itoa(keys))
	job := jobIDPattern.FindStringSubmatch(runOut)[1]
	if !strings.Contains(runOut, "Job "+job+" finished") {
		t.Fatalf("freshet run printed %q", runOut)
	}
	checkRun(t, counts(t, out1), keys, events/keys, nil)

	// A program that runs no job is refused with what it said, and leaves
	// no job behind.
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\necho boom >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	badRun := exec.Command(c.freshet, "--address", c.rest, "run", bad)
	if out, err := badRun.CombinedOutput(); badRun.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "did not start its job: it exited with exit status 3; its standard error ends: boom") {
		t.Fatalf("running a program that runs no job: %v\n%s", err, out)
	}

	list := c.cli(0, "list")
	if !regexp.MustCompile(job+`\s+counting\s+FINISHED`).MatchString(list) || strings.Count(list, "\n") != 2 {
		t.Fatalf("freshet list:\n%s", list)
	}
	info := c.cli(0, "info", job)
	for _, op := range []string{"events", "count", "counts"} {
		if !strings.Contains(info, op) {
			t.Fatalf("freshet info lacks operator %q:\n%s", op, info)
		}
	}
	var details struct {
		Vertices []struct {
			Name        string `json:"name"`
			Parallelism int    `json:"parallelism"`
			Metrics     struct {
				ReadRecords  int64 `json:"read-records"`
				WriteRecords int64 `json:"write-records"`
			} `json:"metrics"`
		} `json:"vertices"`
	}
	if err := c.get("/jobs/"+job, &details); err != nil {
		t.Fatal(err)
	}
	for _, v := range details.Vertices {
		if v.Parallelism != 4 {
			t.Fatalf("a vertex runs at parallelism %d, want 4", v.Parallelism)
		}
	}
	// The counters of the workers' subtasks, kept in the job's archive:
	// every event leaves the source and reaches the counter.
	if len(details.Vertices) != 2 || details.Vertices[0].Metrics.WriteRecords != events || details.Vertices[1].Metrics.ReadRecords != events {
		t.Fatalf("vertex metrics %+v, want %d records out of the source and into the counter", details.Vertices, events)
	}
	// The program submits itself, and waits for its job.
	self := t.TempDir()
	prog := exec.Command(c.counting, "--jobmanager", c.rest, "--out", self, "--events", "4000", "--keys", strconv.Itoa(keys))
	if out, err := prog.CombinedOutput(); err != nil {
		t.Fatalf("counting --jobmanager %s: %v\n%s", c.rest, err, out)
	}
	checkRun(t, counts(t, self), keys, 4000/keys, nil)

	tms := c.cli(0, "taskmanagers")
	if strings.Count(tms, "taskmanager-") != 2 || strings.Count(tms, " 3 ") != 4 {
		t.Fatalf("freshet taskmanagers:\n%s", tms)
	}

	// A slow run: savepoint, cancel, resume at parallelism 2.
	out2, sp := t.TempDir(), t.TempDir()
	// Slow enough (12 s) to be running still when it is saved and
	// cancelled on a busy machine; the resumed job runs at full speed.
	const slow = 48000
	// Its key groups are not the default's: the resumed job, which sets
	// none, takes the savepoint's, in the job master and every worker.
	job2 := c.submit(4, "", "--out", out2, "--events", strconv.Itoa(slow), "--keys", strconv.Itoa(keys), "--rate", "4000", "--max-parallelism", "16")
	c.waitFor("a checkpoint of the slow job", 30*time.Second, func() bool { return c.completedCheckpoints(job2) > 0 })
	// Another job shares the cluster meanwhile, in worker processes of
	// its own, on the slots the first leaves (3 of TaskManager 0 and 1 of
	// TaskManager 1 run the slow job).
	out4 := t.TempDir()
	c.cli(0, "run", "--parallelism", "2", c.counting, "--out", out4, "--events", "4000", "--keys", strconv.Itoa(keys))
	checkRun(t, counts(t, out4), keys, 4000/keys, nil)
	if st := c.state(job2); st != "RUNNING" {
		t.Fatalf("the slow job is %s while another ran", st)
	}
	// Each TaskManager's /metrics gathers its worker's subtasks; the
	// JobManager's has the job's.
	for i := range 2 {
		b, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("taskmanager-%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`metrics=(\S+)`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("taskmanager-%d logged no metrics address", i)
		}
		text := httpText(t, "http://"+string(m[1])+"/metrics")
		if !strings.Contains(text, `freshet_subtask_records_out_total{job="`+job2+`"`) {
			t.Fatalf("taskmanager-%d's /metrics has no subtask of job %s:\n%s", i, job2, text)
		}
	}
	if text := httpText(t, c.rest+"/metrics"); !strings.Contains(text, `freshet_job_info{job="`+job2+`"`) {
		t.Fatalf("the JobManager's /metrics lacks job %s:\n%s", job2, text)
	}
	spOut := c.cli(0, "savepoint", job2, sp)
	m := regexp.MustCompile(`Savepoint completed: (\S+)`).FindStringSubmatch(spOut)
	if m == nil {
		t.Fatalf("freshet savepoint printed %q", spOut)
	}
	savepoint := m[1]
	c.cli(0, "cancel", job2)
	c.waitFor("the slow job to be cancelled", 30*time.Second, func() bool { return c.state(job2) == "CANCELED" })
	if st := c.state(job2); st != "CANCELED" {
		t.Fatalf("job %s is %s after cancel", job2, st)
	}
	for k, c := range counts(t, out2) {
		// What the first run committed is each key's counts from 1, once.
		for i, n := range c {
			if n != i+1 {
				t.Fatalf("first run, key %d: counts %v", k, c)
			}
		}
	}
	// The resumed job writes to the same directory: the savepoint holds
	// its sink's pending part files there.
	job3 := c.submit(2, savepoint, "--out", out2, "--events", strconv.Itoa(slow), "--keys", strconv.Itoa(keys))
	c.waitFor("the resumed job to finish", 2*time.Minute, func() bool { return c.state(job3) == "FINISHED" })
	// Between the savepoint and the cancellation the first run went on, so
	// the counts it committed after the savepoint are there twice; every
	// count is there, and the last once, only if the resumed job started
	// from the savepoint's state.
	all := counts(t, out2)
	if len(all) != keys {
		t.Fatalf("%d keys in the output, want %d", len(all), keys)
	}
	for k := range keys {
		seen := map[int]int{}
		for _, n := range all[k] {
			seen[n]++
		}
		for n := 1; n <= slow/keys; n++ {
			if seen[n] == 0 || seen[n] > 2 {
				t.Fatalf("key %d: count %d is there %d times", k, n, seen[n])
			}
		}
		if len(seen) != slow/keys || seen[slow/keys] != 1 {
			t.Fatalf("key %d: %d distinct counts, the last %d times; want %d, once", k, len(seen), seen[slow/keys], slow/keys)
		}
	}
	if err := c.get("/jobs/"+job3, &details); err != nil {
		t.Fatal(err)
	}
	for _, v := range details.Vertices {
		if v.Parallelism != 2 {
			t.Fatalf("a resumed vertex runs at parallelism %d, want 2", v.Parallelism)
		}
	}
}

// TestTaskManagerKilled kills a worker process, then a TaskManager process,
// with SIGKILL while the counting job runs on both TaskManagers, starts a
// new TaskManager, and checks that the job finishes with its output
// exactly once.
func TestTaskManagerKilled(t *testing.T) {
	c := startCluster(t, 2)
	out := t.TempDir()
	const keys, events = 8, 40000
	job := c.submit(4, "", "--out", out, "--events", strconv.Itoa(events), "--keys", strconv.Itoa(keys), "--rate", "4000")
	c.waitFor("a checkpoint", 30*time.Second, func() bool { return c.completedCheckpoints(job) > 0 })
	tms := c.taskManagerPIDs()
	// First the second TaskManager's worker of the job dies: that
	// TaskManager reports its subtasks failed and starts another.
	workers := children(t, tms[1])
	if len(workers) != 1 {
		t.Fatalf("TaskManager 1 runs %d workers, want 1", len(workers))
	}
	before := c.completedCheckpoints(job)
	if err := syscall.Kill(workers[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.waitFor("a restart and a checkpoint after it", time.Minute, func() bool {
		var d struct {
			Restarts int `json:"restarts"`
		}
		return c.get("/jobs/"+job, &d) == nil && d.Restarts >= 1 && c.completedCheckpoints(job) > before
	})
	// Then the first TaskManager dies, with its worker.
	if err := syscall.Kill(tms[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// A replacement, as a supervisor would start.
	log, err := os.Create(filepath.Join(c.dir, "taskmanager-new.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	tm := exec.Command(c.freshet, append([]string{"taskmanager", "--jobmanager", c.rpc, "--id", "taskmanager-new"}, c.props...)...)
	tm.Stdout, tm.Stderr = log, log
	if err := tm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = tm.Process.Signal(syscall.SIGTERM)
		_ = tm.Wait()
	})
	c.waitFor("the job to finish", 2*time.Minute, func() bool {
		st := c.state(job)
		if st == "FAILED" || st == "CANCELED" {
			t.Fatalf("job %s: %s", job, st)
		}
		return st == "FINISHED"
	})
	checkRun(t, counts(t, out), keys, events/keys, nil)
	var ex struct {
		History struct {
			Entries []struct {
				Exception string `json:"exceptionName"`
			} `json:"entries"`
		} `json:"exceptionHistory"`
	}
	if err := c.get("/jobs/"+job+"/exceptions", &ex); err != nil {
		t.Fatal(err)
	}
	t.Logf("failures: %+v", ex.History.Entries)
}

// TestStopWithSavepoint stops the counting job with a savepoint and
// resumes it from there at another parallelism into the same output: a
// stop commits everything up to its savepoint, so together the runs write
// every count exactly once.
func TestStopWithSavepoint(t *testing.T) {
	c := startCluster(t, 2)
	out, sp := t.TempDir(), t.TempDir()
	const keys, events = 8, 32000
	job := c.submit(2, "", "--out", out, "--events", strconv.Itoa(events), "--keys", strconv.Itoa(keys), "--rate", "4000")
	c.waitFor("a checkpoint", 30*time.Second, func() bool { return c.completedCheckpoints(job) > 0 })
	start := time.Now()
	stopOut := c.cli(0, "stop", "--savepoint-path", sp, job)
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	m := regexp.MustCompile(`Savepoint completed: (\S+)`).FindStringSubmatch(stopOut)
	if m == nil {
		t.Fatalf("freshet stop printed %q", stopOut)
	}
	if st := c.state(job); st != "FINISHED" {
		t.Fatalf("a stopped job is %s", st)
	}
	stopped := counts(t, out)
	if len(stopped[0]) == 0 || len(stopped[0]) == events/keys {
		t.Fatalf("the stopped run wrote %d counts of key 0: stopped too late to test anything", len(stopped[0]))
	}
	resumed := c.submit(3, m[1], "--out", out, "--events", strconv.Itoa(events), "--keys", strconv.Itoa(keys))
	start = time.Now()
	c.waitFor("the resumed job to finish", 2*time.Minute, func() bool { return c.state(resumed) == "FINISHED" })
	t.Logf("resumed job ran for %s", time.Since(start).Round(time.Millisecond))
	checkRun(t, counts(t, out), keys, events/keys, nil)
}

// TestCancellationIgnored cancels a job whose map function blocks without
// looking at any context, on two TaskManagers of one slot each with a
// cancellation timeout of 2 s: each worker abandons its stuck subtask and
// exits, the job ends cancelled, the TaskManagers stay, and their slots
// run the next job.
func TestCancellationIgnored(t *testing.T) {
	const timeout = 2 * time.Second
	c := startCluster(t, 2, "-D", "task.cancellation.timeout="+timeout.String(), "-D", "taskmanager.numberOfTaskSlots=1")
	marks := t.TempDir()
	job := c.submitProgram(c.stuck, 2, "", "--marks", marks)
	c.waitFor("both subtasks to block", time.Minute, func() bool {
		m, _ := filepath.Glob(filepath.Join(marks, "blocked-*"))
		return len(m) == 2
	})
	tms := c.taskManagerPIDs()
	if len(tms) != 2 {
		t.Fatalf("%d TaskManager processes, want 2", len(tms))
	}
	for i, pid := range tms {
		if w := children(t, pid); len(w) != 1 {
			t.Fatalf("TaskManager %d runs %d workers, want 1", i, len(w))
		}
	}

	start := time.Now()
	c.cli(0, "cancel", job)
	c.waitFor("the job to be cancelled", 10*timeout+20*time.Second, func() bool {
		st := c.state(job)
		if st == "FAILED" || st == "FINISHED" {
			t.Fatalf("cancelled job %s is %s", job, st)
		}
		return st == "CANCELED"
	})
	t.Logf("cancelled in %s", time.Since(start).Round(time.Millisecond))

	// The workers exited by themselves, having abandoned their subtasks;
	// the TaskManagers live on.
	c.waitFor("the workers to exit", 30*time.Second, func() bool {
		return len(children(t, tms[0]))+len(children(t, tms[1])) == 0
	})
	for i, pid := range tms {
		if err := syscall.Kill(pid, 0); err != nil {
			t.Fatalf("TaskManager %d (pid %d): %v", i, pid, err)
		}
		b, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("taskmanager-%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("worker exiting: a subtask ignored cancellation")) {
			t.Fatalf("the worker of TaskManager %d did not exit for its abandoned subtask", i)
		}
	}

	// The job master lost no TaskManager: a worker exiting as it is
	// cancelled a second time, when the job has ended, is no failure.
	if b, err := os.ReadFile(filepath.Join(c.dir, "jobmanager.log")); err != nil {
		t.Fatal(err)
	} else if i := bytes.Index(b, []byte("TaskManager lost")); i >= 0 {
		t.Fatalf("the job master lost a TaskManager: %s", b[i:i+bytes.IndexByte(b[i:], '\n')])
	}

	// Both TaskManagers are registered, with their slots free again.
	var reg struct {
		TaskManagers []struct {
			ID        string `json:"id"`
			Slots     int    `json:"slotsNumber"`
			FreeSlots int    `json:"freeSlots"`
		} `json:"taskmanagers"`
	}
	c.waitFor("both TaskManagers registered with a free slot", 30*time.Second, func() bool {
		if err := json.Unmarshal([]byte(c.cli(0, "taskmanagers", "--output", "json")), &reg); err != nil {
			t.Fatalf("freshet taskmanagers --output json: %v", err)
		}
		free := 0
		for _, tm := range reg.TaskManagers {
			free += tm.FreeSlots
		}
		return len(reg.TaskManagers) == 2 && free == 2
	})
	for i, tm := range reg.TaskManagers {
		if want := fmt.Sprintf("taskmanager-%d", i); tm.ID != want || tm.Slots != 1 {
			t.Fatalf("TaskManager %d is %+v, want %s with 1 slot", i, tm, want)
		}
	}

	// The counting job runs on both slots.
	out := t.TempDir()
	const keys, events = 8, 4000
	runOut := c.cli(0, "run", "--parallelism", "2", c.counting, "--out", out, "--events", strconv.Itoa(events), "--keys", strconv.Itoa(keys))
	if m := jobIDPattern.FindStringSubmatch(runOut); m == nil || !strings.Contains(runOut, "Job "+m[1]+" finished") {
		t.Fatalf("freshet run printed %q", runOut)
	}
	checkRun(t, counts(t, out), keys, events/keys, nil)
}

// TestStoppedWorkerCancelled stops a worker process (SIGSTOP: it no longer
// answers anything) and cancels its job: its TaskManager kills it, the job
// ends CANCELED, and no TaskManager is taken for lost.
func TestStoppedWorkerCancelled(t *testing.T) {
	c := startCluster(t, 2, "-D", "taskmanager.numberOfTaskSlots=1")
	out := t.TempDir()
	job := c.submit(2, "", "--out", out, "--events", "40000", "--keys", "8", "--rate", "4000")
	c.waitFor("a checkpoint", 30*time.Second, func() bool { return c.completedCheckpoints(job) > 0 })
	tms := c.taskManagerPIDs()
	if len(tms) != 2 {
		t.Fatalf("%d TaskManager processes, want 2", len(tms))
	}
	workers := children(t, tms[1])
	if len(workers) != 1 {
		t.Fatalf("TaskManager 1 runs %d workers, want 1", len(workers))
	}
	if err := syscall.Kill(workers[0], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(workers[0], syscall.SIGKILL)

	c.cli(0, "cancel", job)
	c.waitFor("the job to be cancelled", time.Minute, func() bool {
		st := c.state(job)
		if st == "FAILED" || st == "FINISHED" {
			t.Fatalf("cancelled job %s is %s", job, st)
		}
		return st == "CANCELED"
	})
	c.waitFor("the stopped worker to be gone", 30*time.Second, func() bool {
		return syscall.Kill(workers[0], 0) != nil
	})
	for i, pid := range tms {
		if err := syscall.Kill(pid, 0); err != nil {
			t.Fatalf("TaskManager %d (pid %d): %v", i, pid, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(c.dir, "taskmanager-1.log")); err != nil {
		t.Fatal(err)
	} else if !bytes.Contains(b, []byte("killing a worker that failed to cancel its job")) {
		t.Fatal("TaskManager 1 did not kill its stopped worker")
	}
	if b, err := os.ReadFile(filepath.Join(c.dir, "jobmanager.log")); err != nil {
		t.Fatal(err)
	} else if i := bytes.Index(b, []byte("TaskManager lost")); i >= 0 {
		t.Fatalf("the job master lost a TaskManager: %s", b[i:i+bytes.IndexByte(b[i:], '\n')])
	}
}
