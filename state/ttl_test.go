package state_test

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet/state"
)

// bytesStore is a Store whose cells keep their values encoded with the
// descriptor's codec, as a backend that keeps bytes does.
type bytesStore struct {
	*store
}

type bytesCell struct {
	s *store
	d state.Descriptor
}

func (s bytesStore) Cell(d state.Descriptor) state.Cell {
	c := s.store.Cell(d).(cell)
	if c.s != s.store {
		return c // refused
	}
	return bytesCell{s.store, d}
}

func (c bytesCell) Load() (any, bool) {
	b, ok := c.s.vals[c.d.Name()]
	if !ok {
		return nil, false
	}
	v, err := c.d.Decode(b.([]byte))
	if err != nil {
		c.s.Fail(err)
		return nil, false
	}
	return v, true
}

func (c bytesCell) Store(v any) {
	b, err := c.d.Encode(nil, v)
	if err != nil {
		c.s.Fail(err)
		return
	}
	c.s.vals[c.d.Name()] = b
}
func (c bytesCell) Clear()        { delete(c.s.vals, c.d.Name()) }
func (c bytesCell) InPlace() bool { return false }

// ttlStores runs a test against an in-place, a copying and a serializing
// store; f gets the Store to use, the store whose clock to set and a
// function that decodes what is stored under a name (nil if nothing).
func ttlStores(t *testing.T, f func(t *testing.T, st state.Store, s *store, stored func(name string) any)) {
	for _, mode := range []string{"in-place", "copying", "bytes"} {
		t.Run(mode, func(t *testing.T) {
			s := newStore(mode == "in-place")
			var st state.Store = s
			stored := func(name string) any { return s.vals[name] }
			if mode == "bytes" {
				st = bytesStore{s}
				stored = func(name string) any {
					b, ok := s.vals[name]
					if !ok {
						return nil
					}
					v, err := s.descs[name].Decode(b.([]byte))
					if err != nil {
						t.Fatalf("decoding %s: %v", name, err)
					}
					return v
				}
			}
			f(t, st, s, stored)
			if len(s.failed) > 0 {
				t.Fatalf("store failed: %v", s.failed)
			}
		})
	}
}

// storedLen is the number of elements or entries stored: the length of a
// stored list or map, 1 for another stored value, 0 for none.
func storedLen(v any) int {
	if v == nil {
		return 0
	}
	if r := reflect.ValueOf(v); r.Kind() == reflect.Slice || r.Kind() == reflect.Map {
		return r.Len()
	}
	return 1
}

func ttl(ms int, u state.UpdateType, vis state.Visibility) state.TTL {
	return state.TTL{Duration: time.Duration(ms) * time.Millisecond, Update: u, Visibility: vis}
}

func TestTTLValue(t *testing.T) {
	type read struct {
		at   int64
		want int
		ok   bool
	}
	for _, tc := range []struct {
		name  string
		ttl   state.TTL
		reads []read // after an Update(1) at time 0
	}{
		// A value written at 0 with a TTL of 100ms expires at 100.
		{"OnCreateAndWrite/NeverReturnExpired", ttl(100, state.OnCreateAndWrite, state.NeverReturnExpired),
			[]read{{50, 1, true}, {99, 1, true}, {100, -1, false}, {101, -1, false}}},
		// Reads renew: read at 50 and 149, expired at 249.
		{"OnReadAndWrite/NeverReturnExpired", ttl(100, state.OnReadAndWrite, state.NeverReturnExpired),
			[]read{{50, 1, true}, {149, 1, true}, {249, -1, false}}},
		// Reads do not renew: the read at 99 does not stop expiry at 100.
		{"OnCreateAndWrite/ReturnExpiredIfNotCleanedUp", ttl(100, state.OnCreateAndWrite, state.ReturnExpiredIfNotCleanedUp),
			[]read{{99, 1, true}, {100, 1, true}, {100, -1, false}}},
		{"OnReadAndWrite/ReturnExpiredIfNotCleanedUp", ttl(100, state.OnReadAndWrite, state.ReturnExpiredIfNotCleanedUp),
			[]read{{99, 1, true}, {198, 1, true}, {400, 1, true}, {400, -1, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := state.NewValue("v", state.WithDefault(-1)).WithTTL(tc.ttl)
			ttlStores(t, func(t *testing.T, st state.Store, s *store, stored func(string) any) {
				v := state.Value(st, d)
				v.Update(1)
				for _, r := range tc.reads {
					s.now = r.at
					if got, ok := v.Value(); got != r.want || ok != r.ok {
						t.Fatalf("at %d: Value = %d, %v; want %d, %v", r.at, got, ok, r.want, r.ok)
					}
				}
				// The read of the expired value removed it.
				if v := stored("v"); v != nil {
					t.Fatalf("an expired value that was read is still stored: %v", v)
				}
				// A write renews: written at 1000, alive until 1100.
				s.now = 1000
				v.Update(2)
				s.now = 1099
				if got, ok := v.Value(); got != 2 || !ok {
					t.Fatalf("at 1099: Value = %d, %v; want 2, true", got, ok)
				}
			})
		})
	}
}

// TestTTLUpdateRenews: with OnCreateAndWrite an Update renews the value;
// an expired value not read yet stays stored until it is read.
func TestTTLUpdateRenews(t *testing.T) {
	d := state.NewValue[string]("v").WithTTL(ttl(100, state.OnCreateAndWrite, state.NeverReturnExpired))
	ttlStores(t, func(t *testing.T, st state.Store, s *store, stored func(string) any) {
		v := state.Value(st, d)
		v.Update("a")
		s.now = 80
		v.Update("b")
		s.now = 179
		if got, ok := v.Value(); got != "b" || !ok {
			t.Fatalf("at 179: Value = %q, %v; want b, true", got, ok)
		}
		s.now = 500
		if storedLen(stored("v")) != 1 {
			t.Fatal("an expired value was removed before anything read it")
		}
		if _, ok := v.Value(); ok || stored("v") != nil {
			t.Fatalf("at 500: value seen (%v) or still stored (%v)", ok, stored("v"))
		}
	})
}

func TestTTLListPerElement(t *testing.T) {
	for _, tc := range []struct {
		name string
		ttl  state.TTL
		// reads after Add(a) at 0 and Add(b) at 50: the time, the list
		// read and the number of elements stored after it.
		reads []struct {
			at     int64
			want   []string
			stored int
		}
	}{
		{"OnCreateAndWrite/NeverReturnExpired", ttl(100, state.OnCreateAndWrite, state.NeverReturnExpired), []struct {
			at     int64
			want   []string
			stored int
		}{{99, []string{"a", "b"}, 2}, {100, []string{"b"}, 1}, {150, nil, 0}}},
		{"OnCreateAndWrite/ReturnExpiredIfNotCleanedUp", ttl(100, state.OnCreateAndWrite, state.ReturnExpiredIfNotCleanedUp), []struct {
			at     int64
			want   []string
			stored int
		}{{100, []string{"a", "b"}, 1}, {100, []string{"b"}, 1}, {150, []string{"b"}, 0}, {150, nil, 0}}},
		// The read at 90 renews both elements until 190.
		{"OnReadAndWrite/NeverReturnExpired", ttl(100, state.OnReadAndWrite, state.NeverReturnExpired), []struct {
			at     int64
			want   []string
			stored int
		}{{90, []string{"a", "b"}, 2}, {189, []string{"a", "b"}, 2}, {289, nil, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := state.NewList[string]("l").WithTTL(tc.ttl)
			ttlStores(t, func(t *testing.T, st state.Store, s *store, stored func(string) any) {
				l := state.List(st, d)
				l.Add("a")
				s.now = 50
				l.AddAll([]string{"b"})
				for _, r := range tc.reads {
					s.now = r.at
					if got := l.Get(); !slices.Equal(got, r.want) {
						t.Fatalf("at %d: Get = %v, want %v", r.at, got, r.want)
					}
					if n := storedLen(stored("l")); n != r.stored {
						t.Fatalf("at %d: %d elements stored after the read, want %d", r.at, n, r.stored)
					}
				}
				s.now = 1000
				l.Update([]string{"x", "y"})
				s.now = 1099
				if got := l.Get(); !slices.Equal(got, []string{"x", "y"}) {
					t.Fatalf("after Update: Get = %v", got)
				}
			})
		})
	}
}

func TestTTLMapPerEntry(t *testing.T) {
	d := state.NewMap[string, []int]("m").WithTTL(ttl(100, state.OnCreateAndWrite, state.NeverReturnExpired))
	ttlStores(t, func(t *testing.T, st state.Store, s *store, stored func(string) any) {
		m := state.Map(st, d)
		m.Put("x", []int{1})
		s.now = 50
		m.Put("y", []int{2})
		m.Put("z", []int{3})
		s.now = 100 // x expires
		if v, ok := m.Get("x"); ok {
			t.Fatalf("at 100: Get(x) = %v, true; want it expired", v)
		}
		if n := storedLen(stored("m")); n != 2 {
			t.Fatalf("reading the expired x left %d entries stored, want 2", n)
		}
		if v, ok := m.Get("y"); !ok || !slices.Equal(v, []int{2}) || !m.Contains("z") {
			t.Fatalf("at 100: Get(y) = %v, %v; Contains(z) %v", v, ok, m.Contains("z"))
		}
		s.now = 120
		m.Put("z", []int{4}) // renewed until 220
		s.now = 150          // y expires
		got := maps.Collect(m.All())
		if !maps.EqualFunc(got, map[string][]int{"z": {4}}, slices.Equal) || m.Len() != 1 || storedLen(stored("m")) != 1 {
			t.Fatalf("at 150: All = %v, Len %d, %d stored; want only z", got, m.Len(), storedLen(stored("m")))
		}
		s.now = 220
		if m.Len() != 0 || stored("m") != nil {
			t.Fatalf("at 220: Len %d, stored %v; want the state cleared", m.Len(), stored("m"))
		}
	})
}

func TestTTLMapVisibilityAndReadUpdates(t *testing.T) {
	t.Run("ReturnExpiredIfNotCleanedUp", func(t *testing.T) {
		d := state.NewMap[string, int]("m").WithTTL(ttl(100, state.OnCreateAndWrite, state.ReturnExpiredIfNotCleanedUp))
		ttlStores(t, func(t *testing.T, st state.Store, s *store, stored func(string) any) {
			m := state.Map(st, d)
			m.Put("x", 1)
			m.Put("y", 2)
			s.now = 100
			if v, ok := m.Get("x"); !ok || v != 1 {
				t.Fatalf("Get(x) = %d, %v; want the expired 1 once", v, ok)
			}
			if _, ok := m.Get("x"); ok {
				t.Fatal("Get(x) saw x after it was cleaned up")
			}
			if got := maps.Collect(m.All()); !maps.Equal(got, map[string]int{"y": 2}) || stored("m") != nil {
				t.Fatalf("All = %v (want the expired y once), stored %v", got, stored("m"))
			}
		})
	})
	t.Run("OnReadAndWrite", func(t *testing.T) {
		d := state.NewMap[string, int]("m").WithTTL(ttl(100, state.OnReadAndWrite, state.NeverReturnExpired))
		ttlStores(t, func(t *testing.T, st state.Store, s *store, stored func(string) any) {
			m := state.Map(st, d)
			m.Put("x", 1)
			m.Put("y", 2)
			m.Put("z", 3)
			s.now = 50
			m.Get("x") // renews x until 150
			s.now = 120
			if m.Contains("y") || m.Contains("z") || !m.Contains("x") {
				t.Fatal("at 120: y and z should have expired, x not")
			}
			m.Put("y", 2)
			s.now = 200 // Contains(x) at 120 renewed x until 220
			for range m.All() {
				break // All renews every live entry, even those it does not reach
			}
			s.now = 299
			if got := maps.Collect(m.All()); !maps.Equal(got, map[string]int{"x": 1, "y": 2}) {
				t.Fatalf("at 299: All = %v, want x and y, renewed at 200", got)
			}
			s.now = 399 // renewed at 299
			if m.Len() != 0 || stored("m") != nil {
				t.Fatalf("at 399: Len %d, stored %v; want all expired", m.Len(), stored("m"))
			}
			// A Put while All runs stays.
			m.Put("a", 1)
			for range m.All() {
				m.Put("b", 2)
			}
			if !m.Contains("b") {
				t.Fatal("a Put during All was lost")
			}
		})
	})
}

func TestTTLReducingAndAggregating(t *testing.T) {
	for _, vis := range []state.Visibility{state.NeverReturnExpired, state.ReturnExpiredIfNotCleanedUp} {
		t.Run(vis.String(), func(t *testing.T) {
			sumD := state.NewReducing("sum", func(a, b int) int { return a + b }).WithTTL(ttl(100, state.OnCreateAndWrite, vis))
			meanD := state.NewAggregating[int, meanAcc, float64]("mean", meanAgg{}).WithTTL(ttl(100, state.OnCreateAndWrite, vis))
			ttlStores(t, func(t *testing.T, st state.Store, s *store, stored func(string) any) {
				sum, mean := state.Reducing(st, sumD), state.Aggregating(st, meanD)
				sum.Add(1)
				mean.Add(1)
				s.now = 60
				sum.Add(2) // renews until 160
				mean.Add(3)
				s.now = 159
				if n, ok := sum.Get(); n != 3 || !ok {
					t.Fatalf("at 159: sum = %d, %v; want 3", n, ok)
				}
				if m, ok := mean.Get(); m != 2 || !ok {
					t.Fatalf("at 159: mean = %v, %v; want 2", m, ok)
				}
				// Adding to an expired value: NeverReturnExpired starts
				// anew; ReturnExpiredIfNotCleanedUp reduces into the
				// expired value, as Flink's TTL reduce function does.
				s.now = 160
				sum.Add(10)
				mean.Add(10)
				wantSum, wantMean := 10, 10.0
				if vis == state.ReturnExpiredIfNotCleanedUp {
					wantSum, wantMean = 13, 14.0/3
				}
				if n, _ := sum.Get(); n != wantSum {
					t.Fatalf("at 160: sum = %d, want %d", n, wantSum)
				}
				if m, _ := mean.Get(); m != wantMean {
					t.Fatalf("at 160: mean = %v, want %v", m, wantMean)
				}
				s.now = 260
				n, ok := sum.Get()
				_, mok := mean.Get()
				if ok != (vis == state.ReturnExpiredIfNotCleanedUp) || ok != mok {
					t.Fatalf("at 260: sum %d, %v, mean %v; want them only with ReturnExpiredIfNotCleanedUp", n, ok, mok)
				}
				if _, ok := sum.Get(); ok || stored("sum") != nil || stored("mean") != nil {
					t.Fatal("expired values read are still stored")
				}
			})
		})
	}
}

func TestTTLDescriptors(t *testing.T) {
	d := state.NewValue[int]("v").WithTTL(state.TTL{Duration: time.Minute})
	if got := d.String(); got != `ValueState[int] with TTL 1m0s "v"` {
		t.Fatalf("String = %s", got)
	}
	if cfg, ok := state.TTLOf(d); !ok || cfg.Duration != time.Minute || cfg.Update != state.OnCreateAndWrite || cfg.Visibility != state.NeverReturnExpired {
		t.Fatalf("TTLOf = %+v, %v", cfg, ok)
	}
	if _, ok := state.TTLOf(counter); ok {
		t.Fatal("a descriptor without a TTL reports one")
	}
	plain := state.NewValue[int]("v")
	if state.Compatible(plain, d) || plain.Type() == d.Type() {
		t.Fatal("a state with a TTL is compatible with one without: their stored forms differ")
	}
	if d2 := d.WithTTL(state.TTL{Duration: time.Second}); d2.String() != `ValueState[int] with TTL 1s "v"` || d.String() != `ValueState[int] with TTL 1m0s "v"` {
		t.Fatalf("WithTTL again: %s (from %s)", d2, d)
	}

	for _, tc := range []struct {
		d    state.Descriptor
		want string
	}{
		{state.NewValue[int]("zero").WithTTL(state.TTL{}), `ValueState[int] with TTL 0s "zero": the TTL 0s is not positive`},
		{state.NewList[int]("neg").WithTTL(state.TTL{Duration: -time.Second}), `ListState[int] with TTL -1s "neg": the TTL -1s is not positive`},
		{state.NewMap[string, int]("tiny").WithTTL(state.TTL{Duration: time.Microsecond}), `"tiny": the TTL 1µs is not positive (it must be at least 1ms)`},
		{state.NewReducing("r", func(a, b int) int { return a }).WithTTL(state.TTL{Duration: time.Second, CleanupIncrementally: -1}), "CleanupIncrementally is -1"},
		{state.NewAggregating[int, meanAcc, float64]("a", meanAgg{}).WithTTL(state.TTL{Duration: time.Second, Update: 7}), "unknown TTL update type UpdateType(7)"},
	} {
		err := tc.d.Err()
		if !errors.Is(err, state.ErrIncompatibleState) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Err = %v, want ErrIncompatibleState saying %q", tc.d, err, tc.want)
		}
	}

	// An invalid TTL fails the first use of the state, naming it.
	s := newStore(true)
	state.Value(s, state.NewValue[int]("bad").WithTTL(state.TTL{})).Update(1)
	if len(s.failed) != 1 || !strings.Contains(s.failed[0].Error(), `"bad"`) {
		t.Fatalf("failures %v, want one naming the state", s.failed)
	}
}

// TestTTLEncoding: the stored form carries the last-access time through
// the descriptor's codec.
func TestTTLEncoding(t *testing.T) {
	d := state.NewList[string]("l").WithTTL(state.TTL{Duration: 100 * time.Millisecond})
	s := newStore(true)
	s.now = 1 << 40 // a timestamp that needs all its bytes
	state.List(s, d).AddAll([]string{"a", "b"})
	b, err := d.Encode(nil, s.vals["l"])
	if err != nil {
		t.Fatal(err)
	}
	v, err := d.Decode(b)
	if err != nil || !reflect.DeepEqual(v, s.vals["l"]) {
		t.Fatalf("Decode = %v, %v; want %v", v, err, s.vals["l"])
	}
	if _, err := d.Decode(b[:len(b)-1]); err == nil {
		t.Fatal("decoding a cut encoding succeeded")
	}
	if got := d.Type().String(); got != "[]state.stamped[string]" {
		t.Fatalf("Type = %s", got)
	}
}

func TestCleanExpired(t *testing.T) {
	cfg := state.TTL{Duration: 100 * time.Millisecond}
	vd, ld, md := state.NewValue[int]("v").WithTTL(cfg), state.NewList[int]("l").WithTTL(cfg), state.NewMap[int, int]("m").WithTTL(cfg)
	s := newStore(true)
	state.Value(s, vd).Update(1)
	state.List(s, ld).Add(1)
	state.Map(s, md).Put(1, 1)
	s.now = 50
	state.List(s, ld).Add(2)
	state.Map(s, md).Put(2, 2)
	s.now = 100
	for _, tc := range []struct {
		d          state.Descriptor
		keep, chg  bool
		wantStored int
	}{{vd, false, true, 0}, {ld, true, true, 1}, {md, true, true, 1}, {counter, true, false, 1}} {
		v := s.vals[tc.d.Name()]
		if tc.d == counter {
			v = 3
		}
		before := storedLen(v)
		kept, keep, changed := state.CleanExpired(tc.d, v, s.now)
		if keep != tc.keep || changed != tc.chg || (keep && storedLen(kept) != tc.wantStored) || storedLen(v) != before {
			t.Errorf("%s: CleanExpired = %v, %v, %v (input now %d long, was %d)", tc.d, kept, keep, changed, storedLen(v), before)
		}
	}
}

// BenchmarkValueState: an Update and a Value per op, with and without a
// TTL, on an in-place store; state without a TTL pays a nil check.
func BenchmarkValueState(b *testing.B) {
	for _, tc := range []struct {
		name string
		d    *state.ValueDescriptor[int]
	}{
		{"no-ttl", state.NewValue[int]("v")},
		{"ttl", state.NewValue[int]("v").WithTTL(state.TTL{Duration: time.Hour})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := newStore(true)
			v := state.Value(s, tc.d)
			for i := range b.N {
				s.now = int64(i)
				n, _ := v.Value()
				v.Update(n + 1)
			}
		})
	}
}
