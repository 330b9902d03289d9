package deploy

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/freshet-io/freshet/internal/config"
)

// The Kubernetes objects as far as the manifests use them; decoding refuses
// any other field, so a misspelt one fails the test.
type (
	objectMeta struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	}
	configMap struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   objectMeta        `yaml:"metadata"`
		Data       map[string]string `yaml:"data"`
	}
	namespace struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   objectMeta `yaml:"metadata"`
	}
	kustomization struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Namespace  string   `yaml:"namespace"`
		Resources  []string `yaml:"resources"`
	}
	deployment struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   objectMeta `yaml:"metadata"`
		Spec       struct {
			Replicas int `yaml:"replicas"`
			Strategy struct {
				Type string `yaml:"type"`
			} `yaml:"strategy"`
			Selector labelSelector `yaml:"selector"`
			Template podTemplate   `yaml:"template"`
		} `yaml:"spec"`
	}
	job struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   objectMeta `yaml:"metadata"`
		Spec       struct {
			BackoffLimit int         `yaml:"backoffLimit"`
			Template     podTemplate `yaml:"template"`
		} `yaml:"spec"`
	}
	service struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   objectMeta `yaml:"metadata"`
		Spec       struct {
			Type     string            `yaml:"type"`
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	labelSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	podTemplate struct {
		Metadata objectMeta `yaml:"metadata"`
		Spec     podSpec    `yaml:"spec"`
	}
	podSpec struct {
		RestartPolicy   string `yaml:"restartPolicy"`
		SecurityContext struct {
			RunAsNonRoot bool `yaml:"runAsNonRoot"`
			RunAsUser    int  `yaml:"runAsUser"`
			RunAsGroup   int  `yaml:"runAsGroup"`
		} `yaml:"securityContext"`
		Containers []container `yaml:"containers"`
		Volumes    []volume    `yaml:"volumes"`
	}
	container struct {
		Name            string   `yaml:"name"`
		Image           string   `yaml:"image"`
		ImagePullPolicy string   `yaml:"imagePullPolicy"`
		Args            []string `yaml:"args"`
		Env             []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom *struct {
				FieldRef struct {
					FieldPath string `yaml:"fieldPath"`
				} `yaml:"fieldRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			AllowPrivilegeEscalation bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   bool `yaml:"readOnlyRootFilesystem"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
		TCPSocket *struct {
			Port string `yaml:"port"`
		} `yaml:"tcpSocket"`
		InitialDelaySeconds int `yaml:"initialDelaySeconds"`
		PeriodSeconds       int `yaml:"periodSeconds"`
		FailureThreshold    int `yaml:"failureThreshold"`
	}
	volume struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		EmptyDir *struct{} `yaml:"emptyDir"`
	}
)

// manifest is one YAML document of a manifest file.
type manifest struct {
	file       string // relative to kubernetesDir, with slashes
	apiVersion string
	kind       string
	name       string
	body       ast.Node
}

const kubernetesDir = "kubernetes"

// apiVersions is the API version of every kind the manifests hold.
var apiVersions = map[string]string{
	"ConfigMap":     "v1",
	"Namespace":     "v1",
	"Service":       "v1",
	"Deployment":    "apps/v1",
	"Job":           "batch/v1",
	"Kustomization": "kustomize.config.k8s.io/v1beta1",
}

// loadManifests parses every YAML file under kubernetes/.
func loadManifests(t *testing.T) []manifest {
	t.Helper()
	var out []manifest
	err := filepath.WalkDir(kubernetesDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".yml") {
			return fmt.Errorf("%s: name YAML files .yaml", p)
		}
		if !strings.HasSuffix(p, ".yaml") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := parser.ParseBytes(data, 0)
		if err != nil {
			return fmt.Errorf("parsing %s: %w", p, err)
		}
		rel, _ := filepath.Rel(kubernetesDir, p)
		for i, doc := range f.Docs {
			if doc.Body == nil {
				return fmt.Errorf("%s: document %d is empty", p, i+1)
			}
			var h struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Metadata   struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
			}
			if err := yaml.NodeToValue(doc.Body, &h); err != nil {
				return fmt.Errorf("decoding %s's document %d: %w", p, i+1, err)
			}
			out = append(out, manifest{file: filepath.ToSlash(rel), apiVersion: h.APIVersion, kind: h.Kind, name: h.Metadata.Name, body: doc.Body})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// decode decodes m's document into v, refusing fields v does not have.
func decode(t *testing.T, m manifest, v any) {
	t.Helper()
	if err := yaml.NodeToValue(m.body, v, yaml.DisallowUnknownField()); err != nil {
		t.Fatalf("decoding %s %s in %s: %v", m.kind, m.name, m.file, err)
	}
}

// find returns the object of kind and name in file.
func find(t *testing.T, ms []manifest, file, kind, name string) manifest {
	t.Helper()
	for _, m := range ms {
		if m.file == file && m.kind == kind && m.name == name {
			return m
		}
	}
	t.Fatalf("no %s %q in %s", kind, name, file)
	return manifest{}
}

func TestManifestsParse(t *testing.T) {
	ms := loadManifests(t)
	var got []string
	for _, m := range ms {
		got = append(got, m.file+" "+m.kind+" "+m.name)
		if want, ok := apiVersions[m.kind]; !ok {
			t.Errorf("%s: kind %q is none of the manifests' kinds", m.file, m.kind)
			continue
		} else if m.apiVersion != want {
			t.Errorf("%s: %s %s has apiVersion %q, want %q", m.file, m.kind, m.name, m.apiVersion, want)
		}
		if m.name == "" && m.kind != "Kustomization" {
			t.Errorf("%s: a %s without metadata.name", m.file, m.kind)
		}
		var v any
		switch m.kind {
		case "ConfigMap":
			v = new(configMap)
		case "Namespace":
			v = new(namespace)
		case "Service":
			v = new(service)
		case "Deployment":
			v = new(deployment)
		case "Job":
			v = new(job)
		case "Kustomization":
			v = new(kustomization)
		}
		decode(t, m, v)
	}
	want := []string{
		"application/job.yaml Job wordcount",
		"application/kustomization.yaml Kustomization ",
		"application/namespace.yaml Namespace freshet-wordcount",
		"session/configmap.yaml ConfigMap freshet-config",
		"session/jobmanager.yaml Deployment freshet-jobmanager",
		"session/jobmanager.yaml Service freshet-jobmanager",
		"session/kustomization.yaml Kustomization ",
		"session/taskmanager.yaml Deployment freshet-taskmanager",
	}
	if !slices.Equal(got, want) {
		t.Errorf("manifests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// session is the session cluster's objects, decoded.
type session struct {
	config      *config.Config
	configMap   configMap
	jobManager  deployment
	service     service
	taskManager deployment
}

func loadSession(t *testing.T) session {
	t.Helper()
	ms := loadManifests(t)
	var s session
	decode(t, find(t, ms, "session/configmap.yaml", "ConfigMap", "freshet-config"), &s.configMap)
	decode(t, find(t, ms, "session/jobmanager.yaml", "Deployment", "freshet-jobmanager"), &s.jobManager)
	decode(t, find(t, ms, "session/jobmanager.yaml", "Service", "freshet-jobmanager"), &s.service)
	decode(t, find(t, ms, "session/taskmanager.yaml", "Deployment", "freshet-taskmanager"), &s.taskManager)
	data, ok := s.configMap.Data[configFile]
	if !ok {
		t.Fatalf("ConfigMap %s has no %s", s.configMap.Metadata.Name, configFile)
	}
	s.config = config.Default()
	if err := s.config.LoadYAML("ConfigMap "+s.configMap.Metadata.Name, []byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.config.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

// configFile is the ConfigMap's key and the file's name in the pods.
const configFile = "freshet.yaml"

// only returns the pod's one container.
func only(t *testing.T, what string, p podSpec) container {
	t.Helper()
	if len(p.Containers) != 1 {
		t.Fatalf("%s has %d containers, want 1", what, len(p.Containers))
	}
	return p.Containers[0]
}

// port returns the container's port called name.
func port(t *testing.T, what string, c container, name string) int {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("%s's container %s has no port %q", what, c.Name, name)
	return 0
}

// envs lists the container's variables as NAME=value, or NAME=<field>
// for one from a field of the pod.
func envs(c container) []string {
	var out []string
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			out = append(out, e.Name+"=<"+e.ValueFrom.FieldRef.FieldPath+">")
		} else {
			out = append(out, e.Name+"="+e.Value)
		}
	}
	return out
}

// varRef is a variable's reference in a container's arguments, which
// Kubernetes expands only if the container defines the variable.
var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// configPath returns where the pod mounts the ConfigMap's file, checking
// that the volume is the ConfigMap.
func configPath(t *testing.T, what string, p podSpec, c container, cm string) string {
	t.Helper()
	for _, m := range c.VolumeMounts {
		for _, v := range p.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm {
				return path.Join(m.MountPath, configFile)
			}
		}
	}
	t.Fatalf("%s does not mount ConfigMap %s", what, cm)
	return ""
}

// checkPod checks what every pod of the manifests shares: the image's user,
// a read-only root file system and an emptyDir as the writable /tmp.
func checkPod(t *testing.T, what string, p podSpec) {
	t.Helper()
	if sc := p.SecurityContext; !sc.RunAsNonRoot || sc.RunAsUser != 65532 || sc.RunAsGroup != 65532 {
		t.Errorf("%s runs as %+v, want the image's user 65532:65532 and runAsNonRoot", what, sc)
	}
	c := only(t, what, p)
	if !c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.AllowPrivilegeEscalation {
		t.Errorf("%s's container %s: security context %+v, want a read-only root and no privilege escalation", what, c.Name, c.SecurityContext)
	}
	tmp := false
	for _, m := range c.VolumeMounts {
		if m.MountPath != "/tmp" {
			continue
		}
		for _, v := range p.Volumes {
			tmp = tmp || (v.Name == m.Name && v.EmptyDir != nil && !m.ReadOnly)
		}
	}
	if !tmp {
		t.Errorf("%s's container %s mounts no writable emptyDir on /tmp", what, c.Name)
	}
	defined := map[string]bool{}
	for _, e := range c.Env {
		defined[e.Name] = true
	}
	for _, a := range c.Args {
		for _, m := range varRef.FindAllStringSubmatch(a, -1) {
			if !defined[m[1]] {
				t.Errorf("%s's container %s: argument %q refers to $(%s), which it does not define", what, c.Name, a, m[1])
			}
		}
	}
	named := map[string]bool{}
	for _, port := range c.Ports {
		named[port.Name] = true
	}
	for _, pr := range []*probe{c.ReadinessProbe, c.LivenessProbe} {
		switch {
		case pr == nil:
		case pr.HTTPGet != nil && !named[pr.HTTPGet.Port]:
			t.Errorf("%s probes port %q, which its container does not name", what, pr.HTTPGet.Port)
		case pr.TCPSocket != nil && !named[pr.TCPSocket.Port]:
			t.Errorf("%s probes port %q, which its container does not name", what, pr.TCPSocket.Port)
		}
	}
}

// checkSelector checks that a Deployment selects its own pods.
func checkSelector(t *testing.T, d deployment) {
	t.Helper()
	if len(d.Spec.Selector.MatchLabels) == 0 {
		t.Errorf("Deployment %s has no selector", d.Metadata.Name)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("Deployment %s selects %s=%s, which its pods do not have", d.Metadata.Name, k, v)
		}
	}
}

// selects tells whether selector matches labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

func TestSessionCluster(t *testing.T) {
	s := loadSession(t)
	jm, tm, svc, cfg := s.jobManager, s.taskManager, s.service, s.config
	cm := s.configMap.Metadata.Name

	t.Run("config", func(t *testing.T) {
		if cfg.RPCAddress != svc.Metadata.Name {
			t.Errorf("jobmanager.rpc.address is %q, want the JobManager's Service %q", cfg.RPCAddress, svc.Metadata.Name)
		}
		if cfg.Slots != 2 || cfg.DefaultParallelism != 2 {
			t.Errorf("%d slots per TaskManager and default parallelism %d, want 2 and 2", cfg.Slots, cfg.DefaultParallelism)
		}
		if cfg.DataPort != 0 {
			t.Errorf("taskmanager.data.port is %d: every job's worker needs a port of its own, so it must be 0", cfg.DataPort)
		}
		if !strings.HasPrefix(cfg.ArtifactDir, "/tmp/") {
			t.Errorf("artifact.dir %q is not under /tmp, the pods' only writable directory", cfg.ArtifactDir)
		}
	})

	t.Run("jobmanager", func(t *testing.T) {
		what := "Deployment " + jm.Metadata.Name
		checkSelector(t, jm)
		checkPod(t, what, jm.Spec.Template.Spec)
		c := only(t, what, jm.Spec.Template.Spec)
		if jm.Spec.Replicas != 1 || jm.Spec.Strategy.Type != "Recreate" {
			t.Errorf("%s: %d replicas, strategy %q; want 1 and Recreate", what, jm.Spec.Replicas, jm.Spec.Strategy.Type)
		}
		if c.Image != image {
			t.Errorf("%s runs image %q, want %q", what, c.Image, image)
		}
		want := []string{"jobmanager", "--config", configPath(t, what, jm.Spec.Template.Spec, c, cm)}
		if !slices.Equal(c.Args, want) {
			t.Errorf("%s runs %q, want %q", what, c.Args, want)
		}
		if got := port(t, what, c, "rest"); got != cfg.RESTPort {
			t.Errorf("%s's rest port is %d, the configuration's rest.port %d", what, got, cfg.RESTPort)
		}
		if got := port(t, what, c, "rpc"); got != cfg.RPCPort {
			t.Errorf("%s's rpc port is %d, the configuration's jobmanager.rpc.port %d", what, got, cfg.RPCPort)
		}
		// It listens for RPC on its pod's IP, over the ConfigMap's
		// address, which is the Service's, for TaskManagers.
		if got, want := envs(c), []string{config.EnvName("jobmanager.rpc.address") + "=<status.podIP>"}; !slices.Equal(got, want) {
			t.Errorf("%s's environment %q, want %q", what, got, want)
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/overview" {
			t.Errorf("%s has readiness probe %+v, want GET /overview", what, c.ReadinessProbe)
		}
	})

	t.Run("service", func(t *testing.T) {
		if !selects(svc.Spec.Selector, jm.Spec.Template.Metadata.Labels) {
			t.Errorf("Service %s selects %v, not the JobManager's pods %v", svc.Metadata.Name, svc.Spec.Selector, jm.Spec.Template.Metadata.Labels)
		}
		if selects(svc.Spec.Selector, tm.Spec.Template.Metadata.Labels) {
			t.Errorf("Service %s selects the TaskManagers' pods too", svc.Metadata.Name)
		}
		var got []string
		for _, p := range svc.Spec.Ports {
			got = append(got, fmt.Sprintf("%s %d→%s", p.Name, p.Port, p.TargetPort))
		}
		want := []string{fmt.Sprintf("rest %d→rest", cfg.RESTPort), fmt.Sprintf("rpc %d→rpc", cfg.RPCPort)}
		if !slices.Equal(got, want) {
			t.Errorf("Service %s's ports %q, want %q (the configuration's rest.port and jobmanager.rpc.port)", svc.Metadata.Name, got, want)
		}
	})

	t.Run("taskmanager", func(t *testing.T) {
		what := "Deployment " + tm.Metadata.Name
		checkSelector(t, tm)
		checkPod(t, what, tm.Spec.Template.Spec)
		c := only(t, what, tm.Spec.Template.Spec)
		if tm.Spec.Replicas != 2 {
			t.Errorf("%s has %d replicas, want 2", what, tm.Spec.Replicas)
		}
		if c.Image != image {
			t.Errorf("%s runs image %q, want %q", what, c.Image, image)
		}
		want := []string{"taskmanager", "--jobmanager", svc.Metadata.Name + ":" + strconv.Itoa(cfg.RPCPort),
			"--host", "$(POD_IP)", "--id", "$(POD_NAME)", "--config", configPath(t, what, tm.Spec.Template.Spec, c, cm)}
		if !slices.Equal(c.Args, want) {
			t.Errorf("%s runs %q, want %q", what, c.Args, want)
		}
		if got, want := envs(c), []string{"POD_IP=<status.podIP>", "POD_NAME=<metadata.name>"}; !slices.Equal(got, want) {
			t.Errorf("%s's environment %q, want %q", what, got, want)
		}
	})
}

func TestApplication(t *testing.T) {
	s := loadSession(t)
	ms := loadManifests(t)
	var ns namespace
	var k kustomization
	var j job
	decode(t, find(t, ms, "application/namespace.yaml", "Namespace", "freshet-wordcount"), &ns)
	decode(t, find(t, ms, "application/kustomization.yaml", "Kustomization", ""), &k)
	decode(t, find(t, ms, "application/job.yaml", "Job", "wordcount"), &j)

	if k.Namespace != ns.Metadata.Name {
		t.Errorf("the application's kustomization places it in namespace %q, its Namespace is %q", k.Namespace, ns.Metadata.Name)
	}
	if !slices.Contains(k.Resources, "../session") {
		t.Errorf("the application's kustomization does not include the session cluster: %q", k.Resources)
	}
	p := j.Spec.Template.Spec
	checkPod(t, "Job "+j.Metadata.Name, p)
	if p.RestartPolicy != "OnFailure" {
		t.Errorf("Job %s's pods restart %q, want OnFailure (to retry until the JobManager answers)", j.Metadata.Name, p.RestartPolicy)
	}
	c := only(t, "Job "+j.Metadata.Name, p)

	// The job's image is the Dockerfile beside it: the freshet image and
	// the program where the Job runs it from.
	df, err := os.ReadFile(filepath.Join(kubernetesDir, "application", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var from, dest string
	for line := range strings.Lines(string(df)) {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "FROM":
			from = f[1]
		case len(f) == 3 && f[0] == "COPY":
			dest = f[2]
		}
	}
	if from != image {
		t.Errorf("the application's Dockerfile builds FROM %q, want %q", from, image)
	}
	address := fmt.Sprintf("http://%s:%d", s.service.Metadata.Name, s.config.RESTPort)
	want := []string{"run", "--detached", "--address", address, dest}
	if !slices.Equal(c.Args, want) {
		t.Errorf("Job %s runs %q, want %q (the JobManager Service's REST port and the program's path in the Dockerfile)", j.Metadata.Name, c.Args, want)
	}
}

// TestKustomizations checks that every kustomization lists files that
// exist and every manifest beside it.
func TestKustomizations(t *testing.T) {
	ms := loadManifests(t)
	for _, m := range ms {
		if m.kind != "Kustomization" {
			continue
		}
		var k kustomization
		decode(t, m, &k)
		dir := path.Dir(m.file)
		listed := map[string]bool{}
		for _, r := range k.Resources {
			p := filepath.Join(kubernetesDir, dir, filepath.FromSlash(r))
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s lists %s: %v", m.file, r, err)
			}
			listed[path.Join(dir, r)] = true
		}
		for _, o := range ms {
			if path.Dir(o.file) == dir && o.file != m.file && !listed[o.file] {
				t.Errorf("%s does not list %s", m.file, o.file)
			}
		}
	}
}
