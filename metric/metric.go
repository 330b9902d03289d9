// Package metric lets a connector or a user function report metrics of its
// own, as Flink's MetricGroup does: a Group, one per operator and subtask,
// hands out named counters and gauges, and the runtime shows their values
// beside its own in the REST API (the "user-metrics" of each subtask) and
// in Prometheus (freshet_operator_<name>, labelled with the job, vertex,
// subtask and operator).
//
// A reader gets its group from source.ReaderContext.Metrics, a sink writer
// from sink.InitContext.Metrics and a function from
// freshet.RuntimeContext.Metrics. Readers and writers are made per
// subtask: they register their metrics once and keep them.
//
//	r := &reader{bytesRead: ctx.Metrics().Counter("bytesRead"), lag: ctx.Metrics().Gauge("lag")}
//
// A function value is shared by the subtasks of its operator, so it finds
// its metrics through the call's context; finding one registered before
// takes no lock and does not allocate:
//
//	func (parse) ProcessElement(ctx *freshet.Context, line string, out freshet.Collector[Event]) error {
//		e, err := parseEvent(line)
//		if err != nil {
//			ctx.Runtime().Metrics().Counter("badLines").Inc()
//			return nil
//		}
//		out.Collect(e)
//		return nil
//	}
//
// Updates are one atomic operation with no allocation, safe from any
// goroutine.
//
// A name is an ASCII letter followed by letters, digits and underscores,
// at most 128 of them: Flink's usual camelCase names (bytesRead, numPending)
// are valid and reach Prometheus unchanged. A name outside that rule, or
// one registered as a counter and then as a gauge in the same group, is a
// programming error and panics at registration, naming the metric; in an
// operator the runtime turns the panic into the subtask's failure, which
// names the operator.
package metric

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"sort"
	"sync"
	"sync/atomic"
)

// Counter counts up (or down, with a negative Add). The zero value is 0
// and ready to use, but only a Counter from a Group is reported.
type Counter struct{ n atomic.Int64 }

// Inc adds 1.
func (c *Counter) Inc() { c.n.Add(1) }

// Add adds n.
func (c *Counter) Add(n int64) { c.n.Add(n) }

// Count returns the current count.
func (c *Counter) Count() int64 { return c.n.Load() }

// Gauge holds the latest value set. The zero value is 0 and ready to use,
// but only a Gauge from a Group is reported.
type Gauge struct{ bits atomic.Uint64 }

// Set makes v the gauge's value.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Value returns the value last set.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// Kind is what a metric is.
type Kind uint8

const (
	// KindCounter is a Counter.
	KindCounter Kind = iota + 1
	// KindGauge is a Gauge.
	KindGauge
)

func (k Kind) String() string {
	switch k {
	case KindCounter:
		return "counter"
	case KindGauge:
		return "gauge"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Value is one metric of a group at one moment.
type Value struct {
	Name  string
	Kind  Kind
	Value float64
}

// Group is the metrics of one operator in one subtask. It is safe for
// concurrent use; finding a metric registered before takes no lock and
// does not allocate. A nil *Group hands out metrics that count but are
// reported nowhere (a context without a registry).
type Group struct {
	// metrics holds every *Counter and *Gauge by name; a registration
	// replaces the whole map, under mu.
	metrics atomic.Pointer[map[string]any]
	mu      sync.Mutex
}

// NewGroup returns an empty group.
func NewGroup() *Group { return &Group{} }

// Counter returns the counter called name, registering it the first time:
// the same name gives the same counter. It panics when name is not valid
// (see ValidName) or already names a gauge of g.
func (g *Group) Counter(name string) *Counter {
	return register(g, name, KindCounter, func() *Counter { return &Counter{} })
}

// Gauge returns the gauge called name, registering it the first time: the
// same name gives the same gauge. It panics when name is not valid (see
// ValidName) or already names a counter of g.
func (g *Group) Gauge(name string) *Gauge {
	return register(g, name, KindGauge, func() *Gauge { return &Gauge{} })
}

// register returns the metric called name of g, registering a new one
// the first time.
func register[M any](g *Group, name string, kind Kind, newMetric func() *M) *M {
	if g == nil {
		mustValid(name)
		return newMetric()
	}
	if m := g.metrics.Load(); m != nil {
		if v, ok := (*m)[name]; ok {
			return as[M](v, name, kind)
		}
	}
	mustValid(name)
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.metrics.Load()
	if old != nil {
		if v, ok := (*old)[name]; ok {
			return as[M](v, name, kind)
		}
	}
	next := make(map[string]any, 1)
	if old != nil {
		next = maps.Clone(*old)
	}
	v := newMetric()
	next[name] = v
	g.metrics.Store(&next)
	return v
}

// as is v as an *M, or a panic saying that name is of the other kind.
func as[M any](v any, name string, kind Kind) *M {
	if m, ok := v.(*M); ok {
		return m
	}
	other := KindGauge
	if kind == KindGauge {
		other = KindCounter
	}
	panic(fmt.Sprintf("freshet: metric %q is registered as a %s, not a %s", name, other, kind))
}

// Values returns the current value of every metric of g, by name.
func (g *Group) Values() []Value {
	if g == nil {
		return nil
	}
	m := g.metrics.Load()
	if m == nil {
		return []Value{}
	}
	out := make([]Value, 0, len(*m))
	for n, v := range *m {
		switch v := v.(type) {
		case *Counter:
			out = append(out, Value{Name: n, Kind: KindCounter, Value: float64(v.Count())})
		case *Gauge:
			out = append(out, Value{Name: n, Kind: KindGauge, Value: v.Value()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ErrInvalidName is wrapped by the error of ValidName, and the panic of
// a registration, for a name that is not a valid metric name.
var ErrInvalidName = errors.New("freshet: invalid metric name")

// MaxNameLen is the longest valid metric name.
const MaxNameLen = 128

// ValidName returns an error when name is not a valid metric name: an
// ASCII letter followed by ASCII letters, digits and underscores, at most
// MaxNameLen in all.
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("%w %q: empty", ErrInvalidName, name)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w %q: longer than %d", ErrInvalidName, name, MaxNameLen)
	}
	for i, c := range name {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !letter {
			return fmt.Errorf("%w %q: it must start with an ASCII letter", ErrInvalidName, name)
		}
		if !letter && !(c >= '0' && c <= '9') && c != '_' {
			return fmt.Errorf("%w %q: %q at %d is not an ASCII letter, digit or '_'", ErrInvalidName, name, c, i)
		}
	}
	return nil
}

func mustValid(name string) {
	if err := ValidName(name); err != nil {
		panic(err)
	}
}
