package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// composeScript is scripts/compose.sh as the tests run it (sh's $0).
const composeScript = "../scripts/compose.sh"

// compose runs the script with args and the FRESHET_COMPOSE_* settings in
// env, and returns its standard output, standard error and exit status.
func compose(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sh, append([]string{composeScript}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FRESHET_COMPOSE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running %s %s: %v", composeScript, strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

func TestComposeUsage(t *testing.T) {
	usage := "usage: " + composeScript + " up [N] | down | ps\n"
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr string
	}{
		{name: "no command", code: 2, stderr: usage},
		{name: "unknown command", args: []string{"start"}, code: 2, stderr: usage},
		{name: "N not a number", args: []string{"up", "two"}, code: 2, stderr: "compose: N must be a whole number, got two\n" + usage},
		{name: "negative N", args: []string{"up", "-1"}, code: 2, stderr: "compose: N must be a whole number, got -1\n" + usage},
		{name: "two Ns", args: []string{"up", "1", "2"}, code: 2, stderr: usage},
		{name: "down with N", args: []string{"down", "2"}, code: 2, stderr: usage},
		{name: "bad name", env: []string{"FRESHET_COMPOSE_NAME=-x"}, args: []string{"up"}, code: 1,
			stderr: "compose: FRESHET_COMPOSE_NAME must start with a letter or digit, got '-x'\n"},
		{name: "name with a blank", env: []string{"FRESHET_COMPOSE_NAME=a b"}, args: []string{"down"}, code: 1,
			stderr: "compose: FRESHET_COMPOSE_NAME may hold only letters, digits, '_', '.' and '-', got 'a b'\n"},
		{name: "no slots", env: []string{"FRESHET_COMPOSE_SLOTS=0"}, args: []string{"up"}, code: 1,
			stderr: "compose: FRESHET_COMPOSE_SLOTS must be a number of slots, got '0'\n"},
		{name: "bad timeout", env: []string{"FRESHET_COMPOSE_TIMEOUT=1m"}, args: []string{"up"}, code: 1,
			stderr: "compose: FRESHET_COMPOSE_TIMEOUT must be a number of seconds, got '1m'\n"},
		{name: "relative volume", env: []string{"FRESHET_COMPOSE_VOLUME=data"}, args: []string{"up"}, code: 1,
			stderr: "compose: FRESHET_COMPOSE_VOLUME must be an absolute path, got 'data'\n"},
		{name: "volume with a colon", env: []string{"FRESHET_COMPOSE_VOLUME=/data:/etc"}, args: []string{"up"}, code: 1,
			stderr: "compose: FRESHET_COMPOSE_VOLUME may hold only letters, digits and '_', '.', '/', '-', got '/data:/etc'\n"},
		{name: "props with a semicolon", env: []string{"FRESHET_COMPOSE_PROPS=-D a=b;reboot"}, args: []string{"up"}, code: 1,
			stderr: "compose: FRESHET_COMPOSE_PROPS may hold only letters, digits, blanks and '_', '.', ',', ':', '=', '/', '@', '+', '-', got '-D a=b;reboot'\n"},
		{name: "props with a glob", env: []string{"FRESHET_COMPOSE_PROPS=-D a=*"}, args: []string{"ps"}, code: 1,
			stderr: "compose: FRESHET_COMPOSE_PROPS may hold only letters, digits, blanks and '_', '.', ',', ':', '=', '/', '@', '+', '-', got '-D a=*'\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := compose(t, tc.env, tc.args...)
			if code != tc.code || stderr != tc.stderr || stdout != "" {
				t.Errorf("compose.sh %q: exit %d, stdout %q, stderr %q; want exit %d, stderr %q", tc.args, code, stdout, stderr, tc.code, tc.stderr)
			}
		})
	}
}

func TestComposeShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck is not installed: apt-get install -y shellcheck, then rerun to lint scripts/compose.sh")
	}
	out, err := exec.Command("shellcheck", composeScript).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck %s: %v\n%s", composeScript, err, out)
	}
}

// httpGet returns the body of url's answer.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v: %s", url, resp.Status, err, b)
	}
	return string(b)
}

// composeContainers lists the IDs of the containers labelled for cluster name.
func composeContainers(t *testing.T, name string) []string {
	t.Helper()
	out := run(t, context.Background(), "", "docker", "ps", "-aq", "--no-trunc", "--filter", "label=io.freshet.compose="+name)
	ids := strings.Fields(string(out))
	slices.Sort(ids)
	return ids
}

// TestCompose runs the script's commands against an image of the same
// shape as freshet's whose binary, testdata/fakefreshet, stands in for
// freshet's JobManager and TaskManagers and checks the arguments it is
// given: the script's own behaviour, whatever the cluster's state.
func TestCompose(t *testing.T) {
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := fmt.Sprintf("freshet-test-%d", os.Getpid())
	fake := name + ":fake"

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "rootfs", "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "rootfs", "freshet"), "./testdata/fakefreshet")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/fakefreshet: %v\n%s", err, out)
	}
	run(t, ctx, "", "docker", "build", "-q", "-f", filepath.Join(repoRoot, "Dockerfile"), "-t", fake, dir)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", fake).Run() })

	env := []string{"FRESHET_COMPOSE_IMAGE=" + fake, "FRESHET_COMPOSE_NAME=" + name,
		"FRESHET_COMPOSE_REST=127.0.0.1:", "FRESHET_COMPOSE_TIMEOUT=30"}
	t.Cleanup(func() { compose(t, env, "down") })
	jm := name + "-jobmanager"
	tm := func(i int) string { return fmt.Sprintf("%s-taskmanager-%d", name, i) }

	// up prints its lines and the REST API's address, which is known
	// once the JobManager has started: @ stands for it in want.
	addr := ""
	step := func(t *testing.T, env []string, args []string, code int, want []string, sorted bool) {
		t.Helper()
		stdout, stderr, got := compose(t, env, args...)
		if got != code {
			t.Fatalf("compose.sh %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, got, code, stdout, stderr)
		}
		if addr == "" && code == 0 && args[0] == "up" {
			addr = strings.TrimSpace(string(run(t, ctx, "", "docker", "port", jm, "8081/tcp")))
		}
		for i := range want {
			want[i] = "compose: " + strings.ReplaceAll(want[i], "@", addr)
		}
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if sorted {
			slices.Sort(lines)
			slices.Sort(want)
		}
		if !slices.Equal(lines, want) {
			t.Errorf("compose.sh %q printed:\n%s\nwant:\n%s", args, strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
	}
	rest := "REST API: http://@ (freshet list --address http://@)"

	step(t, env, []string{"up"}, 0, []string{
		"network " + name + ": created",
		jm + ": started",
		tm(1) + ": started",
		tm(2) + ": started",
		"up: " + jm + " and 2 TaskManager(s) on network " + name + "; the JobManager counts 2",
		rest,
	}, false)
	if got, want := httpGet(t, "http://"+addr+"/taskmanagers"), tm(1)+" 2\n"+tm(2)+" 2"; got != want {
		t.Errorf("the JobManager has TaskManagers %q, want %q (host names and slots)", got, want)
	}
	ids := composeContainers(t, name)

	step(t, env, []string{"up", "2"}, 0, []string{
		"network " + name + ": exists",
		jm + ": running",
		tm(1) + ": running",
		tm(2) + ": running",
		"up: " + jm + " and 2 TaskManager(s) on network " + name + "; the JobManager counts 2",
		rest,
	}, false)
	if got := composeContainers(t, name); !slices.Equal(got, ids) {
		t.Errorf("a second up replaced containers: %q, then %q", ids, got)
	}

	step(t, env, []string{"up", "3"}, 0, []string{
		"network " + name + ": exists",
		jm + ": running",
		tm(1) + ": running",
		tm(2) + ": running",
		tm(3) + ": started",
		"up: " + jm + " and 3 TaskManager(s) on network " + name + "; the JobManager counts 3",
		rest,
	}, false)

	// Removed TaskManagers count until the JobManager times them out (the
	// fake never does).
	step(t, env, []string{"up", "1"}, 0, []string{
		"network " + name + ": exists",
		jm + ": running",
		tm(1) + ": running",
		tm(2) + ": removed",
		tm(3) + ": removed",
		"up: " + jm + " and 1 TaskManager(s) on network " + name + "; the JobManager counts 3",
		rest,
	}, true)

	// A volume that is not a directory is refused; one that is replaces
	// the containers, which mount it at its path.
	vol := filepath.Join(dir, "shared")
	stdout, stderr, code := compose(t, append(env, "FRESHET_COMPOSE_VOLUME="+vol), "up", "1")
	if want := "compose: FRESHET_COMPOSE_VOLUME " + vol + " is not a directory: create it (mkdir -p " + vol + " && chmod 0777 " + vol + ")\n"; code != 1 || stderr != want {
		t.Errorf("up with a missing volume: exit %d, stderr %q; want exit 1, stderr %q\nstdout:\n%s", code, stderr, want, stdout)
	}
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	addr = "" // the new JobManager publishes another port
	step(t, append(env, "FRESHET_COMPOSE_VOLUME="+vol), []string{"up", "1"}, 0, []string{
		"network " + name + ": exists",
		jm + ": runs with other settings, replacing it",
		jm + ": started",
		tm(1) + ": runs with other settings, replacing it",
		tm(1) + ": started",
		"up: " + jm + " and 1 TaskManager(s) on network " + name + "; the JobManager counts 1",
		rest,
	}, false)
	for _, c := range []string{jm, tm(1)} {
		got := strings.TrimSpace(string(run(t, ctx, "", "docker", "inspect", "--format", "{{range .Mounts}}{{.Type}} {{.Source}}:{{.Destination}} {{.RW}};{{end}}", c)))
		if want := "bind " + vol + ":" + vol + " true;"; got != want {
			t.Errorf("%s mounts %q, want %q", c, got, want)
		}
	}

	step(t, env, []string{"down"}, 0, []string{jm + ": removed", tm(1) + ": removed", "network " + name + ": removed"}, true)
	step(t, env, []string{"down"}, 0, []string{"nothing to remove: no containers labelled io.freshet.compose=" + name}, false)
	if got := composeContainers(t, name); len(got) != 0 {
		t.Errorf("containers %q left after down", got)
	}

	// A TaskManager that exits fails up with its logs.
	stdout, stderr, code = compose(t, append(env, "FRESHET_COMPOSE_SLOTS=13"), "up", "1")
	want := "compose: " + tm(1) + " is not running (exited); its last logs:\n" +
		"fakefreshet: refusing 13 slots\n" +
		"compose: " + tm(1) + " did not start; 'scripts/compose.sh down' removes the cluster\n"
	if code != 1 || stderr != want {
		t.Errorf("up with a failing TaskManager: exit %d, stderr %q; want exit 1, stderr %q\nstdout:\n%s", code, stderr, want, stdout)
	}
}

// TestComposeCluster starts the cluster of scripts/compose.sh from the
// freshet image, checks that both TaskManagers register their slots, and
// runs examples/wordcount on it: uploaded, fetched by a TaskManager and
// run there as a worker in the image.
func TestComposeCluster(t *testing.T) {
	bin := buildImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := fmt.Sprintf("freshet-it-%d", os.Getpid())
	env := []string{"FRESHET_COMPOSE_NAME=" + name, "FRESHET_COMPOSE_REST=127.0.0.1:", "FRESHET_COMPOSE_TIMEOUT=60"}
	t.Cleanup(func() { compose(t, env, "down") })
	if stdout, stderr, code := compose(t, env, "up", "2"); code != 0 {
		t.Fatalf("compose.sh up 2: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	addr := strings.TrimSpace(string(run(t, ctx, "", "docker", "port", name+"-jobmanager", "8081/tcp")))
	var o struct {
		TaskManagers int `json:"taskmanagers"`
		Slots        int `json:"slots-total"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+addr+"/overview")), &o); err != nil {
		t.Fatalf("decoding /overview: %v", err)
	}
	if o.TaskManagers != 2 || o.Slots != 4 {
		t.Errorf("the JobManager has %d TaskManagers with %d slots, want 2 with 4", o.TaskManagers, o.Slots)
	}

	submitWordCount(t, ctx, bin, addr)
}

// submitWordCount runs examples/wordcount on the cluster whose REST API is
// at addr with the image's freshet, bin, and checks that the job finishes:
// the program is uploaded, fetched by a TaskManager and run there as a
// worker in the image.
func submitWordCount(t *testing.T, ctx context.Context, bin, addr string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("the image's freshet is for linux, this host is %s: the job is submitted from a linux host", runtime.GOOS)
	}
	// Built as make image builds freshet, so most packages come from the
	// build cache. One subtask: the job stays in one TaskManager.
	program := filepath.Join(t.TempDir(), "wordcount")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", program, "./examples/wordcount")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/wordcount: %v\n%s", err, out)
	}
	out := run(t, ctx, "", bin, "run", "--address", "http://"+addr, program, "--parallelism", "1")
	want := regexp.MustCompile(`^Job has been submitted with JobID ([0-9a-f]+)\nJob ([0-9a-f]+) finished\n$`)
	if m := want.FindSubmatch(out); m == nil || !bytes.Equal(m[1], m[2]) {
		t.Errorf("freshet run printed %q, want the job submitted and finished", out)
	}
}
