// Package metric lets a connector or a user function report metrics of its
// own, as Flink's MetricGroup does: a Group, one per operator and subtask,
// hands out named counters and gauges, and the runtime shows their values
// beside its own in the REST API (the "user-metrics" of each subtask) and
// in Prometheus (freshet_operator_<name>, labelled with the job, vertex,
// subtask and operator).
//
// A reader gets its group from source.ReaderContext.Metrics, a sink writer
// from sink.InitContext.Metrics and a function from
// freshet.RuntimeContext.Metrics:
//
//	func (f *parse) Open(rc *freshet.RuntimeContext) error {
//		f.bad = rc.Metrics().Counter("badLines")
//		return nil
//	}
//
// Updates are one atomic operation with no allocation, safe from any
// goroutine; register metrics once (in Open, CreateReader, CreateWriter)
// and keep them, rather than looking them up per record.
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
// concurrent use. A nil *Group hands out metrics that count but are
// reported nowhere (a context without a registry).
type Group struct {
	mu struct {
		sync.Mutex
		counters map[string]*Counter
		gauges   map[string]*Gauge
	}
}

// NewGroup returns an empty group.
func NewGroup() *Group {
	g := &Group{}
	g.mu.counters = map[string]*Counter{}
	g.mu.gauges = map[string]*Gauge{}
	return g
}

// Counter returns the counter called name, registering it the first time:
// the same name gives the same counter. It panics when name is not valid
// (see ValidName) or already names a gauge of g.
func (g *Group) Counter(name string) *Counter {
	mustValid(name)
	if g == nil {
		return &Counter{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.mu.counters[name]; ok {
		return c
	}
	if _, ok := g.mu.gauges[name]; ok {
		panic(fmt.Sprintf("freshet: metric %q is registered as a gauge, not a counter", name))
	}
	c := &Counter{}
	g.mu.counters[name] = c
	return c
}

// Gauge returns the gauge called name, registering it the first time: the
// same name gives the same gauge. It panics when name is not valid (see
// ValidName) or already names a counter of g.
func (g *Group) Gauge(name string) *Gauge {
	mustValid(name)
	if g == nil {
		return &Gauge{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if v, ok := g.mu.gauges[name]; ok {
		return v
	}
	if _, ok := g.mu.counters[name]; ok {
		panic(fmt.Sprintf("freshet: metric %q is registered as a counter, not a gauge", name))
	}
	v := &Gauge{}
	g.mu.gauges[name] = v
	return v
}

// Values returns the current value of every metric of g, by name.
func (g *Group) Values() []Value {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	out := make([]Value, 0, len(g.mu.counters)+len(g.mu.gauges))
	for n, c := range g.mu.counters {
		out = append(out, Value{Name: n, Kind: KindCounter, Value: float64(c.Count())})
	}
	for n, v := range g.mu.gauges {
		out = append(out, Value{Name: n, Kind: KindGauge, Value: v.Value()})
	}
	g.mu.Unlock()
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
