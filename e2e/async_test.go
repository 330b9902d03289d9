package e2e

import (
	"bytes"
	"context"
	"fmt"
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
)

var (
	asyncOnce sync.Once
	asyncErr  error
)

// asyncJob builds testdata/asyncjob beside the other binaries, once.
func asyncJob(t *testing.T) string {
	t.Helper()
	binaries(t)
	path := filepath.Join(bins, "asyncjob")
	asyncOnce.Do(func() {
		build := exec.Command("go", "build", "-trimpath", "-o", path, "./testdata/asyncjob")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			asyncErr = fmt.Errorf("go build ./testdata/asyncjob: %v\n%s", err, out)
		}
	})
	if asyncErr != nil {
		t.Fatal(asyncErr)
	}
	return path
}

// runAsyncJob runs the program, which submits itself to the cluster, and
// returns its standard output.
func (c *cluster) runAsyncJob(prog string, args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = append(os.Environ(), "FRESHET_JOBMANAGER="+c.rest)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("asyncjob %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// matchLines checks out line by line against patterns (regular
// expressions, anchored) and returns the submatches of each line.
func matchLines(t *testing.T, out string, patterns ...string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(patterns) {
		t.Fatalf("%d lines of output, want %d:\n%s", len(lines), len(patterns), out)
	}
	subs := make([][]string, len(lines))
	for i, p := range patterns {
		if subs[i] = regexp.MustCompile(`^` + p + `$`).FindStringSubmatch(lines[i]); subs[i] == nil {
			t.Fatalf("line %d is %q, want %q; output:\n%s", i+1, lines[i], p, out)
		}
	}
	return subs
}

// TestExecuteAsyncOnCluster runs a program that submits itself with
// ExecuteAsync and drives its job through the JobClient over the
// cluster's REST API: a savepoint and a cancellation, a stop with a
// savepoint, a job that fails, and one whose job master dies.
func TestExecuteAsyncOnCluster(t *testing.T) {
	c := startCluster(t, 1)
	prog := asyncJob(t)
	const (
		job        = `job ([0-9a-f]{32})`
		checkpoint = `checkpoint: COMPLETED (\S+)/chk-\d+`
	)
	sp := t.TempDir()
	m := matchLines(t, c.runAsyncJob(prog, "--mode", "cancel", "--savepoints", sp),
		job,
		`status: RUNNING`,
		checkpoint,
		`savepoint: (\S+)`,
		`listed: COMPLETED savepoint: true`,
		`wait: <nil>`,
		`status: CANCELED restarts: 0`,
		`savepoint once ended: true`)
	id := m[0][1]
	if !strings.HasPrefix(m[2][1], c.ckDir) {
		t.Errorf("checkpoint %s is not in the cluster's checkpoint directory %s", m[2][1], c.ckDir)
	}
	if _, err := os.Stat(m[3][1]); err != nil || !strings.HasPrefix(m[3][1], sp) {
		t.Errorf("savepoint %s in %s: %v", m[3][1], sp, err)
	}
	if st := c.state(id); st != "CANCELED" {
		t.Errorf("the cluster has job %s %s", id, st)
	}

	sp = t.TempDir()
	m = matchLines(t, c.runAsyncJob(prog, "--mode", "stop", "--savepoints", sp),
		job,
		`status: RUNNING`,
		checkpoint,
		`stopped with savepoint: (\S+)`,
		`wait: <nil>`,
		`status: FINISHED restarts: 0`,
		`savepoint once ended: true`)
	if _, err := os.Stat(m[3][1]); err != nil || !strings.HasPrefix(m[3][1], sp) {
		t.Errorf("savepoint %s in %s: %v", m[3][1], sp, err)
	}
	if st := c.state(m[0][1]); st != "FINISHED" {
		t.Errorf("the cluster has job %s %s", m[0][1], st)
	}

	m = matchLines(t, c.runAsyncJob(prog, "--mode", "fail"),
		job,
		regexp.QuoteMeta(`wait: freshet: the job did not finish: job JOB on the cluster at ADDRESS FAILED: operator "check" (subtask 0, attempt 0): tick 500 is bad`),
		`not finished: true`,
		`status: FAILED`)
	if st := c.state(m[0][1]); st != "FAILED" {
		t.Errorf("the cluster has job %s %s", m[0][1], st)
	}
	// Three jobs, each run once: the job masters did not run the
	// programs' JobClient calls again.
	list := c.cli(0, "list")
	if strings.Count(list, "asyncjob") != 3 {
		t.Errorf("freshet list:\n%s", list)
	}

	// A job whose job master dies failed: the cluster says so, and the
	// program's Wait says why.
	b, err := os.ReadFile(filepath.Join(c.dir, "cluster.pids"))
	if err != nil {
		t.Fatal(err)
	}
	jm, _ := strconv.Atoi(strings.Fields(string(b))[0])
	c.waitFor("the ended jobs' job masters to exit", time.Minute, func() bool { return len(children(t, jm)) == 0 })
	cmd := exec.Command(prog, "--mode", "wait")
	cmd.Env = append(os.Environ(), "FRESHET_JOBMANAGER="+c.rest)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var master int
	c.waitFor("the job to run", time.Minute, func() bool {
		var jobs struct {
			Jobs []struct{ Status string } `json:"jobs"`
		}
		running := c.get("/jobs", &jobs) == nil && len(jobs.Jobs) == 4 && jobs.Jobs[3].Status == "RUNNING"
		masters := children(t, jm)
		if running && len(masters) == 1 {
			master = masters[0]
		}
		return master != 0
	})
	if err := syscall.Kill(master, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("asyncjob --mode wait: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("asyncjob --mode wait did not end\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
	}
	m = matchLines(t, stdout.String(),
		job,
		regexp.QuoteMeta(`wait: freshet: the job did not finish: job JOB on the cluster at ADDRESS FAILED: the job master of job JOB exited (signal: killed) before the job ended`)+`(; its standard error ends: .*)?`,
		`not finished: true`,
		`status: FAILED`)
	if st := c.state(m[0][1]); st != "FAILED" {
		t.Errorf("the cluster has job %s %s", m[0][1], st)
	}
}
