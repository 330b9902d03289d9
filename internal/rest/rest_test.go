package rest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/internal/metrics"
	"github.com/freshet-io/freshet/internal/rest"
	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
)

var quiet = freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// counter is a sink counting what it receives.
type counter struct{ n atomic.Int64 }

func (c *counter) CreateWriter(sink.InitContext) (sink.Writer[int64], error) {
	return counterWriter{c}, nil
}

type counterWriter struct{ c *counter }

func (w counterWriter) Write(int64, sink.Context) error { w.c.n.Add(1); return nil }
func (w counterWriter) Flush(bool) error                { return nil }
func (w counterWriter) Close() error                    { return nil }

// call does a request and decodes the JSON answer into out (unless nil),
// returning the status.
func call(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 && !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: content type %q", method, url, ct)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// poll calls cond until it holds, failing after 20 s.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBoundedJob(t *testing.T) {
	const n = 1000
	env := freshet.NewEnv(quiet, freshet.WithParallelism(2), freshet.WithREST("127.0.0.1:0"))
	defer env.Close()
	out := &counter{}
	s := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n)), "Numbers")
	freshet.SinkTo(freshet.Map(s.Rebalance(), func(v int64) int64 { return v * 2 }), out, "Count")
	if err := env.Execute(context.Background(), "bounded"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + env.RESTAddress()

	var list rest.JobList
	if code := call(t, "GET", base+"/jobs", nil, &list); code != 200 || len(list.Jobs) != 1 || list.Jobs[0].Status != "FINISHED" {
		t.Fatalf("GET /jobs: %d %+v", code, list)
	}
	id := list.Jobs[0].ID

	var det rest.JobDetails
	if code := call(t, "GET", base+"/jobs/"+id, nil, &det); code != 200 {
		t.Fatalf("GET job: %d", code)
	}
	if det.Name != "bounded" || det.State != "FINISHED" || len(det.Vertices) != 2 {
		t.Fatalf("job details: %+v", det)
	}
	src, snk := det.Vertices[0], det.Vertices[1]
	if src.Name != "Numbers" || src.Parallelism != 2 || src.Status != "FINISHED" || src.Tasks["FINISHED"] != 2 {
		t.Errorf("source vertex: %+v", src)
	}
	if src.Metrics.WriteRecords != n || src.Metrics.ReadRecords != 0 || snk.Metrics.ReadRecords != n || snk.Metrics.WriteRecords != 0 {
		t.Errorf("records: source %+v, sink %+v; want %d out of the source and into the sink", src.Metrics, snk.Metrics, n)
	}
	if got := out.n.Load(); got != n {
		t.Errorf("sink counted %d, want %d", got, n)
	}
	for _, st := range snk.Subtasks {
		if st.Status != "FINISHED" || st.Metrics.ReadRecords == 0 || st.InputWatermark == nil || *st.InputWatermark != math.MaxInt64 {
			t.Errorf("sink subtask: %+v", st)
		}
	}
	for _, st := range src.Subtasks {
		if st.InputWatermark != nil {
			t.Errorf("source subtask %d has input watermark %d", st.Subtask, *st.InputWatermark)
		}
	}

	var plan struct {
		Plan struct {
			Nodes []struct {
				Contents    string `json:"contents"`
				Parallelism int    `json:"parallelism"`
			} `json:"nodes"`
		} `json:"plan"`
	}
	if code := call(t, "GET", base+"/jobs/"+id+"/plan", nil, &plan); code != 200 || len(plan.Plan.Nodes) != 3 || plan.Plan.Nodes[0].Contents != "Numbers" {
		t.Errorf("plan: %d %+v", code, plan)
	}
	var ov rest.Overview
	if call(t, "GET", base+"/overview", nil, &ov); ov.JobsFinished != 1 || ov.JobsRunning != 0 || ov.TaskManagers != 0 {
		t.Errorf("overview: %+v", ov)
	}
	var ck rest.Checkpoints
	if code := call(t, "GET", base+"/jobs/"+id+"/checkpoints", nil, &ck); code != 200 || ck.Counts.Total != 0 || ck.History == nil {
		t.Errorf("checkpoints: %d %+v", code, ck)
	}

	errorCases := []struct {
		method, path string
		status       int
		code         rest.Code
	}{
		{"GET", "/jobs/nosuchjob-9", 404, rest.CodeJobNotFound},
		{"GET", "/jobs/bad%20id", 400, rest.CodeBadRequest},
		{"GET", "/jobs/" + strings.Repeat("a", 201), 400, rest.CodeBadRequest},
		{"DELETE", "/jobs/" + id, 405, rest.CodeMethodNotAllowed},
		{"GET", "/jobs/" + id + "/stop", 405, rest.CodeMethodNotAllowed},
		{"GET", "/nothing", 404, rest.CodeNotFound},
		{"PATCH", "/jobs/" + id, 409, rest.CodeJobNotRunning},
		{"PATCH", "/jobs/" + id + "?mode=explode", 400, rest.CodeBadRequest},
		{"POST", "/jobs/" + id + "/savepoints", 400, rest.CodeBadRequest}, // no directory
		{"GET", "/jobs/" + id + "/savepoints/xyz", 400, rest.CodeBadRequest},
		{"GET", "/jobs/" + id + "/savepoints/" + strings.Repeat("0", 32), 404, rest.CodeTriggerNotFound},
		{"POST", "/jars/" + strings.Repeat("0", 64) + "/run", 404, rest.CodeArtifactNotFound},
		{"POST", "/jars/..%2f..%2fetc/run", 400, rest.CodeBadRequest},
	}
	for _, c := range errorCases {
		var e rest.ErrorBody
		code := call(t, c.method, base+c.path, nil, &e)
		if code != c.status || e.Code != c.code || len(e.Errors) != 1 || e.Errors[0] == "" {
			t.Errorf("%s %s: %d %+v, want %d %s", c.method, c.path, code, e, c.status, c.code)
		}
	}

	// /metrics has the same numbers.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	families, err := new(expfmt.TextParser).TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	sum := func(name, vertex string) float64 {
		var total float64
		for _, m := range families[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "vertex" && l.GetValue() == vertex {
					total += m.GetCounter().GetValue()
				}
			}
		}
		return total
	}
	if got := sum("freshet_subtask_records_out_total", src.ID); got != n {
		t.Errorf("metrics: source records out %v, want %d", got, n)
	}
	if got := sum("freshet_subtask_records_in_total", snk.ID); got != n {
		t.Errorf("metrics: sink records in %v, want %d", got, n)
	}
	if len(families["freshet_job_info"].GetMetric()) != 1 {
		t.Errorf("metrics: freshet_job_info %v", families["freshet_job_info"])
	}
}

// unbounded is a job that runs until stopped.
func unbounded(t *testing.T, opts ...freshet.Option) (*freshet.Env, *freshet.JobClient, string) {
	t.Helper()
	env := freshet.NewEnv(append([]freshet.Option{quiet, freshet.WithREST("127.0.0.1:0")}, opts...)...)
	t.Cleanup(func() { env.Close() })
	s := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorRate(2000)), "Ticks").UID("ticks")
	freshet.SinkTo(freshet.Map(s.Rebalance(), func(v int64) int64 { return v }), &counter{}, "Count")
	jc, err := env.ExecuteAsync(context.Background(), "unbounded")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jc.Cancel(); _ = jc.Wait() })
	return env, jc, "http://" + env.RESTAddress()
}

// savepoint triggers a savepoint (or a stop) and polls it to the end.
func savepoint(t *testing.T, url string, body any) rest.SavepointStatus {
	t.Helper()
	var tr rest.TriggerResponse
	if code := call(t, "POST", url, body, &tr); code != 202 || tr.RequestID == "" {
		t.Fatalf("POST %s: %d %+v", url, code, tr)
	}
	jobURL := url[:strings.LastIndex(url, "/")]
	var st rest.SavepointStatus
	poll(t, "the savepoint", func() bool {
		if code := call(t, "GET", jobURL+"/savepoints/"+tr.RequestID, nil, &st); code != 200 {
			t.Fatalf("savepoint status: %d", code)
		}
		return st.Status.ID == rest.SavepointCompleted
	})
	return st
}

func TestSavepointAndStop(t *testing.T) {
	_, jc, base := unbounded(t)
	job := base + "/jobs/" + jc.ID()
	poll(t, "records", func() bool {
		var det rest.JobDetails
		call(t, "GET", job, nil, &det)
		return det.State == "RUNNING" && det.Vertices[0].Metrics.WriteRecords > 0
	})
	var tms rest.TaskManagers
	if call(t, "GET", base+"/taskmanagers", nil, &tms); len(tms.TaskManagers) != 1 || tms.TaskManagers[0].Slots != 1 || tms.TaskManagers[0].FreeSlots != 0 {
		t.Errorf("taskmanagers: %+v", tms)
	}
	dir := t.TempDir()
	st := savepoint(t, job+"/savepoints", rest.SavepointRequest{TargetDirectory: dir})
	if st.Operation == nil || st.Operation.FailureCause != nil || !strings.HasPrefix(st.Operation.Location, dir) {
		t.Fatalf("savepoint: %+v", st.Operation)
	}
	if _, err := os.Stat(st.Operation.Location); err != nil {
		t.Errorf("savepoint folder: %v", err)
	}
	var ck rest.Checkpoints
	call(t, "GET", job+"/checkpoints", nil, &ck)
	if ck.Counts.Completed != 1 || ck.Latest.Savepoint == nil || !ck.Latest.Savepoint.IsSavepoint || len(ck.History) != 1 {
		t.Errorf("checkpoints after a savepoint: %+v", ck)
	}
	st = savepoint(t, job+"/stop", map[string]any{"targetDirectory": dir})
	if st.Operation == nil || st.Operation.FailureCause != nil || st.Operation.Location == "" {
		t.Fatalf("stop with savepoint: %+v", st.Operation)
	}
	if err := jc.Wait(); err != nil || jc.Status() != freshet.JobFinished {
		t.Fatalf("after stop: %v %s", err, jc.Status())
	}
	var det rest.JobDetails
	if call(t, "GET", job, nil, &det); det.State != "FINISHED" || det.EndTime < det.StartTime {
		t.Errorf("after stop: %+v", det)
	}
}

func TestCancel(t *testing.T) {
	_, jc, base := unbounded(t)
	if code := call(t, "PATCH", base+"/jobs/"+jc.ID()+"?mode=cancel", nil, nil); code != 202 {
		t.Fatalf("cancel: %d", code)
	}
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	var det rest.JobDetails
	if call(t, "GET", base+"/jobs/"+jc.ID(), nil, &det); det.State != "CANCELED" {
		t.Errorf("state %s, want CANCELED", det.State)
	}
}

func TestExceptions(t *testing.T) {
	env := freshet.NewEnv(quiet, freshet.WithREST("127.0.0.1:0"))
	defer env.Close()
	s := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(100)), "Numbers")
	freshet.SinkTo(freshet.Map(s, func(v int64) int64 {
		if v == 42 {
			panic("boom at 42")
		}
		return v
	}), &counter{}, "Count")
	if err := env.Execute(context.Background(), "failing"); err == nil {
		t.Fatal("the job did not fail")
	}
	base := "http://" + env.RESTAddress()
	var list rest.JobList
	call(t, "GET", base+"/jobs", nil, &list)
	var ex rest.Exceptions
	if code := call(t, "GET", base+"/jobs/"+list.Jobs[0].ID+"/exceptions", nil, &ex); code != 200 {
		t.Fatal(code)
	}
	if !strings.Contains(ex.RootException, "boom at 42") || len(ex.History.Entries) != 1 {
		t.Fatalf("exceptions: %+v", ex)
	}
	e := ex.History.Entries[0]
	if e.TaskName != "Map" || e.Subtask == nil || *e.Subtask != 0 || !strings.Contains(e.Name, "boom at 42") || !strings.Contains(e.Stacktrace, "goroutine") {
		t.Errorf("exception entry: %+v", e)
	}
}

// upload posts content as an artifact named name.
func upload(t *testing.T, url, name string, content []byte) (int, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("jarfile", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	resp, err := http.Post(url+"/jars/upload", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestUpload(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "artifacts")
	d := rest.NewEmbedded("")
	defer d.Close()
	srv := httptest.NewServer(rest.NewServer(d, rest.Config{ArtifactDir: dir, MaxUpload: 1024}))
	defer srv.Close()

	content := []byte("a job's program")
	code, body := upload(t, srv.URL, "job.bin", content)
	var up rest.UploadResponse
	if err := json.Unmarshal(body, &up); err != nil || code != 200 {
		t.Fatalf("upload: %d %s", code, body)
	}
	sum := sha256.Sum256(content)
	if up.SHA256 != hex.EncodeToString(sum[:]) || up.Filename != up.SHA256 || up.Size != int64(len(content)) || up.Name != "job.bin" {
		t.Errorf("upload: %+v", up)
	}
	if b, err := os.ReadFile(filepath.Join(dir, up.Filename)); err != nil || !bytes.Equal(b, content) {
		t.Errorf("stored artifact: %q %v", b, err)
	}
	var list rest.Artifacts
	if call(t, "GET", srv.URL+"/jars", nil, &list); len(list.Files) != 1 || list.Files[0].ID != up.ID {
		t.Errorf("artifacts: %+v", list)
	}
	var e rest.ErrorBody
	if code := call(t, "POST", srv.URL+"/jars/"+up.ID+"/run", nil, &e); code != 501 || e.Code != rest.CodeNotImplemented {
		t.Errorf("run: %d %+v", code, e)
	}

	cases := []struct {
		name    string
		content []byte
		status  int
		code    rest.Code
	}{
		{"big.bin", bytes.Repeat([]byte("x"), 1025), 413, rest.CodeTooLarge},
		{"huge.bin", bytes.Repeat([]byte("x"), 200<<10), 413, rest.CodeTooLarge},
		{"../escape.bin", content, 400, rest.CodeBadRequest},
		{"..", content, 400, rest.CodeBadRequest},
		{".hidden", content, 400, rest.CodeBadRequest},
	}
	for _, c := range cases {
		code, body := upload(t, srv.URL, c.name, c.content)
		var e rest.ErrorBody
		if err := json.Unmarshal(body, &e); err != nil || code != c.status || e.Code != c.code {
			t.Errorf("upload %q: %d %s, want %d %s", c.name, code, body, c.status, c.code)
		}
	}
	// Nothing was written beside the artifact directory, nor left in it.
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("files beside the artifact directory: %v", entries)
	}
	entries, _ = os.ReadDir(dir)
	if len(entries) != 2 { // the artifact and its metadata
		t.Errorf("artifact directory holds %d files, want 2", len(entries))
	}
	resp, err := http.Post(srv.URL+"/jars/upload", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("upload without multipart: %d", resp.StatusCode)
	}
}

func TestValidArtifactName(t *testing.T) {
	for name, want := range map[string]bool{
		"job.bin": true, "my job-1.2": true, "": false, ".": false, "..": false, "../a": false, "a/b": false,
		`a\b`: false, "/abs": false, "a\x00b": false, ".env": false, "c:x": false, strings.Repeat("a", 256): false,
	} {
		if got := rest.ValidArtifactName(name); got != want {
			t.Errorf("ValidArtifactName(%q) = %v, want %v", name, got, want)
		}
	}
}

func FuzzValidArtifactName(f *testing.F) {
	for _, s := range []string{"job.bin", "../x", "a/b", ".."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !rest.ValidArtifactName(name) {
			return
		}
		dir := "/artifacts"
		if p := filepath.Join(dir, name); filepath.Dir(p) != dir {
			t.Errorf("%q escapes the directory: %s", name, p)
		}
	})
}

func FuzzValidJobID(f *testing.F) {
	for _, s := range []string{"job-1", "../x", "a b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if rest.ValidJobID(id) && strings.ContainsAny(id, "/.?#% \\") {
			t.Errorf("%q accepted", id)
		}
	})
}

var _ = errors.New
var _ = fmt.Sprint

// tally is a process function that reports metrics of its own.
type tally struct{ freshet.BaseFunction }

func (tally) Open(rc *freshet.RuntimeContext) error {
	rc.Metrics().Gauge("subtaskIndex").Set(float64(rc.SubtaskIndex()))
	return nil
}

func (tally) ProcessElement(ctx *freshet.Context, v int64, out freshet.Collector[int64]) error {
	ctx.Runtime().Metrics().Counter("seen").Inc()
	out.Collect(v)
	return nil
}

// meteredSink counts what its writers write on their metric groups.
type meteredSink struct{}

func (meteredSink) CreateWriter(ctx sink.InitContext) (sink.Writer[int64], error) {
	return meteredWriter{ctx.Metrics().Counter("written")}, nil
}

type meteredWriter struct{ n *metric.Counter }

func (w meteredWriter) Write(int64, sink.Context) error { w.n.Inc(); return nil }
func (w meteredWriter) Flush(bool) error                { return nil }
func (w meteredWriter) Close() error                    { return nil }

func TestUserMetrics(t *testing.T) {
	const n = 1000
	env := freshet.NewEnv(quiet, freshet.WithParallelism(2), freshet.WithREST("127.0.0.1:0"))
	defer env.Close()
	s := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n)), "Numbers")
	freshet.SinkTo(freshet.Process(s.Rebalance(), freshet.ProcessFunction[int64, int64](tally{})), meteredSink{}, "Metered")
	if err := env.Execute(context.Background(), "user metrics"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + env.RESTAddress()
	var list rest.JobList
	if code := call(t, "GET", base+"/jobs", nil, &list); code != 200 || len(list.Jobs) != 1 {
		t.Fatalf("GET /jobs: %d %+v", code, list)
	}
	var det rest.JobDetails
	if code := call(t, "GET", base+"/jobs/"+list.Jobs[0].ID, nil, &det); code != 200 || len(det.Vertices) != 2 {
		t.Fatalf("GET job: %d %+v", code, det)
	}
	if src := det.Vertices[0]; len(src.Subtasks) != 2 || len(src.Subtasks[0].UserMetrics) != 0 || src.Subtasks[0].UserMetrics == nil {
		t.Errorf("source subtasks: %+v, want no user metrics ([])", src.Subtasks)
	}
	v := det.Vertices[1]
	var total int64
	want := map[string]float64{} // Prometheus sample by name, vertex and subtask
	for _, st := range v.Subtasks {
		got := st.Metrics.ReadRecords
		total += got
		w := []rest.UserMetric{
			{Operator: "Metered", Name: "written", Type: "counter", Value: float64(got)},
			{Operator: "Process", Name: "seen", Type: "counter", Value: float64(got)},
			{Operator: "Process", Name: "subtaskIndex", Type: "gauge", Value: float64(st.Subtask)},
		}
		if !slices.Equal(st.UserMetrics, w) {
			t.Errorf("subtask %d user metrics\n%+v, want\n%+v", st.Subtask, st.UserMetrics, w)
		}
		for _, m := range w {
			want[fmt.Sprintf("freshet_operator_%s{job=%s,operator=%s,subtask=%d,vertex=%s} %s", m.Name, list.Jobs[0].ID, m.Operator, st.Subtask, v.ID, m.Type)] = m.Value
		}
	}
	if total != n {
		t.Errorf("the sink's vertex read %d records, want %d", total, n)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	families, err := new(expfmt.TextParser).TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for name, f := range families {
		if !strings.HasPrefix(name, "freshet_operator_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			val := m.GetCounter().GetValue()
			if f.GetType() == dto.MetricType_GAUGE {
				val = m.GetGauge().GetValue()
			}
			got[fmt.Sprintf("%s{%s} %s", name, strings.Join(ls, ","), strings.ToLower(f.GetType().String()))] = val
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("/metrics user metrics\n%v, want\n%v", got, want)
	}
}

func TestUserMetricBadName(t *testing.T) {
	env := freshet.NewEnv(quiet)
	defer env.Close()
	s := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(10)), "Numbers")
	bad := freshet.ProcessFunc(func(ctx *freshet.Context, v int64, out freshet.Collector[int64]) error {
		ctx.Runtime().Metrics().Counter("records seen").Inc()
		return nil
	})
	freshet.SinkTo(freshet.Process(s, bad), &counter{}, "Count")
	err := env.Execute(context.Background(), "bad metric")
	if err == nil || !errors.Is(err, metric.ErrInvalidName) || !strings.Contains(err.Error(), `operator "Process"`) ||
		!strings.Contains(err.Error(), `freshet: invalid metric name "records seen": ' ' at 7 is not an ASCII letter, digit or '_'`) {
		t.Fatalf("Execute: %v, want the invalid metric name, naming the operator", err)
	}
}

// TestTaskManagerUserMetrics scrapes a TaskManager's registry whose
// operators use one name for a counter and for a gauge: the kind seen
// first (by operator name) is exported, the other left out, and the
// scrape succeeds.
func TestTaskManagerUserMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	s := reg.Subtask(metrics.Key{Job: "j", Vertex: 3, Subtask: 1}, 0)
	s.Operator("A").Counter("n").Add(5)
	s.Operator("B").Gauge("n").Set(7)
	s.Operator("B").Gauge("lag").Set(2)
	srv := httptest.NewServer(rest.TaskManagerMetrics(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s", resp.Status)
	}
	families, err := new(expfmt.TextParser).TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for name, f := range families {
		if !strings.HasPrefix(name, "freshet_operator_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			got[name+"{"+strings.Join(ls, ",")+"}"] = fmt.Sprintf("%s %v", f.GetType(), m.GetCounter().GetValue()+m.GetGauge().GetValue())
		}
	}
	want := map[string]string{
		"freshet_operator_n{job=j,operator=A,subtask=1,vertex=3}":   "COUNTER 5",
		"freshet_operator_lag{job=j,operator=B,subtask=1,vertex=3}": "GAUGE 2",
	}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestClient calls the API with Client's typed calls: a job's details,
// checkpoints, a savepoint, a stop with a savepoint, its exceptions, and
// the errors of an unknown job and of an ended one.
func TestClient(t *testing.T) {
	_, jc, base := unbounded(t)
	c := rest.NewClient(strings.TrimPrefix(base, "http://"))
	ctx := context.Background()
	poll(t, "the job to run", func() bool {
		d, err := c.Job(ctx, jc.ID())
		if err != nil {
			t.Fatal(err)
		}
		return d.State == "RUNNING"
	})
	dir := t.TempDir()
	savepoint := func(req rest.SavepointRequest) string {
		t.Helper()
		trigger, err := c.TriggerSavepoint(ctx, jc.ID(), req)
		if err != nil {
			t.Fatal(err)
		}
		var st rest.SavepointStatus
		poll(t, "the savepoint", func() bool {
			if st, err = c.SavepointStatus(ctx, jc.ID(), trigger); err != nil {
				t.Fatal(err)
			}
			return st.Status.ID == rest.SavepointCompleted
		})
		if st.Operation == nil || st.Operation.FailureCause != nil || !strings.HasPrefix(st.Operation.Location, dir) {
			t.Fatalf("savepoint %+v: %+v", req, st.Operation)
		}
		return st.Operation.Location
	}
	savepoint(rest.SavepointRequest{TargetDirectory: dir})
	if cp, err := c.Checkpoints(ctx, jc.ID()); err != nil || cp.Counts.Completed != 1 || cp.Latest.Savepoint == nil {
		t.Fatalf("checkpoints: %+v, %v", cp, err)
	}
	savepoint(rest.SavepointRequest{TargetDirectory: dir, Stop: true})
	if err := jc.Wait(); err != nil || jc.Status() != freshet.JobFinished {
		t.Fatalf("after stop: %v, %s", err, jc.Status())
	}
	if ex, err := c.Exceptions(ctx, jc.ID()); err != nil || ex.RootException != "" {
		t.Fatalf("exceptions: %+v, %v", ex, err)
	}
	var re *rest.Error
	if err := c.Cancel(ctx, jc.ID()); !errors.As(err, &re) || re.Code != rest.CodeJobNotRunning {
		t.Fatalf("cancelling an ended job: %v", err)
	}
	if _, err := c.Job(ctx, "nope"); !errors.As(err, &re) || re.Code != rest.CodeJobNotFound || err.Error() != "freshet: no job nope" {
		t.Fatalf("an unknown job: %v", err)
	}
}

func TestClientCancel(t *testing.T) {
	_, jc, base := unbounded(t)
	c := rest.NewClient(base)
	if err := c.Cancel(context.Background(), jc.ID()); err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil || jc.Status() != freshet.JobCanceled {
		t.Fatalf("after cancel: %v, %s", err, jc.Status())
	}
}
