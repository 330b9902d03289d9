package output

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func TestOnceEach(t *testing.T) {
	for _, tc := range []struct {
		counts         []int
		from           int
		missing, extra []int
	}{
		{counts: []int{1, 2, 3}},
		{counts: nil, missing: []int{1, 2, 3}},
		{counts: []int{1, 1, 2, 3, 3}, extra: []int{1, 3}},
		{counts: []int{0, 2, 4}, missing: []int{1, 3}, extra: []int{0, 4}},
		{counts: []int{2, 3}, from: 1},
		{counts: []int{1, 2, 3}, from: 1, extra: []int{1}},
	} {
		missing, extra := OnceEach(tc.counts, tc.from, 3)
		if !slices.Equal(missing, tc.missing) || !slices.Equal(extra, tc.extra) {
			t.Errorf("OnceEach(%v, %d, 3) = missing %v, extra %v; want %v, %v", tc.counts, tc.from, missing, extra, tc.missing, tc.extra)
		}
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{"part-a-0-0.csv": "1,2\n0,1\n", "part-b-1-0.csv": "1,1\n", ".hidden": "9,9\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Read(dir)
	if want := map[int][]int{0: {1}, 1: {1, 2}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Read = %v, %v; want %v", got, err, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "part-c"), []byte("x,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil {
		t.Fatal("a malformed line was read")
	}
}
