package statebackend

import (
	"testing"

	"github.com/freshet-io/freshet/internal/keygroup"
)

// backendKind makes and restores one kind of backend, so that tests of
// behaviour run against every backend.
type backendKind struct {
	name    string
	new     func(t testing.TB, maxParallelism int) Backend
	restore func(t testing.TB, maxParallelism int, kgs keygroup.Range, snaps ...[]byte) (Backend, error)
}

var backendKinds = []backendKind{
	{
		name: "heap",
		new:  func(_ testing.TB, maxParallelism int) Backend { return NewHeap(maxParallelism) },
		restore: func(_ testing.TB, maxParallelism int, kgs keygroup.Range, snaps ...[]byte) (Backend, error) {
			return RestoreHeap(maxParallelism, kgs, snaps...)
		},
	},
	{
		name: "pebble",
		new: func(t testing.TB, maxParallelism int) Backend {
			t.Helper()
			b, err := NewPebble(maxParallelism, testPebbleOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { closeBackend(t, b) })
			return b
		},
		restore: func(t testing.TB, maxParallelism int, kgs keygroup.Range, snaps ...[]byte) (Backend, error) {
			b, err := RestorePebble(maxParallelism, kgs, testPebbleOptions(t), snaps...)
			if err == nil {
				t.Cleanup(func() { closeBackend(t, b) })
			}
			return b, err
		},
	},
	pebbleKind("pebble-tiny-entry-cache", 4<<10),
	pebbleKind("pebble-no-entry-cache", -1),
}

// pebbleKind is the Pebble backend with an entry cache of size bytes: a
// tiny one evicts on almost every access.
func pebbleKind(name string, size int64) backendKind {
	opts := func(t testing.TB) PebbleOptions {
		o := testPebbleOptions(t)
		o.EntryCacheSize = size
		return o
	}
	return backendKind{
		name: name,
		new: func(t testing.TB, maxParallelism int) Backend {
			t.Helper()
			b, err := NewPebble(maxParallelism, opts(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { closeBackend(t, b) })
			return b
		},
		restore: func(t testing.TB, maxParallelism int, kgs keygroup.Range, snaps ...[]byte) (Backend, error) {
			b, err := RestorePebble(maxParallelism, kgs, opts(t), snaps...)
			if err == nil {
				t.Cleanup(func() { closeBackend(t, b) })
			}
			return b, err
		},
	}
}

func testPebbleOptions(t testing.TB) PebbleOptions {
	return PebbleOptions{Dir: t.TempDir(), CacheSize: 1 << 20}
}

func closeBackend(t testing.TB, b Backend) {
	if c, ok := b.(interface{ Close() error }); ok {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}
}

// forEachBackend runs test as a subtest per backend kind.
func forEachBackend(t *testing.T, test func(t *testing.T, bk backendKind)) {
	for _, bk := range backendKinds {
		t.Run(bk.name, func(t *testing.T) { test(t, bk) })
	}
}
