package file_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/file"
	"github.com/freshet-io/freshet/sink"
)

type order struct {
	ID     int
	Amount float64
	At     time.Time
}

// Orders go to CSV part files in one directory per day. Run with
// checkpointing, the parts would be committed at each checkpoint;
// without, they are committed when the input ends.
func ExampleSink() {
	dir, _ := os.MkdirTemp("", "orders")
	defer os.RemoveAll(dir)
	env := freshet.NewEnv(freshet.WithParallelism(1), freshet.WithLogger(slog.New(slog.DiscardHandler)))
	day := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	orders := freshet.FromElements(env,
		order{1, 9.5, day.Add(10 * time.Hour)}, order{2, 20, day.Add(30 * time.Hour)}, order{3, 4.25, day.Add(11 * time.Hour)})
	freshet.SinkTo(orders, &file.Sink[order]{
		Dest: file.Dir(dir),
		Format: file.CSV(func(o order) []string {
			return []string{fmt.Sprint(o.ID), fmt.Sprint(o.Amount)}
		}),
		Bucket:  func(o order, _ sink.Context) string { return o.At.Format("2006-01-02") },
		Rolling: file.RollingPolicy{MaxPartSize: 64 << 20, RolloverInterval: 15 * time.Minute},
	}, "orders")
	if err := env.Execute(context.Background(), "orders"); err != nil {
		fmt.Println(err)
		return
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "*", "part-*.csv"))
	for _, p := range parts {
		b, _ := os.ReadFile(p)
		fmt.Printf("%s: %s\n", filepath.Base(filepath.Dir(p)), strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", " "))
	}
	// Output:
	// 2026-11-29: 1,9.5 3,4.25
	// 2026-11-30: 2,20
}

type trade struct {
	Symbol string    `csv:"symbol"`
	Qty    int       `csv:"qty"`
	Price  float64   `csv:"price"`
	At     time.Time `csv:"time"`
}

// Trades are read from CSV files, one of them gzipped, into structs: the
// header row names the columns of the fields. With file.Monitor the source
// would go on reading the files that appear in the directory.
func ExampleNewSource() {
	dir, _ := os.MkdirTemp("", "trades")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "a.csv"), []byte("symbol,qty,price,time\nACME,10,9.5,2026-11-30T09:00:00Z\nINIT,3,120.25,2026-11-30T09:00:01Z\n"), 0o644)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte("time,symbol,price,qty\n2026-11-30T09:00:02Z,ACME,9.75,5\n"))
	w.Close()
	os.WriteFile(filepath.Join(dir, "b.csv.gz"), gz.Bytes(), 0o644)

	env := freshet.NewEnv(freshet.WithParallelism(1), freshet.WithLogger(slog.New(slog.DiscardHandler)))
	trades := freshet.FromSource(env, file.NewSource(file.DecodeCSV[trade](), []string{dir}), "trades")
	got := freshet.Collect(trades)
	if err := env.Execute(context.Background(), "trades"); err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range got.Values() {
		fmt.Println(t.At.Format(time.TimeOnly), t.Symbol, t.Qty, t.Price)
	}
	// Output:
	// 09:00:00 ACME 10 9.5
	// 09:00:01 INIT 3 120.25
	// 09:00:02 ACME 5 9.75
}
