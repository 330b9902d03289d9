package nats

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSeqRanges(t *testing.T) {
	rs := rangesOf([]uint64{9, 3, 4, 5, 1, 7, 8, 5})
	want := seqRanges{{1, 1}, {3, 5}, {7, 9}}
	if !slices.Equal(rs, want) {
		t.Fatalf("rangesOf: %v, want %v", rs, want)
	}
	for seq, in := range map[uint64]bool{0: false, 1: true, 2: false, 3: true, 5: true, 6: false, 9: true, 10: false} {
		if got := rs.contains(seq); got != in {
			t.Errorf("contains(%d) = %v, want %v", seq, got, in)
		}
	}
	u := rs.union(seqRanges{{2, 2}, {10, 12}, {20, 20}})
	if want := (seqRanges{{1, 5}, {7, 12}, {20, 20}}); !slices.Equal(u, want) {
		t.Fatalf("union: %v, want %v", u, want)
	}
	if u.count() != 12 {
		t.Fatalf("count %d, want 12", u.count())
	}
	for _, c := range []struct {
		floor uint64
		want  seqRanges
	}{
		{0, seqRanges{{1, 5}, {7, 12}, {20, 20}}},
		{3, seqRanges{{4, 5}, {7, 12}, {20, 20}}},
		{6, seqRanges{{7, 12}, {20, 20}}},
		{20, nil},
	} {
		if got := slices.Clone(u).above(c.floor); !slices.Equal(got, c.want) {
			t.Errorf("above(%d): %v, want %v", c.floor, got, c.want)
		}
	}
}

// TestSeqRangesAgainstSet checks the ranges against a map of random
// sequences: membership, union and the encoding's round trip.
func TestSeqRangesAgainstSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		set := map[uint64]bool{}
		var a, b []uint64
		for range rng.IntN(300) {
			s := 1 + rng.Uint64N(500)
			set[s] = true
			if rng.IntN(2) == 0 {
				a = append(a, s)
			} else {
				b = append(b, s)
			}
		}
		u := rangesOf(a).union(rangesOf(b))
		if u.count() != uint64(len(set)) {
			t.Fatalf("union holds %d sequences, want %d", u.count(), len(set))
		}
		for s := range uint64(502) {
			if u.contains(s) != set[s] {
				t.Fatalf("contains(%d) = %v, want %v", s, u.contains(s), set[s])
			}
		}
		for i := 1; i < len(u); i++ {
			if u[i].lo <= u[i-1].hi+1 {
				t.Fatalf("ranges %v and %v touch", u[i-1], u[i])
			}
		}
		got, err := decodeRanges(appendRanges(nil, u))
		if err != nil || !slices.Equal(got, u) {
			t.Fatalf("round trip of %v: %v, %v", u, got, err)
		}
	}
}

func TestDecodeRangesCorrupt(t *testing.T) {
	for name, b := range map[string][]byte{
		"truncated":  appendRanges(nil, seqRanges{{5, 9}})[:1],
		"overflow":   appendRanges(nil, seqRanges{{math.MaxUint64 - 1, math.MaxUint64}, {1, 1}}),
		"bad varint": {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		if _, err := decodeRanges(b); !errors.Is(err, errCorruptRanges) {
			t.Errorf("%s: got %v, want an error wrapping errCorruptRanges", name, err)
		}
	}
}
