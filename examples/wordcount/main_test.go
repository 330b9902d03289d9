package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/freshet-io/freshet"
)

func TestCountFinalCounts(t *testing.T) {
	for _, p := range []int{1, 2} {
		env := freshet.NewEnv(freshet.WithParallelism(p))
		got := freshet.Collect(Count(freshet.FromSlice(env, text)))
		if err := env.Execute(context.Background(), "wordcount"); err != nil {
			t.Fatal(err)
		}
		final := map[string]int{}
		for _, wc := range got.Values() {
			final[wc.Word] = max(final[wc.Word], wc.Count)
		}
		want := map[string]int{"to": 9, "be": 3, "the": 5, "and": 4, "'tis": 2, "a": 3, "sleep": 2, "question": 1}
		for w, n := range want {
			if final[w] != n {
				t.Errorf("p=%d: count of %q = %d, want %d", p, w, final[w], n)
			}
		}
		total := 0
		for _, n := range final {
			total += n
		}
		if total != len(got.Values()) {
			t.Errorf("p=%d: %d updates for %d words", p, len(got.Values()), total)
		}
	}
}

func TestRunOnFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("b a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{dir}, 1); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{filepath.Join(dir, "missing")}, 1); err == nil {
		t.Fatal("missing file: want error")
	}
}
