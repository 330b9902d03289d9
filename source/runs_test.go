package source

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runRecorder is an Output that takes runs, as the runtime's does, and
// records how each value reached it.
type runRecorder[T any] struct {
	vals    []T
	runs    []int // length of each CollectAll
	singles int   // Collect and CollectWithTimestamp calls
}

func (o *runRecorder[T]) Collect(v T) { o.vals = append(o.vals, v); o.singles++ }
func (o *runRecorder[T]) CollectWithTimestamp(v T, _ int64) {
	o.vals = append(o.vals, v)
	o.singles++
}
func (o *runRecorder[T]) CollectAll(vs []T) {
	o.vals = append(o.vals, vs...)
	o.runs = append(o.runs, len(vs))
}

// pollAll polls r until it ends, at most 100 times.
func pollAll[T any, S Split](t *testing.T, r Reader[T, S], out Output[T]) {
	t.Helper()
	for range 100 {
		st, err := r.PollNext(out)
		if err != nil {
			t.Fatal(err)
		}
		if st == EndOfInput {
			return
		}
	}
	t.Fatal("reader did not end")
}

// TestBuiltinReadersHandOverRuns: the built-in readers hand each poll's
// values to an Output that takes runs in one call.
func TestBuiltinReadersHandOverRuns(t *testing.T) {
	const n = 600 // two full polls and a part
	wantRuns := []int{pollBatch, pollBatch, n - 2*pollBatch}
	ints := make([]int64, n)
	for i := range ints {
		ints[i] = int64(i)
	}
	check := func(t *testing.T, runs []int, singles int) {
		t.Helper()
		if !slices.Equal(runs, wantRuns) || singles != 0 {
			t.Fatalf("runs %v and %d single values, want runs %v", runs, singles, wantRuns)
		}
	}

	t.Run("slice", func(t *testing.T) {
		r, _ := FromSlice(ints).CreateReader(readerCtx{p: 1})
		r.AddSplits([]SliceSplit{{ID: 0, Start: 0, End: n, Next: 0}})
		r.NotifyNoMoreSplits()
		var out runRecorder[int64]
		pollAll(t, r, &out)
		check(t, out.runs, out.singles)
		if !slices.Equal(out.vals, ints) {
			t.Fatalf("values %v…", out.vals[:10])
		}
	})
	t.Run("generator", func(t *testing.T) {
		r, _ := Generator(identity, GeneratorCount(n)).CreateReader(readerCtx{p: 1})
		r.AddSplits([]GeneratorSplit{{ID: 0, Stride: 1, Next: 0, End: n}})
		r.NotifyNoMoreSplits()
		var out runRecorder[int64]
		pollAll(t, r, &out)
		check(t, out.runs, out.singles)
		if !slices.Equal(out.vals, ints) {
			t.Fatalf("values %v…", out.vals[:10])
		}
	})
	t.Run("paced generator", func(t *testing.T) {
		r, clk := pacedReader(t, 1e6, 1) // quantum 1000: whole polls
		var out runRecorder[int64]
		r.PollNext(&out) // the initial token
		if st, _ := r.PollNext(&out); st != NothingAvailable {
			t.Fatalf("got %v, want NothingAvailable", st)
		}
		clk.fire(clk.pending(t))
		for range 3 {
			r.PollNext(&out)
		}
		if want := []int{1, pollBatch, pollBatch, pollBatch}; !slices.Equal(out.runs, want) || out.singles != 0 {
			t.Fatalf("runs %v and %d single values, want runs %v", out.runs, out.singles, want)
		}
		r.Close()
	})
	t.Run("text files", func(t *testing.T) {
		dir := t.TempDir()
		var lines []string
		for i := range n {
			lines = append(lines, fmt.Sprint(i))
		}
		// One file with all the lines: each poll's lines in one run.
		path := filepath.Join(dir, "a.txt")
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, _ := TextFiles(path).CreateReader(readerCtx{p: 1})
		r.AddSplits([]FileSplit{{Path: path}})
		r.NotifyNoMoreSplits()
		var out runRecorder[string]
		pollAll(t, r, &out)
		check(t, out.runs, out.singles)
		if !slices.Equal(out.vals, lines) {
			t.Fatalf("lines %v…", out.vals[:10])
		}
	})
	t.Run("text files with split outputs", func(t *testing.T) {
		// Two files read in one poll: each file's lines in one run to its
		// own output, handed over before the file's output is released.
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
		if err := os.WriteFile(a, []byte("1\n2\n3\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(b, []byte("4\n5\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, _ := TextFiles(dir).CreateReader(readerCtx{p: 1})
		r.AddSplits([]FileSplit{{Path: a}, {Path: b}})
		r.NotifyNoMoreSplits()
		out := &runSplits{outs: map[string]*runRecorder[string]{}}
		pollAll(t, r, out)
		if got := fmt.Sprint(out.events); got != "[open "+a+" run 3 release "+a+" open "+b+" run 2 release "+b+"]" {
			t.Fatalf("events %s", got)
		}
	})
}

// runSplits is an Output with per-split outputs that take runs; it
// records the order of what happens to them.
type runSplits struct {
	runRecorder[string]
	outs   map[string]*runRecorder[string]
	events []string
}

func (o *runSplits) ForSplit(id string) Output[string] {
	if o.outs[id] == nil {
		o.events = append(o.events, "open "+id)
		o.outs[id] = &runRecorder[string]{}
	}
	return splitRuns{o, id}
}

func (o *runSplits) ReleaseSplit(id string) { o.events = append(o.events, "release "+id) }

type splitRuns struct {
	o  *runSplits
	id string
}

func (s splitRuns) Collect(v string) { s.o.events = append(s.o.events, "single "+v) }
func (s splitRuns) CollectWithTimestamp(v string, _ int64) {
	s.o.events = append(s.o.events, "single "+v)
}
func (s splitRuns) CollectAll(vs []string) {
	s.o.events = append(s.o.events, fmt.Sprint("run ", len(vs)))
}
