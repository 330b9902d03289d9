package storage

import "sync"

// Registry is a process's open storages, by location and job, so that a
// TaskManager in the JobManager's process uses the JobManager's storage
// (an in-memory bucket cannot be opened twice) rather than opening it
// again. Its methods may be called from any goroutine.
type Registry struct {
	mu sync.Mutex
	m  map[[2]string]*Storage
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: map[[2]string]*Storage{}} }

// Register makes s findable by its location and job.
func (r *Registry) Register(s *Storage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[[2]string{s.location, s.job}] = s
}

// Unregister forgets s.
func (r *Registry) Unregister(s *Storage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[[2]string{s.location, s.job}] == s {
		delete(r.m, [2]string{s.location, s.job})
	}
}

// Lookup returns the storage of job at location, if this process has it open.
func (r *Registry) Lookup(location, job string) (*Storage, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.m[[2]string{location, job}]
	return s, ok
}
