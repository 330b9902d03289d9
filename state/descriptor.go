package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"

	"github.com/freshet-io/freshet/codec"
)

// ErrIncompatibleState fails a job that uses one state name with
// descriptors of different kinds or types, or a descriptor that cannot be
// used (no name, no codec for its types). The error names the state.
var ErrIncompatibleState = errors.New("freshet: incompatible state descriptor")

// Kind is the kind of a piece of state.
type Kind uint8

// The kinds of keyed state.
const (
	KindValue Kind = iota + 1
	KindList
	KindMap
	KindReducing
	KindAggregating
)

func (k Kind) String() string {
	switch k {
	case KindValue:
		return "ValueState"
	case KindList:
		return "ListState"
	case KindMap:
		return "MapState"
	case KindReducing:
		return "ReducingState"
	case KindAggregating:
		return "AggregatingState"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Descriptor describes a piece of keyed state: its name, kind, the Go type
// a backend stores for each key (and namespace) and the codec of that type.
// The descriptors of this package (ValueDescriptor, ListDescriptor,
// MapDescriptor, ReducingDescriptor, AggregatingDescriptor) implement it;
// a Store and a backend use it to create, check and serialize the state.
type Descriptor interface {
	// Name is the state's name, unique in its operator.
	Name() string
	// Kind is the state's kind.
	Kind() Kind
	// Type is the type of the value stored per key: T for value and
	// reducing state, []T for list state, map[K]V for map state and ACC
	// for aggregating state.
	Type() reflect.Type
	// Encode appends the encoding of a stored value (of Type) to dst.
	Encode(dst []byte, v any) ([]byte, error)
	// Decode decodes a stored value that Encode encoded.
	Decode(src []byte) (any, error)
	// Err reports why the descriptor cannot be used, or nil.
	Err() error
	// String names the state with its kind and types, such as
	// `MapState[string, int] "last"`.
	String() string
	// SnapshotFilter, for a state whose TTL has CleanupFullSnapshot,
	// returns what a snapshot taken at processing time now keeps of a
	// stored value: the value without its expired parts, and false when
	// nothing of it is left. It is nil for any other state.
	SnapshotFilter() func(v any, now int64) (any, bool)
}

// Option configures a descriptor whose values (elements, for list state;
// map values, for map state; accumulators, for aggregating state) are of
// type T.
type Option[T any] func(*options[T])

type options[T any] struct {
	codec  codec.Codec[T]
	def    T
	hasDef bool
}

// WithCodec makes c the codec of the state's values instead of the one
// codec.Of derives or finds registered.
func WithCodec[T any](c codec.Codec[T]) Option[T] {
	return func(o *options[T]) { o.codec = c }
}

// WithDefault makes v what a value state reads for a key that has no
// value (Flink's ValueStateDescriptor default). It applies to NewValue
// only; any other descriptor reports it from Err.
func WithDefault[T any](v T) Option[T] {
	return func(o *options[T]) { o.def, o.hasDef = v, true }
}

func applyOptions[T any](kind Kind, name string, opts []Option[T]) (options[T], error) {
	var o options[T]
	for _, opt := range opts {
		opt(&o)
	}
	var err error
	if name == "" {
		err = errors.New("the state has no name")
	}
	if o.hasDef && kind != KindValue {
		err = errors.Join(err, fmt.Errorf("WithDefault applies to value state, not %s", kind))
	}
	if o.codec == nil {
		c, cerr := codec.Of[T]()
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("no codec for %s (give one with state.WithCodec): %w", reflect.TypeFor[T](), cerr))
		}
		o.codec = c
	}
	return o, err
}

// base is what every descriptor has: the name, kind and type, the codec
// of the stored type, and whether stored values can share memory with
// their holder (and so are copied when they cross the API).
type base[S any] struct {
	name  string
	kind  Kind
	label string // the kind with its type arguments
	codec codec.Codec[S]
	refs  bool
	err   error
	// ttl, for state with a TTL, is its configuration, and stored the
	// type and codec of the stamped values it stores instead of S.
	ttl    *ttlConfig
	stored storedForm
	expire expireFunc
	// schema is the layout of S's encoding (codec.Schema), or "" when a
	// codec given with WithCodec writes it.
	schema string
}

func newBase[S any](name string, kind Kind, label string, c codec.Codec[S], err error) base[S] {
	b := base[S]{name: name, kind: kind, label: label, codec: c, refs: holdsReferences(reflect.TypeFor[S]())}
	if d, derr := codec.Of[S](); derr == nil && any(d) == any(c) {
		b.schema = codec.Schema(reflect.TypeFor[S]())
	}
	if err != nil {
		b.err = fmt.Errorf("%w: %s: %w", ErrIncompatibleState, b.String(), err)
	}
	return b
}

func (b *base[S]) Name() string { return b.name }
func (b *base[S]) Kind() Kind   { return b.kind }
func (b *base[S]) Type() reflect.Type {
	if b.stored != nil {
		return b.stored.Type()
	}
	return reflect.TypeFor[S]()
}
func (b *base[S]) Err() error     { return b.err }
func (b *base[S]) String() string { return fmt.Sprintf("%s %q", b.label, b.name) }

func (b *base[S]) Encode(dst []byte, v any) ([]byte, error) {
	if b.stored != nil {
		return b.stored.Encode(dst, v)
	}
	return b.encode(dst, v)
}

func (b *base[S]) Decode(src []byte) (any, error) {
	if b.stored != nil {
		return b.stored.Decode(src)
	}
	return b.decode(src)
}

// encode and decode use the codec of S itself, whatever is stored.
func (b *base[S]) encode(dst []byte, v any) (out []byte, err error) {
	s, ok := v.(S)
	if !ok && v != nil {
		return dst, fmt.Errorf("encoding %s: got a %T", b, v)
	}
	if b.codec == nil {
		return dst, b.err
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = dst, fmt.Errorf("encoding %s: %w", b, codec.Recovered(r))
		}
	}()
	return b.codec.Append(dst, s), nil
}

func (b *base[S]) decode(src []byte) (any, error) {
	if b.codec == nil {
		return nil, b.err
	}
	v, n, err := b.codec.Decode(src)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", b, err)
	}
	if n != len(src) {
		return nil, fmt.Errorf("decoding %s: %w: %d trailing bytes", b, codec.ErrCorrupt, len(src)-n)
	}
	return v, nil
}

// elemCodec copies the elements of a list or the values of a map.
type elemCodec[T any] struct {
	c    codec.Codec[T]
	refs bool
}

func newElemCodec[T any](c codec.Codec[T]) elemCodec[T] {
	return elemCodec[T]{c: c, refs: holdsReferences(reflect.TypeFor[T]())}
}

// clone returns a copy of v that shares no memory with it.
func (e elemCodec[T]) clone(v T) (c T, err error) {
	if !e.refs || e.c == nil {
		return v, nil
	}
	defer func() {
		if r := recover(); r != nil {
			c, err = v, codec.Recovered(r)
		}
	}()
	c, _, err = e.c.Decode(e.c.Append(nil, v))
	return c, err
}

// clone returns a copy of v that shares no memory with it: v itself when
// S holds no slices, maps or pointers, else v encoded and decoded.
func (b *base[S]) clone(v S) (S, error) {
	if !b.refs {
		return v, nil
	}
	buf, err := b.encode(nil, v)
	if err != nil {
		return v, err
	}
	c, err := b.decode(buf)
	if err != nil {
		return v, err
	}
	return c.(S), nil
}

// holdsReferences reports whether values of t can share memory with
// copies of them (strings cannot be changed, so they do not count).
func holdsReferences(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return t.Len() > 0 && holdsReferences(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsReferences(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

// sliceCodec encodes the []T of list state with the elements' codec.
type sliceCodec[T any] struct{ elem codec.Codec[T] }

func (c sliceCodec[T]) Append(dst []byte, vs []T) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(vs)))
	for _, v := range vs {
		dst = c.elem.Append(dst, v)
	}
	return dst
}

func (c sliceCodec[T]) Decode(src []byte) ([]T, int, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || n > uint64(len(src)) {
		return nil, 0, fmt.Errorf("%w: list length", codec.ErrCorrupt)
	}
	vs := make([]T, 0, n)
	for range n {
		v, m, err := c.elem.Decode(src[k:])
		if err != nil {
			return nil, 0, err
		}
		vs = append(vs, v)
		k += m
	}
	return vs, k, nil
}

// mapCodec encodes the map[K]V of map state with its keys' and values'
// codecs.
type mapCodec[K comparable, V any] struct {
	key codec.Codec[K]
	val codec.Codec[V]
}

func (c mapCodec[K, V]) Append(dst []byte, m map[K]V) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	for k, v := range m {
		dst = c.key.Append(dst, k)
		dst = c.val.Append(dst, v)
	}
	return dst
}

func (c mapCodec[K, V]) Decode(src []byte) (map[K]V, int, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || n > uint64(len(src)) {
		return nil, 0, fmt.Errorf("%w: map length", codec.ErrCorrupt)
	}
	m := make(map[K]V, n)
	for range n {
		key, a, err := c.key.Decode(src[k:])
		if err != nil {
			return nil, 0, err
		}
		k += a
		v, b, err := c.val.Decode(src[k:])
		if err != nil {
			return nil, 0, err
		}
		k += b
		m[key] = v
	}
	return m, k, nil
}

// ValueDescriptor describes a ValueState[T] (Flink's ValueStateDescriptor).
type ValueDescriptor[T any] struct {
	base[T]
	def T
}

// NewValue describes the value state name holding a T. Options give its
// codec (WithCodec) and default (WithDefault).
func NewValue[T any](name string, opts ...Option[T]) *ValueDescriptor[T] {
	o, err := applyOptions(KindValue, name, opts)
	return &ValueDescriptor[T]{base: newBase(name, KindValue, "ValueState["+typeName[T]()+"]", o.codec, err), def: o.def}
}

// Default is what the state reads for a key without a value.
func (d *ValueDescriptor[T]) Default() T { return d.def }

// WithTTL returns a copy of d whose values expire ttl.Duration after
// their last access (Flink's enableTimeToLive). A TTL shorter than a
// millisecond makes Err report it.
func (d *ValueDescriptor[T]) WithTTL(ttl TTL) *ValueDescriptor[T] {
	c := *d
	c.base = withTTL(d.base, ttl, func() codec.Codec[stamped[T]] { return stampedCodec[T]{d.codec} }, expireStamped[T])
	return &c
}

// ListDescriptor describes a ListState[T] (Flink's ListStateDescriptor).
type ListDescriptor[T any] struct {
	base[[]T]
	elem elemCodec[T]
}

// NewList describes the list state name of elements of type T; WithCodec
// gives the elements' codec.
func NewList[T any](name string, opts ...Option[T]) *ListDescriptor[T] {
	o, err := applyOptions(KindList, name, opts)
	var c codec.Codec[[]T]
	if o.codec != nil {
		c = sliceCodec[T]{o.codec}
	}
	d := &ListDescriptor[T]{base: newBase(name, KindList, "ListState["+typeName[T]()+"]", c, err), elem: newElemCodec(o.codec)}
	if dc, derr := codec.Of[T](); derr == nil && any(dc) == any(o.codec) {
		d.schema = "[]" + codec.Schema(reflect.TypeFor[T]())
	}
	return d
}

// ElementCodec is the codec of the list's elements (nil when Err reports
// that there is none). Operator state, which is kept element by element,
// encodes with it.
func (d *ListDescriptor[T]) ElementCodec() codec.Codec[T] { return d.elem.c }

// WithTTL returns a copy of d whose elements each expire ttl.Duration
// after they were added (or last read, with OnReadAndWrite), as list
// elements do in Flink. A TTL shorter than a millisecond makes Err report
// it.
func (d *ListDescriptor[T]) WithTTL(ttl TTL) *ListDescriptor[T] {
	c := *d
	c.base = withTTL(d.base, ttl, func() codec.Codec[[]stamped[T]] {
		return sliceCodec[stamped[T]]{stampedCodec[T]{d.elem.c}}
	}, expireList[T])
	return &c
}

// MapDescriptor describes a MapState[K, V] (Flink's MapStateDescriptor).
type MapDescriptor[K comparable, V any] struct {
	base[map[K]V]
	val elemCodec[V]
}

// NewMap describes the map state name from K to V; WithCodec gives the
// values' codec, and keys use codec.Of[K] (register one with
// codec.Register for a key type that has none).
func NewMap[K comparable, V any](name string, opts ...Option[V]) *MapDescriptor[K, V] {
	o, err := applyOptions(KindMap, name, opts)
	kc, kerr := codec.Of[K]()
	if kerr != nil {
		err = errors.Join(err, fmt.Errorf("no codec for the map's key type %s (register one with codec.Register): %w", typeName[K](), kerr))
	}
	var c codec.Codec[map[K]V]
	if kc != nil && o.codec != nil {
		c = mapCodec[K, V]{kc, o.codec}
	}
	d := &MapDescriptor[K, V]{base: newBase(name, KindMap, "MapState["+typeName[K]()+", "+typeName[V]()+"]", c, err), val: newElemCodec(o.codec)}
	if dc, derr := codec.Of[V](); derr == nil && kc != nil && any(dc) == any(o.codec) {
		d.schema = "map[" + codec.Schema(reflect.TypeFor[K]()) + "]" + codec.Schema(reflect.TypeFor[V]())
	}
	return d
}

// WithTTL returns a copy of d whose entries each expire ttl.Duration
// after their last access, as map entries do in Flink. A TTL shorter than
// a millisecond makes Err report it.
func (d *MapDescriptor[K, V]) WithTTL(ttl TTL) *MapDescriptor[K, V] {
	c := *d
	c.base = withTTL(d.base, ttl, func() codec.Codec[map[K]stamped[V]] {
		mc := d.codec.(mapCodec[K, V])
		return mapCodec[K, stamped[V]]{mc.key, stampedCodec[V]{mc.val}}
	}, expireMap[K, V])
	return &c
}

// ReducingDescriptor describes a ReducingState[T] (Flink's
// ReducingStateDescriptor): every value added is combined with reduce into
// one.
type ReducingDescriptor[T any] struct {
	base[T]
	reduce func(a, b T) T
}

// NewReducing describes the reducing state name, which combines the
// values added to it with reduce; WithCodec gives the values' codec.
func NewReducing[T any](name string, reduce func(a, b T) T, opts ...Option[T]) *ReducingDescriptor[T] {
	o, err := applyOptions(KindReducing, name, opts)
	if reduce == nil {
		err = errors.Join(err, errors.New("the reduce function is nil"))
	}
	return &ReducingDescriptor[T]{base: newBase(name, KindReducing, "ReducingState["+typeName[T]()+"]", o.codec, err), reduce: reduce}
}

// WithTTL returns a copy of d whose reduced value expires ttl.Duration
// after its last access. A TTL shorter than a millisecond makes Err
// report it.
func (d *ReducingDescriptor[T]) WithTTL(ttl TTL) *ReducingDescriptor[T] {
	c := *d
	c.base = withTTL(d.base, ttl, func() codec.Codec[stamped[T]] { return stampedCodec[T]{d.codec} }, expireStamped[T])
	return &c
}

// AggregateFunction aggregates values incrementally (Flink's
// AggregateFunction): an accumulator is created, values are added to it,
// the result is read from it, and two accumulators can be merged (when
// session windows merge). Add and Merge may change and return their
// accumulator arguments.
type AggregateFunction[IN, ACC, OUT any] interface {
	CreateAccumulator() ACC
	Add(v IN, acc ACC) ACC
	GetResult(acc ACC) OUT
	Merge(a, b ACC) ACC
}

// AggregatingDescriptor describes an AggregatingState[IN, ACC, OUT]
// (Flink's AggregatingStateDescriptor).
type AggregatingDescriptor[IN, ACC, OUT any] struct {
	base[ACC]
	agg AggregateFunction[IN, ACC, OUT]
}

// NewAggregating describes the aggregating state name, which adds values
// to an accumulator with agg; the state stores the accumulator, and
// WithCodec gives its codec.
func NewAggregating[IN, ACC, OUT any](name string, agg AggregateFunction[IN, ACC, OUT], opts ...Option[ACC]) *AggregatingDescriptor[IN, ACC, OUT] {
	o, err := applyOptions(KindAggregating, name, opts)
	if agg == nil {
		err = errors.Join(err, errors.New("the aggregate function is nil"))
	}
	label := "AggregatingState[" + typeName[IN]() + ", " + typeName[ACC]() + ", " + typeName[OUT]() + "]"
	return &AggregatingDescriptor[IN, ACC, OUT]{base: newBase(name, KindAggregating, label, o.codec, err), agg: agg}
}

// WithTTL returns a copy of d whose accumulator expires ttl.Duration
// after its last access. A TTL shorter than a millisecond makes Err
// report it.
func (d *AggregatingDescriptor[IN, ACC, OUT]) WithTTL(ttl TTL) *AggregatingDescriptor[IN, ACC, OUT] {
	c := *d
	c.base = withTTL(d.base, ttl, func() codec.Codec[stamped[ACC]] { return stampedCodec[ACC]{d.codec} }, expireStamped[ACC])
	return &c
}
