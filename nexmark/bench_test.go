package nexmark_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/nexmark"
)

// benchEvents is the number of events of one op of BenchmarkQueries.
const benchEvents = 1_000_000

// BenchmarkQueries runs q0, q1 and q2 over 1 million generated events at
// parallelism 1 (one op being a run), on the embedded runtime into the
// counting Blackhole (freshet), against a hand-written loop that makes the
// same events with the same generator and does the query's work on each
// (loop). Both report events/s; the goal is freshet within 3× of loop.
func BenchmarkQueries(b *testing.B) {
	loops := map[string]func(g *nexmark.Generator, n int64) int64{
		"q0": func(g *nexmark.Generator, n int64) (out int64) {
			for i := range n {
				if e := g.Event(i); e.Bid != nil {
					out++
				}
			}
			return out
		},
		"q1": func(g *nexmark.Generator, n int64) (out int64) {
			var sum int64
			for i := range n {
				if e := g.Event(i); e.Bid != nil {
					b := *e.Bid
					b.Price = nexmark.ToEuro(b.Price)
					sum += b.Price
					out++
				}
			}
			_ = sum
			return out
		},
		"q2": func(g *nexmark.Generator, n int64) (out int64) {
			for i := range n {
				if e := g.Event(i); e.Bid != nil && e.Bid.Auction%123 == 0 {
					out++
				}
			}
			return out
		},
	}
	for _, name := range []string{"q0", "q1", "q2"} {
		q, err := nexmark.QueryByName(name)
		if err != nil {
			b.Fatal(err)
		}
		cfg := nexmark.GeneratorConfig{Events: benchEvents}
		var want int64
		b.Run(name+"/loop", func(b *testing.B) {
			g, err := nexmark.NewGenerator(cfg)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			for range b.N {
				want = loops[name](g, benchEvents)
			}
			b.ReportMetric(float64(benchEvents)*float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
		b.Run(name+"/freshet", func(b *testing.B) {
			start := time.Now()
			for range b.N {
				env := freshet.NewEnv(freshet.WithParallelism(1), freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
				events, err := nexmark.Events(env, cfg)
				if err != nil {
					b.Fatal(err)
				}
				hole := &nexmark.Blackhole{}
				q.Add(events, hole)
				if err := env.Execute(context.Background(), "nexmark "+name); err != nil {
					b.Fatal(err)
				}
				if want != 0 && hole.Count() != want {
					b.Fatalf("%s emitted %d records, the loop %d", name, hole.Count(), want)
				}
			}
			b.ReportMetric(float64(benchEvents)*float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
