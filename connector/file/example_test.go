package file_test

import (
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
