package metric

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestGroup(t *testing.T) {
	g := NewGroup()
	c := g.Counter("bytesRead")
	c.Inc()
	c.Add(41)
	if g.Counter("bytesRead") != c {
		t.Fatal("registering bytesRead again gave another counter")
	}
	lag := g.Gauge("lag")
	lag.Set(2.5)
	if g.Gauge("lag") != lag {
		t.Fatal("registering lag again gave another gauge")
	}
	want := []Value{{Name: "bytesRead", Kind: KindCounter, Value: 42}, {Name: "lag", Kind: KindGauge, Value: 2.5}}
	if got := g.Values(); !reflect.DeepEqual(got, want) {
		t.Errorf("Values() = %+v, want %+v", got, want)
	}
}

func TestGroupConcurrentUpdates(t *testing.T) {
	g := NewGroup()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := g.Counter("n")
			for range 1000 {
				c.Inc()
			}
		}()
	}
	wg.Wait()
	if n := g.Counter("n").Count(); n != 4000 {
		t.Errorf("count %d, want 4000", n)
	}
}

func TestNilGroup(t *testing.T) {
	var g *Group
	c := g.Counter("n")
	c.Add(3)
	if c.Count() != 3 || g.Values() != nil {
		t.Errorf("nil group: count %d, values %v", c.Count(), g.Values())
	}
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name, err string
	}{
		{"bytesRead", ""},
		{"records_lag_max", ""},
		{"a1", ""},
		{strings.Repeat("a", MaxNameLen), ""},
		{"", `freshet: invalid metric name "": empty`},
		{"1st", `freshet: invalid metric name "1st": it must start with an ASCII letter`},
		{"_x", `freshet: invalid metric name "_x": it must start with an ASCII letter`},
		{"bytes read", `freshet: invalid metric name "bytes read": ' ' at 5 is not an ASCII letter, digit or '_'`},
		{"lag.max", `freshet: invalid metric name "lag.max": '.' at 3 is not an ASCII letter, digit or '_'`},
		{"lagé", `freshet: invalid metric name "lagé": 'é' at 3 is not an ASCII letter, digit or '_'`},
		{strings.Repeat("a", MaxNameLen+1), `freshet: invalid metric name "` + strings.Repeat("a", MaxNameLen+1) + `": longer than 128`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidName(tc.name)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("ValidName: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.err || !errors.Is(err, ErrInvalidName) {
				t.Fatalf("ValidName = %v, want %s", err, tc.err)
			}
		})
	}
}

func TestRegistrationPanics(t *testing.T) {
	g := NewGroup()
	g.Counter("n")
	g.Gauge("lag")
	for _, tc := range []struct {
		what string
		f    func()
		want string
	}{
		{"bad counter name", func() { g.Counter("bytes read") }, `freshet: invalid metric name "bytes read": ' ' at 5 is not an ASCII letter, digit or '_'`},
		{"bad gauge name", func() { g.Gauge("") }, `freshet: invalid metric name "": empty`},
		{"counter as gauge", func() { g.Gauge("n") }, `freshet: metric "n" is registered as a counter, not a gauge`},
		{"gauge as counter", func() { g.Counter("lag") }, `freshet: metric "lag" is registered as a gauge, not a counter`},
	} {
		t.Run(tc.what, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if got := fmtPanic(r); got != tc.want {
					t.Errorf("panic %q, want %q", got, tc.want)
				}
			}()
			tc.f()
		})
	}
}

func fmtPanic(r any) string {
	if err, ok := r.(error); ok {
		return err.Error()
	}
	return r.(string)
}

// BenchmarkCounterInc is the cost of one update.
func BenchmarkCounterInc(b *testing.B) {
	c := NewGroup().Counter("n")
	b.ReportAllocs()
	for range b.N {
		c.Inc()
	}
}

// BenchmarkCounterLookup is the cost of finding a registered counter, as a
// function shared by subtasks does per element.
func BenchmarkCounterLookup(b *testing.B) {
	g := NewGroup()
	g.Counter("n")
	g.Gauge("lag")
	b.ReportAllocs()
	for range b.N {
		g.Counter("n").Inc()
	}
}
