// Package rest serves the JobManager's REST API, in the shape of Flink's
// where it fits: the cluster overview, TaskManagers, jobs with their
// vertices and per-subtask metrics, plans, checkpoints, exceptions,
// cancellation, savepoints and stop-with-savepoint, artifact upload, and
// /metrics in Prometheus' format. It serves any Dispatcher; Embedded is
// the one over the in-process runtime. docs/rest.md lists the endpoints.
//
// Every error is JSON, {"errors": ["..."], "code": "..."}, with a code
// from the catalog in errors.go and its HTTP status.
package rest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMaxUpload is the largest artifact an upload may carry.
const DefaultMaxUpload = 256 << 20

// maxJSONBody is the largest JSON request body.
const maxJSONBody = 64 << 10

// Config configures a Server.
type Config struct {
	// ArtifactDir is where uploaded artifacts are stored; "" refuses
	// uploads (501).
	ArtifactDir string
	// MaxUpload is the largest artifact accepted (default DefaultMaxUpload).
	MaxUpload int64
	// Logger receives the server's errors; nil means slog.Default().
	Logger *slog.Logger
}

// Server is the REST API over a Dispatcher.
type Server struct {
	d    Dispatcher
	cfg  Config
	mux  *http.ServeMux
	prom *prometheus.Registry
	// upload serialises uploads' final renames.
	upload sync.Mutex
	// srv and done are set by Serve.
	srv  *http.Server
	done chan error
}

// NewServer returns the API over d.
func NewServer(d Dispatcher, cfg Config) *Server {
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{d: d, cfg: cfg, mux: http.NewServeMux(), prom: prometheus.NewRegistry()}
	s.prom.MustRegister(&jobCollector{d: d})
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /overview", s.overview)
	m.HandleFunc("GET /taskmanagers", s.taskManagers)
	m.HandleFunc("GET /jobs", s.jobs)
	m.HandleFunc("GET /jobs/overview", s.jobsOverview)
	m.HandleFunc("GET /jobs/{jobid}", s.job)
	m.HandleFunc("PATCH /jobs/{jobid}", s.cancel)
	m.HandleFunc("GET /jobs/{jobid}/plan", s.plan)
	m.HandleFunc("GET /jobs/{jobid}/checkpoints", s.checkpoints)
	m.HandleFunc("GET /jobs/{jobid}/exceptions", s.exceptions)
	m.HandleFunc("POST /jobs/{jobid}/savepoints", s.triggerSavepoint)
	m.HandleFunc("GET /jobs/{jobid}/savepoints/{triggerid}", s.savepointStatus)
	m.HandleFunc("POST /jobs/{jobid}/stop", s.stop)
	m.HandleFunc("GET /jars", s.artifacts)
	m.HandleFunc("POST /jars/upload", s.uploadArtifact)
	m.HandleFunc("GET /jars/{jarid}", s.downloadArtifact)
	m.HandleFunc("POST /jars/{jarid}/run", s.runArtifact)
	m.Handle("GET /metrics", promhttp.HandlerFor(s.prom, promhttp.HandlerOpts{}))
}

// ServeHTTP implements http.Handler: the routes, with the mux's own 404
// and 405 answers turned into JSON errors.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		rec := &recorder{header: http.Header{}}
		s.mux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if rec.code == http.StatusMethodNotAllowed {
			writeError(w, Errorf(CodeMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path))
			return
		}
		writeError(w, Errorf(CodeNotFound, "no endpoint %s", r.URL.Path))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// recorder keeps the status of the mux's built-in error answers.
type recorder struct {
	header http.Header
	code   int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(code int)        { r.code = code }

// Serve listens on addr and serves in a goroutine of its own until Close;
// it returns the address it listens on (addr may have port 0).
func (s *Server) Serve(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listening for the REST API on %s: %w", addr, err)
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan error, 1)
	go func() { s.done <- s.srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// Close stops a server started by Serve and waits for it.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Code.Status(), ErrorBody{Errors: []string{e.Message}, Code: e.Code})
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	if e.Code == CodeInternal {
		s.cfg.Logger.Error("REST request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	}
	writeError(w, e)
}

var (
	jobIDPattern      = regexp.MustCompile(`^[A-Za-z0-9_-]{1,200}$`)
	triggerIDPattern  = regexp.MustCompile(`^[0-9a-f]{32}$`)
	artifactIDPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidJobID reports whether id can name a job.
func ValidJobID(id string) bool { return jobIDPattern.MatchString(id) }

// jobID returns the request's validated job id.
func jobID(r *http.Request) (string, error) {
	id := r.PathValue("jobid")
	if !ValidJobID(id) {
		return "", badField("job id", "%q is not a job id (letters, digits, '-' and '_')", id)
	}
	return id, nil
}

// handle serves a GET of one job's resource.
func handleJob[T any](s *Server, w http.ResponseWriter, r *http.Request, get func(context.Context, string) (T, error)) {
	id, err := jobID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	o, err := s.d.Overview(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) taskManagers(w http.ResponseWriter, r *http.Request) {
	tms, err := s.d.TaskManagers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, TaskManagers{TaskManagers: nonNil(tms)})
}

func (s *Server) jobs(w http.ResponseWriter, r *http.Request) {
	jobs, err := s.d.Jobs(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := JobList{Jobs: []JobIDStatus{}}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, JobIDStatus{ID: j.ID, Status: j.State})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) jobsOverview(w http.ResponseWriter, r *http.Request) {
	jobs, err := s.d.Jobs(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, JobsOverview{Jobs: nonNil(jobs)})
}

func (s *Server) job(w http.ResponseWriter, r *http.Request)  { handleJob(s, w, r, s.d.Job) }
func (s *Server) plan(w http.ResponseWriter, r *http.Request) { handleJob(s, w, r, s.d.Plan) }
func (s *Server) checkpoints(w http.ResponseWriter, r *http.Request) {
	handleJob(s, w, r, s.d.Checkpoints)
}
func (s *Server) exceptions(w http.ResponseWriter, r *http.Request) {
	handleJob(s, w, r, s.d.Exceptions)
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	id, err := jobID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if mode := r.URL.Query().Get("mode"); mode != "" && mode != "cancel" {
		s.fail(w, r, badField("mode", "%q is not a mode (only \"cancel\")", mode))
		return
	}
	if err := s.d.Cancel(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, struct{}{})
}

// decodeBody decodes a JSON body of at most maxJSONBody bytes into v; an
// empty body leaves v as it is.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return Errorf(CodeTooLarge, "request body over %d bytes", maxJSONBody)
		}
		return badField("request body", "%v", err)
	}
	return nil
}

// validTarget checks a savepoint directory given in a request.
func validTarget(field, dir string) error {
	if strings.ContainsRune(dir, 0) || len(dir) > 4096 {
		return badField(field, "not a directory or URL")
	}
	return nil
}

func (s *Server) triggerSavepoint(w http.ResponseWriter, r *http.Request) {
	s.trigger(w, r, false)
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request) { s.trigger(w, r, true) }

func (s *Server) trigger(w http.ResponseWriter, r *http.Request, stop bool) {
	id, err := jobID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req SavepointRequest
	if stop {
		// Flink's stop request names the directory targetDirectory.
		var body struct {
			TargetDirectory string `json:"targetDirectory"`
			Drain           bool   `json:"drain"`
		}
		err = decodeBody(w, r, &body)
		req = SavepointRequest{TargetDirectory: body.TargetDirectory, Drain: body.Drain, Stop: true}
	} else {
		err = decodeBody(w, r, &req)
	}
	if err == nil {
		err = validTarget("target-directory", req.TargetDirectory)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	trigger, err := s.d.TriggerSavepoint(r.Context(), id, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, TriggerResponse{RequestID: trigger})
}

func (s *Server) savepointStatus(w http.ResponseWriter, r *http.Request) {
	id, err := jobID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	trigger := r.PathValue("triggerid")
	if !triggerIDPattern.MatchString(trigger) {
		s.fail(w, r, badField("trigger id", "%q is not a trigger id (32 hex digits)", trigger))
		return
	}
	st, err := s.d.SavepointStatus(r.Context(), id, trigger)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// ValidArtifactName reports whether name, an uploaded file's name, is a
// plain file name: no directories, no "..", nothing hidden, printable.
func ValidArtifactName(name string) bool {
	if name == "" || len(name) > 255 || name == "." || name == ".." || strings.HasPrefix(name, ".") {
		return false
	}
	for _, r := range name {
		if r == '/' || r == '\\' || r == ':' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return filepath.Base(name) == name
}

// artifactMeta is stored beside an artifact.
const metaSuffix = ".json"

func (s *Server) uploadArtifact(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ArtifactDir == "" {
		s.fail(w, r, Errorf(CodeNotImplemented, "this server has no artifact directory"))
		return
	}
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		s.fail(w, r, badField("Content-Type", "want multipart/form-data with a boundary"))
		return
	}
	// The limit is on the whole body: the file and the multipart framing.
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload+64<<10)
	mr := multipart.NewReader(body, params["boundary"])
	var part *multipart.Part
	for {
		part, err = mr.NextPart()
		if err != nil {
			s.fail(w, r, uploadErr(err, s.cfg.MaxUpload, "no part named \"jarfile\""))
			return
		}
		if part.FormName() == "jarfile" {
			break
		}
	}
	// The name as sent: Part.FileName would drop directories silently.
	_, disp, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
	name := disp["filename"]
	if !ValidArtifactName(name) {
		s.fail(w, r, badField("file name", "%q is not a plain file name", name))
		return
	}
	if err := os.MkdirAll(s.cfg.ArtifactDir, 0o755); err != nil {
		s.fail(w, r, fmt.Errorf("making the artifact directory: %w", err))
		return
	}
	tmp, err := os.CreateTemp(s.cfg.ArtifactDir, ".upload-*")
	if err != nil {
		s.fail(w, r, fmt.Errorf("storing the upload: %w", err))
		return
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(part, s.cfg.MaxUpload+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > s.cfg.MaxUpload {
		err = &http.MaxBytesError{Limit: s.cfg.MaxUpload}
	}
	if err != nil {
		s.fail(w, r, uploadErr(err, s.cfg.MaxUpload, ""))
		return
	}
	sum := hex.EncodeToString(h.Sum(nil))
	a := Artifact{ID: sum, Name: name, Size: n, SHA256: sum, Uploaded: time.Now().UnixMilli()}
	meta, _ := json.Marshal(a)
	s.upload.Lock()
	defer s.upload.Unlock()
	dst := filepath.Join(s.cfg.ArtifactDir, sum)
	if err := os.WriteFile(dst+metaSuffix, meta, 0o644); err != nil {
		s.fail(w, r, fmt.Errorf("storing the upload: %w", err))
		return
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		s.fail(w, r, fmt.Errorf("storing the upload: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, UploadResponse{Filename: sum, Status: "success", Artifact: a})
}

// uploadErr is the error of reading an upload.
func uploadErr(err error, limit int64, what string) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return Errorf(CodeTooLarge, "upload over %d bytes", limit)
	}
	if what == "" {
		what = err.Error()
	}
	return badField("upload", "%s", what)
}

func (s *Server) artifacts(w http.ResponseWriter, r *http.Request) {
	out := Artifacts{Files: []Artifact{}}
	if s.cfg.ArtifactDir != "" {
		entries, err := os.ReadDir(s.cfg.ArtifactDir)
		if err != nil && !os.IsNotExist(err) {
			s.fail(w, r, fmt.Errorf("listing artifacts: %w", err))
			return
		}
		for _, e := range entries {
			id, ok := strings.CutSuffix(e.Name(), metaSuffix)
			if !ok || !artifactIDPattern.MatchString(id) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(s.cfg.ArtifactDir, e.Name()))
			var a Artifact
			if err != nil || json.Unmarshal(b, &a) != nil {
				continue
			}
			out.Files = append(out.Files, a)
		}
	}
	sort.Slice(out.Files, func(i, j int) bool { return out.Files[i].Uploaded > out.Files[j].Uploaded })
	writeJSON(w, http.StatusOK, out)
}

// downloadArtifact serves an uploaded artifact's bytes: TaskManagers fetch
// job programs here.
func (s *Server) downloadArtifact(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("jarid")
	if !artifactIDPattern.MatchString(id) {
		s.fail(w, r, badField("artifact id", "%q is not an artifact id (64 hex digits)", id))
		return
	}
	if s.cfg.ArtifactDir == "" {
		s.fail(w, r, Errorf(CodeArtifactNotFound, "no artifact %s", id))
		return
	}
	f, err := os.Open(filepath.Join(s.cfg.ArtifactDir, id))
	if err != nil {
		s.fail(w, r, Errorf(CodeArtifactNotFound, "no artifact %s", id))
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, id, time.Time{}, f)
}

func (s *Server) runArtifact(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("jarid")
	if !artifactIDPattern.MatchString(id) {
		s.fail(w, r, badField("artifact id", "%q is not an artifact id (64 hex digits)", id))
		return
	}
	var req RunRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Parallelism < 0 {
		s.fail(w, r, badField("parallelism", "%d is negative", req.Parallelism))
		return
	}
	if s.cfg.ArtifactDir == "" {
		s.fail(w, r, Errorf(CodeArtifactNotFound, "no artifact %s", id))
		return
	}
	if _, err := os.Stat(filepath.Join(s.cfg.ArtifactDir, id)); err != nil {
		s.fail(w, r, Errorf(CodeArtifactNotFound, "no artifact %s", id))
		return
	}
	job, err := s.d.RunArtifact(r.Context(), id, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, RunResponse{JobID: job})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
