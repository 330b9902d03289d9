package parquetfile_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/file"
	"github.com/freshet-io/freshet/connector/file/parquetfile"
	"github.com/freshet-io/freshet/source"
)

type reading struct {
	Sensor string  `parquet:"sensor"`
	Seq    int64   `parquet:"seq"`
	Value  float64 `parquet:"value"`
}

func readingOf(i int64) reading {
	return reading{Sensor: []string{"a", "b", "c"}[i%3], Seq: i, Value: float64(i) / 4}
}

func readings(n int) []reading {
	out := make([]reading, n)
	for i := range n {
		out[i] = readingOf(int64(i))
	}
	return out
}

func TestParquetRoundTrip(t *testing.T) {
	dir := t.TempDir()
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(slog.New(slog.DiscardHandler)))
	freshet.SinkTo(freshet.FromElements(env, readings(5000)...), &file.Sink[reading]{
		Dest: file.Dir(dir), Format: parquetfile.Format[reading](parquet.Compression(&parquet.Snappy)),
	}, "parquet")
	if err := env.Execute(context.Background(), "parquet"); err != nil {
		t.Fatal(err)
	}
	got, parts := readDir(t, dir)
	slices.SortFunc(got, func(a, b reading) int { return int(a.Seq - b.Seq) })
	if !slices.Equal(got, readings(5000)) {
		t.Fatalf("read back %d readings from %d parts, want the 5000 written", len(got), parts)
	}
	if parts != 2 {
		t.Fatalf("%d part files, want one per subtask", parts)
	}
}

// TestParquetExactlyOnceUnderFailures writes Parquet parts, finished at
// every checkpoint (every 50 ms), from a job that fails three times: the
// committed parts are valid Parquet files holding every row once.
func TestParquetExactlyOnceUnderFailures(t *testing.T) {
	const n = 15000
	dir := t.TempDir()
	var mu sync.Mutex
	seen := map[int]int{} // records per attempt
	failed := 0
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(slog.New(slog.DiscardHandler)),
		freshet.WithRestartStrategy(freshet.FixedDelayRestart(10, 10*time.Millisecond)),
		freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	nums := freshet.FromSource(env, source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n), source.GeneratorRate(15000)), "numbers")
	rs := freshet.Process(nums.Rebalance(), freshet.ProcessFunc(func(ctx *freshet.Context, v int64, out freshet.Collector[reading]) error {
		a := ctx.Runtime().Attempt()
		mu.Lock()
		seen[a]++
		fail := a < 3 && seen[a] == 2000+500*a && failed == a
		if fail {
			failed++
		}
		mu.Unlock()
		if fail {
			return errors.New("injected failure")
		}
		out.Collect(readingOf(v))
		return nil
	}))
	freshet.SinkTo(rs.Rebalance(), &file.Sink[reading]{Dest: file.Dir(dir), Format: parquetfile.Format[reading]()}, "parquet").UID("parquet")
	jc, err := env.ExecuteAsync(context.Background(), "parquet-failures")
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	if jc.Restarts() != 3 {
		t.Fatalf("%d restarts, want 3", jc.Restarts())
	}
	got, parts := readDir(t, dir)
	slices.SortFunc(got, func(a, b reading) int { return int(a.Seq - b.Seq) })
	if !slices.Equal(got, readings(n)) {
		t.Fatalf("read back %d readings from %d parts, want the %d written once each", len(got), parts, n)
	}
	t.Logf("%d parts", parts)
}

// readDir reads every committed Parquet part under dir.
func readDir(t *testing.T, dir string) ([]reading, int) {
	t.Helper()
	var got []reading
	parts := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			// Staged parts (under .inprogress/), hidden from readers; an
			// attempt that failed before its first checkpoint leaves
			// them behind.
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !strings.HasSuffix(p, ".parquet") {
			t.Errorf("unexpected file %s", p)
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rs, err := parquet.Read[reading](bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("reading %s: %v", p, err)
		}
		parts++
		got = append(got, rs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, parts
}
