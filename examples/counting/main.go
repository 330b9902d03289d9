// Command counting counts events per key, exactly once: a generator of
// numbered events, keyed by number modulo --keys, a running count per key
// in keyed state, and every count written to part files in --out, which a
// checkpoint commits. Whatever fails, each (key, count) line is in the
// output exactly once, and the last count of key k is the number of events
// with that key.
//
//	go run ./examples/counting --out /tmp/counts            # embedded
//	freshet run --parallelism 4 ./counting --out /tmp/counts # on a cluster
//	./counting --jobmanager 127.0.0.1:8081 --out /tmp/counts  # the same, by itself
//
// The job sets no parallelism of its own, so a cluster's --parallelism
// applies (1 embedded).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/file"
	"github.com/freshet-io/freshet/source"
)

// Count is how many events of a key were seen so far.
type Count struct {
	Key   int
	Count int
}

// Options are the job's settings.
type Options struct {
	Out                string
	Events             int64
	Keys               int
	Rate               float64
	CheckpointInterval time.Duration
	CheckpointDir      string
	MaxParallelism     int
}

// Build declares the job on env.
func Build(env *freshet.Env, o Options) {
	keys := o.Keys
	gen := source.Generator(func(i int64) Count { return Count{Key: int(i % int64(keys)), Count: 1} },
		source.GeneratorCount(o.Events), source.GeneratorRate(o.Rate))
	events := freshet.FromSource(env, gen, "events").UID("events")
	counts := freshet.Sum(freshet.KeyBy(events, func(c Count) int { return c.Key }), freshet.FieldOf[Count, int]("Count")).
		Name("count").UID("count")
	freshet.SinkTo(counts, &file.Sink[Count]{
		Dest:   file.Dir(o.Out),
		Format: file.CSV(func(c Count) []string { return []string{strconv.Itoa(c.Key), strconv.Itoa(c.Count)} }),
	}, "counts").UID("counts")
}

func main() {
	var o Options
	flag.StringVar(&o.Out, "out", "", "the directory of the output part files (required)")
	flag.Int64Var(&o.Events, "events", 10000, "how many events (0: unbounded)")
	flag.IntVar(&o.Keys, "keys", 16, "how many keys")
	flag.Float64Var(&o.Rate, "rate", 0, "events per second (0: as fast as possible)")
	flag.DurationVar(&o.CheckpointInterval, "checkpoint-interval", 500*time.Millisecond, "the checkpoint interval")
	flag.StringVar(&o.CheckpointDir, "checkpoint-dir", "", "where checkpoints are kept (default: the cluster's, or in memory embedded)")
	jobManager := flag.String("jobmanager", "", "submit to the cluster whose REST API is at this address rather than run embedded")
	flag.IntVar(&o.MaxParallelism, "max-parallelism", 0, "the max parallelism (key groups) of the counts (0: the default, or a restored savepoint's)")
	flag.Parse()
	if o.Out == "" || o.Keys < 1 {
		fmt.Fprintln(os.Stderr, "counting: --out is required and --keys must be at least 1")
		os.Exit(2)
	}
	var ck []freshet.CheckpointOption
	if o.CheckpointDir != "" {
		ck = append(ck, freshet.CheckpointStorage(o.CheckpointDir))
	}
	opts := []freshet.Option{freshet.WithCheckpointing(o.CheckpointInterval, ck...), freshet.WithJobManager(*jobManager)}
	if o.MaxParallelism > 0 {
		opts = append(opts, freshet.WithMaxParallelism(o.MaxParallelism))
	}
	env := freshet.NewEnv(opts...)
	Build(env, o)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := env.Execute(ctx, "counting"); err != nil {
		fmt.Fprintln(os.Stderr, "counting:", err)
		os.Exit(1)
	}
}
