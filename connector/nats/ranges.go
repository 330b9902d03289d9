package nats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// seqRange is the stream sequences lo to hi, both included.
type seqRange struct{ lo, hi uint64 }

// seqRanges is a set of stream sequences as sorted, disjoint ranges, no
// two of which touch: a run of consecutive sequences takes one range.
type seqRanges []seqRange

// rangesOf returns the set of seqs, which it sorts.
func rangesOf(seqs []uint64) seqRanges {
	slices.Sort(seqs)
	var out seqRanges
	for _, s := range seqs {
		if n := len(out); n > 0 && s <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, s)
			continue
		}
		out = append(out, seqRange{s, s})
	}
	return out
}

// contains reports whether seq is in the set.
func (rs seqRanges) contains(seq uint64) bool {
	i, _ := slices.BinarySearchFunc(rs, seq, func(r seqRange, s uint64) int {
		switch {
		case r.hi < s:
			return -1
		case r.lo > s:
			return 1
		}
		return 0
	})
	return i < len(rs) && rs[i].lo <= seq && seq <= rs[i].hi
}

// union returns the sequences of rs and of other, in a new slice.
func (rs seqRanges) union(other seqRanges) seqRanges {
	all := make(seqRanges, 0, len(rs)+len(other))
	all = append(append(all, rs...), other...)
	slices.SortFunc(all, func(a, b seqRange) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	out := all[:0]
	for _, r := range all {
		if n := len(out); n > 0 && r.lo <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// above returns the set without the sequences at or below floor, reusing
// rs.
func (rs seqRanges) above(floor uint64) seqRanges {
	i := 0
	for i < len(rs) && rs[i].hi <= floor {
		i++
	}
	out := rs[i:]
	if len(out) > 0 && out[0].lo <= floor {
		out[0].lo = floor + 1
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// count is the number of sequences in the set.
func (rs seqRanges) count() uint64 {
	var n uint64
	for _, r := range rs {
		n += r.hi - r.lo + 1
	}
	return n
}

// errCorruptRanges is wrapped by the error of decodeRanges.
var errCorruptRanges = errors.New("corrupt sequence ranges")

// appendRanges encodes rs: for each range, as uvarints, its distance from
// the end of the one before (from 0 for the first) and its length less 1.
func appendRanges(b []byte, rs seqRanges) []byte {
	var prev uint64
	for i, r := range rs {
		gap := r.lo - prev
		if i > 0 {
			gap = r.lo - prev - 1
		}
		b = binary.AppendUvarint(b, gap)
		b = binary.AppendUvarint(b, r.hi-r.lo)
		prev = r.hi
	}
	return b
}

// decodeRanges decodes what appendRanges encoded.
func decodeRanges(b []byte) (seqRanges, error) {
	var out seqRanges
	var prev uint64
	for len(b) > 0 {
		gap, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("%w: range %d start", errCorruptRanges, len(out))
		}
		b = b[n:]
		span, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("%w: range %d length", errCorruptRanges, len(out))
		}
		b = b[n:]
		lo := prev + gap
		if len(out) > 0 {
			lo++
		}
		if (len(out) > 0 && lo <= prev) || lo < prev || lo+span < lo {
			return nil, fmt.Errorf("%w: range %d overflows", errCorruptRanges, len(out))
		}
		out = append(out, seqRange{lo, lo + span})
		prev = lo + span
	}
	return out, nil
}
