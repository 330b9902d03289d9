package codec_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet/codec"
)

type inner struct {
	A int8
	B []string
}

type sample struct {
	I    int
	I16  int16
	U    uint
	U8   uint8
	F32  float32
	F    float64
	C    complex128
	S    string
	Bs   []byte
	NilB []byte
	L    []inner
	M    map[string]int
	P    *inner
	NilP *inner
	Arr  [3]uint16
	T    time.Time
	Ok   bool
	_    int
}

type list struct {
	V    int
	Next *list
}

func roundTrip[T any](t *testing.T, v T) {
	t.Helper()
	c, err := codec.Of[T]()
	if err != nil {
		t.Fatalf("Of[%T]: %v", v, err)
	}
	b := c.Append([]byte{0xAA}, v)
	got, n, err := c.Decode(b[1:])
	if err != nil {
		t.Fatalf("Decode %T: %v", v, err)
	}
	if n != len(b)-1 {
		t.Fatalf("Decode %T used %d of %d bytes", v, n, len(b)-1)
	}
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip of %T: got %#v, want %#v", v, got, v)
	}
	// Every strict prefix must fail cleanly, never panic.
	for i := 0; i < len(b)-1; i++ {
		if _, _, err := c.Decode(b[1 : 1+i]); err == nil && i < n {
			// A prefix may decode only when the value is shorter (not here).
			t.Fatalf("Decode of %d-byte prefix of %T succeeded", i, v)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	roundTrip(t, "héllo")
	roundTrip(t, "")
	roundTrip(t, []byte{1, 2, 3})
	roundTrip(t, []byte(nil))
	roundTrip(t, -1<<62)
	roundTrip(t, int64(-5))
	roundTrip(t, int32(1<<30))
	roundTrip(t, uint64(1<<63))
	roundTrip(t, uint32(7))
	roundTrip(t, 3.25)
	roundTrip(t, true)
	roundTrip(t, []int{1, -2, 3})
	roundTrip(t, []int(nil))
	roundTrip(t, []int{})
	roundTrip(t, map[int][]string{1: {"a"}, 2: nil})
	roundTrip(t, &list{V: 1, Next: &list{V: 2}})
	roundTrip(t, [2]bool{true, false})
	roundTrip(t, sample{
		I: -7, I16: -300, U: 9, U8: 255, F32: 1.5, F: -2.25, C: complex(1, 2),
		S: "s", Bs: []byte("x"), L: []inner{{A: -1, B: []string{"p", "q"}}},
		M: map[string]int{"k": 1}, P: &inner{A: 3}, Arr: [3]uint16{1, 2, 65535},
		T: time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC), Ok: true,
	})
}

type hidden struct {
	Visible int
	secret  int
}

func TestUnsupported(t *testing.T) {
	_, err := codec.Of[hidden]()
	if !errors.Is(err, codec.ErrUnsupported) || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("Of[hidden] = %v, want ErrUnsupported naming the field", err)
	}
	_, err = codec.Of[struct{ F func() }]()
	if !errors.Is(err, codec.ErrUnsupported) || !strings.Contains(err.Error(), ".F") {
		t.Fatalf("Of[func field] = %v, want ErrUnsupported naming the field", err)
	}
	_, err = codec.Of[any]()
	if !errors.Is(err, codec.ErrUnsupported) {
		t.Fatalf("Of[any] = %v, want ErrUnsupported", err)
	}
}

type celsius struct{ v float64 }

type celsiusCodec struct{}

func (celsiusCodec) Append(dst []byte, c celsius) []byte {
	return codec.Must[float64]().Append(dst, c.v)
}

func (celsiusCodec) Decode(src []byte) (celsius, int, error) {
	v, n, err := codec.Must[float64]().Decode(src)
	return celsius{v}, n, err
}

func TestRegister(t *testing.T) {
	codec.Register[celsius](celsiusCodec{})
	roundTrip(t, celsius{21.5})
	// A registered codec is used inside derived ones.
	type reading struct {
		ID   string
		Temp celsius
	}
	roundTrip(t, reading{ID: "s1", Temp: celsius{-3}})
	roundTrip(t, []celsius{{1}, {2}})
}

func TestUnmarshalTrailing(t *testing.T) {
	b, err := codec.Marshal(42)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codec.Unmarshal[int](append(b, 0)); !errors.Is(err, codec.ErrCorrupt) {
		t.Fatalf("Unmarshal with trailing byte = %v, want ErrCorrupt", err)
	}
	if v, err := codec.Unmarshal[int](b); err != nil || v != 42 {
		t.Fatalf("Unmarshal = %v, %v", v, err)
	}
}

func TestCorruptLengthDoesNotAllocateHuge(t *testing.T) {
	c := codec.Must[[]int]()
	if _, _, err := c.Decode([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}); !errors.Is(err, codec.ErrCorrupt) {
		t.Fatalf("Decode huge length = %v, want ErrCorrupt", err)
	}
}

func FuzzDecodeSample(f *testing.F) {
	c := codec.Must[sample]()
	f.Add(c.Append(nil, sample{S: "x", L: []inner{{B: []string{"y"}}}, M: map[string]int{"a": 1}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := c.Decode(b)
		if err != nil {
			if !errors.Is(err, codec.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if n > len(b) {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		// What decodes must encode to something that decodes equal.
		again, _, err := c.Decode(c.Append(nil, v))
		if err != nil || !reflect.DeepEqual(again, v) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func BenchmarkStructAppend(b *testing.B) {
	type reading struct {
		ID   string
		TS   int64
		Temp float64
	}
	c := codec.Must[reading]()
	v := reading{ID: "sensor_1", TS: 1700000000000, Temp: 21.5}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = c.Append(buf[:0], v)
	}
}
