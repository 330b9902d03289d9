package statebackend_test

import (
	"testing"

	"github.com/freshet-io/freshet/internal/statebackend"
)

// counting is a backend written outside the package: it keeps state in
// memory through the specs and counts what it created.
type counting struct{ tables, queues []string }

func (c *counting) Name() string { return "counting" }
func (c *counting) NewTable(spec statebackend.TableSpec) (any, error) {
	c.tables = append(c.tables, spec.Name)
	return spec.InMemory(0)
}
func (c *counting) NewTimerQueue(spec statebackend.TimerSpec) (any, error) {
	c.queues = append(c.queues, spec.Name)
	return spec.InMemory(), nil
}

func TestBackendsCanBeWrittenOutsideThePackage(t *testing.T) {
	b := &counting{}
	tab, err := statebackend.NewTable[string, struct{}, int](b, "counts")
	if err != nil {
		t.Fatal(err)
	}
	tab.Put("a", struct{}{}, 1)
	if v, ok := tab.Get("a", struct{}{}); !ok || v != 1 {
		t.Fatalf("Get = %d, %v", v, ok)
	}
	if _, err := statebackend.NewTimerQueue[string, int64](b, "timers"); err != nil {
		t.Fatal(err)
	}
	if len(b.tables) != 1 || b.tables[0] != "counts" || len(b.queues) != 1 {
		t.Fatalf("backend saw tables %v, queues %v", b.tables, b.queues)
	}
	if _, err := statebackend.NewTable[string, struct{}, int](nil, "x"); err == nil {
		t.Fatal("nil backend: want an error")
	}
}
