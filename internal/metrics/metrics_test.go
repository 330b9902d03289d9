package metrics

import (
	"reflect"
	"testing"
	"time"

	"github.com/freshet-io/freshet/metric"
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
	if !reflect.DeepEqual(s, want) {
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

func TestUserMetrics(t *testing.T) {
	r := NewRegistry()
	s := r.Subtask(Key{Job: "j", Vertex: 1, Subtask: 0}, 0)
	src, snk := s.Operator("Source: in"), s.Operator("Sink: out")
	if s.Operator("Source: in") != src {
		t.Fatal("the same operator name gave another group")
	}
	src.Counter("bytesRead").Add(120)
	src.Gauge("lag").Set(7)
	snk.Counter("bytesWritten").Inc()
	got := r.Snapshot("j", time.Now())[0].User
	want := []UserMetric{
		{Operator: "Sink: out", Value: metric.Value{Name: "bytesWritten", Kind: metric.KindCounter, Value: 1}},
		{Operator: "Source: in", Value: metric.Value{Name: "bytesRead", Kind: metric.KindCounter, Value: 120}},
		{Operator: "Source: in", Value: metric.Value{Name: "lag", Kind: metric.KindGauge, Value: 7}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// A new attempt starts its operators' metrics again.
	if u := r.Subtask(Key{Job: "j", Vertex: 1, Subtask: 0}, 1).Operator("Source: in").Values(); len(u) != 0 {
		t.Errorf("a new attempt's group holds %+v", u)
	}
}

// BenchmarkAddIn is the per-batch cost of counting.
func BenchmarkAddIn(b *testing.B) {
	s := NewSubtask(0)
	for range b.N {
		s.AddIn(256, 0)
	}
}
