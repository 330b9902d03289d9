package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
)

const job = "job-1"

// backends runs f on a directory, an in-memory bucket and an in-memory S3
// server.
func backends(t *testing.T, f func(t *testing.T, open func(opts ...Option) *Storage)) {
	t.Run("dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "checkpoints")
		f(t, func(opts ...Option) *Storage {
			s, err := Open(context.Background(), dir, job, opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("mem", func(t *testing.T) {
		b := memblob.OpenBucket(nil)
		t.Cleanup(func() { b.Close() })
		f(t, func(opts ...Option) *Storage {
			s, err := OpenBucket(b, job, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
	t.Run("s3", func(t *testing.T) { f(t, openS3(t)) })
}

func keyed(op string, sub, start, end int) Part {
	return Part{Operator: op, Subtask: sub, KeyGroups: KeyGroupRange{start, end}}
}

// content is the deterministic state written for a part of checkpoint id.
func content(id uint64, p Part) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("ckpt %d %s;", id, p)), 100+p.Subtask)
}

// write stores one file for each part through p.
func write(t *testing.T, p *Pending, parts ...Part) []File {
	t.Helper()
	files, err := writeParts(p, parts...)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func writeParts(p *Pending, parts ...Part) ([]File, error) {
	var files []File
	for _, part := range parts {
		w, err := p.Create(context.Background(), part)
		if err != nil {
			return nil, err
		}
		data := content(p.ID(), part)
		// Several writes, as a backend streams its snapshot.
		for len(data) > 0 {
			n := min(len(data), 777)
			if _, err := w.Write(data[:n]); err != nil {
				return nil, err
			}
			data = data[n:]
		}
		f, err := w.Commit()
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

var defaultParts = []Part{keyed("map-1", 0, 0, 63), keyed("map-1", 1, 64, 127), {Operator: "source", Subtask: 0, KeyGroups: NoKeyGroups}}

// complete writes and completes checkpoint id with defaultParts.
func complete(t *testing.T, s *Storage, id uint64) *Checkpoint {
	t.Helper()
	p, err := s.BeginCheckpoint(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	write(t, p, defaultParts...)
	c, err := p.Complete(context.Background(), Metadata{
		Timestamp:  time.Date(2026, 11, 29, 12, 0, int(id), 123456789, time.UTC),
		Properties: map[string][]byte{"source.offsets": []byte(fmt.Sprint(id * 10)), "plan": []byte("abc")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func keys(t *testing.T, b *blob.Bucket) []string {
	t.Helper()
	var out []string
	it := b.List(nil)
	for {
		o, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o.Key)
	}
}

func readAll(t *testing.T, s *Storage, c *Checkpoint, f File) []byte {
	t.Helper()
	r, err := s.OpenFile(context.Background(), c, f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		s := open()
		want := complete(t, s, 7)
		if len(want.Files) != len(defaultParts) {
			t.Fatalf("completed with %d files, want %d", len(want.Files), len(defaultParts))
		}
		got, skipped, err := s.Latest(context.Background())
		if err != nil || len(skipped) != 0 {
			t.Fatalf("Latest: %v, skipped %v", err, skipped)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Latest = %+v\nwant %+v", got, want)
		}
		if got.Timestamp != time.Date(2026, 11, 29, 12, 0, 7, 123000000, time.UTC) {
			t.Errorf("timestamp %v, want it to the millisecond", got.Timestamp)
		}
		for _, f := range got.Files {
			if b := readAll(t, s, got, f); !bytes.Equal(b, content(7, f.Part)) {
				t.Errorf("file %s (%s) reads back %d bytes, want its %d", f.Name, f.Part, len(b), len(content(7, f.Part)))
			}
		}
		for _, k := range keys(t, s.bucket) {
			if strings.Contains(k, metadataTemp) || strings.HasSuffix(k, ".tmp") {
				t.Errorf("temporary object %s left behind", k)
			}
		}
		if _, err := s.Load(context.Background(), 7); err != nil {
			t.Errorf("Load(7): %v", err)
		}
	})
}

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	for _, loc := range []string{"mem://", "file://" + filepath.ToSlash(dir) + "?create_dir=1&no_tmp_dir=1&metadata=skip"} {
		t.Run(strings.SplitN(loc, ":", 2)[0], func(t *testing.T) {
			s, err := Open(context.Background(), loc, job)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			complete(t, s, 1)
			if c, _, err := s.Latest(context.Background()); err != nil || c.ID != 1 {
				t.Fatalf("Latest = %v, %v", c, err)
			}
		})
	}
}

// corruptObject flips one byte of an object.
func corruptObject(t *testing.T, b *blob.Bucket, key string, at int) {
	t.Helper()
	data, err := b.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	data[at%len(data)] ^= 0x40
	if err := b.WriteAll(context.Background(), key, data, nil); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptStateFileFallsBack(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		s := open(WithRetained(2))
		complete(t, s, 1)
		c2 := complete(t, s, 2)
		bad := c2.Files[1]
		corruptObject(t, s.bucket, s.key(2, bad.Name), 100)

		got, skipped, err := s.Latest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != 1 {
			t.Fatalf("Latest chose checkpoint %d, want the previous one, 1", got.ID)
		}
		if len(skipped) != 1 || skipped[0].ID != 2 || skipped[0].File != bad.Name || !errors.Is(skipped[0].Err, ErrCorrupt) {
			t.Fatalf("skipped = %+v, want checkpoint 2 file %s, corrupt", skipped, bad.Name)
		}
		msg := skipped[0].Err.Error()
		if !strings.Contains(msg, "checkpoint 2") || !strings.Contains(msg, bad.Name) || !strings.Contains(msg, "checksum") {
			t.Errorf("error %q does not name the checkpoint, the file and the checksum", msg)
		}
		// Reading the file directly reports it at the end.
		r, err := s.OpenFile(context.Background(), c2, bad)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := io.ReadAll(r); !errors.Is(err, ErrCorrupt) {
			t.Errorf("reading the corrupt file: %v, want ErrCorrupt", err)
		}
	})
}

func TestTruncatedAndMissingStateFile(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		s := open(WithRetained(3))
		complete(t, s, 1)
		c2 := complete(t, s, 2)
		c3 := complete(t, s, 3)
		if err := s.bucket.Delete(context.Background(), s.key(3, c3.Files[0].Name)); err != nil {
			t.Fatal(err)
		}
		if err := s.bucket.WriteAll(context.Background(), s.key(2, c2.Files[2].Name), []byte("short"), nil); err != nil {
			t.Fatal(err)
		}
		got, skipped, err := s.Latest(context.Background())
		if err != nil || got.ID != 1 {
			t.Fatalf("Latest = %v, %v; want checkpoint 1", got, err)
		}
		if len(skipped) != 2 || !errors.Is(skipped[0].Err, ErrMissingFile) || !errors.Is(skipped[1].Err, ErrCorrupt) {
			t.Fatalf("skipped = %+v, want 3 (missing file) then 2 (corrupt)", skipped)
		}
	})
}

func TestMissingMetadataIgnored(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		s := open()
		complete(t, s, 1)
		p, err := s.BeginCheckpoint(context.Background(), 2)
		if err != nil {
			t.Fatal(err)
		}
		write(t, p, defaultParts...) // never completed
		got, skipped, err := s.Latest(context.Background())
		if err != nil || got.ID != 1 || len(skipped) != 0 {
			t.Fatalf("Latest = %v, %v, skipped %v; want checkpoint 1 and nothing skipped", got, err, skipped)
		}
	})
}

func TestBadMetadataSkipped(t *testing.T) {
	cases := []struct {
		name    string
		mangle  func(b []byte) []byte
		wantErr error
	}{
		{"garbage", func([]byte) []byte { return []byte("not a checkpoint at all, just some text") }, ErrCorrupt},
		{"empty", func([]byte) []byte { return nil }, ErrCorrupt},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, ErrCorrupt},
		{"flipped", func(b []byte) []byte { b[headerLen+3] ^= 1; return b }, ErrCorrupt},
		{"newer version", func(b []byte) []byte { b[len(magic)+1]++; return b }, ErrUnsupportedVersion},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backends(t, func(t *testing.T, open func(...Option) *Storage) {
				s := open(WithRetained(2))
				complete(t, s, 1)
				complete(t, s, 2)
				key := s.key(2, metadataName)
				data, err := s.bucket.ReadAll(context.Background(), key)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.bucket.WriteAll(context.Background(), key, tc.mangle(data), nil); err != nil {
					t.Fatal(err)
				}
				got, skipped, err := s.Latest(context.Background())
				if err != nil || got.ID != 1 {
					t.Fatalf("Latest = %v, %v; want checkpoint 1", got, err)
				}
				if len(skipped) != 1 || skipped[0].ID != 2 || skipped[0].File != "" || !errors.Is(skipped[0].Err, tc.wantErr) {
					t.Fatalf("skipped = %+v, want checkpoint 2's metadata, %v", skipped, tc.wantErr)
				}
				if !strings.Contains(skipped[0].Err.Error(), "chk-2/_metadata") {
					t.Errorf("error %q does not name the metadata file", skipped[0].Err)
				}
			})
		})
	}
}

func TestMetadataOfAnotherCheckpoint(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		s := open(WithRetained(2))
		complete(t, s, 1)
		complete(t, s, 2)
		data, err := s.bucket.ReadAll(context.Background(), s.key(1, metadataName))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.bucket.WriteAll(context.Background(), s.key(2, metadataName), data, nil); err != nil {
			t.Fatal(err)
		}
		got, skipped, err := s.Latest(context.Background())
		if err != nil || got.ID != 1 || len(skipped) != 1 || !errors.Is(skipped[0].Err, ErrCorrupt) {
			t.Fatalf("Latest = %v, %v, skipped %+v; want 1 and 2 skipped as corrupt", got, err, skipped)
		}
	})
}

func TestNoCheckpoint(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		s := open()
		if _, _, err := s.Latest(context.Background()); !errors.Is(err, ErrNoCheckpoint) {
			t.Fatalf("Latest on empty storage: %v, want ErrNoCheckpoint", err)
		}
		complete(t, s, 1)
		corruptObject(t, s.bucket, s.key(1, metadataName), 20)
		_, skipped, err := s.Latest(context.Background())
		if !errors.Is(err, ErrNoCheckpoint) || len(skipped) != 1 {
			t.Fatalf("Latest with only a corrupt checkpoint: %v, skipped %v", err, skipped)
		}
	})
}

func checkpointsIn(t *testing.T, s *Storage) []uint64 {
	t.Helper()
	all, err := s.scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, st := range all {
		ids = append(ids, st.id)
	}
	return ids
}

func TestKeepLastN(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		s := open(WithRetained(3))
		for id := uint64(1); id <= 5; id++ {
			complete(t, s, id)
		}
		if got := checkpointsIn(t, s); !slices.Equal(got, []uint64{5, 4, 3}) {
			t.Fatalf("stored checkpoints %v, want [5 4 3]", got)
		}
		for _, k := range keys(t, s.bucket) {
			if strings.Contains(k, "chk-1/") || strings.Contains(k, "chk-2/") {
				t.Errorf("object %s of a pruned checkpoint left", k)
			}
		}
	})
}

func TestDefaultKeepsOne(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		s := open()
		complete(t, s, 1)
		complete(t, s, 2)
		if got := checkpointsIn(t, s); !slices.Equal(got, []uint64{2}) {
			t.Fatalf("stored checkpoints %v, want [2]", got)
		}
	})
}

func TestAbandonedCheckpointsPruned(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		s := open(WithRetained(2))
		ctx := context.Background()
		// 1: files written, then the writer went away.
		p1, _ := s.BeginCheckpoint(ctx, 1)
		write(t, p1, defaultParts...)
		p1.Release()
		// 3: still being written here when 4 completes.
		p3, _ := s.BeginCheckpoint(ctx, 3)
		write(t, p3, defaultParts[:1]...)
		// 5: newer than the newest completed, maybe written elsewhere.
		other, err := OpenBucket(s.bucket, job)
		if err != nil {
			t.Fatal(err)
		}
		p5, _ := other.BeginCheckpoint(ctx, 5)
		write(t, p5, defaultParts[:1]...)
		p5.Release()

		complete(t, s, 4)
		if got := checkpointsIn(t, s); !slices.Equal(got, []uint64{5, 4, 3}) {
			t.Fatalf("stored checkpoints %v, want [5 4 3]: abandoned 1 deleted, pending 3 and newer 5 kept", got)
		}
		if err := p3.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if got := checkpointsIn(t, s); !slices.Equal(got, []uint64{5, 4}) {
			t.Fatalf("stored checkpoints %v after aborting 3, want [5 4]", got)
		}
	})
}

func TestSubsumedAndExisting(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		s := open(WithRetained(5))
		ctx := context.Background()
		p1, _ := s.BeginCheckpoint(ctx, 1)
		write(t, p1, defaultParts...)
		complete(t, s, 2)
		if _, err := p1.Complete(ctx, Metadata{}); !errors.Is(err, ErrSubsumed) {
			t.Fatalf("completing 1 after 2: %v, want ErrSubsumed", err)
		}
		if got := checkpointsIn(t, s); !slices.Equal(got, []uint64{2}) {
			t.Fatalf("stored checkpoints %v, want the subsumed one deleted", got)
		}
		if _, err := s.BeginCheckpoint(ctx, 2); !errors.Is(err, ErrCheckpointExists) {
			t.Fatalf("beginning completed checkpoint 2: %v, want ErrCheckpointExists", err)
		}
		if _, err := p1.Complete(ctx, Metadata{}); !errors.Is(err, ErrCheckpointDone) {
			t.Fatalf("completing twice: %v, want ErrCheckpointDone", err)
		}
	})
}

func TestCompleteChecksFiles(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		s := open()
		ctx := context.Background()
		p, _ := s.BeginCheckpoint(ctx, 1)
		files := write(t, p, defaultParts...)
		if err := s.bucket.Delete(ctx, s.key(1, files[1].Name)); err != nil {
			t.Fatal(err)
		}
		_, err := p.Complete(ctx, Metadata{})
		if !errors.Is(err, ErrMissingFile) || !strings.Contains(err.Error(), files[1].Name) {
			t.Fatalf("completing with a deleted file: %v, want ErrMissingFile naming %s", err, files[1].Name)
		}
		if ok, _ := s.bucket.Exists(ctx, s.key(1, metadataName)); ok {
			t.Fatal("metadata written for an incomplete checkpoint")
		}
	})
}

func TestAddFilesFromAnotherWriter(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		ctx := context.Background()
		coord := open()
		tm1, tm2 := open(), open() // TaskManagers' own Storages
		pc, _ := coord.BeginCheckpoint(ctx, 1)
		var all []File
		for i, tm := range []*Storage{tm1, tm2} {
			p, err := tm.BeginCheckpoint(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, write(t, p, keyed("map", i, i*64, i*64+63))...)
			p.Release()
		}
		if err := pc.Add(all...); err != nil {
			t.Fatal(err)
		}
		if err := pc.Add(all[0]); !errors.Is(err, ErrDuplicatePart) {
			t.Fatalf("adding a file twice: %v, want ErrDuplicatePart", err)
		}
		c, err := pc.Complete(ctx, Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := coord.Latest(ctx)
		if err != nil || !reflect.DeepEqual(got, c) || len(got.Files) != 2 {
			t.Fatalf("Latest = %+v, %v; want %+v", got, err, c)
		}
	})
}

func TestRetention(t *testing.T) {
	// Whether the completed checkpoints survive the job's end (Flink's
	// CheckpointProperties for each ExternalizedCheckpointRetention).
	want := map[Retention]map[JobStatus]bool{
		NoExternalizedCheckpoints: {Finished: false, Cancelled: false, Failed: false, Suspended: true},
		DeleteOnCancellation:      {Finished: false, Cancelled: false, Failed: true, Suspended: true},
		RetainOnCancellation:      {Finished: false, Cancelled: true, Failed: true, Suspended: true},
	}
	for r, byStatus := range want {
		for status, kept := range byStatus {
			t.Run(fmt.Sprintf("%v/%d", r, status), func(t *testing.T) {
				backends(t, func(t *testing.T, open func(...Option) *Storage) {
					s := open(WithRetention(r), WithRetained(2))
					ctx := context.Background()
					complete(t, s, 1)
					complete(t, s, 2)
					p, _ := s.BeginCheckpoint(ctx, 3) // in flight when the job ends
					write(t, p, defaultParts[0])
					p.Release()
					if err := s.Shutdown(ctx, status); err != nil {
						t.Fatal(err)
					}
					got := checkpointsIn(t, s)
					switch {
					case status == Suspended && !slices.Equal(got, []uint64{3, 2, 1}):
						t.Fatalf("after suspension: %v, want everything kept", got)
					case status != Suspended && kept && !slices.Equal(got, []uint64{3, 2, 1}):
						t.Fatalf("retained: %v, want [3 2 1]", got)
					case !kept && len(got) != 0:
						t.Fatalf("discarded: %v left", got)
					}
					if kept {
						if c, _, err := s.Latest(ctx); err != nil || c.ID != 2 {
							t.Fatalf("Latest after %v = %v, %v", status, c, err)
						}
					}
				})
			})
		}
	}
}

func TestRetainedDirectoryRemovedOnDiscard(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), dir, job)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	complete(t, s, 1)
	complete(t, s, 2)
	if _, err := os.Stat(filepath.Join(dir, job, "chk-1")); !os.IsNotExist(err) {
		t.Errorf("pruned checkpoint's folder still there: %v", err)
	}
	if err := s.Shutdown(context.Background(), Finished); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, job)); !os.IsNotExist(err) {
		t.Errorf("job folder still there after discarding: %v", err)
	}
}

func TestConcurrentCheckpointsDoNotCollide(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		ctx := context.Background()
		s := open(WithRetained(4))
		other := open() // a second process on the same store
		const subtasks = 8
		var pendings []*Pending // s/1, s/2 and other/1, written at once
		for _, b := range []struct {
			st *Storage
			id uint64
		}{{s, 1}, {s, 2}, {other, 1}} {
			p, err := b.st.BeginCheckpoint(ctx, b.id)
			if err != nil {
				t.Fatal(err)
			}
			pendings = append(pendings, p)
		}
		var wg sync.WaitGroup
		files := make([][]File, len(pendings))
		var mu sync.Mutex
		for i, p := range pendings {
			for sub := range subtasks {
				wg.Add(1)
				go func() {
					defer wg.Done()
					f, err := writeParts(p, keyed("window", sub, sub*16, sub*16+15))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					files[i] = append(files[i], f...)
					mu.Unlock()
				}()
			}
		}
		wg.Wait()
		names := map[string]bool{}
		for i, fs := range files {
			for _, f := range fs {
				key := s.key(pendings[i].ID(), f.Name)
				if names[key] {
					t.Fatalf("two writers used %s", key)
				}
				names[key] = true
			}
		}
		// other/1's files are handed to s/1, which must refuse them:
		// the parts are already there.
		pendings[2].Release()
		if err := pendings[0].Add(files[2][0]); !errors.Is(err, ErrDuplicatePart) {
			t.Fatalf("adding another writer's file for a part already written: %v", err)
		}
		for _, p := range pendings[:2] {
			if _, err := p.Complete(ctx, Metadata{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range []uint64{1, 2} {
			c, err := s.Load(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Files) != subtasks {
				t.Fatalf("checkpoint %d has %d files, want %d", id, len(c.Files), subtasks)
			}
			for _, f := range c.Files {
				if b := readAll(t, s, c, f); !bytes.Equal(b, content(id, f.Part)) {
					t.Fatalf("checkpoint %d file %s holds another checkpoint's state", id, f.Name)
				}
			}
		}
	})
}

func TestWriterErrors(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		ctx := context.Background()
		s := open()
		p, _ := s.BeginCheckpoint(ctx, 1)
		part := keyed("op", 0, 0, 9)
		w, err := p.Create(ctx, part)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Create(ctx, part); !errors.Is(err, ErrDuplicatePart) {
			t.Fatalf("second file for one part: %v, want ErrDuplicatePart", err)
		}
		if _, err := p.Complete(ctx, Metadata{}); err == nil {
			t.Fatal("completed with a file still being written")
		}
		w.Write([]byte("partial"))
		w.Abort()
		if _, err := w.Commit(); !errors.Is(err, ErrCheckpointDone) {
			t.Fatalf("commit after abort: %v", err)
		}
		// The part is free again after the abort.
		write(t, p, part)
		if _, err := p.Create(ctx, Part{Operator: "op", Subtask: -1}); err == nil {
			t.Fatal("negative subtask accepted")
		}
		if err := p.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if got := checkpointsIn(t, s); len(got) != 0 {
			t.Fatalf("aborted checkpoint left %v", got)
		}
		if _, err := p.Create(ctx, part); !errors.Is(err, ErrCheckpointDone) {
			t.Fatalf("create after abort: %v", err)
		}
	})
}

func TestAbortWhileWriting(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		ctx := context.Background()
		s := open()
		p, _ := s.BeginCheckpoint(ctx, 1)
		w, err := p.Create(ctx, keyed("op", 0, 0, 9))
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("some state"))
		if err := p.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(); err == nil {
			t.Fatal("commit into an aborted checkpoint succeeded")
		}
		if got := checkpointsIn(t, s); len(got) != 0 {
			t.Fatalf("aborted checkpoint left %v", got)
		}
	})
}

func TestInvalidOptions(t *testing.T) {
	b := memblob.OpenBucket(nil)
	defer b.Close()
	cases := []struct {
		name string
		job  string
		opts []Option
		want string
	}{
		{"retained 0", job, []Option{WithRetained(0)}, "retained checkpoints 0"},
		{"bad retention", job, []Option{WithRetention(Retention(9))}, "retention Retention(9)"},
		{"empty job", "", nil, `job id ""`},
		{"job with slash", "a/b", nil, `job id "a/b"`},
		{"dot dot", "..", nil, `job id ".."`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenBucket(b, tc.job, tc.opts...)
			if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrInvalidOption naming %q", err, tc.want)
			}
		})
	}
	if _, err := Open(context.Background(), "", job); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("empty location: %v", err)
	}
	if err := (&Storage{}).Shutdown(context.Background(), JobStatus(42)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("unknown job status: %v", err)
	}
}

// TestSharedFiles: checkpoints refer to shared files, which survive until
// the last retained checkpoint listing them is deleted; Latest and
// CopyTo read them; a discarded job's shared folder goes with it.
func TestSharedFiles(t *testing.T) {
	backends(t, func(t *testing.T, open func(...Option) *Storage) {
		s := open(WithRetained(1))
		ctx := context.Background()
		part := keyed("agg", 0, 0, 127)
		upload := func(p *Pending, text string) File {
			t.Helper()
			w, err := p.CreateShared(ctx, part)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte(text)); err != nil {
				t.Fatal(err)
			}
			f, err := w.Commit()
			if err != nil {
				t.Fatal(err)
			}
			if !f.Shared {
				t.Fatal("a shared file committed without Shared")
			}
			return f
		}
		finish := func(p *Pending, shared ...File) *Checkpoint {
			t.Helper()
			write(t, p, part)
			if err := p.Add(shared...); err != nil {
				t.Fatal(err)
			}
			c, err := p.Complete(ctx, Metadata{Timestamp: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		exists := func(f File) bool {
			ok, err := s.bucket.Exists(ctx, s.sharedKey(f.Name))
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		p1, _ := s.BeginCheckpoint(ctx, 1)
		a, b := upload(p1, "sst a"), upload(p1, "sst b")
		// The writer's files are in its Pending; a coordinator adds them
		// again (as acknowledged), which must be harmless.
		finish(p1, a, b)
		p2, _ := s.BeginCheckpoint(ctx, 2)
		c := upload(p2, "sst c")
		c2 := finish(p2, b, c) // a was compacted away
		if exists(a) || !exists(b) || !exists(c) {
			t.Fatalf("after checkpoint 2: a %v b %v c %v, want only a deleted", exists(a), exists(b), exists(c))
		}
		latest, _, err := s.Latest(ctx)
		if err != nil || latest.ID != 2 {
			t.Fatalf("Latest = %v, %v", latest, err)
		}
		for _, f := range c2.Files {
			if f.Name == c.Name && string(readAll(t, s, c2, f)) != "sst c" {
				t.Fatal("shared file read back wrong")
			}
		}
		// A damaged shared file makes its checkpoint unusable.
		corruptObject(t, s.bucket, s.sharedKey(b.Name), 1)
		if _, err := s.Load(ctx, 2); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Load with a damaged shared file: %v", err)
		}
		if err := s.Shutdown(ctx, Finished); err != nil {
			t.Fatal(err)
		}
		if exists(b) || exists(c) {
			t.Fatal("shared files left after the job finished")
		}
	})
}

// TestMetadataVersion1StillReads: metadata of the first format version
// (no file flags) decodes.
func TestMetadataVersion1StillReads(t *testing.T) {
	c := &Checkpoint{ID: 3, JobID: job, Timestamp: time.UnixMilli(1000).UTC(), Files: []File{{Name: "x-0-op-1", Part: Part{Operator: "x", KeyGroups: NoKeyGroups}, Size: 5, CRC32C: 7}}}
	v2 := encodeMetadata(c)
	// Rewrite as version 1: drop the one flags byte and fix the header
	// and checksum.
	body := v2[headerLen : len(v2)-trailerLen-1]
	v1 := append([]byte(magic), 0, 1)
	v1 = binary.BigEndian.AppendUint32(v1, uint32(len(body)))
	v1 = append(v1, body...)
	v1 = binary.BigEndian.AppendUint32(v1, checksum(v1))
	got, err := decodeMetadata(v1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("got %+v, want %+v", got, c)
	}
}
