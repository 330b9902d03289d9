package sink_test

import (
	"testing"

	"github.com/freshet-io/freshet/sink"
)

func TestTransactionIDs(t *testing.T) {
	ids := sink.TransactionIDs{Prefix: "p"}
	if got := ids.Name(3, 9); got != "p-3-9" {
		t.Fatalf("Name(3, 9) = %q", got)
	}
	for _, tc := range []struct {
		id      string
		sub     int
		c       int64
		matches bool
	}{
		{"p-3-9", 3, 9, true},
		{"p-0-0", 0, 0, true},
		{"p-x-0-1", 0, 0, false}, // a longer prefix
		{"q-1-1", 0, 0, false},
		{"p-1", 0, 0, false},
		{"p-01-1", 0, 0, false},
		{"p-1-+1", 0, 0, false},
		{"p--1-1", 0, 0, false},
		{"p-1-1-1", 0, 0, false}, // a prefix p-1
		{"p-1-02", 0, 0, false},
		{"p-1-", 0, 0, false},
		{"p-1--2", 0, 0, false},
		{"pp-1-2", 0, 0, false},
	} {
		sub, c, ok := ids.Parse(tc.id)
		if sub != tc.sub || c != tc.c || ok != tc.matches {
			t.Errorf("Parse(%q) = %d, %d, %v; want %d, %d, %v", tc.id, sub, c, ok, tc.sub, tc.c, tc.matches)
		}
	}
	// Old parallelism 3 restored from checkpoint 2 at parallelism 1 and
	// 4: every lingering id (checkpoint 3) is ended by exactly one new
	// subtask, and none of checkpoint 2.
	for _, p := range []int{1, 4} {
		for old := range 3 {
			for c := int64(2); c <= 3; c++ {
				id, enders := ids.Name(old, c), 0
				for k := range p {
					if ids.Lingering(id, k, p, 2) {
						enders++
					}
				}
				if want := map[bool]int{true: 1, false: 0}[c > 2]; enders != want {
					t.Errorf("p=%d: %s ended by %d subtasks, want %d", p, id, enders, want)
				}
			}
		}
	}
	if ids.Lingering("p-5-1", 1, 4, 0) != true || ids.Lingering("px-5-1", 1, 4, 0) {
		t.Error("a fresh start ends its prefix's ids only")
	}
}
