package statebackend

import (
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/freshet-io/freshet/internal/keygroup"
)

// sharedStore stands in for the checkpoint storage's shared folder.
type sharedStore struct {
	files   map[string][]byte
	uploads int // table files written
	fetches int // table files read back
}

// checkpoint takes incremental snapshot id of b, stores its new table
// files and returns its part file.
func (s *sharedStore) checkpoint(t *testing.T, b Backend, id int64, kgs keygroup.Range) []byte {
	t.Helper()
	inc, err := b.(IncrementalSnapshotter).SnapshotIncremental(id, 0, kgs)
	if err != nil {
		t.Fatal(err)
	}
	var shared []SharedFile
	for _, f := range inc.SSTs {
		if r, ok := inc.Reuse[f.Name]; ok {
			shared = append(shared, r)
			continue
		}
		data, err := os.ReadFile(filepath.Join(inc.Dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%d-chk%d-%s", len(s.files), id, f.Name)
		s.files[name] = data
		s.uploads++
		shared = append(shared, SharedFile{Local: f.Name, Name: name, Size: int64(len(data)), CRC32C: crc32.Checksum(data, castagnoli)})
	}
	part, err := inc.Encode(shared)
	if err != nil {
		t.Fatal(err)
	}
	inc.Finish(shared, nil)
	return part
}

func (s *sharedStore) fetch(f SharedFile, path string) error {
	data, ok := s.files[f.Name]
	if !ok {
		return fmt.Errorf("no shared file %s", f.Name)
	}
	s.fetches++
	return os.WriteFile(path, data, 0o644)
}

func incrementalOptions(t *testing.T, local string) PebbleOptions {
	o := testPebbleOptions(t)
	o.Incremental, o.LocalDir = true, local
	return o
}

// TestIncrementalSnapshots: an incremental snapshot of a Pebble backend
// restores the same key groups by opening its files (every kind of state,
// and the timers in order), uploads only the table files that are new
// since the one before, restores from the local copy without fetching,
// and falls back to fetching when the local copy is damaged.
func TestIncrementalSnapshots(t *testing.T) {
	const maxP = 16
	all := full(maxP)
	store := &sharedStore{files: map[string][]byte{}}
	local := t.TempDir()
	b, err := NewPebble(maxP, incrementalOptions(t, local))
	if err != nil {
		t.Fatal(err)
	}
	defer closeBackend(t, b)
	f := newFixture(t, b)
	f.fill(keys(200)...)
	first := store.checkpoint(t, b, 1, all)
	firstUploads := store.uploads
	if firstUploads == 0 {
		t.Fatal("the first snapshot uploaded no table file")
	}
	f.fill("one-more")
	want := f.contents()
	second := store.checkpoint(t, b, 2, all)
	if got := store.uploads - firstUploads; got != 1 {
		t.Fatalf("the second snapshot uploaded %d table files, want 1 (the flushed change)", got)
	}

	restore := func(t *testing.T, opts PebbleOptions, in Restore) *fixture {
		t.Helper()
		r, err := restorePebble(maxP, all, opts, in)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeBackend(t, r) })
		return newFixture(t, r)
	}
	t.Run("downloaded", func(t *testing.T) {
		before := store.fetches
		got := restore(t, incrementalOptions(t, ""), Restore{Snapshots: [][]byte{second}, Fetch: store.fetch, Checkpoint: 2})
		if !reflect.DeepEqual(got.contents(), want) {
			t.Fatalf("restored\n got %v\nwant %v", got.contents(), want)
		}
		if store.fetches == before {
			t.Fatal("nothing fetched")
		}
		// The restored timers fire in time order.
		last := int64(-1 << 63)
		for tm, ok := got.timers.Poll(); ok; tm, ok = got.timers.Poll() {
			if tm.Time < last {
				t.Fatalf("timer at %d after %d", tm.Time, last)
			}
			last = tm.Time
		}
	})
	t.Run("local copy", func(t *testing.T) {
		got := restore(t, incrementalOptions(t, local), Restore{Snapshots: [][]byte{second}, Checkpoint: 2}) // no Fetch
		if !reflect.DeepEqual(got.contents(), want) {
			t.Fatalf("restored from the local copy\n got %v\nwant %v", got.contents(), want)
		}
	})
	t.Run("damaged local copy", func(t *testing.T) {
		ssts, _ := filepath.Glob(filepath.Join(localCopyDir(local, 2), "*.sst"))
		if len(ssts) == 0 {
			t.Fatal("no local copy kept")
		}
		if err := os.WriteFile(ssts[0], []byte("damaged"), 0o644); err != nil {
			t.Fatal(err)
		}
		before := store.fetches
		got := restore(t, incrementalOptions(t, local), Restore{Snapshots: [][]byte{second}, Fetch: store.fetch, Checkpoint: 2})
		if !reflect.DeepEqual(got.contents(), want) {
			t.Fatal("restored wrong state past a damaged local copy")
		}
		if store.fetches != before+1 {
			t.Fatalf("fetched %d files, want only the damaged one", store.fetches-before)
		}
	})
	t.Run("older snapshot", func(t *testing.T) {
		got := restore(t, incrementalOptions(t, ""), Restore{Snapshots: [][]byte{first}, Fetch: store.fetch, Checkpoint: 1})
		if _, ok := got.value.Get("one-more", struct{}{}); ok {
			t.Fatal("the first snapshot holds a later write")
		}
	})
}

// TestIncrementalSnapshotsRescaleAndMoveToHeap: incremental snapshots of
// two subtasks restore at parallelism 1 and 3, on Pebble and on the heap,
// holding what the two held.
func TestIncrementalSnapshotsRescaleAndMoveToHeap(t *testing.T) {
	const maxP = 16
	store := &sharedStore{files: map[string][]byte{}}
	var parts [][]byte
	var old []contents
	for sub := range 2 {
		b, err := NewPebble(maxP, incrementalOptions(t, ""))
		if err != nil {
			t.Fatal(err)
		}
		defer closeBackend(t, b)
		f := newFixture(t, b)
		r := keygroup.RangeFor(maxP, 2, sub)
		var mine []string
		for _, k := range keys(150) {
			if r.Contains(f.windows.KeyGroupOf(k)) {
				mine = append(mine, k)
			}
		}
		f.fill(mine...)
		old = append(old, f.contents())
		parts = append(parts, store.checkpoint(t, b, 1, r))
	}
	want := union(old...)
	for _, cfg := range []Config{{Kind: KindPebble, Pebble: incrementalOptions(t, "")}, {Kind: KindHeap}} {
		for _, p := range []int{1, 3} {
			var got []contents
			for sub := range p {
				b, err := cfg.Restore(maxP, keygroup.RangeFor(maxP, p, sub), Restore{Snapshots: parts, Fetch: store.fetch, Checkpoint: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer closeBackend(t, b)
				got = append(got, newFixture(t, b).contents())
			}
			if u := union(got...); !reflect.DeepEqual(u, want) {
				t.Fatalf("%s at parallelism %d:\n got %v\nwant %v", cfg.Kind, p, u, want)
			}
		}
	}
}

// TestCorruptIncrementalSnapshot: a damaged part file is an error naming
// the snapshot, not a panic.
func TestCorruptIncrementalSnapshot(t *testing.T) {
	store := &sharedStore{files: map[string][]byte{}}
	b, err := NewPebble(16, incrementalOptions(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer closeBackend(t, b)
	newFixture(t, b).fill(keys(10)...)
	part := store.checkpoint(t, b, 1, full(16))
	for _, i := range []int{5, len(part) / 2, len(part) - 2} {
		bad := append([]byte(nil), part...)
		bad[i] ^= 0xff
		_, err := Config{Kind: KindHeap}.Restore(16, full(16), Restore{Snapshots: [][]byte{bad}, Fetch: store.fetch, Checkpoint: 1})
		if err == nil {
			t.Fatalf("byte %d damaged: restored", i)
		}
	}
}
