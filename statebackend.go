package freshet

import (
	"fmt"

	"github.com/freshet-io/freshet/internal/statebackend"
)

// StateBackend is where a job's operators keep their keyed state (user
// state, timers, window contents, join buffers): HeapBackend or
// PebbleBackend. Both write checkpoints in the same format, so a job
// checkpointed with one restores with the other.
type StateBackend struct {
	cfg statebackend.Config
	err error
}

// HeapBackend keeps state as Go values in memory (the default): the
// fastest, for state that fits in memory.
func HeapBackend() StateBackend {
	return StateBackend{cfg: statebackend.Config{Kind: statebackend.KindHeap}}
}

// PebbleBackend keeps state in a Pebble database (an LSM tree on local
// disk) per operator and subtask, for state larger than memory: values
// are encoded with their codecs on every write and decoded on every read.
// The databases are working copies, removed when the job's subtasks end;
// checkpoints are written as with the heap backend, canonical, unless
// PebbleIncremental makes them incremental.
func PebbleBackend(opts ...PebbleOption) StateBackend {
	b := StateBackend{cfg: statebackend.Config{Kind: statebackend.KindPebble}}
	for _, o := range opts {
		if err := o(&b.cfg.Pebble); err != nil && b.err == nil {
			b.err = err
		}
	}
	return b
}

// PebbleOption configures PebbleBackend.
type PebbleOption func(*statebackend.PebbleOptions) error

// PebbleDir makes the databases in dir, each in a directory of its own
// (default: the system's temporary directory).
func PebbleDir(dir string) PebbleOption {
	return func(o *statebackend.PebbleOptions) error {
		o.Dir = dir
		return nil
	}
}

// PebbleCacheSize sets the block cache of each database in bytes
// (default 64 MB).
func PebbleCacheSize(bytes int64) PebbleOption {
	return func(o *statebackend.PebbleOptions) error {
		if bytes <= 0 {
			return fmt.Errorf("the Pebble cache size must be positive, got %d", bytes)
		}
		o.CacheSize = bytes
		return nil
	}
}

// PebbleMemTableSize sets the size of each database's memtables in bytes
// (default 4 MB).
func PebbleMemTableSize(bytes int64) PebbleOption {
	return func(o *statebackend.PebbleOptions) error {
		if bytes <= 0 {
			return fmt.Errorf("the Pebble memtable size must be positive, got %d", bytes)
		}
		o.MemTableSize = uint64(bytes)
		return nil
	}
}

// PebbleEntryCacheSize bounds, in bytes, each database's write-back cache
// of recently used state entries (default 64 MB; 0 or less turns it off).
// Reads that hit it skip the database, and writes stay in it until they
// are evicted, then go to the database in batches; checkpoints write it
// back first. Entries are kept encoded, so its bytes count the entries'
// keys and values and about 100 bytes of bookkeeping each.
func PebbleEntryCacheSize(bytes int64) PebbleOption {
	return func(o *statebackend.PebbleOptions) error {
		if bytes <= 0 {
			bytes = -1
		}
		o.EntryCacheSize = bytes
		return nil
	}
}

// PebbleIncremental makes checkpoints incremental (Flink's
// state.backend.incremental; default false): a checkpoint uploads only the
// database files (SSTs) that earlier checkpoints did not, to the
// checkpoint storage's shared folder, and refers to the others; a shared
// file is deleted with the last retained checkpoint that lists it. A
// checkpoint then costs in proportion to what changed since the last one,
// not to the whole state. Each subtask also keeps a local copy of its two
// newest checkpoints (hard links, in a directory under PebbleDir that is
// removed when the job ends), so a restart at the same parallelism
// recovers from it, checked file by file, rather than downloading.
// Savepoints stay canonical, and an incremental checkpoint restores at
// another parallelism or on the heap backend too, read through once.
func PebbleIncremental(enabled bool) PebbleOption {
	return func(o *statebackend.PebbleOptions) error {
		o.Incremental = enabled
		return nil
	}
}

// WithStateBackend sets where the job's operators keep keyed state
// (default HeapBackend()).
func WithStateBackend(b StateBackend) Option {
	return func(c *config) error {
		if b.err != nil {
			return b.err
		}
		if err := b.cfg.Validate(); err != nil {
			return err
		}
		c.stateBackend, c.stateBackendSet = b.cfg, true
		return nil
	}
}
