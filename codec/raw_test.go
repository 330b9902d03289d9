package codec_test

import (
	"strings"
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

// wrongRawSize has RawSize of another signature: it does not implement
// codec.Raw.
type wrongRawSize struct{}

type raw8 [8]byte

func (wrongRawSize) Append(dst []byte, _ raw8) []byte         { return dst }
func (wrongRawSize) Decode([]byte) (v raw8, n int, err error) { return v, 0, nil }
func (wrongRawSize) RawSize() int64                           { return 8 }

// TestRegisterWrongRaw: a registered codec whose raw claim the runtime
// cannot honour makes codec.Of fail naming the mistake, so a job using the
// type does not build; registering a right one clears it.
func TestRegisterWrongRaw(t *testing.T) {
	type rawA [3]int16
	type rawB struct{ On bool }
	type rawC [4]byte
	codec.Register[rawA](rawCodec[rawA]{5})
	codec.Register[rawB](rawCodec[rawB]{1})
	codec.Register[raw8](wrongRawSize{})
	for name, err := range map[string]error{
		"size":      ofErr[rawA](),
		"bool":      ofErr[rawB](),
		"signature": ofErr[raw8](),
	} {
		if err == nil {
			t.Errorf("%s: codec.Of accepted the codec", name)
			continue
		}
		want := map[string]string{
			"size":      "RawSize 5, but a codec_test.rawA is 6 bytes",
			"bool":      "is not made of numbers, arrays and structs only",
			"signature": "has method RawSize with type func(codec_test.wrongRawSize) int64, but codec.Raw wants RawSize() int",
		}[name]
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want it to say %q", name, err, want)
		}
	}
	codec.Register[rawC](rawCodec[rawC]{4})
	if err := ofErr[rawC](); err != nil {
		t.Errorf("a right raw codec: %v", err)
	}
	codec.Register[rawA](rawCodec[rawA]{6})
	if err := ofErr[rawA](); err != nil {
		t.Errorf("registered again, right: %v", err)
	}
}

func ofErr[T any]() error {
	_, err := codec.Of[T]()
	return err
}
