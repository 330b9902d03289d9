package codec

import (
	"fmt"
	"reflect"
)

// Raw is implemented by a codec whose encoding of a value is the value's
// own bytes in memory, as they are: RawSize bytes, the size of the type.
// A codec for a type made of bytes ([16]byte, a struct of byte arrays) can
// say so with no loss; one for a type of fixed-size numbers can too when
// what it encodes is only decoded on machines of the same byte order.
//
// The runtime then copies such values in and out of its buffers without
// calling Append or Decode for each (a network exchange copies a record's
// bytes in one step). Only types made of numbers, arrays and structs
// qualify: Register keeps a codec that declares Raw for another type (one
// with pointers, strings or bools), or with a size not the type's, or that
// has a RawSize method of another signature, and codec.Of then fails with
// the mistake, so the job does not build.
type Raw interface {
	RawSize() int
}

// RawSize returns the size of T when c encodes T's values as their bytes
// in memory (c implements Raw with the size of T, and T is made of
// numbers, arrays and structs only), else 0.
func RawSize[T any](c Codec[T]) int {
	r, ok := c.(Raw)
	if !ok {
		return 0
	}
	t := reflect.TypeFor[T]()
	if n := r.RawSize(); n <= 0 || uintptr(n) != t.Size() || !plainMemory(t) {
		return 0
	}
	return int(t.Size())
}

// plainMemory reports whether every bit pattern of t's memory is a valid
// value with no pointers: numbers, and arrays and structs of them.
func plainMemory(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return plainMemory(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !plainMemory(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

// checkRaw reports a codec whose Raw declaration the runtime could not
// honour: a RawSize method of another signature (so it does not implement
// Raw), a size other than T's, or a T that is not plain memory.
func checkRaw[T any](c Codec[T]) error {
	t, ct := reflect.TypeFor[T](), reflect.TypeOf(c)
	r, ok := c.(Raw)
	if !ok {
		if ct != nil {
			if m, has := ct.MethodByName("RawSize"); has {
				return fmt.Errorf("codec %s of %s has method RawSize with type %s, but codec.Raw wants RawSize() int: its values would never be copied as bytes", ct, t, m.Type)
			}
		}
		return nil
	}
	if !plainMemory(t) {
		return fmt.Errorf("codec %s of %s implements codec.Raw, but %s is not made of numbers, arrays and structs only: its values cannot be copied as bytes", ct, t, t)
	}
	if n := r.RawSize(); uintptr(n) != t.Size() {
		return fmt.Errorf("codec %s of %s implements codec.Raw with RawSize %d, but a %s is %d bytes", ct, t, n, t, t.Size())
	}
	return nil
}
