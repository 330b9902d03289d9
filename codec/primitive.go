package codec

import (
	"encoding/binary"
	"math"
)

// primitive returns a hand-written codec for the basic types whose values
// are hot in exchanges and state, or nil.
func primitive[T any]() Codec[T] {
	var c any
	switch any(*new(T)).(type) {
	case string:
		c = stringCodec{}
	case []byte:
		c = bytesCodec{}
	case int:
		c = intCodec[int]{}
	case int64:
		c = intCodec[int64]{}
	case int32:
		c = intCodec[int32]{}
	case uint64:
		c = uintCodec[uint64]{}
	case uint32:
		c = uintCodec[uint32]{}
	case float64:
		c = float64Codec{}
	case bool:
		c = boolCodec{}
	default:
		return nil
	}
	return c.(Codec[T])
}

type stringCodec struct{}

func (stringCodec) Append(dst []byte, v string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

func (stringCodec) Decode(src []byte) (string, int, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || n > uint64(len(src)-k) {
		return "", 0, corrupt("string", src)
	}
	return string(src[k : k+int(n)]), k + int(n), nil
}

type bytesCodec struct{}

func (bytesCodec) Append(dst []byte, v []byte) []byte {
	if v == nil {
		return append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(v))+1)
	return append(dst, v...)
}

func (bytesCodec) Decode(src []byte) ([]byte, int, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || n > uint64(len(src)-k)+1 {
		return nil, 0, corrupt("[]byte", src)
	}
	if n == 0 {
		return nil, k, nil
	}
	n--
	return append([]byte{}, src[k:k+int(n)]...), k + int(n), nil
}

type signed interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64
}
type unsigned interface {
	~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr
}

type intCodec[T signed] struct{}

func (intCodec[T]) Append(dst []byte, v T) []byte { return binary.AppendVarint(dst, int64(v)) }

func (intCodec[T]) Decode(src []byte) (T, int, error) {
	v, k := binary.Varint(src)
	if k <= 0 || int64(T(v)) != v {
		return 0, 0, corrupt("integer", src)
	}
	return T(v), k, nil
}

type uintCodec[T unsigned] struct{}

func (uintCodec[T]) Append(dst []byte, v T) []byte { return binary.AppendUvarint(dst, uint64(v)) }

func (uintCodec[T]) Decode(src []byte) (T, int, error) {
	v, k := binary.Uvarint(src)
	if k <= 0 || uint64(T(v)) != v {
		return 0, 0, corrupt("unsigned integer", src)
	}
	return T(v), k, nil
}

type float64Codec struct{}

func (float64Codec) Append(dst []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
}

func (float64Codec) Decode(src []byte) (float64, int, error) {
	if len(src) < 8 {
		return 0, 0, corrupt("float64", src)
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(src)), 8, nil
}

type boolCodec struct{}

func (boolCodec) Append(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func (boolCodec) Decode(src []byte) (bool, int, error) {
	if len(src) < 1 || src[0] > 1 {
		return false, 0, corrupt("bool", src)
	}
	return src[0] == 1, 1, nil
}
