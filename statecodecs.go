package freshet

import (
	"cmp"
	"encoding/binary"
	"fmt"

	"github.com/google/btree"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/window"
)

// Codecs of the operators' own state that codec.Of cannot derive, so that
// their tables can be snapshotted.

// mergingSetCodec encodes a key's merging window set as its pairs of
// in-flight window and state window; decoding rebuilds the set with the
// operator's merger (see window.MergingWindowSet's All and Restore).
type mergingSetCodec[W window.Window] struct {
	merger window.WindowMerger[W]
	w      codec.Codec[W]
}

func (c mergingSetCodec[W]) Append(dst []byte, s *window.MergingWindowSet[W]) []byte {
	if s == nil {
		return binary.AppendUvarint(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(s.Len()))
	for w, sw := range s.All() {
		dst = c.w.Append(dst, w)
		dst = c.w.Append(dst, sw)
	}
	return dst
}

func (c mergingSetCodec[W]) Decode(src []byte) (*window.MergingWindowSet[W], int, error) {
	n, off := binary.Uvarint(src)
	if off <= 0 || n > uint64(len(src)) {
		return nil, 0, fmt.Errorf("%w: the size of a merging window set", codec.ErrCorrupt)
	}
	s := window.NewMergingWindowSet(c.merger)
	for range n {
		w, m, err := c.w.Decode(src[off:])
		if err != nil {
			return nil, 0, err
		}
		off += m
		sw, m, err := c.w.Decode(src[off:])
		if err != nil {
			return nil, 0, err
		}
		off += m
		s.Restore(w, sw)
	}
	return s, off, nil
}

// joinTimesCodec encodes a key's B-tree of buffered timestamps as the
// timestamps in ascending order, as deltas; decoding rebuilds the tree on
// the buffer's free list.
type joinTimesCodec struct{ free *btree.FreeListG[int64] }

func (joinTimesCodec) Append(dst []byte, t *btree.BTreeG[int64]) []byte {
	if t == nil {
		return binary.AppendUvarint(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(t.Len()))
	var prev int64
	t.Ascend(func(ts int64) bool {
		dst = binary.AppendVarint(dst, ts-prev)
		prev = ts
		return true
	})
	return dst
}

func (c joinTimesCodec) Decode(src []byte) (*btree.BTreeG[int64], int, error) {
	n, off := binary.Uvarint(src)
	if off <= 0 || n > uint64(len(src)) {
		return nil, 0, fmt.Errorf("%w: the size of a timestamp tree", codec.ErrCorrupt)
	}
	t := btree.NewWithFreeListG(joinTreeDegree, cmp.Less[int64], c.free)
	var prev int64
	for range n {
		d, m := binary.Varint(src[off:])
		if m <= 0 {
			return nil, 0, fmt.Errorf("%w: a buffered timestamp", codec.ErrCorrupt)
		}
		off += m
		prev += d
		t.ReplaceOrInsert(prev)
	}
	return t, off, nil
}
