package statebackend

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestTableAndTimers(t *testing.T) {
	b := NewHeap()
	tab, err := NewTable[string, int64, []int](b, "t")
	if err != nil {
		t.Fatal(err)
	}
	tab.Put("a", 1, []int{1})
	tab.Put("a", 2, []int{2})
	if v, ok := tab.Get("a", 1); !ok || v[0] != 1 {
		t.Fatalf("Get = %v %v", v, ok)
	}
	tab.Delete("a", 1)
	if _, ok := tab.Get("a", 1); ok || tab.Len() != 1 {
		t.Fatal("Delete did not remove the entry")
	}

	q, _ := NewTimerQueue[string, int64](b, "timers")
	r := rand.New(rand.NewPCG(1, 2))
	var want []int64
	for i := 0; i < 200; i++ {
		ts := r.Int64N(50)
		if q.Add(Timer[string, int64]{Time: ts, Key: "k"}) {
			want = append(want, ts)
		}
	}
	if q.Len() != len(want) {
		t.Fatalf("dedup: %d timers, want %d", q.Len(), len(want))
	}
	if !q.Remove(Timer[string, int64]{Time: want[0], Key: "k"}) || q.Remove(Timer[string, int64]{Time: want[0], Key: "k"}) {
		t.Fatal("Remove should succeed once")
	}
	want = want[1:]
	slices.Sort(want)
	var got []int64
	for {
		tm, ok := q.Poll()
		if !ok {
			break
		}
		got = append(got, tm.Time)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("poll order %v, want %v", got, want)
	}
}
