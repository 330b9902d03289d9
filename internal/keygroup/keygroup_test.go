package keygroup

import (
	"encoding/binary"
	"math"
	"math/bits"
	"testing"
)

// murmur3x86 is the reference MurmurHash3 x86 32-bit over a byte slice,
// written from the published algorithm.
func murmur3x86(data []byte, seed uint32) uint32 {
	const c1, c2 = 0xcc9e2d51, 0x1b873593
	h := seed
	n := len(data) / 4
	for i := 0; i < n; i++ {
		k := binary.LittleEndian.Uint32(data[i*4:])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
		h = bits.RotateLeft32(h, 13)
		h = h*5 + 0xe6546b64
	}
	var k uint32
	tail := data[n*4:]
	switch len(tail) {
	case 3:
		k ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		k ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		k ^= uint32(tail[0])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
	}
	h ^= uint32(len(data))
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// Flink's MathUtils.murmurHash is MurmurHash3 (x86, 32 bit, seed 0) of the
// int's four little-endian bytes, made non-negative. Check it against a
// general MurmurHash3 over bytes.
func TestMurmurMatchesMurmurHash3(t *testing.T) {
	for _, code := range []int32{0, 1, -1, 42, 97, math.MaxInt32, math.MinInt32, 123456789, -987654321} {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(code))
		h := int32(murmur3x86(b[:], 0))
		want := h
		switch {
		case h == math.MinInt32:
			want = 0
		case h < 0:
			want = -h
		}
		if got := Murmur(code); got != want {
			t.Errorf("Murmur(%d) = %d, want %d", code, got, want)
		}
	}
}

func TestRangeForCoversAllKeyGroupsContiguously(t *testing.T) {
	for _, maxP := range []int{1, 7, 128, 1000} {
		for p := 1; p <= min(maxP, 9); p++ {
			next := 0
			for i := 0; i < p; i++ {
				r := RangeFor(maxP, p, i)
				if r.Start != next || r.End < r.Start-1 {
					t.Fatalf("maxP=%d p=%d subtask %d: range %v, want start %d", maxP, p, i, r, next)
				}
				for kg := r.Start; kg <= r.End; kg++ {
					if OperatorIndex(kg, maxP, p) != i {
						t.Fatalf("maxP=%d p=%d: key group %d in range of %d but assigned to %d", maxP, p, kg, i, OperatorIndex(kg, maxP, p))
					}
				}
				next = r.End + 1
			}
			if next != maxP {
				t.Fatalf("maxP=%d p=%d: ranges end at %d", maxP, p, next)
			}
		}
	}
}

func TestRangeForFlinkExamples(t *testing.T) {
	// Flink: computeKeyGroupRangeForOperatorIndex(128, 3, i) gives
	// [0,42], [43,85], [86,127].
	want := []Range{{0, 42}, {43, 85}, {86, 127}}
	for i, w := range want {
		if got := RangeFor(128, 3, i); got != w {
			t.Errorf("RangeFor(128, 3, %d) = %v, want %v", i, got, w)
		}
	}
}

func TestHasherJavaHashCodes(t *testing.T) {
	hs, err := Hasher[string](nil)
	if err != nil {
		t.Fatal(err)
	}
	// Java: "hello".hashCode() == 99162322, "".hashCode() == 0.
	if got := hs("hello"); got != 99162322 {
		t.Errorf("hash(hello) = %d, want 99162322", got)
	}
	if got := hs(""); got != 0 {
		t.Errorf("hash(\"\") = %d", got)
	}
	hl, _ := Hasher[int64](nil)
	// Java Long.hashCode: (int)(v ^ (v >>> 32)); for -1 that is 0.
	if got := hl(-1); got != 0 {
		t.Errorf("hash(int64 -1) = %d, want 0", got)
	}
	if got := hl(1 << 32); got != 1 {
		t.Errorf("hash(int64 1<<32) = %d, want 1", got)
	}
	hi, _ := Hasher[int32](nil)
	if got := hi(-7); got != -7 {
		t.Errorf("hash(int32 -7) = %d, want -7", got)
	}
	hb, _ := Hasher[bool](nil)
	if hb(true) != 1231 || hb(false) != 1237 {
		t.Errorf("bool hashes %d %d, want 1231 1237", hb(true), hb(false))
	}
}
