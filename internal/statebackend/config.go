package statebackend

import (
	"fmt"

	"github.com/freshet-io/freshet/internal/keygroup"
)

// The kinds of backend a Config names.
const (
	KindHeap   = "heap"
	KindPebble = "pebble"
)

// Config selects the backend a job's operators keep keyed state in. It is
// plain data, so that a task deployment can carry it; the zero Config is
// the heap backend.
type Config struct {
	// Kind is KindHeap (or "") or KindPebble.
	Kind string
	// Pebble configures the Pebble backend.
	Pebble PebbleOptions
}

// IsHeap reports whether c selects the heap backend.
func (c Config) IsHeap() bool { return c.Kind == "" || c.Kind == KindHeap }

// Validate reports whether c names a backend.
func (c Config) Validate() error {
	switch c.Kind {
	case "", KindHeap, KindPebble:
		return nil
	}
	return fmt.Errorf("unknown state backend %q", c.Kind)
}

// New returns an empty backend of c's kind with maxParallelism key groups.
func (c Config) New(maxParallelism int) (Backend, error) {
	if c.Kind == KindPebble {
		return NewPebble(maxParallelism, c.Pebble)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return NewHeap(maxParallelism), nil
}

// Restore returns a backend of c's kind holding the key groups of kgs in
// the snapshots of in, canonical or incremental (see RestoreHeap and
// RestorePebble).
func (c Config) Restore(maxParallelism int, kgs keygroup.Range, in Restore) (Backend, error) {
	if c.Kind == KindPebble {
		return restorePebble(maxParallelism, kgs, c.Pebble, in)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	snapshots, err := expand(maxParallelism, kgs, in, PebbleOptions{})
	if err != nil {
		return nil, err
	}
	return RestoreHeap(maxParallelism, kgs, snapshots...)
}
