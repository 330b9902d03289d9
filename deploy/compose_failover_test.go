package deploy

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
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet/examples/counting/output"
)

// startBuild starts building the package at pkg (relative to the module's
// root) for Linux, static and with -trimpath as `make image` builds
// freshet, so most packages come from the build cache; wait returns the
// program's path once it is built.
func startBuild(t *testing.T, ctx context.Context, pkg string) (wait func() string) {
	t.Helper()
	program := filepath.Join(t.TempDir(), filepath.Base(pkg))
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", program, pkg)
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	var out bytes.Buffer
	build.Stdout, build.Stderr = &out, &out
	if err := build.Start(); err != nil {
		t.Fatalf("building %s: %v", pkg, err)
	}
	return func() string {
		t.Helper()
		if err := build.Wait(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out.Bytes())
		}
		return program
	}
}

// getJSON decodes the JSON answer to GET url into v.
func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding GET %s: %w: %s", url, err, b)
	}
	return nil
}

// waitFor polls cond every 100ms until it holds, and ends the test if it
// does not within timeout; cond may end the test itself.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logContainers logs the last lines of the logs of the containers of
// cluster name.
func logContainers(t *testing.T, name string) {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-a", "--filter", "label=io.freshet.compose="+name, "--format", "{{.Names}}").Output()
	if err != nil {
		t.Logf("listing the containers of %s: %v", name, err)
		return
	}
	for _, c := range strings.Fields(string(out)) {
		logs, err := exec.Command("docker", "logs", "--tail", "100", c).CombinedOutput()
		t.Logf("docker logs %s (%v):\n%s", c, err, logs)
	}
}

// TestComposeFailover runs examples/counting at parallelism 4 on a
// scripts/compose.sh cluster of two TaskManagers with two slots each,
// whose checkpoints and output are on a volume all the containers share;
// once a checkpoint has completed it kills one TaskManager's container
// (SIGKILL), and `compose.sh up 2` replaces it with a new process under the
// same id, which the job needs to run again. The job must finish with
// every count of every key in its output exactly once.
func TestComposeFailover(t *testing.T) {
	start := time.Now()
	bin := buildImage(t)
	t.Logf("image built in %v", time.Since(start).Round(time.Millisecond))
	if runtime.GOOS != "linux" {
		t.Skipf("the image's freshet is for linux, this host is %s: the job is submitted from a linux host", runtime.GOOS)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	waitProgram := startBuild(t, ctx, "./examples/counting")

	// The containers' user, 65532, writes in the volume; the files it
	// leaves there are removable by root only.
	tmp, err := os.MkdirTemp("", "freshet-failover-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(tmp); err != nil {
			t.Logf("leaving %s: %v (the containers' user 65532 owns files there: remove it as root)", tmp, err)
		}
	})
	vol := filepath.Join(tmp, "shared")
	if err := os.Mkdir(vol, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(vol, 0o777); err != nil { // whatever the umask
		t.Fatal(err)
	}

	name := fmt.Sprintf("freshet-fo-%d", os.Getpid())
	env := []string{"FRESHET_COMPOSE_NAME=" + name, "FRESHET_COMPOSE_REST=127.0.0.1:", "FRESHET_COMPOSE_TIMEOUT=60",
		"FRESHET_COMPOSE_SLOTS=2", "FRESHET_COMPOSE_VOLUME=" + vol,
		"FRESHET_COMPOSE_PROPS=-D heartbeat.interval=300ms -D heartbeat.timeout=3s"}
	t.Cleanup(func() { compose(t, env, "down") })
	var victimLogs []byte // the killed TaskManager's, gone with its container
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the killed TaskManager's logs:\n%s", victimLogs)
			logContainers(t, name)
		}
	})
	if stdout, stderr, code := compose(t, env, "up", "2"); code != 0 {
		t.Fatalf("compose.sh up 2: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	addr := "http://" + strings.TrimSpace(string(run(t, ctx, "", "docker", "port", name+"-jobmanager", "8081/tcp")))
	t.Logf("cluster up at %v", time.Since(start).Round(time.Millisecond))
	jm := name + "-jobmanager"
	props := []string{"-D", "heartbeat.interval=300ms", "-D", "heartbeat.timeout=3s"}
	for c, want := range map[string][]string{
		jm:                      append([]string{"jobmanager", "-D", "jobmanager.rpc.address=" + jm}, props...),
		name + "-taskmanager-1": append([]string{"taskmanager", "--jobmanager", jm + ":6123", "--slots", "2", "--host", name + "-taskmanager-1", "--id", name + "-taskmanager-1"}, props...),
	} {
		var args []string
		if err := json.Unmarshal(run(t, ctx, "", "docker", "inspect", "--format", "{{json .Args}}", c), &args); err != nil {
			t.Fatalf("decoding %s's arguments: %v", c, err)
		}
		if !slices.Equal(args, want) {
			t.Errorf("%s runs freshet %q, want %q", c, args, want)
		}
	}

	const keys, events = 8, 24000
	out := filepath.Join(vol, "out")
	submitted := run(t, ctx, "", bin, "run", "--address", addr, "--detached", "--parallelism", "4", waitProgram(),
		"--out", out, "--checkpoint-dir", filepath.Join(vol, "checkpoints"),
		"--events", strconv.Itoa(events), "--keys", strconv.Itoa(keys), "--rate", "4000")
	m := regexp.MustCompile(`JobID ([0-9a-f]{32})`).FindSubmatch(submitted)
	if m == nil {
		t.Fatalf("freshet run --detached printed %q, want the job's id", submitted)
	}
	job := addr + "/jobs/" + string(m[1])
	t.Logf("job submitted at %v", time.Since(start).Round(time.Millisecond))

	waitFor(t, "a completed checkpoint", 30*time.Second, func() bool {
		var cp struct {
			Counts struct {
				Completed int `json:"completed"`
			} `json:"counts"`
		}
		return getJSON(job+"/checkpoints", &cp) == nil && cp.Counts.Completed > 0
	})
	t.Logf("checkpoint at %v", time.Since(start).Round(time.Millisecond))
	victim := name + "-taskmanager-1"
	run(t, ctx, "", "docker", "kill", victim)
	victimLogs, _ = exec.Command("docker", "logs", victim).CombinedOutput()
	stdout, stderr, code := compose(t, env, "up", "2")
	if code != 0 {
		t.Fatalf("compose.sh up 2 after the kill: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("replaced at %v", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{victim + ": exited, replacing it", victim + ": started", name + "-taskmanager-2: running"} {
		if !strings.Contains(stdout, "compose: "+want+"\n") {
			t.Errorf("compose.sh up 2 after the kill printed:\n%s\nwithout %q", stdout, want)
		}
	}

	// Without the new TaskManager's slots the job has two of the four it
	// needs: it finishes only if the cluster uses it.
	var details struct {
		State    string `json:"state"`
		Restarts int    `json:"restarts"`
	}
	waitFor(t, "the job to finish", 2*time.Minute, func() bool {
		if err := getJSON(job, &details); err != nil {
			t.Logf("polling the job: %v", err)
			return false
		}
		if details.State == "FAILED" || details.State == "CANCELED" {
			t.Fatalf("the job is %s after %d restarts, want FINISHED", details.State, details.Restarts)
		}
		return details.State == "FINISHED"
	})
	t.Logf("finished at %v after %d restarts", time.Since(start).Round(time.Millisecond), details.Restarts)
	if details.Restarts < 1 {
		t.Errorf("the job finished with %d restarts, want at least 1: the kill did not fail it", details.Restarts)
	}

	got, err := output.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != keys {
		t.Errorf("%d keys in the output, want %d", len(got), keys)
	}
	for k := range keys {
		if missing, extra := output.OnceEach(got[k], 0, events/keys); len(missing)+len(extra) > 0 {
			t.Errorf("key %d: %d counts, want each of 1…%d once; missing %v, extra %v", k, len(got[k]), events/keys,
				missing[:min(len(missing), 10)], extra[:min(len(extra), 10)])
		}
	}
}
