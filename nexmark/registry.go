package nexmark

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/sink"
)

// Query is one of the benchmark's queries, for tools that run queries by
// name and do not know their output types.
type Query struct {
	Name  string // "q0" … "q12"
	Title string
	// Add adds the query over events, with its output into b.
	Add func(events *freshet.Stream[Event], b *Blackhole)
	// Verify checks the output b kept (Blackhole.Keep) against the
	// reference evaluation of the query over events, which must be the
	// events of the run in event-number order.
	Verify func(events []Event, b *Blackhole) error
}

// Queries returns the queries in order: Nexmark's q0 to q9, q11 and q12,
// then those Flink's Nexmark adds that are written here: q13 to q17 and
// q20 to q22.
func Queries() []Query {
	return []Query{
		entry("q0", "pass-through", Q0, RefQ0, nil),
		entry("q1", "currency conversion", Q1, RefQ1, nil),
		entry("q2", "selection", Q2, RefQ2, nil),
		entry("q3", "local item suggestion", Q3, RefQ3, nil),
		entry("q4", "average price per category", Q4, RefQ4, nil),
		entry("q5", "hot items", Q5, RefQ5, nil),
		entry("q6", "average selling price by seller", Q6, RefQ6, nil),
		entry("q7", "highest bid", Q7, RefQ7, nil),
		entry("q8", "monitor new users", Q8, RefQ8, nil),
		entry("q9", "winning bids", Q9, RefQ9, nil),
		entry("q11", "user sessions", Q11, RefQ11, nil),
		entry("q12", "processing-time windows", Q12, RefQ12, TotalPerBidder),
		entry("q13", "bounded side input join", func(s *freshet.Stream[Event]) *freshet.Stream[BidWithValue] {
			return Q13(s, SideInput())
		}, func(events []Event) []BidWithValue { return RefQ13(events, SideInput()) }, nil),
		entry("q14", "calculation", Q14, RefQ14, nil),
		entry("q15", "bidding statistics per day", Q15, RefQ15, nil),
		entry("q16", "channel statistics per day", Q16, RefQ16, nil),
		entry("q17", "auction statistics per day", Q17, RefQ17, nil),
		entry("q20", "expand bids with their auction", Q20, RefQ20, nil),
		entry("q21", "channel id extraction", Q21, RefQ21, nil),
		entry("q22", "URL directories", Q22, RefQ22, nil),
	}
}

// QueryNames returns the names of Queries, in order.
func QueryNames() []string {
	var names []string
	for _, q := range Queries() {
		names = append(names, q.Name)
	}
	return names
}

// QueryByName returns the query called name ("q5"; case does not matter).
func QueryByName(name string) (Query, error) {
	for _, q := range Queries() {
		if strings.EqualFold(q.Name, name) {
			return q, nil
		}
	}
	return Query{}, fmt.Errorf("nexmark: unknown query %q (known: %s)", name, strings.Join(QueryNames(), ", "))
}

// entry makes a Query of typed parts; canon, when set, turns both outputs
// into what must be equal.
func entry[T any](name, title string, q func(*freshet.Stream[Event]) *freshet.Stream[T], ref func([]Event) []T, canon func([]T) []T) Query {
	return Query{
		Name:  name,
		Title: title,
		Add: func(events *freshet.Stream[Event], b *Blackhole) {
			freshet.SinkTo(q(events), blackholeSink[T]{b}, "Blackhole").Name(name + " Blackhole")
		},
		Verify: func(events []Event, b *Blackhole) error {
			b.mu.Lock()
			kept := b.kept
			b.mu.Unlock()
			got := make([]T, len(kept))
			for i, v := range kept {
				got[i] = v.(T)
			}
			want := ref(events)
			if canon != nil {
				got, want = canon(got), canon(want)
			}
			return sameValues(got, want)
		},
	}
}

// sameValues reports how got and want differ as multisets.
func sameValues[T any](got, want []T) error {
	str := func(vs []T) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = fmt.Sprintf("%+v", v)
		}
		slices.Sort(out)
		return out
	}
	g, w := str(got), str(want)
	if slices.Equal(g, w) {
		return nil
	}
	missing, extra := 0, 0
	var first string
	for _, s := range w {
		if i, ok := slices.BinarySearch(g, s); ok {
			g = slices.Delete(g, i, i+1)
		} else {
			missing++
			if first == "" {
				first = "missing " + s
			}
		}
	}
	extra = len(g)
	if first == "" && extra > 0 {
		first = "extra " + g[0]
	}
	return fmt.Errorf("nexmark: output differs from the reference: %d values, want %d; %d missing, %d extra; first: %s",
		len(got), len(want), missing, extra, first)
}

// Blackhole receives a query's output for a benchmark: it counts the
// records, hands a sample of their timestamps to Sample, and keeps them
// only when asked to. Set its fields before the job starts.
type Blackhole struct {
	// Keep makes the sink keep every record, for Query.Verify.
	Keep bool
	// Sample, when set, is called with the timestamp of every
	// SampleEvery-th record of each sink subtask, and of every record
	// stamped at least 100 ms of event time after the last one sampled (so
	// that queries with little output, such as windows, are sampled too),
	// from the subtasks' goroutines; it must be safe for concurrent use.
	Sample      func(ts int64)
	SampleEvery int64 // default 1000

	n    atomic.Int64
	mu   sync.Mutex
	kept []any
}

// Count returns how many records the sink has received.
func (b *Blackhole) Count() int64 { return b.n.Load() }

type blackholeSink[T any] struct{ b *Blackhole }

func (s blackholeSink[T]) CreateWriter(sink.InitContext) (sink.Writer[T], error) {
	every := s.b.SampleEvery
	if every <= 0 {
		every = 1000
	}
	return &blackholeWriter[T]{b: s.b, every: every, lastTS: math.MinInt64}, nil
}

type blackholeWriter[T any] struct {
	b       *Blackhole
	every   int64
	n       int64 // records, for sampling
	lastTS  int64 // timestamp of the last record sampled
	pending []any
}

func (w *blackholeWriter[T]) Write(v T, c sink.Context) error {
	ts := int64(sink.NoTimestamp)
	if c.HasTimestamp {
		ts = c.Timestamp
	}
	w.one(v, ts)
	w.b.n.Add(1)
	return nil
}

// WriteBatch implements sink.BatchWriter.
func (w *blackholeWriter[T]) WriteBatch(rs []sink.Record[T], _ int64) error {
	for _, r := range rs {
		w.one(r.Value, r.Timestamp)
	}
	w.b.n.Add(int64(len(rs)))
	return nil
}

func (w *blackholeWriter[T]) one(v T, ts int64) {
	w.n++
	if w.b.Sample != nil && ts != sink.NoTimestamp && (w.n%w.every == 0 || ts >= w.lastTS+100) {
		w.lastTS = ts
		w.b.Sample(ts)
	}
	if w.b.Keep {
		w.pending = append(w.pending, v)
	}
}

func (w *blackholeWriter[T]) Flush(bool) error {
	if len(w.pending) > 0 {
		w.b.mu.Lock()
		w.b.kept = append(w.b.kept, w.pending...)
		w.b.mu.Unlock()
		w.pending = nil
	}
	return nil
}

func (w *blackholeWriter[T]) Close() error { return w.Flush(false) }
