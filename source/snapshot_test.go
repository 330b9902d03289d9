package source

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// resume reads polls polls of a reader holding splits, snapshots it, and
// reads the rest with a fresh reader given the snapshot: the two parts
// together must be what one uninterrupted reader emits, each value once.
func resume[T comparable, S Split](t *testing.T, newReader func() Reader[T, S], splits []S, polls int) (first, rest []T) {
	t.Helper()
	r := newReader()
	r.AddSplits(splits)
	r.NotifyNoMoreSplits()
	var out runRecorder[T]
	for range polls {
		if _, err := r.PollNext(&out); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := r.SnapshotState(7)
	if err != nil {
		t.Fatal(err)
	}
	first = slices.Clone(out.vals)
	// Polling on after the snapshot must not change it: the caller owns it.
	if _, err := r.PollNext(&out); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2 := newReader()
	r2.AddSplits(snap)
	r2.NotifyNoMoreSplits()
	var out2 runRecorder[T]
	pollAll(t, r2, &out2)
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	return first, out2.vals
}

func TestReadersResumeFromTheirSnapshot(t *testing.T) {
	const n = 1000
	ints := make([]int64, n)
	for i := range ints {
		ints[i] = int64(i)
	}
	for _, polls := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("slice after %d polls", polls), func(t *testing.T) {
			src := FromSlice(ints)
			splits := []SliceSplit{{ID: 0, Start: 0, End: 600, Next: 0}, {ID: 1, Start: 600, End: n, Next: 600}}
			first, rest := resume(t, func() Reader[int64, SliceSplit] { r, _ := src.CreateReader(readerCtx{p: 1}); return r }, splits, polls)
			if got := append(first, rest...); !slices.Equal(got, ints) {
				t.Fatalf("%d values before and %d after the snapshot; want each of %d once, in order", len(first), len(rest), n)
			}
			if len(first) != min(polls*pollBatch, 600) && polls < 3 {
				t.Fatalf("%d values before the snapshot", len(first))
			}
		})
		t.Run(fmt.Sprintf("generator after %d polls", polls), func(t *testing.T) {
			src := Generator(func(i int64) int64 { return i * 10 }, GeneratorCount(n))
			splits := []GeneratorSplit{{ID: 0, Stride: 2, Next: 0, End: n}, {ID: 1, Stride: 2, Next: 1, End: n}}
			first, rest := resume(t, func() Reader[int64, GeneratorSplit] { r, _ := src.CreateReader(readerCtx{p: 1}); return r }, splits, polls)
			got := append(first, rest...)
			slices.Sort(got)
			want := make([]int64, n)
			for i := range want {
				want[i] = int64(i) * 10
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%d values before and %d after the snapshot; want each of %d once", len(first), len(rest), n)
			}
		})
	}
}

// TestFileReaderResumesAtTheByteOffset: a file reader's snapshot records
// the byte offset of the first line not emitted, also across CRLF line
// ends and a last line without one, and a fresh reader seeks there.
func TestFileReaderResumesAtTheByteOffset(t *testing.T) {
	dir := t.TempDir()
	var a, b strings.Builder
	var want []string
	for i := range 700 {
		line := fmt.Sprintf("a-%d%s", i, strings.Repeat("x", i%7))
		want = append(want, line)
		a.WriteString(line + "\r\n")
	}
	for i := range 300 {
		line := fmt.Sprintf("b-%d", i)
		want = append(want, line)
		b.WriteString(line)
		if i < 299 {
			b.WriteString("\n")
		}
	}
	pa, pb := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	if err := os.WriteFile(pa, []byte(a.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pb, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src := TextFiles(dir)
	for _, polls := range []int{0, 1, 2, 3, 4} {
		t.Run(fmt.Sprintf("after %d polls", polls), func(t *testing.T) {
			newReader := func() Reader[string, FileSplit] {
				r, _ := src.CreateReader(readerCtx{p: 1, enum: newMailbox()})
				return r
			}
			first, rest := resume(t, newReader, []FileSplit{{Path: pa}, {Path: pb}}, polls)
			if got := append(first, rest...); !slices.Equal(got, want) {
				t.Fatalf("%d lines before and %d after the snapshot; want each of %d once, in order", len(first), len(rest), len(want))
			}
		})
	}
}

func TestEnumeratorsSnapshotUnassignedSplits(t *testing.T) {
	h := &harness[SliceSplit]{p: 3, enum: newMailbox(), boxes: []*mailbox{newMailbox(), newMailbox(), newMailbox()}}
	s := NewStatic[SliceSplit](h, []SliceSplit{{ID: 0}, {ID: 1}, {ID: 2}, {ID: 3}})
	s.AddReader(1)
	got, _ := s.SnapshotState(1)
	if ids := splitIDs(got); !slices.Equal(ids, []string{"slice-0", "slice-3", "slice-2"}) {
		t.Fatalf("static enumerator snapshot %v, want the splits of subtasks 0 and 2", ids)
	}
	p := NewPull[SliceSplit](h, []SliceSplit{{ID: 0}, {ID: 1}, {ID: 2}})
	p.HandleSplitRequest(0)
	got, _ = p.SnapshotState(1)
	if ids := splitIDs(got); !slices.Equal(ids, []string{"slice-1", "slice-2"}) {
		t.Fatalf("pull enumerator snapshot %v", ids)
	}
	fh := &harness[FileSplit]{p: 1, enum: newMailbox(), boxes: []*mailbox{newMailbox()}}
	restored, err := TextFiles(t.TempDir()).RestoreEnumerator(fh, []FileSplit{{Path: "x", Offset: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := restored.SnapshotState(2); len(got) != 1 || got[0].Offset != 5 {
		t.Fatalf("restored enumerator holds %v", got)
	}
}

func splitIDs[S Split](ss []S) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.SplitID()
	}
	return ids
}
