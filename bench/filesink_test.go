package bench

import (
	"bufio"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/file"
	"github.com/freshet-io/freshet/source"
)

// appendLine is the text line of a record, called by both sides.
var appendLine = func(dst []byte, v int64) []byte { return strconv.AppendInt(dst, mapFn(v), 10) }

// BenchmarkFileSink measures the file sink (connector/file) writing one
// text line per record into a local directory at parallelism 1, without
// checkpoints (its parts are committed at the end of input), against a
// loop writing the same lines to one file through a bufio.Writer. Besides
// the package's figures it reports MB/s of lines written.
func BenchmarkFileSink(b *testing.B) {
	b.Run("freshet", func(b *testing.B) {
		dir := b.TempDir()
		env := freshet.NewEnv(quiet, freshet.WithParallelism(1), freshet.WithBatchSize(256))
		s := freshet.FromSource(env, source.Generator(genFn, source.GeneratorCount(int64(b.N))), "Generator")
		freshet.SinkTo(s, &file.Sink[int64]{
			Dest: file.Dir(dir), Format: file.Lines(appendLine),
			Rolling: file.RollingPolicy{MaxPartSize: 128 << 20},
		}, "Files")
		run(b, b.N, func() error { return env.Execute(context.Background(), "files") })
		got := dirSize(b, dir)
		if want := linesSize(int64(b.N)); got != want {
			b.Fatalf("the part files hold %d bytes, want %d", got, want)
		}
		b.ReportMetric(float64(got)/1e6/b.Elapsed().Seconds(), "MB/s")
	})
	b.Run("loop", func(b *testing.B) {
		p := filepath.Join(b.TempDir(), "lines.txt")
		run(b, b.N, func() error {
			f, err := os.Create(p)
			if err != nil {
				return err
			}
			w := bufio.NewWriterSize(f, 64<<10)
			var buf []byte
			for i := int64(0); i < int64(b.N); i++ {
				buf = append(appendLine(buf[:0], genFn(i)), '\n')
				if _, err := w.Write(buf); err != nil {
					return err
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if err := f.Sync(); err != nil {
				return err
			}
			return f.Close()
		})
		got := dirSize(b, filepath.Dir(p))
		if want := linesSize(int64(b.N)); got != want {
			b.Fatalf("the file holds %d bytes, want %d", got, want)
		}
		b.ReportMetric(float64(got)/1e6/b.Elapsed().Seconds(), "MB/s")
	})
}

func linesSize(n int64) int64 {
	var size int64
	var buf []byte
	for i := range n {
		buf = appendLine(buf[:0], genFn(i))
		size += int64(len(buf)) + 1
	}
	return size
}

func dirSize(b *testing.B, dir string) int64 {
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		size += fi.Size()
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return size
}
