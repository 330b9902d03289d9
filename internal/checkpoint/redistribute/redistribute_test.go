package redistribute

import (
	"fmt"
	"slices"
	"testing"
)

func TestEven(t *testing.T) {
	old := [][]string{{"a", "b", "c"}, {}, {"d", "e", "f", "g"}}
	for _, tc := range []struct {
		n    int
		want [][]string
	}{
		{3, [][]string{{"a", "b", "c"}, {}, {"d", "e", "f", "g"}}}, // unchanged parallelism: own lists
		{1, [][]string{{"a", "b", "c", "d", "e", "f", "g"}}},
		{2, [][]string{{"a", "b", "c", "d"}, {"e", "f", "g"}}},
		{4, [][]string{{"a", "b"}, {"c", "d"}, {"e", "f"}, {"g"}}},
		{9, [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}, {"f"}, {"g"}, {}, {}}},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			got, _ := Even(old, tc.n, 0)
			if !slices.EqualFunc(got, tc.want, func(a, b []string) bool { return slices.Equal(a, b) }) {
				t.Fatalf("Even(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
	// Every element lands in exactly one new subtask, for every parallelism.
	for n := 1; n <= 10; n++ {
		var all []string
		parts, _ := Even(old, n, 0)
		for _, l := range parts {
			all = append(all, l...)
		}
		if !slices.Equal(all, []string{"a", "b", "c", "d", "e", "f", "g"}) {
			t.Fatalf("n=%d: elements %v", n, all)
		}
	}
}

func TestEvenCopies(t *testing.T) {
	old := [][]int{{1, 2}}
	got, _ := Even(old, 1, 0)
	got[0][0] = 9
	if old[0][0] != 1 {
		t.Fatal("Even shares the old lists")
	}
}

// TestEvenRotatesExtras: from one named state to the next, the subtasks
// that get an extra element rotate.
func TestEvenRotatesExtras(t *testing.T) {
	old := [][]int{{1, 2, 3, 4}, {5, 6, 7}} // 7 elements over 3 subtasks: 3, 2, 2
	a, next := Even(old, 3, 0)
	if !slices.Equal(a[0], []int{1, 2, 3}) || !slices.Equal(a[1], []int{4, 5}) || !slices.Equal(a[2], []int{6, 7}) || next != 1 {
		t.Fatalf("first state %v, next %d", a, next)
	}
	b, next := Even(old, 3, next)
	if !slices.Equal(b[1], []int{1, 2, 3}) || !slices.Equal(b[2], []int{4, 5}) || !slices.Equal(b[0], []int{6, 7}) || next != 2 {
		t.Fatalf("second state %v, next %d", b, next)
	}
}

func TestUnion(t *testing.T) {
	got := Union([][]int{{1}, {2, 3}}, 3)
	for i, l := range got {
		if !slices.Equal(l, []int{1, 2, 3}) {
			t.Fatalf("subtask %d gets %v", i, l)
		}
	}
	got[0][0] = 9
	if got[1][0] != 1 {
		t.Fatal("subtasks share one list")
	}
}

func TestBroadcast(t *testing.T) {
	if got := Broadcast(2, 5); !slices.Equal(got, []int{0, 1, 0, 1, 0}) {
		t.Fatalf("Broadcast(2, 5) = %v", got)
	}
	if got := Broadcast(4, 2); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("Broadcast(4, 2) = %v", got)
	}
}
