// Package keygroup maps keys to key groups and key groups to subtasks.
//
// A key is hashed once to a 32-bit value; the key group is a murmur mix of
// that hash modulo the maximum parallelism, and a subtask owns a contiguous
// range of key groups. The arithmetic follows Apache Flink's
// KeyGroupRangeAssignment so that the key-group-to-subtask layout, and so the
// way state moves on rescaling, is the one Flink users know. For string and
// integer keys the 32-bit hash is Java's hashCode, so even the key group of a
// key matches Flink's.
package keygroup

import (
	"fmt"
	"math"
	"math/bits"
	"reflect"
	"unsafe"
)

// DefaultMaxParallelism is the number of key groups when none is configured.
const DefaultMaxParallelism = 128

// UpperBoundMaxParallelism is the largest allowed maximum parallelism.
const UpperBoundMaxParallelism = 1 << 15

// Range is a contiguous, inclusive range of key groups.
type Range struct{ Start, End int }

// Contains reports whether kg lies in r.
func (r Range) Contains(kg int) bool { return kg >= r.Start && kg <= r.End }

// Len is the number of key groups in r.
func (r Range) Len() int { return r.End - r.Start + 1 }

func (r Range) String() string { return fmt.Sprintf("[%d, %d]", r.Start, r.End) }

// Murmur mixes a 32-bit hash code the way Flink's MathUtils.murmurHash does
// and returns a non-negative value.
func Murmur(code int32) int32 {
	c := uint32(code)
	c *= 0xcc9e2d51
	c = bits.RotateLeft32(c, 15)
	c *= 0x1b873593
	c = bits.RotateLeft32(c, 13)
	c = c*5 + 0xe6546b64
	c ^= 4
	c ^= c >> 16
	c *= 0x85ebca6b
	c ^= c >> 13
	c *= 0xc2b2ae35
	c ^= c >> 16
	h := int32(c)
	switch {
	case h >= 0:
		return h
	case h != math.MinInt32:
		return -h
	default:
		return 0
	}
}

// ForHash returns the key group of a key with the given 32-bit hash code.
func ForHash(code int32, maxParallelism int) int {
	return int(Murmur(code)) % maxParallelism
}

// OperatorIndex returns the subtask that owns key group kg.
func OperatorIndex(kg, maxParallelism, parallelism int) int {
	return kg * parallelism / maxParallelism
}

// RangeFor returns the key groups owned by subtask index of an operator.
func RangeFor(maxParallelism, parallelism, index int) Range {
	start := (index*maxParallelism + parallelism - 1) / parallelism
	end := ((index+1)*maxParallelism - 1) / parallelism
	return Range{Start: start, End: end}
}

// Hasher returns a function computing the 32-bit hash code of keys of type K.
// Strings and integers use Java's hashCode so key groups match Flink's;
// other comparable types fall back to the encode function, which must give
// equal bytes for equal keys (the runtime passes the key's codec).
// It returns an error when K has no usable hash.
func Hasher[K comparable](encode func(dst []byte, k K) []byte) (func(K) int32, error) {
	t := reflect.TypeFor[K]()
	switch t.Kind() {
	case reflect.String:
		return func(k K) int32 { return StringHash(*(*string)(unsafe.Pointer(&k))) }, nil
	case reflect.Int32:
		return func(k K) int32 { return *(*int32)(unsafe.Pointer(&k)) }, nil
	case reflect.Int16:
		return func(k K) int32 { return int32(*(*int16)(unsafe.Pointer(&k))) }, nil
	case reflect.Int8:
		return func(k K) int32 { return int32(*(*int8)(unsafe.Pointer(&k))) }, nil
	case reflect.Uint8:
		return func(k K) int32 { return int32(*(*uint8)(unsafe.Pointer(&k))) }, nil
	case reflect.Uint16:
		return func(k K) int32 { return int32(*(*uint16)(unsafe.Pointer(&k))) }, nil
	case reflect.Uint32:
		return func(k K) int32 { return int32(*(*uint32)(unsafe.Pointer(&k))) }, nil
	case reflect.Int64, reflect.Uint64:
		return func(k K) int32 { return Int64Hash(*(*int64)(unsafe.Pointer(&k))) }, nil
	// int, uint and uintptr are 4 bytes on 32-bit platforms: read them as
	// what they are and widen the value, so they hash as the int64 or
	// uint64 of the same value on every platform (Java's Long.hashCode).
	case reflect.Int:
		return func(k K) int32 { return Int64Hash(int64(*(*int)(unsafe.Pointer(&k)))) }, nil
	case reflect.Uint:
		return func(k K) int32 { return Int64Hash(int64(uint64(*(*uint)(unsafe.Pointer(&k))))) }, nil
	case reflect.Uintptr:
		return func(k K) int32 { return Int64Hash(int64(uint64(*(*uintptr)(unsafe.Pointer(&k))))) }, nil
	case reflect.Bool:
		return func(k K) int32 {
			if *(*bool)(unsafe.Pointer(&k)) {
				return 1231
			}
			return 1237
		}, nil
	case reflect.Float64:
		return func(k K) int32 {
			f := *(*float64)(unsafe.Pointer(&k))
			if f == 0 {
				f = 0 // +0 and -0 are equal keys
			}
			return Int64Hash(int64(math.Float64bits(f)))
		}, nil
	case reflect.Float32:
		return func(k K) int32 {
			f := *(*float32)(unsafe.Pointer(&k))
			if f == 0 {
				f = 0
			}
			return int32(math.Float32bits(f))
		}, nil
	}
	if encode == nil {
		return nil, fmt.Errorf("freshet: key type %s cannot be hashed: it has no codec", t)
	}
	return func(k K) int32 {
		var buf [64]byte
		return BytesHash(encode(buf[:0], k))
	}, nil
}

// StringHash is Java's String.hashCode over the UTF-16 code units of s.
func StringHash(s string) int32 {
	var h int32
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 {
			h = 31*h + int32(c)
			continue
		}
		for _, r := range s[i:] {
			if r >= 0x10000 {
				r -= 0x10000
				h = 31*h + int32(0xD800+(r>>10))
				h = 31*h + int32(0xDC00+(r&0x3FF))
			} else {
				h = 31*h + int32(r)
			}
		}
		return h
	}
	return h
}

// Int64Hash is Java's Long.hashCode.
func Int64Hash(v int64) int32 { return int32(v ^ int64(uint64(v)>>32)) }

// BytesHash is Java's Arrays.hashCode over signed bytes.
func BytesHash(b []byte) int32 {
	h := int32(1)
	for _, c := range b {
		h = 31*h + int32(int8(c))
	}
	return h
}

// DefaultMaxParallelismFor is Flink's default max parallelism for an
// operator of the given parallelism: 1.5 × parallelism rounded up to a power
// of two, at least DefaultMaxParallelism (128) and at most
// UpperBoundMaxParallelism.
func DefaultMaxParallelismFor(parallelism int) int {
	n := parallelism + parallelism/2
	p := 1
	for p < n {
		p <<= 1
	}
	return min(max(p, DefaultMaxParallelism), UpperBoundMaxParallelism)
}
