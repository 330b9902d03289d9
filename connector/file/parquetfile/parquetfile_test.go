package parquetfile_test

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/file"
	"github.com/freshet-io/freshet/connector/file/parquetfile"
)

type reading struct {
	Sensor string  `parquet:"sensor"`
	Seq    int64   `parquet:"seq"`
	Value  float64 `parquet:"value"`
}

func readings(n int) []reading {
	out := make([]reading, n)
	for i := range n {
		out[i] = reading{Sensor: []string{"a", "b", "c"}[i%3], Seq: int64(i), Value: float64(i) / 4}
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
	var got []reading
	parts := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") || !strings.HasSuffix(p, ".parquet") {
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
	slices.SortFunc(got, func(a, b reading) int { return int(a.Seq - b.Seq) })
	if !slices.Equal(got, readings(5000)) {
		t.Fatalf("read back %d readings from %d parts, want the 5000 written", len(got), parts)
	}
	if parts != 2 {
		t.Fatalf("%d part files, want one per subtask", parts)
	}
}
