package codec_test

import (
	"testing"

	"github.com/freshet-io/freshet/codec"
)

// rawCodec claims the raw encoding for any T, of size n.
type rawCodec[T any] struct{ n int }

func (rawCodec[T]) Append(dst []byte, _ T) []byte         { return dst }
func (rawCodec[T]) Decode([]byte) (v T, n int, err error) { return v, 0, nil }
func (c rawCodec[T]) RawSize() int                        { return c.n }

// TestRawSize: a codec's claim of the raw encoding holds only for types
// made of numbers, arrays and structs, at their size.
func TestRawSize(t *testing.T) {
	type plain struct {
		ID  [16]byte
		N   int64
		F   [2]float32
		Sub struct{ A, B uint8 }
	}
	for _, tc := range []struct {
		name string
		got  int
		want int
	}{
		{"bytes", codec.RawSize[[100]byte](rawCodec[[100]byte]{100}), 100},
		{"struct of numbers", codec.RawSize[plain](rawCodec[plain]{40}), 40},
		{"wrong size", codec.RawSize[[100]byte](rawCodec[[100]byte]{99}), 0},
		{"not claimed", codec.RawSize[[100]byte](codec.Must[[100]byte]()), 0},
		{"bool", codec.RawSize[[2]bool](rawCodec[[2]bool]{2}), 0},
		{"pointer", codec.RawSize[*int](rawCodec[*int]{8}), 0},
		{"string", codec.RawSize[struct{ S string }](rawCodec[struct{ S string }]{16}), 0},
		{"slice in a struct", codec.RawSize[struct {
			A int64
			B []byte
		}](rawCodec[struct {
			A int64
			B []byte
		}]{32}), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: RawSize %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}
