package metrics

import (
	"testing"
	"time"
)

func TestRegistrySnapshot(t *testing.T) {
	r := NewRegistry()
	a := r.Subtask(Key{Job: "j", Vertex: 2, Subtask: 1}, 0)
	b := r.Subtask(Key{Job: "j", Vertex: 1, Subtask: 0}, 0)
	r.Subtask(Key{Job: "other", Vertex: 1, Subtask: 0}, 0)
	a.AddIn(256, 0)
	a.AddIn(10, 100)
	a.AddOut(5, 40)
	a.SetInputWatermark(42)
	a.SetState("RUNNING")
	t0 := a.started
	a.BackPressureStart(t0.Add(100 * time.Millisecond))
	a.BackPressureEnd(t0.Add(350 * time.Millisecond))
	a.BackPressureStart(t0.Add(400 * time.Millisecond))
	b.AddOut(7, 0)
	got := r.Snapshot("j", t0.Add(500*time.Millisecond))
	if len(got) != 2 || got[0].Vertex != 1 || got[1].Vertex != 2 {
		t.Fatalf("snapshot order: %+v", got)
	}
	s := got[1]
	want := SubtaskSnapshot{Job: "j", Vertex: 2, Subtask: 1, State: "RUNNING", RecordsIn: 266, RecordsOut: 5, BytesIn: 100, BytesOut: 40,
		BackPressuredSum: 350 * time.Millisecond, BackPressureRatio: 0.7, InputWatermark: 42}
	if s != want {
		t.Errorf("got %+v\nwant %+v", s, want)
	}
	if got[0].InputWatermark != NoWatermark || got[0].RecordsOut != 7 || got[0].State != "DEPLOYING" {
		t.Errorf("got %+v", got[0])
	}
	r.Forget("j")
	if n := len(r.Snapshot("", time.Now())); n != 1 {
		t.Errorf("after Forget %d subtasks left, want 1", n)
	}
}

// BenchmarkAddIn is the per-batch cost of counting.
func BenchmarkAddIn(b *testing.B) {
	s := NewSubtask(0)
	for range b.N {
		s.AddIn(256, 0)
	}
}
