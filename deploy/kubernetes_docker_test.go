package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pod is a pod of the session cluster run as a Docker container.
type pod struct {
	name     string   // the container's name, and its pod name and IP
	aliases  []string // Services that select it, as network aliases
	spec     podSpec
	publish  string // a container port to publish on 127.0.0.1, or ""
	hostConf string // the directory holding the ConfigMap's file
	image    string // the image to run instead of the manifest's, or ""
}

// dockerArgs translates the pod into docker run's arguments as Kubernetes
// would run it: its user, a read-only root, an emptyDir as a tmpfs, the
// ConfigMap's directory mounted read-only, the downward API's pod IP and
// name as the container's name (which resolves to its address), and
// $(VAR) in the arguments expanded from its environment.
func (p pod) dockerArgs(t *testing.T, network, label string) []string {
	t.Helper()
	c := only(t, p.name, p.spec)
	sc := p.spec.SecurityContext
	args := []string{"run", "-d", "--name", p.name, "--hostname", p.name, "--network", network, "--label", label,
		"--user", fmt.Sprintf("%d:%d", sc.RunAsUser, sc.RunAsGroup)}
	for _, a := range p.aliases {
		args = append(args, "--network-alias", a)
	}
	if c.SecurityContext.ReadOnlyRootFilesystem {
		args = append(args, "--read-only")
	}
	for _, m := range c.VolumeMounts {
		for _, v := range p.spec.Volumes {
			switch {
			case v.Name != m.Name:
			case v.EmptyDir != nil:
				// Docker's tmpfs is noexec unless told; an emptyDir is not.
				args = append(args, "--tmpfs", m.MountPath+":exec,mode=1777")
			case v.ConfigMap != nil:
				args = append(args, "-v", p.hostConf+":"+m.MountPath+":ro")
			}
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			switch f := e.ValueFrom.FieldRef.FieldPath; f {
			case "status.podIP", "metadata.name":
				v = p.name
			default:
				t.Fatalf("%s: no stand-in for field %s", p.name, f)
			}
		}
		env[e.Name] = v
		args = append(args, "-e", e.Name+"="+v)
	}
	if p.publish != "" {
		args = append(args, "--publish", "127.0.0.1::"+p.publish)
	}
	if p.image != "" {
		args = append(args, p.image)
	} else {
		args = append(args, c.Image)
	}
	for _, a := range c.Args {
		args = append(args, varRef.ReplaceAllStringFunc(a, func(ref string) string { return env[ref[2:len(ref)-1]] }))
	}
	return args
}

// TestKubernetesSessionInDocker runs the session cluster's pods as Docker
// containers translated from the manifests — the Service's name as the
// JobManager's network alias — and checks that the TaskManagers register
// their slots and a job runs, submitted from the host and by the
// application's Job in an image built from its Dockerfile.
func TestKubernetesSessionInDocker(t *testing.T) {
	bin := buildImage(t)
	s := loadSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	conf := filepath.Join(t.TempDir(), "config")
	if err := os.Mkdir(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, configFile), []byte(s.configMap.Data[configFile]), 0o644); err != nil {
		t.Fatal(err)
	}
	// The container's user reads the mount: every directory to it under
	// the temporary directory must let others in.
	for d := conf; strings.HasPrefix(d, os.TempDir()+string(filepath.Separator)); d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(d, st.Mode().Perm()|0o005); err != nil {
				t.Skipf("the ConfigMap's file must be readable by the containers' user: %v", err)
			}
		}
	}

	network := fmt.Sprintf("freshet-k8s-%d", os.Getpid())
	label := "io.freshet.test=" + network
	run(t, ctx, "", "docker", "network", "create", "--label", label, network)
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+label).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
		exec.Command("docker", "network", "rm", network).Run()
	})

	restPort := strconv.Itoa(s.config.RESTPort)
	pods := []pod{{name: network + "-jobmanager", aliases: []string{s.service.Metadata.Name}, spec: s.jobManager.Spec.Template.Spec,
		publish: restPort, hostConf: conf}}
	for i := range s.taskManager.Spec.Replicas {
		pods = append(pods, pod{name: fmt.Sprintf("%s-taskmanager-%d", network, i), spec: s.taskManager.Spec.Template.Spec, hostConf: conf})
	}
	for _, p := range pods {
		run(t, ctx, "", "docker", p.dockerArgs(t, network, label)...)
	}
	addr := strings.TrimSpace(string(run(t, ctx, "", "docker", "port", pods[0].name, restPort+"/tcp")))

	// The readiness probe's path, until every TaskManager registered.
	want := fmt.Sprintf("%d TaskManagers with %d slots", s.taskManager.Spec.Replicas, s.taskManager.Spec.Replicas*s.config.Slots)
	got := ""
	for deadline := time.Now().Add(time.Minute); got != want; {
		for _, p := range pods {
			st, _ := exec.Command("docker", "inspect", "--format", "{{.State.Status}}", p.name).Output()
			if s := strings.TrimSpace(string(st)); s != "running" {
				logs, _ := exec.Command("docker", "logs", "--tail", "20", p.name).CombinedOutput()
				t.Fatalf("pod %s is %s; its logs:\n%s", p.name, s, logs)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the JobManager has %s, want %s", got, want)
		}
		time.Sleep(100 * time.Millisecond)
		resp, err := http.Get("http://" + addr + "/overview")
		if err != nil {
			continue
		}
		var o struct {
			TaskManagers int `json:"taskmanagers"`
			Slots        int `json:"slots-total"`
		}
		var b bytes.Buffer
		_, err = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if err == nil && json.Unmarshal(b.Bytes(), &o) == nil {
			got = fmt.Sprintf("%d TaskManagers with %d slots", o.TaskManagers, o.Slots)
		}
	}

	submitWordCount(t, ctx, bin, addr)

	t.Run("application", func(t *testing.T) {
		var j job
		decode(t, find(t, loadManifests(t), "application/job.yaml", "Job", "wordcount"), &j)
		c := only(t, "Job "+j.Metadata.Name, j.Spec.Template.Spec)
		program := c.Args[len(c.Args)-1]

		// The application's image, from its Dockerfile, under a tag of
		// the test's own.
		dir := t.TempDir()
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, filepath.Base(program)), "./examples/wordcount")
		build.Dir = repoRoot
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building examples/wordcount: %v\n%s", err, out)
		}
		tag := network + ":application"
		run(t, ctx, "", "docker", "build", "-q", "-f", filepath.Join(kubernetesDir, "application", "Dockerfile"), "-t", tag, dir)
		t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })

		p := pod{name: network + "-" + j.Metadata.Name, spec: j.Spec.Template.Spec, image: tag}
		run(t, ctx, "", "docker", p.dockerArgs(t, network, label)...)
		code := strings.TrimSpace(string(run(t, ctx, "", "docker", "wait", p.name)))
		logs, _ := exec.Command("docker", "logs", p.name).CombinedOutput()
		if code != "0" {
			t.Fatalf("the Job's pod exited with %s; its logs:\n%s", code, logs)
		}
		id, ok := strings.CutPrefix(strings.TrimSpace(string(logs)), "Job has been submitted with JobID ")
		if !ok {
			t.Fatalf("the Job's pod printed %q, want the job's id", logs)
		}
		// --detached returns once the job runs; wordcount ends soon after.
		state := ""
		for deadline := time.Now().Add(30 * time.Second); state != "FINISHED"; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("job %s is %s, want FINISHED", id, state)
			}
			var d struct {
				State string `json:"state"`
			}
			if err := json.Unmarshal([]byte(httpGet(t, "http://"+addr+"/jobs/"+id)), &d); err != nil {
				t.Fatalf("decoding job %s: %v", id, err)
			}
			state = d.State
		}
	})
}
