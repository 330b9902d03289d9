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

// TestTimerQueueAgainstReference checks the bucketed queue against a plain
// set under random adds, removes and polls with several keys and windows.
func TestTimerQueueAgainstReference(t *testing.T) {
	type tm = Timer[int, int]
	r := rand.New(rand.NewPCG(7, 9))
	for round := 0; round < 50; round++ {
		q, _ := NewTimerQueue[int, int](NewHeap(), "q")
		ref := map[tm]bool{}
		for step := 0; step < 500; step++ {
			x := tm{Time: r.Int64N(20), Key: r.IntN(5), Namespace: r.IntN(3)}
			switch r.IntN(4) {
			case 0, 1:
				if q.Add(x) == ref[x] {
					t.Fatalf("Add(%v) new=%v but reference has it=%v", x, !ref[x], ref[x])
				}
				ref[x] = true
			case 2:
				if q.Remove(x) != ref[x] {
					t.Fatalf("Remove(%v) disagrees with reference", x)
				}
				delete(ref, x)
			case 3:
				got, ok := q.Poll()
				if ok != (len(ref) > 0) {
					t.Fatalf("Poll ok=%v with %d timers", ok, len(ref))
				}
				if !ok {
					continue
				}
				if !ref[got] {
					t.Fatalf("Poll returned %v, not in reference", got)
				}
				for o := range ref {
					if o.Time < got.Time {
						t.Fatalf("Poll returned %v before earlier %v", got, o)
					}
				}
				delete(ref, got)
			}
			if q.Len() != len(ref) {
				t.Fatalf("Len %d, reference %d", q.Len(), len(ref))
			}
			if p, ok := q.Peek(); ok && !ref[p] {
				t.Fatalf("Peek %v not in reference", p)
			}
		}
	}
}
