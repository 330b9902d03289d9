package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/freshet-io/freshet/internal/jobmanager"
	"github.com/freshet-io/freshet/internal/rpc"
)

// ResourceManager keeps the TaskManagers of a cluster and their slots, and
// hands slots to jobs. It implements rpc.ResourceManagerGateway. A
// TaskManager that sends no heartbeat for the timeout is forgotten, and its
// slots with it; one that registers again under its id is reused.
type ResourceManager struct {
	log     *slog.Logger
	timeout time.Duration
	now     func() time.Time
	mu      sync.Mutex
	tms     map[string]*tmEntry
	order   []string // registration order
}

type tmEntry struct {
	reg        rpc.TaskManagerRegistration
	registered time.Time
	heartbeat  time.Time
	owners     []rpc.JobID // per slot: the job it is allocated to, "" free
}

// NewResourceManager returns a resource manager that forgets a TaskManager
// silent for longer than timeout (0: never).
func NewResourceManager(log *slog.Logger, timeout time.Duration) *ResourceManager {
	if log == nil {
		log = slog.Default()
	}
	return &ResourceManager{log: log, timeout: timeout, now: time.Now, tms: map[string]*tmEntry{}}
}

// RegisterTaskManager implements rpc.ResourceManagerGateway.
func (rm *ResourceManager) RegisterTaskManager(_ context.Context, r rpc.TaskManagerRegistration) error {
	if r.ID == "" || r.Address == "" || r.Slots < 1 {
		return fmt.Errorf("registering TaskManager %q at %q with %d slots: want an id, an address and at least one slot", r.ID, r.Address, r.Slots)
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	now := rm.now()
	if e, ok := rm.tms[r.ID]; ok {
		if e.reg == r {
			e.heartbeat = now
			rm.log.Info("TaskManager registered again", slog.String("taskmanager", r.ID), slog.String("address", r.Address))
			return nil
		}
		// Another process under the same id: its slots are new.
		rm.log.Warn("TaskManager replaced", slog.String("taskmanager", r.ID), slog.String("address", r.Address), slog.String("was", e.reg.Address))
		e.reg, e.owners, e.registered, e.heartbeat = r, make([]rpc.JobID, r.Slots), now, now
		return nil
	}
	rm.tms[r.ID] = &tmEntry{reg: r, registered: now, heartbeat: now, owners: make([]rpc.JobID, r.Slots)}
	rm.order = append(rm.order, r.ID)
	rm.log.Info("TaskManager registered", slog.String("taskmanager", r.ID), slog.String("address", r.Address), slog.Int("slots", r.Slots))
	return nil
}

// HeartbeatTaskManager implements rpc.ResourceManagerGateway.
func (rm *ResourceManager) HeartbeatTaskManager(_ context.Context, tm string) error {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.expireLocked()
	e, ok := rm.tms[tm]
	if !ok {
		return fmt.Errorf("%w: %q", rpc.ErrUnknownTaskManager, tm)
	}
	e.heartbeat = rm.now()
	return nil
}

// expireLocked forgets the TaskManagers silent for longer than the timeout.
func (rm *ResourceManager) expireLocked() {
	if rm.timeout <= 0 {
		return
	}
	now := rm.now()
	kept := rm.order[:0]
	for _, id := range rm.order {
		e := rm.tms[id]
		if age := now.Sub(e.heartbeat); age > rm.timeout {
			rm.log.Warn("TaskManager lost: no heartbeat", slog.String("taskmanager", id), slog.Duration("silent", age))
			delete(rm.tms, id)
			continue
		}
		kept = append(kept, id)
	}
	rm.order = kept
}

// AllocateSlots implements rpc.ResourceManagerGateway: slots are taken
// from TaskManagers in registration order, each one's free slots lowest
// first, so that a job fills a TaskManager before the next. An entry of
// exclude is a TaskManager's id, or its id@address: that process only, so
// that a TaskManager restarted under its id is used again.
func (rm *ResourceManager) AllocateSlots(_ context.Context, job rpc.JobID, n int, exclude []string) ([]rpc.SlotGrant, error) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.expireLocked()
	rm.releaseLocked(job)
	skip := map[string]bool{}
	for _, id := range exclude {
		skip[id] = true
	}
	var free []rpc.SlotGrant
	for _, id := range rm.order {
		e := rm.tms[id]
		if skip[id] || skip[id+"@"+e.reg.Address] {
			continue
		}
		for i, owner := range e.owners {
			if owner == "" {
				free = append(free, rpc.SlotGrant{TaskManager: id, Address: e.reg.Address, Slot: i})
			}
		}
	}
	if len(free) < n {
		return nil, fmt.Errorf("%w: job %s needs %d, the cluster has %d free on %d TaskManagers", jobmanager.ErrNotEnoughSlots, job, n, len(free), len(rm.order)-len(skip))
	}
	out := free[:n]
	for _, g := range out {
		rm.tms[g.TaskManager].owners[g.Slot] = job
	}
	return out, nil
}

// ReleaseSlots implements rpc.ResourceManagerGateway.
func (rm *ResourceManager) ReleaseSlots(_ context.Context, job rpc.JobID) error {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.releaseLocked(job)
	return nil
}

func (rm *ResourceManager) releaseLocked(job rpc.JobID) {
	for _, e := range rm.tms {
		for i, owner := range e.owners {
			if owner == job {
				e.owners[i] = ""
			}
		}
	}
}

// TaskManagerStatus describes a registered TaskManager.
type TaskManagerStatus struct {
	ID, Address      string
	Slots, FreeSlots int
	LastHeartbeat    time.Time
}

// TaskManagers lists the registered TaskManagers by id.
func (rm *ResourceManager) TaskManagers() []TaskManagerStatus {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.expireLocked()
	out := make([]TaskManagerStatus, 0, len(rm.tms))
	for _, e := range rm.tms {
		free := 0
		for _, o := range e.owners {
			if o == "" {
				free++
			}
		}
		out = append(out, TaskManagerStatus{ID: e.reg.ID, Address: e.reg.Address, Slots: e.reg.Slots, FreeSlots: free, LastHeartbeat: e.heartbeat})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
