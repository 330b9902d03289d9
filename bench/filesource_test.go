package bench

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/file"
)

// quote is the record of the file source benchmarks.
type quote struct {
	ID    int64   `csv:"id" json:"id"`
	Name  string  `csv:"name" json:"name"`
	Price float64 `csv:"price" json:"price"`
}

// writeQuotes writes n quotes to a file in dir, as CSV with a header row
// or as JSON Lines, and returns its path.
func writeQuotes(b *testing.B, dir string, n int, asCSV bool) string {
	b.Helper()
	p := filepath.Join(dir, "quotes.jsonl")
	if asCSV {
		p = filepath.Join(dir, "quotes.csv")
	}
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	if asCSV {
		w.WriteString("id,name,price\n")
	}
	for i := range n {
		if asCSV {
			fmt.Fprintf(w, "%d,q%d,%g\n", i, i%1000, float64(i%997)/4)
		} else {
			fmt.Fprintf(w, "{\"id\":%d,\"name\":\"q%d\",\"price\":%g}\n", i, i%1000, float64(i%997)/4)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

// wantSum is the sum of the ids of n quotes.
func wantSum(n int) int64 { return int64(n) * int64(n-1) / 2 }

// benchFileSource reads b.N quotes from one file through the file source
// (connector/file) at parallelism 1 into a sink that sums their ids,
// against a hand-written loop decoding the same file.
func benchFileSource(b *testing.B, asCSV bool, dec file.Decoding[quote], loop func(path string) (count, sum int64, err error)) {
	b.Run("freshet", func(b *testing.B) {
		p := writeQuotes(b, b.TempDir(), b.N, asCSV)
		env := freshet.NewEnv(quiet, freshet.WithParallelism(1), freshet.WithBatchSize(256))
		quotes := freshet.FromSource(env, file.NewSource(dec, []string{p}), "Quotes")
		d := &discard{}
		freshet.SinkTo(freshet.Map(quotes, func(q quote) int64 { return q.ID }), d, "Sum")
		run(b, b.N, func() error { return env.Execute(context.Background(), "file source") })
		if d.count.Load() != int64(b.N) || d.sum.Load() != wantSum(b.N) {
			b.Fatalf("read %d quotes of id sum %d, want %d of %d", d.count.Load(), d.sum.Load(), b.N, wantSum(b.N))
		}
	})
	b.Run("loop", func(b *testing.B) {
		p := writeQuotes(b, b.TempDir(), b.N, asCSV)
		var count, sum int64
		run(b, b.N, func() (err error) {
			count, sum, err = loop(p)
			return err
		})
		if count != int64(b.N) || sum != wantSum(b.N) {
			b.Fatalf("read %d quotes of id sum %d, want %d of %d", count, sum, b.N, wantSum(b.N))
		}
	})
}

// BenchmarkFileSourceCSV: CSV rows into structs by their header.
func BenchmarkFileSourceCSV(b *testing.B) {
	benchFileSource(b, true, file.DecodeCSV[quote](), func(path string) (count, sum int64, err error) {
		f, err := os.Open(path)
		if err != nil {
			return 0, 0, err
		}
		defer f.Close()
		r := csv.NewReader(bufio.NewReaderSize(f, 256<<10))
		r.ReuseRecord = true
		if _, err := r.Read(); err != nil { // the header
			return 0, 0, err
		}
		for {
			row, err := r.Read()
			if err != nil {
				if err == io.EOF {
					return count, sum, nil
				}
				return 0, 0, err
			}
			var q quote
			if q.ID, err = strconv.ParseInt(row[0], 10, 64); err != nil {
				return 0, 0, err
			}
			q.Name = row[1]
			if q.Price, err = strconv.ParseFloat(row[2], 64); err != nil {
				return 0, 0, err
			}
			count++
			sum += q.ID
		}
	})
}

// BenchmarkFileSourceJSON: JSON Lines into structs with encoding/json.
func BenchmarkFileSourceJSON(b *testing.B) {
	benchFileSource(b, false, file.DecodeJSON[quote](), func(path string) (count, sum int64, err error) {
		f, err := os.Open(path)
		if err != nil {
			return 0, 0, err
		}
		defer f.Close()
		s := bufio.NewScanner(bufio.NewReaderSize(f, 256<<10))
		for s.Scan() {
			var q quote
			if err := json.Unmarshal(s.Bytes(), &q); err != nil {
				return 0, 0, err
			}
			count++
			sum += q.ID
		}
		return count, sum, s.Err()
	})
}
