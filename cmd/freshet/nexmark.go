package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/nexmark"
)

// benchOptions are the flags of bench nexmark.
type benchOptions struct {
	query              string
	events             int64
	parallelism        int
	checkpointInterval time.Duration
	stateBackend       string
	jsonFile           string
	chartFile          string
	verify             bool
	seed               uint64
	rate               float64
	progress           time.Duration // between plain progress lines
}

// result is one query's run, as --json writes it.
type result struct {
	Query                  string   `json:"query"`
	Events                 int64    `json:"events"`
	Seconds                float64  `json:"seconds"`
	EventsPerSecond        float64  `json:"events_per_second"`
	EventsPerSecondPerCore float64  `json:"events_per_second_per_core"`
	Cores                  int      `json:"cores"`
	Parallelism            int      `json:"parallelism"`
	CheckpointIntervalMs   int64    `json:"checkpoint_interval_ms"`
	StateBackend           string   `json:"state_backend"`
	P50Ms                  *float64 `json:"p50_ms"` // null without samples
	P99Ms                  *float64 `json:"p99_ms"`
	Outputs                int64    `json:"outputs"`
	Checkpoints            int      `json:"checkpoints"` // completed
	Verified               bool     `json:"verified"`
}

func newNexmarkCmd() *cobra.Command {
	o := benchOptions{}
	cmd := &cobra.Command{
		Use:   "nexmark",
		Short: "Run Nexmark queries on generated events",
		Long: `Run Nexmark queries on the embedded runtime over generated events and
report throughput (events/s, and per core: cores = min(parallelism, CPUs))
and end-to-end latency (p50/p99 over a sample of output records, from the
generation of the latest sampled event at or before the record's event time
to the sink).`,
		Example: `  freshet bench nexmark --query q5 --events 10000000 --parallelism 2
  freshet bench nexmark --query all --events 2000000 --checkpoint-interval 10s --json out.json --chart out.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.query, "query", "q0", "query to run: "+strings.Join(nexmark.QueryNames(), ", ")+", or all")
	f.Int64Var(&o.events, "events", 10_000_000, "number of events to generate")
	f.IntVar(&o.parallelism, "parallelism", 2, "parallelism of the job")
	f.DurationVar(&o.checkpointInterval, "checkpoint-interval", 0, "checkpoint interval (0: no checkpoints)")
	f.StringVar(&o.stateBackend, "state-backend", "heap", "state backend: heap or pebble")
	f.StringVar(&o.jsonFile, "json", "", "write the results as JSON to `FILE`")
	f.StringVar(&o.chartFile, "chart", "", "write an SVG chart of events/s per core beside Flink's to `FILE`")
	f.BoolVar(&o.verify, "verify", false, "check the output against a plain-Go evaluation (keeps all events and output in memory)")
	f.Uint64Var(&o.seed, "seed", 0, "generator seed")
	f.Float64Var(&o.rate, "rate", 0, "limit the source to this many events/s (0: as fast as possible)")
	f.DurationVar(&o.progress, "progress-interval", 5*time.Second, "time between progress lines when the output is not a terminal")
	return cmd
}

// validate checks the options and returns the queries to run.
func (o benchOptions) validate() ([]nexmark.Query, error) {
	switch {
	case o.events <= 0:
		return nil, fmt.Errorf("--events must be positive, got %d", o.events)
	case o.parallelism < 1:
		return nil, fmt.Errorf("--parallelism must be at least 1, got %d", o.parallelism)
	case o.checkpointInterval < 0:
		return nil, fmt.Errorf("--checkpoint-interval must not be negative, got %s", o.checkpointInterval)
	case o.stateBackend != "heap" && o.stateBackend != "pebble":
		return nil, fmt.Errorf("--state-backend must be heap or pebble, got %q", o.stateBackend)
	case o.rate < 0:
		return nil, fmt.Errorf("--rate must not be negative, got %v", o.rate)
	}
	if o.query == "all" {
		return nexmark.Queries(), nil
	}
	var qs []nexmark.Query
	for _, name := range strings.Split(o.query, ",") {
		q, err := nexmark.QueryByName(strings.TrimSpace(name))
		if err != nil {
			return nil, fmt.Errorf("--query: %w", err)
		}
		qs = append(qs, q)
	}
	return qs, nil
}

func runBench(ctx context.Context, out io.Writer, o benchOptions) error {
	queries, err := o.validate()
	if err != nil {
		return err
	}
	cores := min(o.parallelism, runtime.NumCPU())
	fmt.Fprintf(out, "Nexmark: %d events, parallelism %d, %d CPUs: figures per core divide by %d cores; state backend %s; checkpoints %s\n",
		o.events, o.parallelism, runtime.NumCPU(), cores, o.stateBackend, every(o.checkpointInterval))
	var results []result
	for _, q := range queries {
		r, err := runQuery(ctx, out, q, o)
		if err != nil {
			return fmt.Errorf("running %s: %w", q.Name, err)
		}
		results = append(results, r)
		printResult(out, r)
	}
	if len(queries) > 1 {
		printTable(out, results)
	}
	if o.jsonFile != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("writing --json: %w", err)
		}
	}
	if o.chartFile != "" {
		if err := os.WriteFile(o.chartFile, chartSVG(results), 0o644); err != nil {
			return fmt.Errorf("writing --chart: %w", err)
		}
	}
	return nil
}

func every(d time.Duration) string {
	if d == 0 {
		return "off"
	}
	return "every " + d.String()
}

// runQuery runs q once and measures it.
func runQuery(ctx context.Context, out io.Writer, q nexmark.Query, o benchOptions) (result, error) {
	tmp, err := os.MkdirTemp("", "freshet-nexmark-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(tmp)

	opts := []freshet.Option{
		freshet.WithParallelism(o.parallelism),
		freshet.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	}
	if o.checkpointInterval > 0 {
		opts = append(opts, freshet.WithCheckpointing(o.checkpointInterval, freshet.CheckpointStorage(tmp+"/checkpoints")))
	}
	if o.stateBackend == "pebble" {
		opts = append(opts, freshet.WithStateBackend(freshet.PebbleBackend(freshet.PebbleDir(tmp))))
	}
	env := freshet.NewEnv(opts...)

	lat := &latencies{}
	cfg := nexmark.GeneratorConfig{Events: o.events, Seed: o.seed, Rate: o.rate, Observe: lat.observe}
	events, err := nexmark.Events(env, cfg)
	if err != nil {
		return result{}, err
	}
	bh := &nexmark.Blackhole{Keep: o.verify, Sample: lat.arrived}
	q.Add(events, bh)

	stop := showProgress(out, q.Name, o, lat)
	start := time.Now()
	jc, err := env.ExecuteAsync(ctx, "nexmark "+q.Name)
	if err == nil {
		err = jc.Wait()
	}
	elapsed := time.Since(start)
	stop()
	if err != nil {
		return result{}, err
	}
	checkpoints := 0
	for _, c := range jc.Checkpoints() {
		if c.Status == freshet.CheckpointCompleted {
			checkpoints++
		}
	}

	cores := min(o.parallelism, runtime.NumCPU())
	r := result{
		Query:                  q.Name,
		Events:                 o.events,
		Seconds:                elapsed.Seconds(),
		EventsPerSecond:        float64(o.events) / elapsed.Seconds(),
		EventsPerSecondPerCore: float64(o.events) / elapsed.Seconds() / float64(cores),
		Cores:                  cores,
		Parallelism:            o.parallelism,
		CheckpointIntervalMs:   o.checkpointInterval.Milliseconds(),
		StateBackend:           o.stateBackend,
		Outputs:                bh.Count(),
		Checkpoints:            checkpoints,
	}
	r.P50Ms, r.P99Ms = lat.percentile(0.50), lat.percentile(0.99)
	if o.verify {
		g, err := nexmark.NewGenerator(cfg)
		if err != nil {
			return result{}, err
		}
		all := make([]nexmark.Event, o.events)
		for n := range all {
			all[n] = g.Event(int64(n))
		}
		if err := q.Verify(all, bh); err != nil {
			return result{}, err
		}
		r.Verified = true
	}
	return r, nil
}

// latencies measures end-to-end latency from samples: the generator
// reports the wall time at which it generated every 1000th event, and the
// sink, for a sample of its records, looks up the latest of those events
// at or before the record's event time.
type latencies struct {
	done atomic.Int64 // events generated, counted in steps of 1000

	mu        sync.Mutex
	generated []stamp // by event time
	samples   []time.Duration
}

type stamp struct {
	eventTime int64
	wall      time.Time
}

// observe is the generator's GeneratorConfig.Observe.
func (l *latencies) observe(_, eventTime int64) {
	now := time.Now()
	l.done.Add(1000)
	l.mu.Lock()
	defer l.mu.Unlock()
	// Readers advance together, so stamps arrive nearly sorted.
	i := len(l.generated)
	for i > 0 && l.generated[i-1].eventTime > eventTime {
		i--
	}
	l.generated = slices.Insert(l.generated, i, stamp{eventTime, now})
}

// arrived is the sink's Blackhole.Sample.
func (l *latencies) arrived(ts int64) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	i := sort.Search(len(l.generated), func(i int) bool { return l.generated[i].eventTime > ts }) - 1
	// Skip records stamped before every sample or far after the latest
	// (processing-time windows stamp their output with wall time).
	if i < 0 || ts > l.generated[len(l.generated)-1].eventTime+1000 {
		return
	}
	l.samples = append(l.samples, now.Sub(l.generated[i].wall))
}

// percentile returns the p-quantile of the samples in ms, nil without any.
func (l *latencies) percentile(p float64) *float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) == 0 {
		return nil
	}
	s := slices.Clone(l.samples)
	slices.Sort(s)
	ms := float64(s[min(len(s)-1, int(p*float64(len(s))))]) / float64(time.Millisecond)
	return &ms
}

// showProgress shows the run's progress until the returned function is
// called: a bar on a terminal, else a line every o.progress.
func showProgress(out io.Writer, name string, o benchOptions, lat *latencies) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	f, isFile := out.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	go func() {
		defer close(finished)
		start := time.Now()
		if tty {
			bar := progressbar.NewOptions64(o.events,
				progressbar.OptionSetWriter(out),
				progressbar.OptionSetDescription(name),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("events"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish())
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					_ = bar.Finish()
					return
				case <-t.C:
					_ = bar.Set64(min(lat.done.Load(), o.events))
				}
			}
		}
		if o.progress <= 0 {
			<-done
			return
		}
		t := time.NewTicker(o.progress)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n, secs := min(lat.done.Load(), o.events), time.Since(start).Seconds()
				rate := float64(n) / secs
				eta := "?"
				if rate > 0 {
					eta = time.Duration(float64(o.events-n) / rate * float64(time.Second)).Round(time.Second).String()
				}
				fmt.Fprintf(out, "%s: %d/%d events (%.0f%%), %.0f events/s, ETA %s\n",
					name, n, o.events, 100*float64(n)/float64(o.events), rate, eta)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func ms(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *p)
}

func printResult(out io.Writer, r result) {
	verified := ""
	if r.Verified {
		verified = "; output verified"
	}
	fmt.Fprintf(out, "%s: %d events in %.2f s: %.0f events/s, %.0f events/s per core (%d cores, parallelism %d); latency p50 %s ms, p99 %s ms; %d output records; %d checkpoints%s\n",
		r.Query, r.Events, r.Seconds, r.EventsPerSecond, r.EventsPerSecondPerCore, r.Cores, r.Parallelism,
		ms(r.P50Ms), ms(r.P99Ms), r.Outputs, r.Checkpoints, verified)
}

func printTable(out io.Writer, rs []result) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "query\tevents\tseconds\tevents/s\tevents/s/core\tFlink 1.13 events/s/core\tp50 ms\tp99 ms\toutputs\tcheckpoints\tverified\t")
	for _, r := range rs {
		flink := "-"
		if f, ok := flinkPerCore[r.Query]; ok {
			flink = fmt.Sprintf("%.0f", f)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%.0f\t%s\t%s\t%s\t%d\t%d\t%v\t\n", r.Query, r.Events, r.Seconds,
			r.EventsPerSecond, r.EventsPerSecondPerCore, flink, ms(r.P50Ms), ms(r.P99Ms), r.Outputs, r.Checkpoints, r.Verified)
	}
	_ = tw.Flush()
}
