package freshet

import (
	"cmp"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
)

// KeyedStream is a stream partitioned by a key: every element of one key is
// processed by the same subtask, which keeps per-key state (Flink's
// KeyedStream). Keys are hashed into key groups (the max parallelism); each
// subtask owns a contiguous range of key groups.
type KeyedStream[T any, K comparable] struct {
	s   *Stream[T]
	key func(T) K
}

// KeyBy partitions s by the key key returns. K may be any comparable type;
// strings and integers hash as in Flink, other keys through their codec.
func KeyBy[T any, K comparable](s *Stream[T], key func(T) K) *KeyedStream[T, K] {
	var enc func([]byte, K) []byte
	if c, err := codec.Of[K](); err == nil {
		enc = c.Append
	}
	hash, err := keygroup.Hasher[K](enc)
	if err != nil {
		s.env.fail(fmt.Errorf("%w: KeyBy: %w", ErrInvalidProgram, err))
		hash = func(K) int32 { return 0 }
	}
	ps := s.partitioned(graph.PartitionKeyGroups, func(_, maxParallelism int) any {
		return &exchange.KeyGroups[T, K]{Key: key, Hash: hash, MaxParallelism: maxParallelism}
	})
	return &KeyedStream[T, K]{s: ps, key: key}
}

// Stream returns the keyed stream's elements as a plain stream, still
// partitioned by key for the next operator.
func (k *KeyedStream[T, K]) Stream() *Stream[T] { return k.s }

// keyedNode adds a keyed operator reading k.
func keyedNode[T any, K comparable, OUT any](k *KeyedStream[T, K], name string, newOp func() (operator.Operator, error)) *graph.Node {
	n := newOneInput[T, OUT](k.s, name, graph.KindOneInput, newOp)
	n.Keyed = true
	return n
}

// Reduce combines the elements of each key with fn, emitting the running
// result after every element (the first element of a key is emitted as is).
func Reduce[T any, K comparable](k *KeyedStream[T, K], fn func(acc, v T) T) *Stream[T] {
	n := keyedNode[T, K, T](k, "Keyed Reduce", func() (operator.Operator, error) {
		return &reduceOp[T, K]{key: k.key, fn: fn}, nil
	})
	return newStream[T](k.s.env, n)
}

type reduceOp[T any, K comparable] struct {
	operator.Base[T]
	key   func(T) K
	fn    func(acc, v T) T
	state statebackend.Table[K, struct{}, T]
	buf   operator.Buffer[T]
}

func (r *reduceOp[T, K]) Open(c *operator.Context) error {
	t, err := statebackend.NewTable[K, struct{}, T](c.StateBackend(), "reduce")
	if err != nil {
		return err
	}
	r.state = t
	return r.Base.Open(c)
}

// step folds v into its key's running result and returns it.
func (r *reduceOp[T, K]) step(v T) T {
	key := r.key(v)
	acc, ok := r.state.Get(key, struct{}{})
	if ok {
		acc = r.fn(acc, v)
	} else {
		acc = v
	}
	r.state.Put(key, struct{}{}, acc)
	return acc
}

func (r *reduceOp[T, K]) ProcessElement(rec operator.Record[T]) error {
	r.Out.Collect(operator.Record[T]{Value: r.step(rec.Value), Timestamp: rec.Timestamp})
	return nil
}

func (r *reduceOp[T, K]) ProcessBatch(rs []operator.Record[T]) error {
	out := r.buf.Take(len(rs))
	for i, rec := range rs {
		out[i] = operator.Record[T]{Value: r.step(rec.Value), Timestamp: rec.Timestamp}
	}
	r.buf.Emit(r.Out, out)
	return nil
}

// Number is the set of types Sum adds.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr | ~float32 | ~float64
}

// Field reads and writes one field of T: the field the rolling aggregations
// work on (Flink's field expressions).
type Field[T any, N any] struct {
	name string
	get  func(T) N
	set  func(T, N) T
	err  error
}

// FieldFunc returns a Field from a getter and a setter.
func FieldFunc[T any, N any](name string, get func(T) N, set func(T, N) T) Field[T, N] {
	return Field[T, N]{name: name, get: get, set: set}
}

// Self is the Field of a stream whose elements are the numbers themselves.
func Self[N any]() Field[N, N] {
	return Field[N, N]{name: "value", get: func(v N) N { return v }, set: func(_ N, n N) N { return n }}
}

// FieldOf returns the exported struct field of T named name, which must be of
// type N (nested fields as "Outer.Inner"). Reflection is used once, here;
// reading and writing the field later is a plain memory access.
func FieldOf[T any, N any](name string) Field[T, N] {
	t := reflect.TypeFor[T]()
	f := Field[T, N]{name: name}
	if t.Kind() != reflect.Struct {
		f.err = fmt.Errorf("field %q: %s is not a struct", name, t)
		return f
	}
	sf, ok := t.FieldByName(name)
	if !ok || !sf.IsExported() {
		f.err = fmt.Errorf("field %q: %s has no exported field of that name", name, t)
		return f
	}
	if sf.Type != reflect.TypeFor[N]() {
		f.err = fmt.Errorf("field %q of %s has type %s, not %s", name, t, sf.Type, reflect.TypeFor[N]())
		return f
	}
	if len(sf.Index) > 1 {
		// Promoted through an embedded pointer would not have a fixed offset.
		cur := t
		for _, i := range sf.Index[:len(sf.Index)-1] {
			ft := cur.Field(i).Type
			if ft.Kind() != reflect.Struct {
				f.err = fmt.Errorf("field %q of %s is reached through a pointer", name, t)
				return f
			}
			cur = ft
		}
	}
	off := sf.Offset
	if len(sf.Index) > 1 {
		off = 0
		cur := t
		for _, i := range sf.Index {
			off += cur.Field(i).Offset
			cur = cur.Field(i).Type
		}
	}
	f.get = func(v T) N { return *(*N)(unsafe.Add(unsafe.Pointer(&v), off)) }
	f.set = func(v T, n N) T {
		*(*N)(unsafe.Add(unsafe.Pointer(&v), off)) = n
		return v
	}
	return f
}

func (k *KeyedStream[T, K]) checkField(op, name string, err error) bool {
	if err != nil {
		k.s.env.fail(fmt.Errorf("%w: %s: %w", ErrInvalidProgram, op, err))
		return false
	}
	return true
}

// Sum emits, for every element, the running sum of field per key. The other
// fields are those of the key's first element, as in Flink.
func Sum[T any, K comparable, N Number](k *KeyedStream[T, K], field Field[T, N]) *Stream[T] {
	return rolling(k, "Sum", field, func(acc, v T) T { return field.set(acc, field.get(acc)+field.get(v)) })
}

// Min emits, for every element, the running minimum of field per key. The
// other fields are those of the key's first element (use MinBy for the whole
// element holding the minimum), as in Flink.
func Min[T any, K comparable, N cmp.Ordered](k *KeyedStream[T, K], field Field[T, N]) *Stream[T] {
	return rolling(k, "Min", field, func(acc, v T) T {
		if field.get(v) < field.get(acc) {
			return field.set(acc, field.get(v))
		}
		return acc
	})
}

// Max is Min's counterpart for the maximum.
func Max[T any, K comparable, N cmp.Ordered](k *KeyedStream[T, K], field Field[T, N]) *Stream[T] {
	return rolling(k, "Max", field, func(acc, v T) T {
		if field.get(v) > field.get(acc) {
			return field.set(acc, field.get(v))
		}
		return acc
	})
}

// ByOption chooses which element MinBy and MaxBy keep when elements of a
// key tie on the field (the boolean "first" of Flink's minBy and maxBy). With no
// option the first is kept; the last option given wins.
type ByOption func(*byConfig)

type byConfig struct{ last bool }

// FirstOnTies keeps, of the elements of a key that hold the same minimum
// (or maximum), the one that came first: Flink's minBy(field, true), the
// default of MinBy and MaxBy.
func FirstOnTies() ByOption { return func(c *byConfig) { c.last = false } }

// LastOnTies keeps, of the elements of a key that hold the same minimum (or
// maximum), the one that came last: Flink's minBy(field, false). An
// element whose field equals the current minimum (maximum) then replaces
// the kept element, so the running result is the most recent element
// holding the extreme value.
func LastOnTies() ByOption { return func(c *byConfig) { c.last = true } }

// lastOnTies applies opts and reports whether the last tied element wins.
func lastOnTies(opts []ByOption) bool {
	var c byConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c.last
}

// rollingBy adds MinBy or MaxBy: better reports whether b beats a, the
// element kept so far.
func rollingBy[T any, K comparable, N cmp.Ordered](k *KeyedStream[T, K], name string, field Field[T, N], opts []ByOption, better func(b, a N) bool) *Stream[T] {
	last := lastOnTies(opts)
	s := rolling(k, name, field, func(acc, v T) T {
		a, b := field.get(acc), field.get(v)
		if better(b, a) || last && b == a {
			return v
		}
		return acc
	})
	if last {
		s.node.Name = fmt.Sprintf("Keyed %s(%s, last on ties)", name, field.name)
	}
	return s
}

// MinBy emits, for every element, the element with the smallest field seen
// so far for its key (the first element of a key is emitted as is). Unlike
// Min, the whole element holding the minimum is emitted, as in Flink. On
// ties the first element holding the minimum is kept, unless LastOnTies is
// given:
//
//	freshet.MinBy(k, temp)                       // Flink's minBy("temp")
//	freshet.MinBy(k, temp, freshet.LastOnTies()) // Flink's minBy("temp", false)
func MinBy[T any, K comparable, N cmp.Ordered](k *KeyedStream[T, K], field Field[T, N], opts ...ByOption) *Stream[T] {
	return rollingBy(k, "MinBy", field, opts, func(b, a N) bool { return b < a })
}

// MaxBy is MinBy's counterpart for the largest field: on ties the first
// element holding the maximum is kept, or the last with LastOnTies.
func MaxBy[T any, K comparable, N cmp.Ordered](k *KeyedStream[T, K], field Field[T, N], opts ...ByOption) *Stream[T] {
	return rollingBy(k, "MaxBy", field, opts, func(b, a N) bool { return b > a })
}

func rolling[T any, K comparable, N any](k *KeyedStream[T, K], name string, field Field[T, N], fn func(acc, v T) T) *Stream[T] {
	if field.get == nil && field.err == nil {
		field.err = fmt.Errorf("field is empty; use FieldOf, FieldFunc or Self")
	}
	if !k.checkField(name, field.name, field.err) {
		fn = func(acc, _ T) T { return acc }
	}
	s := Reduce(k, fn)
	s.node.Name = fmt.Sprintf("Keyed %s(%s)", name, field.name)
	return s
}
