package state_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/freshet-io/freshet/state"
)

// store is a Store for one key: cells in a map.
type store map[string]any

type cell struct {
	s    store
	name string
}

func (s store) Cell(name string) state.Cell { return cell{s, name} }
func (c cell) Load() (any, bool)            { v, ok := c.s[c.name]; return v, ok }
func (c cell) Store(v any)                  { c.s[c.name] = v }
func (c cell) Clear()                       { delete(c.s, c.name) }

func TestValueListMap(t *testing.T) {
	s := store{}
	v := state.Value[int](s, "v")
	if _, ok := v.Value(); ok {
		t.Fatal("empty value state has a value")
	}
	v.Update(3)
	if n, ok := v.Value(); !ok || n != 3 {
		t.Fatalf("Value = %d, %v", n, ok)
	}
	v.Clear()
	if _, ok := v.Value(); ok {
		t.Fatal("cleared value state has a value")
	}

	l := state.List[string](s, "l")
	l.Add("a")
	l.Add("b")
	if got := l.Get(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("list %v", got)
	}
	l.Update(nil)
	if l.Get() != nil {
		t.Fatal("updating to empty should clear")
	}

	m := state.Map[string, int](s, "m")
	m.Put("x", 1)
	m.Put("y", 2)
	if n, ok := m.Get("y"); !ok || n != 2 || !m.Contains("x") || m.Len() != 2 {
		t.Fatalf("map state wrong: %v", s["m"])
	}
	if got := maps.Collect(m.All()); len(got) != 2 || got["x"] != 1 {
		t.Fatalf("All = %v", got)
	}
	m.Remove("x")
	m.Remove("y")
	if _, ok := s["m"]; ok {
		t.Fatal("an emptied map state should be cleared")
	}
}
