// Package codec turns values into bytes and back.
//
// Every value that crosses a process boundary in Freshet (a network
// exchange, a state backend, a checkpoint) goes through a Codec. Codecs for
// primitives, strings, byte slices, slices, arrays, maps, pointers and
// structs with exported fields are derived on first use, with reflection
// once per type; types that implement encoding.BinaryMarshaler and
// encoding.BinaryUnmarshaler (such as time.Time) use those methods. Users
// register their own codec for any type with Register.
package codec

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// A Codec encodes values of type T.
//
// Append appends the encoding of v to dst and returns the extended slice.
// Decode decodes one value from the front of src and returns it with the
// number of bytes it used. Decode must not keep a reference to src.
type Codec[T any] interface {
	Append(dst []byte, v T) []byte
	Decode(src []byte) (v T, n int, err error)
}

var (
	// ErrCorrupt is returned, wrapped, when input cannot be decoded.
	ErrCorrupt = errors.New("codec: corrupt input")
	// ErrUnsupported is returned, wrapped, when no codec can be derived for
	// a type (channels, functions, interfaces, unexported struct fields).
	ErrUnsupported = errors.New("codec: unsupported type")
)

var registry sync.Map // reflect.Type -> any (a Codec[T] for that type)

// Register makes c the codec for T, replacing any derived or earlier
// registered codec. Register it before the job that uses T is built.
//
// A codec that declares its encoding raw (Raw) wrongly — for a type whose
// values are not plain memory, with a size not the type's, or with a
// RawSize method of another signature — is kept, and Of then fails naming
// the mistake, so the job that uses T does not build.
func Register[T any](c Codec[T]) {
	t := reflect.TypeFor[T]()
	if err := checkRaw(c); err != nil {
		rawErrs.Store(t, err)
	} else {
		rawErrs.Delete(t)
	}
	registry.Store(t, c)
}

// rawErrs holds, by type, why a registered codec's Raw declaration is
// wrong.
var rawErrs sync.Map // reflect.Type -> error

// Of returns the codec for T: a registered one, or one derived from T's
// structure. It fails with ErrUnsupported naming the part of T that cannot
// be encoded.
func Of[T any]() (Codec[T], error) {
	t := reflect.TypeFor[T]()
	if c, ok := registry.Load(t); ok {
		if err, bad := rawErrs.Load(t); bad {
			return nil, err.(error)
		}
		return c.(Codec[T]), nil
	}
	if c := primitive[T](); c != nil {
		return c, nil
	}
	p, err := plan(t)
	if err != nil {
		return nil, err
	}
	c := &derived[T]{p: p}
	actual, _ := registry.LoadOrStore(t, Codec[T](c))
	return actual.(Codec[T]), nil
}

// Must is like Of but panics when T has no codec. It is meant for package
// level variables of types known to be supported.
func Must[T any]() Codec[T] {
	c, err := Of[T]()
	if err != nil {
		panic(err)
	}
	return c
}

// Marshal encodes v with T's codec.
func Marshal[T any](v T) (b []byte, err error) {
	c, err := Of[T]()
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = Recovered(r)
		}
	}()
	return c.Append(nil, v), nil
}

// EncodeError is what a derived codec's Append panics with when a value
// cannot be encoded (its MarshalBinary fails): Append returns no error.
// Marshal and the runtime's encoders recover it and return it as an error.
type EncodeError struct {
	Type reflect.Type
	Err  error
}

func (e *EncodeError) Error() string { return fmt.Sprintf("codec: encoding %s: %v", e.Type, e.Err) }

func (e *EncodeError) Unwrap() error { return e.Err }

// Recovered turns what an Append panicked with into an error: the
// *EncodeError itself, or an error describing any other panic.
func Recovered(r any) error {
	if e, ok := r.(*EncodeError); ok {
		return e
	}
	return fmt.Errorf("codec: encoding panicked: %v", r)
}

// Unmarshal decodes a value encoded by Marshal; all of b must be used.
func Unmarshal[T any](b []byte) (T, error) {
	var zero T
	c, err := Of[T]()
	if err != nil {
		return zero, err
	}
	v, n, err := c.Decode(b)
	if err != nil {
		return zero, err
	}
	if n != len(b) {
		return zero, fmt.Errorf("%w: %d trailing bytes after %s", ErrCorrupt, len(b)-n, reflect.TypeFor[T]())
	}
	return v, nil
}
