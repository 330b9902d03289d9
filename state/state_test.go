package state_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/state"
)

// store is a Store for one key: cells in a map, checked against their
// descriptors as the runtime's store checks them. inPlace is what its
// cells' InPlace report.
type store struct {
	vals    map[string]any
	descs   map[string]state.Descriptor
	inPlace bool
	failed  []error
	now     int64 // processing time
}

func newStore(inPlace bool) *store {
	return &store{vals: map[string]any{}, descs: map[string]state.Descriptor{}, inPlace: inPlace}
}

type cell struct {
	s    *store
	name string
}

func (s *store) Cell(d state.Descriptor) state.Cell {
	if err := d.Err(); err != nil {
		s.Fail(err)
		return cell{s: newStore(s.inPlace), name: d.Name()}
	}
	if prev, ok := s.descs[d.Name()]; ok && !state.Compatible(prev, d) {
		s.Fail(state.Mismatch(prev, d))
		return cell{s: newStore(s.inPlace), name: d.Name()}
	}
	s.descs[d.Name()] = d
	return cell{s, d.Name()}
}
func (s *store) Fail(err error)  { s.failed = append(s.failed, err) }
func (s *store) Now() int64      { return s.now }
func (c cell) Load() (any, bool) { v, ok := c.s.vals[c.name]; return v, ok }
func (c cell) Store(v any)       { c.s.vals[c.name] = v }
func (c cell) Clear()            { delete(c.s.vals, c.name) }
func (c cell) InPlace() bool     { return c.s.inPlace }

// both runs a test against a store whose cells allow changes in place and
// one whose cells do not.
func both(t *testing.T, f func(t *testing.T, s *store)) {
	for _, inPlace := range []bool{true, false} {
		name := "copying"
		if inPlace {
			name = "in-place"
		}
		t.Run(name, func(t *testing.T) {
			s := newStore(inPlace)
			f(t, s)
			if len(s.failed) > 0 {
				t.Fatalf("store failed: %v", s.failed)
			}
		})
	}
}

var (
	counter = state.NewValue("count", state.WithDefault(10))
	names   = state.NewList[string]("names")
	lasts   = state.NewMap[string, []int]("lasts")
	sum     = state.NewReducing("sum", func(a, b int) int { return a + b })
	mean    = state.NewAggregating[int, meanAcc, float64]("mean", meanAgg{})
)

func TestValueWithDefault(t *testing.T) {
	both(t, func(t *testing.T, s *store) {
		v := state.Value(s, counter)
		if n, ok := v.Value(); ok || n != 10 {
			t.Fatalf("new key: Value = %d, %v; want the default 10, false", n, ok)
		}
		v.Update(3)
		if n, ok := v.Value(); !ok || n != 3 {
			t.Fatalf("Value = %d, %v; want 3, true", n, ok)
		}
		v.Clear()
		if n, ok := v.Value(); ok || n != 10 {
			t.Fatalf("cleared: Value = %d, %v; want 10, false", n, ok)
		}
		if _, ok := s.vals["count"]; ok {
			t.Fatal("a cleared value is still stored")
		}
	})
}

// TestValueIsCopied: a value holding a slice is copied in and out, so
// neither the caller's slice nor a read one aliases the stored value.
func TestValueIsCopied(t *testing.T) {
	d := state.NewValue[[]int]("xs")
	both(t, func(t *testing.T, s *store) {
		v := state.Value(s, d)
		in := []int{1, 2}
		v.Update(in)
		in[0] = 99
		out, _ := v.Value()
		out[1] = 98
		if got, _ := v.Value(); !slices.Equal(got, []int{1, 2}) {
			t.Fatalf("stored value changed through the caller's slices: %v", got)
		}
	})
}

func TestListAddUpdateGet(t *testing.T) {
	both(t, func(t *testing.T, s *store) {
		l := state.List(s, names)
		if got := l.Get(); got != nil {
			t.Fatalf("new key: Get = %v, want nil", got)
		}
		l.Add("a")
		l.Add("b")
		l.AddAll([]string{"c", "d"})
		got := l.Get()
		if !slices.Equal(got, []string{"a", "b", "c", "d"}) {
			t.Fatalf("Get = %v, want [a b c d]", got)
		}
		got[0] = "changed"
		if l.Get()[0] != "a" {
			t.Fatal("Get returned the stored list, not a copy")
		}
		before := s.vals["names"].([]string)
		l.Update([]string{"x"})
		if !slices.Equal(l.Get(), []string{"x"}) || len(before) != 4 || before[0] != "a" {
			t.Fatalf("Update: list %v, earlier stored list %v", l.Get(), before)
		}
		l.Update(nil)
		if _, ok := s.vals["names"]; ok || l.Get() != nil {
			t.Fatal("updating to an empty list should clear it")
		}
	})
}

func TestMapPutGetRemoveIterate(t *testing.T) {
	both(t, func(t *testing.T, s *store) {
		m := state.Map(s, lasts)
		m.Put("x", []int{1})
		stored := s.vals["lasts"].(map[string][]int)
		m.Put("y", []int{2, 3})
		if !s.inPlace && len(stored) != 1 {
			t.Fatalf("Put changed the map the copying store holds before writing back: %v", stored)
		}
		if got := s.vals["lasts"].(map[string][]int); len(got) != 2 {
			t.Fatalf("Put did not write the map back: %v", got)
		}
		if v, ok := m.Get("y"); !ok || !slices.Equal(v, []int{2, 3}) || !m.Contains("x") || m.Contains("z") || m.Len() != 2 {
			t.Fatalf("Get(y) = %v, %v; Contains x %v, z %v; Len %d", v, ok, m.Contains("x"), m.Contains("z"), m.Len())
		}
		v, _ := m.Get("y")
		v[0] = 99
		if v, _ := m.Get("y"); v[0] != 2 {
			t.Fatal("Get returned the stored value, not a copy")
		}
		got := map[string][]int{}
		for k, v := range m.All() {
			got[k] = v
		}
		if !maps.EqualFunc(got, map[string][]int{"x": {1}, "y": {2, 3}}, slices.Equal) {
			t.Fatalf("All = %v", got)
		}
		m.Remove("x")
		m.Remove("nothing")
		if _, ok := m.Get("x"); ok || m.Len() != 1 {
			t.Fatalf("after Remove(x): Len %d", m.Len())
		}
		m.Remove("y")
		if _, ok := s.vals["lasts"]; ok {
			t.Fatal("removing the last key should clear the state")
		}
		m.Put("z", nil)
		m.Clear()
		if m.Len() != 0 {
			t.Fatal("Clear left entries")
		}
	})
}

func TestReducing(t *testing.T) {
	both(t, func(t *testing.T, s *store) {
		r := state.Reducing(s, sum)
		if _, ok := r.Get(); ok {
			t.Fatal("new key has a reduced value")
		}
		for _, v := range []int{4, 5, 6} {
			r.Add(v)
		}
		if n, ok := r.Get(); !ok || n != 15 {
			t.Fatalf("Get = %d, %v; want 15, true", n, ok)
		}
		r.Clear()
		if _, ok := r.Get(); ok {
			t.Fatal("cleared reducing state has a value")
		}
	})
}

// meanAgg averages ints; its accumulator holds a slice to exercise copies.
type meanAgg struct{}

type meanAcc struct{ Seen []int }

func (meanAgg) CreateAccumulator() meanAcc { return meanAcc{} }
func (meanAgg) Add(v int, a meanAcc) meanAcc {
	a.Seen = append(a.Seen, v)
	return a
}
func (meanAgg) GetResult(a meanAcc) float64 {
	t := 0
	for _, v := range a.Seen {
		t += v
	}
	return float64(t) / float64(len(a.Seen))
}
func (meanAgg) Merge(a, b meanAcc) meanAcc { return meanAcc{append(a.Seen, b.Seen...)} }

func TestAggregating(t *testing.T) {
	both(t, func(t *testing.T, s *store) {
		a := state.Aggregating(s, mean)
		if _, ok := a.Get(); ok {
			t.Fatal("new key has an aggregate")
		}
		for _, v := range []int{1, 2, 6} {
			a.Add(v)
		}
		if m, ok := a.Get(); !ok || m != 3 {
			t.Fatalf("Get = %v, %v; want 3, true", m, ok)
		}
		if acc := s.vals["mean"].(meanAcc); !slices.Equal(acc.Seen, []int{1, 2, 6}) {
			t.Fatalf("stored accumulator %v", acc)
		}
		a.Clear()
		if _, ok := a.Get(); ok {
			t.Fatal("cleared aggregating state has an aggregate")
		}
	})
}

func TestDescriptors(t *testing.T) {
	if got := lasts.String(); got != `MapState[string, []int] "lasts"` {
		t.Fatalf("String = %s", got)
	}
	if lasts.Kind() != state.KindMap || lasts.Type().String() != "map[string][]int" {
		t.Fatalf("Kind %v, Type %v", lasts.Kind(), lasts.Type())
	}
	b, err := lasts.Encode(nil, map[string][]int{"a": {1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := lasts.Decode(b)
	if err != nil || !slices.Equal(v.(map[string][]int)["a"], []int{1, 2}) {
		t.Fatalf("Decode = %v, %v", v, err)
	}
	if _, err := names.Decode(append(b, 0)); !errors.Is(err, codec.ErrCorrupt) {
		t.Fatalf("decoding garbage: %v, want ErrCorrupt", err)
	}

	// A codec given with WithCodec is the one used.
	c := &countingCodec{}
	d := state.NewList("with-codec", state.WithCodec[int](c))
	if _, err := d.Encode(nil, []int{1, 2, 3}); err != nil || c.n != 3 {
		t.Fatalf("Encode: %v; the given codec encoded %d values, want 3", err, c.n)
	}

	for _, tc := range []struct {
		d    state.Descriptor
		want string
	}{
		{state.NewValue[func()]("f"), `ValueState[func()] "f": no codec for func()`},
		{state.NewValue[int](""), "the state has no name"},
		{state.NewList("l", state.WithDefault(1)), "WithDefault applies to value state, not ListState"},
		{state.NewMap[chan int, int]("m"), "no codec for the map's key type chan int"},
		{state.NewReducing[int]("r", nil), "the reduce function is nil"},
	} {
		err := tc.d.Err()
		if !errors.Is(err, state.ErrIncompatibleState) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Err = %v, want ErrIncompatibleState saying %q", tc.d, err, tc.want)
		}
	}
}

type countingCodec struct{ n int }

func (c *countingCodec) Append(dst []byte, v int) []byte {
	c.n++
	return codec.Must[int]().Append(dst, v)
}
func (c *countingCodec) Decode(src []byte) (int, int, error) { return codec.Must[int]().Decode(src) }

// TestWrongTypeFails: a name used with a descriptor of another kind or
// type fails with an error that names the state.
func TestWrongTypeFails(t *testing.T) {
	s := newStore(true)
	state.Value(s, state.NewValue[int]("n")).Update(1)
	state.List(s, state.NewList[int]("n")).Add(2)
	state.Value(s, state.NewValue[string]("n")).Update("x")
	if len(s.failed) != 2 {
		t.Fatalf("failures %v, want 2", s.failed)
	}
	for i, want := range []string{
		`state "n" is used as ListState[int] but was declared as ValueState[int]`,
		`state "n" is used as ValueState[string] but was declared as ValueState[int]`,
	} {
		if !errors.Is(s.failed[i], state.ErrIncompatibleState) || !strings.Contains(s.failed[i].Error(), want) {
			t.Errorf("failure %d = %v, want %q", i, s.failed[i], want)
		}
	}
	if v := s.vals["n"]; v != 1 {
		t.Fatalf("the state holds %v, want the 1 written before", v)
	}
}
