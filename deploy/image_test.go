package deploy

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the module's root, where the Makefile and the Dockerfile are.
const repoRoot = ".."

// image is the tag `make image` gives the image.
const image = "freshet:dev"

// requireDocker skips the test unless a Docker engine answers.
func requireDocker(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker command is not installed: install Docker (apt-get install -y docker.io), start its engine and rerun to test the image")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	if err != nil {
		t.Skipf("docker info failed (%v: %s): start the Docker engine (dockerd) and give this user access to its socket to test the image",
			err, bytes.TrimSpace(out))
	}
}

// run runs name with args in dir and returns its standard output; a
// failure ends the test with the command, its error and its standard error.
func run(t *testing.T, ctx context.Context, dir, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

// built is the image `make image` built once for the package's tests.
var built struct {
	once sync.Once
	dir  string // the build context, removed by TestMain
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildImage runs `make image` (once for all the tests) with its build
// context in a temporary directory and returns the binary it built.
func buildImage(t *testing.T) string {
	t.Helper()
	requireDocker(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed: apt-get install -y make, then rerun to test the image")
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "freshet-image-")
		if built.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		args := []string{"--no-print-directory", "image", "IMAGE=" + image, "IMAGE_DIR=" + filepath.Join(built.dir, "image")}
		cmd := exec.CommandContext(ctx, "make", args...)
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("make %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return filepath.Join(built.dir, "image", "rootfs", "freshet")
}

// commands lists the commands a cobra --help output lists.
func commands(help []byte) []string {
	var out []string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(help))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "Available Commands:":
			in = true
		case in && strings.TrimSpace(line) == "":
			in = false
		case in:
			out = append(out, strings.Fields(line)[0])
		}
	}
	return out
}

func TestImage(t *testing.T) {
	bin := buildImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("help", func(t *testing.T) {
		help := run(t, ctx, "", "docker", "run", "--rm", image, "--help")
		got := commands(help)
		for _, want := range []string{"bench", "cancel", "checkpoints", "cluster", "info", "jobmanager", "list", "overview", "run", "savepoint", "stop", "taskmanager", "taskmanagers"} {
			if !slices.Contains(got, want) {
				t.Errorf("docker run --rm %s --help lists commands %v, without %q:\n%s", image, got, want, help)
			}
		}
		if runtime.GOOS != "linux" {
			return
		}
		// The image's binary is the one built, and runs as it does on the host.
		local := run(t, ctx, "", bin, "--help")
		if !bytes.Equal(help, local) {
			t.Errorf("the image's --help differs from %s --help:\nimage:\n%s\nhost:\n%s", bin, help, local)
		}
	})

	t.Run("config", func(t *testing.T) {
		out := run(t, ctx, "", "docker", "image", "inspect", "--format", "{{json .Config}}", image)
		var cfg struct {
			Entrypoint   []string
			Cmd          []string
			User         string
			Env          []string
			ExposedPorts map[string]struct{}
		}
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatalf("decoding docker image inspect %s: %v\n%s", image, err, out)
		}
		if !slices.Equal(cfg.Entrypoint, []string{"/freshet"}) {
			t.Errorf("entrypoint %q, want [/freshet]", cfg.Entrypoint)
		}
		if len(cfg.Cmd) != 0 {
			t.Errorf("cmd %q, want none", cfg.Cmd)
		}
		if cfg.User != "65532:65532" {
			t.Errorf("user %q, want 65532:65532", cfg.User)
		}
		if !slices.Contains(cfg.Env, "TMPDIR=/tmp") {
			t.Errorf("env %q without TMPDIR=/tmp", cfg.Env)
		}
		ports := make([]string, 0, len(cfg.ExposedPorts))
		for p := range cfg.ExposedPorts {
			ports = append(ports, p)
		}
		slices.Sort(ports)
		if !slices.Equal(ports, []string{"6123/tcp", "8081/tcp"}) {
			t.Errorf("exposed ports %q, want [6123/tcp 8081/tcp]", ports)
		}
	})

	t.Run("files", func(t *testing.T) {
		files := imageFiles(t, ctx)
		want := []string{"freshet -rwxr-xr-x", "tmp/ dtrwxrwxrwx"} // tmp: sticky, writable by all
		if !slices.Equal(files, want) {
			t.Errorf("the image holds %q, want %q", files, want)
		}
	})

	t.Run("static", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("opening the binary: %v", err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has a program interpreter: it is linked dynamically", bin)
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			t.Fatalf("reading %s's libraries: %v", bin, err)
		}
		if len(libs) != 0 {
			t.Errorf("%s needs shared libraries %q", bin, libs)
		}
	})
}

// imageFiles lists every file of the image's layers, in order, as its name
// and mode ("tmp/ dtrwxrwxrwx"), from `docker save`.
func imageFiles(t *testing.T, ctx context.Context) []string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "docker", "save", image)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("docker save %s: %v", image, err)
	}
	var manifest []struct{ Layers []string }
	layers := map[string][]string{} // path in the archive → its files
	tr := tar.NewReader(stdout)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading docker save %s: %v", image, err)
		}
		switch {
		case h.Name == "manifest.json":
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				t.Fatalf("decoding docker save %s's manifest.json: %v", image, err)
			}
		case h.Typeflag == tar.TypeReg:
			files, err := layerFiles(tr)
			if err == nil {
				layers[h.Name] = files
			}
		}
	}
	if _, err := io.Copy(io.Discard, stdout); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("docker save %s: %v: %s", image, err, stderr.Bytes())
	}
	if len(manifest) != 1 {
		t.Fatalf("docker save %s: %d images in manifest.json, want 1", image, len(manifest))
	}
	var out []string
	for _, l := range manifest[0].Layers {
		files, ok := layers[l]
		if !ok {
			t.Fatalf("docker save %s: layer %s is not in the archive", image, l)
		}
		out = append(out, files...)
	}
	return out
}

// layerFiles lists a layer's files; r is a tar archive, or a gzipped one.
func layerFiles(r io.Reader) ([]string, error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return tarFiles(zr)
	}
	return tarFiles(br)
}

func tarFiles(r io.Reader) ([]string, error) {
	var out []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%s %v", h.Name, h.FileInfo().Mode()))
	}
}

// TestBinaryBuildsWithoutCgo checks that the freshet command's every
// dependency builds with CGO_ENABLED=0, so the binary is static: Pebble's
// zstd and manual memory use DataDog/zstd and C's malloc with cgo only and
// fall back to klauspost/compress and Go's heap without it; net and os/user
// have pure-Go versions.
func TestBinaryBuildsWithoutCgo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-e", "-deps",
		"-f", "{{.ImportPath}}\t{{if .Error}}{{.Error}}{{end}}\t{{join .CgoFiles \",\"}}", "./cmd/freshet")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/freshet with CGO_ENABLED=0: %v\n%s", err, stderr.Bytes())
	}
	n := 0
	for line := range strings.SplitSeq(strings.TrimSuffix(string(out), "\n"), "\n") {
		n++
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("go list printed %q, want three tab-separated fields", line)
		}
		if f[1] != "" {
			t.Errorf("%s does not build with CGO_ENABLED=0: %s", f[0], f[1])
		}
		if f[2] != "" {
			t.Errorf("%s has cgo files %s with CGO_ENABLED=0", f[0], f[2])
		}
		if f[0] == "github.com/DataDog/zstd" {
			t.Errorf("%s is a dependency with CGO_ENABLED=0: it is cgo only", f[0])
		}
	}
	if n < 100 {
		t.Errorf("go list listed %d packages for ./cmd/freshet, want its whole dependency tree", n)
	}
}
