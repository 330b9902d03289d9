package exchange

import (
	"context"
	"fmt"
	"sync"
)

// GateKey names the input gate of one subtask of one job.
type GateKey struct {
	Job     string
	Vertex  int
	Subtask int
}

func (k GateKey) String() string { return fmt.Sprintf("%s/v%d/%d", k.Job, k.Vertex, k.Subtask) }

// Registry finds the input gates of the subtasks running in this process, so
// a record writer can reach a downstream channel. Lookups wait for a gate that
// is not registered yet (its subtask is still being deployed).
type Registry struct {
	mu struct {
		sync.Mutex
		gates   map[GateKey]*Gate
		changed chan struct{}
	}
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	r.mu.gates = map[GateKey]*Gate{}
	r.mu.changed = make(chan struct{})
	return r
}

// Register makes g reachable under k.
func (r *Registry) Register(k GateKey, g *Gate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.gates[k] = g
	close(r.mu.changed)
	r.mu.changed = make(chan struct{})
}

// Unregister removes the gate under k if it is g.
func (r *Registry) Unregister(k GateKey, g *Gate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.gates[k] == g {
		delete(r.mu.gates, k)
	}
}

// Channel returns the writer of channel ch of the gate under k, waiting for
// the gate to be registered until ctx ends.
func (r *Registry) Channel(ctx context.Context, k GateKey, ch int) (ChannelWriter, error) {
	for {
		r.mu.Lock()
		g, ok := r.mu.gates[k]
		changed := r.mu.changed
		r.mu.Unlock()
		if ok {
			if ch < 0 || ch >= g.NumChannels() {
				return nil, fmt.Errorf("gate %s has no channel %d", k, ch)
			}
			return g.Channel(ch), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for gate %s: %w", k, ctx.Err())
		}
	}
}
