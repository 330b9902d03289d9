package graph

import (
	"errors"
	"fmt"
	"sync"
)

// ErrNoGraph is returned for a graph reference that a process's registry
// cannot resolve.
var ErrNoGraph = errors.New("freshet: no such job graph")

// ErrFingerprintMismatch is returned when the graph a process has for a job
// is not the one the deployment was made from: the process runs another
// build of the program, or the program builds its graph differently.
var ErrFingerprintMismatch = errors.New("freshet: job graph fingerprint mismatch")

// Registry is a process's job graphs, by job and fingerprint: deployments
// name their graph, and the TaskManager resolves the name here. In the
// embedded cluster the JobManager registers every job's graph; a worker
// process registers the graph it rebuilt from the program for any job.
// Its methods may be called from any goroutine.
type Registry struct {
	mu    sync.Mutex
	byJob map[string]registered
}

type registered struct {
	g           *JobGraph
	fingerprint string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byJob: map[string]registered{}} }

// Register makes g, whose fingerprint is fingerprint, the graph of job; job
// "" makes it the graph of any job not registered by name.
func (r *Registry) Register(job string, g *JobGraph, fingerprint string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byJob[job] = registered{g: g, fingerprint: fingerprint}
}

// Unregister forgets job's graph.
func (r *Registry) Unregister(job string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byJob, job)
}

// Lookup returns job's graph, after checking its fingerprint.
func (r *Registry) Lookup(job, fingerprint string) (*JobGraph, error) {
	r.mu.Lock()
	e, ok := r.byJob[job]
	if !ok {
		e, ok = r.byJob[""]
	}
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: job %s", ErrNoGraph, job)
	}
	if e.fingerprint != fingerprint {
		return nil, fmt.Errorf("%w: job %s was deployed with graph %.12s, this process has %.12s", ErrFingerprintMismatch, job, fingerprint, e.fingerprint)
	}
	return e.g, nil
}
