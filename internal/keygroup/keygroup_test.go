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

// userID is a key type whose kind is int.
type userID int

// int and uint keys hash as Java's Long.hashCode of their value, like int64
// and uint64 keys, on 32-bit platforms as on 64-bit ones
// (GOARCH=arm go test -exec qemu-arm ./internal/keygroup checks the former,
// with Debian's qemu-user).
func TestHasherIntAndUintHashTheirValue(t *testing.T) {
	hi, _ := Hasher[int](nil)
	hu, _ := Hasher[uint](nil)
	hid, _ := Hasher[userID](nil)
	hp, _ := Hasher[uintptr](nil)
	h64, _ := Hasher[int64](nil)
	hu64, _ := Hasher[uint64](nil)
	for _, tc := range []struct {
		v    int
		want int32 // Java: Long.hashCode((long) v)
	}{
		{0, 0}, {1, 1}, {42, 42}, {-1, 0}, {-2, 1}, {-42, 41},
		{math.MaxInt32, math.MaxInt32}, {math.MinInt32, math.MaxInt32},
	} {
		if got := hi(tc.v); got != tc.want {
			t.Errorf("hash(int %d) = %d, want %d", tc.v, got, tc.want)
		}
		if got := hid(userID(tc.v)); got != tc.want {
			t.Errorf("hash(userID %d) = %d, want %d", tc.v, got, tc.want)
		}
		if got := h64(int64(tc.v)); got != tc.want {
			t.Errorf("hash(int64 %d) = %d, want %d", tc.v, got, tc.want)
		}
	}
	for _, tc := range []struct {
		v    uint
		want int32 // Java: Long.hashCode(v) of the unsigned value
	}{
		{0, 0}, {7, 7}, {1 << 31, math.MinInt32}, {math.MaxUint32, -1},
	} {
		if got := hu(tc.v); got != tc.want {
			t.Errorf("hash(uint %d) = %d, want %d", tc.v, got, tc.want)
		}
		if got := hp(uintptr(tc.v)); got != tc.want {
			t.Errorf("hash(uintptr %d) = %d, want %d", tc.v, got, tc.want)
		}
		if got := hu64(uint64(tc.v)); got != tc.want {
			t.Errorf("hash(uint64 %d) = %d, want %d", tc.v, got, tc.want)
		}
	}
	// Values that fit the platform's int: int and int64, uint and uint64 of
	// the same value fall into the same key group.
	for _, v := range []int64{0, 1, -1, 12345, -98765, math.MaxInt32, math.MinInt32, 1 << 40, -1 << 40, math.MaxInt64, math.MinInt64} {
		if int64(int(v)) != v {
			continue // does not fit a 32-bit int
		}
		if a, b := ForHash(hi(int(v)), 128), ForHash(h64(v), 128); a != b {
			t.Errorf("int %d is in key group %d, int64 %d in %d", v, a, v, b)
		}
		if v >= 0 {
			if a, b := ForHash(hu(uint(v)), 128), ForHash(hu64(uint64(v)), 128); a != b {
				t.Errorf("uint %d is in key group %d, uint64 %d in %d", v, a, v, b)
			}
		}
	}
}
