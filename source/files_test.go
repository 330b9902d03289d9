package source

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/freshet-io/freshet/metric"
)

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testFiles makes a directory of files and returns the paths to read and
// the lines they hold, in the order a single reader reads them.
func testFiles(t *testing.T) (paths, lines []string) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeFile(t, filepath.Join(data, "a.txt"), "a1\na2\n")
	writeFile(t, filepath.Join(data, "b.txt"), "b1\r\nb2\r\n\r\nb4\r\n")
	writeFile(t, filepath.Join(data, "c.txt"), "")
	writeFile(t, filepath.Join(data, "d.txt"), "d1\nd2")
	writeFile(t, filepath.Join(data, "e.txt"), "\n")
	writeFile(t, filepath.Join(data, ".hidden"), "hidden\n")
	writeFile(t, filepath.Join(data, "_SUCCESS"), "underscore\n")
	writeFile(t, filepath.Join(data, "sub", "nested.txt"), "nested\n")
	other := filepath.Join(dir, "other.log")
	writeFile(t, other, "o1\ro1\no2\r")
	return []string{data, other},
		[]string{"a1", "a2", "b1", "b2", "", "b4", "d1", "d2", "", "o1\ro1", "o2"}
}

func TestTextFiles(t *testing.T) {
	paths, want := testFiles(t)
	for _, p := range []int{1, 3} {
		res, err := run(t, t.Context(), TextFiles(paths...), p, 0)
		if err != nil {
			t.Fatalf("p=%d: %v", p, err)
		}
		for i, ended := range res.ended {
			if !ended {
				t.Fatalf("p=%d: subtask %d did not end", p, i)
			}
		}
		got := res.all()
		if p == 1 {
			if !slices.Equal(got, want) {
				t.Fatalf("p=1: got %q, want %q", got, want)
			}
			continue
		}
		slices.Sort(got)
		w := slices.Clone(want)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Fatalf("p=%d: got %q, want %q", p, got, w)
		}
	}
}

// TestTextFilesManyReaders checks that three readers pulling many files read
// every line exactly once, each file's lines in order.
func TestTextFilesManyReaders(t *testing.T) {
	dir := t.TempDir()
	const files, perFile = 30, 200
	for f := range files {
		var b strings.Builder
		for l := range perFile {
			fmt.Fprintf(&b, "%02d-%04d\n", f, l)
		}
		writeFile(t, filepath.Join(dir, fmt.Sprintf("part-%02d", f)), b.String())
	}
	res, err := run(t, t.Context(), TextFiles(dir), 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, out := range res.out {
		last := map[string]int{}
		for _, line := range out {
			if seen[line] {
				t.Fatalf("line %q read twice", line)
			}
			seen[line] = true
			var f, l int
			if _, err := fmt.Sscanf(line, "%d-%d", &f, &l); err != nil {
				t.Fatalf("bad line %q", line)
			}
			key := fmt.Sprint(f)
			if prev, ok := last[key]; ok && l != prev+1 || !ok && l != 0 {
				t.Fatalf("subtask %d: line %q out of order", i, line)
			}
			last[key] = l
		}
	}
	if len(seen) != files*perFile {
		t.Fatalf("got %d distinct lines, want %d", len(seen), files*perFile)
	}
}

func TestTextFilesMissing(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	_, err := run(t, t.Context(), TextFiles(dir, missing), 1, 0)
	if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error naming %s", err, missing)
	}
	if _, err := TextFiles().CreateEnumerator(&harness[FileSplit]{p: 1}); err == nil {
		t.Fatal("no paths: got no error")
	}
}

func TestTextFilesLongLine(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 17<<20)
	writeFile(t, filepath.Join(dir, "long"), "first\n"+long+"\r\nlast")
	res, err := run(t, t.Context(), TextFiles(dir), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := res.all()
	if len(got) != 3 || got[0] != "first" || got[1] != long || got[2] != "last" {
		t.Fatalf("got %d lines, lengths %v", len(got), lineLengths(got))
	}
}

func lineLengths(lines []string) []int {
	n := make([]int, len(lines))
	for i, l := range lines {
		n[i] = len(l)
	}
	return n
}

// TestFileReaderResume drives a reader by hand: it starts a split at its
// offset and advances the offset past every line it emits.
func TestFileReaderResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	writeFile(t, path, "one\r\ntwo\nthree")
	var requests int
	r, err := TextFiles(path).CreateReader(countingCtx{&requests})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if requests != 1 {
		t.Fatalf("Start sent %d split requests, want 1", requests)
	}
	var out sliceOutput[string]
	if st, _ := r.PollNext(&out); st != NothingAvailable || requests != 1 {
		t.Fatalf("without a split: %v after %d requests, want NothingAvailable after 1", st, requests)
	}
	r.AddSplits([]FileSplit{{Path: path, Offset: int64(len("one\r\n"))}})
	st, err := r.PollNext(&out)
	if err != nil || st != MoreAvailable || !slices.Equal(out.vals, []string{"two", "three"}) {
		t.Fatalf("got %v %v %q", st, err, out.vals)
	}
	if requests != 2 {
		t.Fatalf("%d split requests after taking the split, want 2", requests)
	}
	fr := r.(*fileReader)
	if fr.f != nil {
		t.Fatal("file still open at its end")
	}
	if want := int64(len("one\r\ntwo\nthree")); fr.cur.Offset != want {
		t.Fatalf("offset %d at the end, want %d", fr.cur.Offset, want)
	}
	r.NotifyNoMoreSplits()
	if st, err := r.PollNext(&out); st != EndOfInput || err != nil {
		t.Fatalf("got %v %v, want EndOfInput", st, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PollNext(&out); !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("poll after Close: got %v", err)
	}
}

// splitOutputs is an Output with per-split outputs that logs their use.
type splitOutputs struct {
	log []string
}

func (o *splitOutputs) Collect(v string)                       { o.log = append(o.log, "shared "+v) }
func (o *splitOutputs) CollectWithTimestamp(v string, _ int64) { o.Collect(v) }
func (o *splitOutputs) ForSplit(id string) Output[string] {
	o.log = append(o.log, "for "+filepath.Base(id))
	return &splitOutput{o, filepath.Base(id)}
}
func (o *splitOutputs) ReleaseSplit(id string) { o.log = append(o.log, "release "+filepath.Base(id)) }

type splitOutput struct {
	o  *splitOutputs
	id string
}

func (s *splitOutput) Collect(v string)                       { s.o.log = append(s.o.log, s.id+" "+v) }
func (s *splitOutput) CollectWithTimestamp(v string, _ int64) { s.Collect(v) }

func TestFileReaderSplitOutputs(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a"), "a1\na2\n")
	writeFile(t, filepath.Join(dir, "b"), "b1\n")
	var requests int
	r, err := TextFiles(dir).CreateReader(countingCtx{&requests})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.AddSplits([]FileSplit{{Path: filepath.Join(dir, "a")}, {Path: filepath.Join(dir, "b")}})
	r.NotifyNoMoreSplits()
	var out splitOutputs
	for {
		st, err := r.PollNext(&out)
		if err != nil {
			t.Fatal(err)
		}
		if st == EndOfInput {
			break
		}
	}
	want := []string{"for a", "a a1", "a a2", "release a", "for b", "b b1", "release b"}
	if !slices.Equal(out.log, want) {
		t.Fatalf("got %q, want %q", out.log, want)
	}
}

type countingCtx struct{ n *int }

func (c countingCtx) SubtaskIndex() int    { return 0 }
func (c countingCtx) Parallelism() int     { return 1 }
func (c countingCtx) SendSplitRequest()    { *c.n++ }
func (countingCtx) Metrics() *metric.Group { return nil }

func TestReadLine(t *testing.T) {
	// A 16-byte buffer forces lines across several ReadSlice calls.
	in := "short\n" + strings.Repeat("y", 40) + "\r\n\n\r\nz"
	br := bufio.NewReaderSize(strings.NewReader(in), 16)
	var scratch []byte
	var got []string
	total := 0
	for {
		line, n, err := readLine(br, &scratch, 64)
		if err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
		total += n
		got = append(got, line)
	}
	want := []string{"short", strings.Repeat("y", 40), "", "", "z"}
	if !slices.Equal(got, want) || total != len(in) {
		t.Fatalf("got %q consuming %d bytes, want %q consuming %d", got, total, want, len(in))
	}
}

func TestReadLineTooLong(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // lines before ErrLineTooLong
	}{
		{strings.Repeat("x", 11) + "\n", nil},                     // in one buffer
		{"ok\n" + strings.Repeat("x", 40) + "\n", []string{"ok"}}, // across buffers
		{strings.Repeat("x", 40), nil},                            // at the end
	} {
		maxLen := 10
		if len(tc.in) > 16 {
			maxLen = 30
		}
		br := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
		var scratch []byte
		var got []string
		var err error
		for {
			var line string
			if line, _, err = readLine(br, &scratch, maxLen); err != nil {
				break
			}
			got = append(got, line)
		}
		if !errors.Is(err, ErrLineTooLong) || !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q then %v, want %q then ErrLineTooLong", tc.in, got, err, tc.want)
		}
	}
	// A line of exactly the limit, with "\r\n", across buffers.
	br := bufio.NewReaderSize(strings.NewReader(strings.Repeat("y", 30)+"\r\nz"), 16)
	var scratch []byte
	if line, _, err := readLine(br, &scratch, 30); err != nil || len(line) != 30 {
		t.Fatalf("line of the limit: got %d bytes, %v", len(line), err)
	}
}

func TestPull(t *testing.T) {
	h := &harness[FileSplit]{p: 2, boxes: []*mailbox{newMailbox(), newMailbox()}}
	e := NewPull(h, []FileSplit{{Path: "a"}, {Path: "b"}})
	e.AddReader(0) // no-op: readers ask
	if q := h.boxes[0].take(); len(q) != 0 {
		t.Fatalf("AddReader sent %v", q)
	}
	e.HandleSplitRequest(1)
	e.HandleSplitRequest(0)
	e.AddSplitsBack([]FileSplit{{Path: "a", Offset: 7}}, 1)
	if r := e.Remaining(); !slices.Equal(r, []FileSplit{{Path: "a", Offset: 7}}) {
		t.Fatalf("remaining %v", r)
	}
	e.HandleSplitRequest(0)
	e.HandleSplitRequest(0)
	got0, got1 := h.boxes[0].take(), h.boxes[1].take()
	want0 := []any{[]FileSplit{{Path: "b"}}, []FileSplit{{Path: "a", Offset: 7}}, evNoMoreSplits{}}
	want1 := []any{[]FileSplit{{Path: "a"}}}
	if fmt.Sprint(got0) != fmt.Sprint(want0) || fmt.Sprint(got1) != fmt.Sprint(want1) {
		t.Fatalf("got %v and %v, want %v and %v", got0, got1, want0, want1)
	}
}

func BenchmarkTextFiles(b *testing.B) {
	path := filepath.Join(b.TempDir(), "f")
	writeFile(b, path, strings.Repeat("the quick brown fox jumps over the lazy dog\n", 100_000))
	src := TextFiles(path)
	var out discard[string]
	b.ReportAllocs()
	for b.Loop() {
		var requests int
		r, _ := src.CreateReader(countingCtx{&requests})
		_ = r.Start(b.Context())
		r.AddSplits([]FileSplit{{Path: path}})
		r.NotifyNoMoreSplits()
		for {
			st, err := r.PollNext(&out)
			if err != nil {
				b.Fatal(err)
			}
			if st == EndOfInput {
				break
			}
		}
		_ = r.Close()
	}
	b.ReportMetric(float64(out.n)/b.Elapsed().Seconds(), "lines/s")
}
