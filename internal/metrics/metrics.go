// Package metrics holds the runtime's per-subtask counters: records and
// bytes in and out, time backpressured, the current input watermark and
// the subtask's state, and the metrics its operators register themselves
// (package metric's groups, one per operator).
//
// Counting is cheap on the hot path: a subtask's goroutine is the only
// writer of its Subtask and updates it once per batch or event, never per
// record, with atomic adds and stores (no locks, no allocation); readers
// (the REST API, a Prometheus scrape) load the atomics from any goroutine.
//
// Bytes are counted where records are encoded: a channel between subtasks
// of one process passes typed batches without encoding, and counts 0 bytes.
package metrics

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshet-io/freshet/metric"
)

// NoWatermark is the input watermark of a subtask that has received none
// (and of a source, which has no input).
const NoWatermark = math.MinInt64

// Subtask is the counters of one subtask attempt. Its methods other than
// Snapshot are called by the subtask's goroutine (SetState by its
// TaskManager); the zero value is not ready, use NewSubtask.
type Subtask struct {
	recordsIn, recordsOut atomic.Int64
	bytesIn, bytesOut     atomic.Int64
	// backPressured is the total time spent waiting for output room, in
	// nanoseconds; backPressuredSince the start of the wait in progress
	// (unix nanoseconds), 0 when none.
	backPressured      atomic.Int64
	backPressuredSince atomic.Int64
	inputWatermark     atomic.Int64
	state              atomic.Pointer[string]
	attempt            int
	started            time.Time
	// Owned by the Registry, under its lock: the sample the backpressure
	// ratio is measured from.
	sampleAt time.Time
	sampleBP int64

	// user are the operators' own metrics, by operator name.
	user struct {
		sync.Mutex
		groups map[string]*metric.Group
	}
}

// NewSubtask returns the counters of a subtask attempt starting now.
func NewSubtask(attempt int) *Subtask {
	s := &Subtask{attempt: attempt, started: time.Now()}
	s.inputWatermark.Store(NoWatermark)
	s.SetState("DEPLOYING")
	s.sampleAt = s.started
	return s
}

// Operator returns the group of metrics the operator called name
// registers (the same group for the same name: operators of one chain
// with the same name share it). Called when the operator opens.
func (s *Subtask) Operator(name string) *metric.Group {
	s.user.Lock()
	defer s.user.Unlock()
	g, ok := s.user.groups[name]
	if !ok {
		g = metric.NewGroup()
		if s.user.groups == nil {
			s.user.groups = map[string]*metric.Group{}
		}
		s.user.groups[name] = g
	}
	return g
}

// userValues returns the operators' metrics, by operator and name.
func (s *Subtask) userValues() []UserMetric {
	s.user.Lock()
	defer s.user.Unlock()
	var out []UserMetric
	for op, g := range s.user.groups {
		for _, v := range g.Values() {
			out = append(out, UserMetric{Operator: op, Value: v})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Operator != out[j].Operator {
			return out[i].Operator < out[j].Operator
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// UserMetric is a metric an operator registered, at one moment.
type UserMetric struct {
	Operator string
	metric.Value
}

// AddIn counts a batch of records taken from an input; bytes is its
// encoded size, 0 for a typed batch.
func (s *Subtask) AddIn(records, bytes int) {
	s.recordsIn.Add(int64(records))
	if bytes > 0 {
		s.bytesIn.Add(int64(bytes))
	}
}

// AddOut counts a batch of records sent to an output channel.
func (s *Subtask) AddOut(records, bytes int) {
	s.recordsOut.Add(int64(records))
	if bytes > 0 {
		s.bytesOut.Add(int64(bytes))
	}
}

// BackPressureStart marks the start of a wait for output room.
func (s *Subtask) BackPressureStart(now time.Time) { s.backPressuredSince.Store(now.UnixNano()) }

// BackPressureEnd ends the wait BackPressureStart began.
func (s *Subtask) BackPressureEnd(now time.Time) {
	if since := s.backPressuredSince.Swap(0); since != 0 {
		s.backPressured.Add(now.UnixNano() - since)
	}
}

// SetInputWatermark records the subtask's current input watermark.
func (s *Subtask) SetInputWatermark(wm int64) { s.inputWatermark.Store(wm) }

// SetState records the subtask's state (DEPLOYING, RUNNING, FINISHED,
// CANCELED or FAILED).
func (s *Subtask) SetState(state string) { s.state.Store(&state) }

// backPressuredAt is the total backpressured time until now, with the
// wait in progress.
func (s *Subtask) backPressuredAt(now time.Time) int64 {
	bp := s.backPressured.Load()
	if since := s.backPressuredSince.Load(); since != 0 {
		bp += max(0, now.UnixNano()-since)
	}
	return bp
}

// SubtaskSnapshot is a subtask's counters at one moment.
type SubtaskSnapshot struct {
	Job              string
	Vertex, Subtask  int
	Attempt          int
	State            string
	RecordsIn        int64
	RecordsOut       int64
	BytesIn          int64
	BytesOut         int64
	BackPressuredSum time.Duration
	// BackPressureRatio is the fraction of the recent wall time (about
	// the last second) the subtask waited for output room, 0 to 1.
	BackPressureRatio float64
	// InputWatermark is NoWatermark when none arrived.
	InputWatermark int64
	// User are the metrics its operators registered, by operator and name.
	User []UserMetric
}

// Key names a subtask; attempts of it replace each other.
type Key struct {
	Job             string
	Vertex, Subtask int
}

// Registry holds the counters of the subtasks of one process, kept after
// they end until their job is forgotten. It is safe for concurrent use.
type Registry struct {
	mu struct {
		sync.Mutex
		subtasks map[Key]*Subtask
		sources  []Source
	}
}

// Source gives the snapshots of a job's subtasks counted elsewhere (in a
// cluster's worker processes), for Snapshot to add.
type Source func(job string, now time.Time) []SubtaskSnapshot

// AddSource makes Snapshot add the subtasks src gives.
func (r *Registry) AddSource(src Source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.sources = append(r.mu.sources, src)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	r.mu.subtasks = map[Key]*Subtask{}
	return r
}

// Subtask returns fresh counters for an attempt of a subtask, replacing
// those of an earlier attempt (Flink's counters also start again with
// each attempt).
func (r *Registry) Subtask(k Key, attempt int) *Subtask {
	s := NewSubtask(attempt)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.subtasks[k] = s
	return s
}

// Forget drops the counters of a job's subtasks.
func (r *Registry) Forget(job string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.mu.subtasks {
		if k.Job == job {
			delete(r.mu.subtasks, k)
		}
	}
}

// ratioWindow is how long the backpressure ratio is measured over.
const ratioWindow = time.Second

// Snapshot returns the counters of a job's subtasks ("" for every job's),
// ordered by job, vertex and subtask.
func (r *Registry) Snapshot(job string, now time.Time) []SubtaskSnapshot {
	r.mu.Lock()
	sources := r.mu.sources
	r.mu.Unlock()
	var out []SubtaskSnapshot
	for _, src := range sources {
		out = append(out, src(job, now)...)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, s := range r.mu.subtasks {
		if job != "" && k.Job != job {
			continue
		}
		bp := s.backPressuredAt(now)
		ratio := 0.0
		if elapsed := now.Sub(s.sampleAt); elapsed > 0 {
			ratio = min(1, max(0, float64(bp-s.sampleBP)/float64(elapsed)))
		}
		if now.Sub(s.sampleAt) >= ratioWindow {
			s.sampleAt, s.sampleBP = now, bp
		}
		out = append(out, SubtaskSnapshot{
			Job: k.Job, Vertex: k.Vertex, Subtask: k.Subtask, Attempt: s.attempt, State: *s.state.Load(),
			RecordsIn: s.recordsIn.Load(), RecordsOut: s.recordsOut.Load(),
			BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(),
			BackPressuredSum: time.Duration(bp), BackPressureRatio: ratio,
			InputWatermark: s.inputWatermark.Load(),
			User:           s.userValues(),
		})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Job != b.Job {
			return a.Job < b.Job
		}
		if a.Vertex != b.Vertex {
			return a.Vertex < b.Vertex
		}
		return a.Subtask < b.Subtask
	})
	return out
}
