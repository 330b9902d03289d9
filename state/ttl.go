package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/freshet-io/freshet/codec"
)

// TTL is the time-to-live of a piece of keyed state (Flink's
// StateTtlConfig). A state with a TTL stores, with each value (each
// element of a list, each entry of a map), the processing time it was
// last accessed, and a value whose last access is Duration or more in the
// past has expired. The zero values of Update and Visibility are Flink's
// defaults: OnCreateAndWrite and NeverReturnExpired.
//
// Time is processing time, the only time Flink measures TTL in, read from
// the operator's processing-time service (Store.Now), so a test harness's
// manual clock drives it.
type TTL struct {
	// Duration is how long a value lives after its last access; it must
	// be at least a millisecond, the unit of processing time.
	Duration time.Duration
	// Update says which accesses renew a value's last-access time.
	Update UpdateType
	// Visibility says whether an expired value not yet removed is read.
	Visibility Visibility
	// CleanupFullSnapshot makes snapshots (checkpoints) leave out values
	// that have expired when the snapshot is taken (Flink's
	// cleanupFullSnapshot), so a restored job does not hold them; the
	// running job's state is left as it is.
	CleanupFullSnapshot bool
	// CleanupIncrementally, when positive, makes every access to the
	// state also check that many more entries of its table, in turn, and
	// remove what has expired (Flink's cleanupIncrementally for heap
	// state), so state that is never read again is removed too.
	CleanupIncrementally int
}

// UpdateType says when the last-access time of a value is renewed
// (Flink's StateTtlConfig.UpdateType).
type UpdateType uint8

const (
	// OnCreateAndWrite renews it when the value is created or written.
	OnCreateAndWrite UpdateType = iota
	// OnReadAndWrite renews it on reads too.
	OnReadAndWrite
)

func (u UpdateType) String() string {
	switch u {
	case OnCreateAndWrite:
		return "OnCreateAndWrite"
	case OnReadAndWrite:
		return "OnReadAndWrite"
	}
	return fmt.Sprintf("UpdateType(%d)", uint8(u))
}

// Visibility says whether a read returns an expired value that has not
// been removed yet (Flink's StateTtlConfig.StateVisibility).
type Visibility uint8

const (
	// NeverReturnExpired reads an expired value as absent.
	NeverReturnExpired Visibility = iota
	// ReturnExpiredIfNotCleanedUp returns an expired value as long as it
	// is stored; the read that returns it also removes it.
	ReturnExpiredIfNotCleanedUp
)

func (v Visibility) String() string {
	switch v {
	case NeverReturnExpired:
		return "NeverReturnExpired"
	case ReturnExpiredIfNotCleanedUp:
		return "ReturnExpiredIfNotCleanedUp"
	}
	return fmt.Sprintf("Visibility(%d)", uint8(v))
}

// ttlConfig is a validated TTL with its duration in milliseconds.
type ttlConfig struct {
	TTL
	ms int64
}

func newTTLConfig(t TTL) (*ttlConfig, error) {
	var err error
	if t.Duration < time.Millisecond {
		err = fmt.Errorf("the TTL %v is not positive (it must be at least 1ms)", t.Duration)
	}
	if t.Update > OnReadAndWrite {
		err = errors.Join(err, fmt.Errorf("unknown TTL update type %v", t.Update))
	}
	if t.Visibility > ReturnExpiredIfNotCleanedUp {
		err = errors.Join(err, fmt.Errorf("unknown TTL visibility %v", t.Visibility))
	}
	if t.CleanupIncrementally < 0 {
		err = errors.Join(err, fmt.Errorf("CleanupIncrementally is %d, not 0 or more", t.CleanupIncrementally))
	}
	return &ttlConfig{TTL: t, ms: t.Duration.Milliseconds()}, err
}

// expired reports whether a value last accessed at ts has expired at now:
// its expiry time ts+ms (saturating) is not after now, as in Flink's
// TtlUtils.expired.
func (c *ttlConfig) expired(ts, now int64) bool {
	exp := ts + c.ms
	if ts > 0 && exp < ts {
		exp = math.MaxInt64
	}
	return exp <= now
}

// stamped is a stored value with its last-access time, the form state
// with a TTL keeps (Flink's TtlValue).
type stamped[T any] struct {
	V  T
	TS int64 // processing time of the last access, in ms
}

// stampedCodec encodes a stamped value as its 8-byte big-endian
// timestamp followed by the value's own encoding (Flink's TtlSerializer
// order).
type stampedCodec[T any] struct{ c codec.Codec[T] }

func (c stampedCodec[T]) Append(dst []byte, v stamped[T]) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(v.TS))
	return c.c.Append(dst, v.V)
}

func (c stampedCodec[T]) Decode(src []byte) (stamped[T], int, error) {
	if len(src) < 8 {
		return stamped[T]{}, 0, fmt.Errorf("%w: TTL timestamp", codec.ErrCorrupt)
	}
	ts := int64(binary.BigEndian.Uint64(src))
	v, n, err := c.c.Decode(src[8:])
	if err != nil {
		return stamped[T]{}, 0, err
	}
	return stamped[T]{V: v, TS: ts}, 8 + n, nil
}

// storedForm is how a descriptor with a TTL stores its values: the type
// and codec of the stamped form.
type storedForm interface {
	Type() reflect.Type
	Encode(dst []byte, v any) ([]byte, error)
	Decode(src []byte) (any, error)
}

// withTTL returns b with ttl: its stored form becomes S2 (the stamped
// form of S), encoded with c, and a bad ttl becomes its error.
func withTTL[S, S2 any](b base[S], ttl TTL, c func() codec.Codec[S2], expire func(*ttlConfig) expireFunc) base[S] {
	cfg, err := newTTLConfig(ttl)
	b.ttl = cfg
	b.expire = expire(cfg)
	if i := strings.Index(b.label, " with TTL "); i >= 0 {
		b.label = b.label[:i] // a TTL replaces the one before
	}
	b.label += fmt.Sprintf(" with TTL %v", ttl.Duration)
	var sc codec.Codec[S2]
	if b.codec != nil {
		sc = c()
	}
	st := &base[S2]{name: b.name, kind: b.kind, label: b.label, codec: sc}
	b.stored = st
	if err != nil {
		err = fmt.Errorf("%w: %s: %w", ErrIncompatibleState, b.String(), err)
		if b.err != nil {
			err = errors.Join(b.err, err)
		}
		b.err = err
	}
	st.err = b.err
	return b
}

// ttlDescriptor is a descriptor of this package, which may have a TTL.
type ttlDescriptor interface {
	ttlConfig() *ttlConfig
	expireFunc() expireFunc
}

func (b *base[S]) ttlConfig() *ttlConfig { return b.ttl }

// ttlOf returns d's TTL configuration, or nil.
func ttlOf(d Descriptor) *ttlConfig {
	if t, ok := d.(ttlDescriptor); ok {
		return t.ttlConfig()
	}
	return nil
}

// TTLOf returns the TTL of the state d describes and whether it has one.
func TTLOf(d Descriptor) (TTL, bool) {
	if c := ttlOf(d); c != nil {
		return c.TTL, true
	}
	return TTL{}, false
}

// expireFunc removes what has expired at now from a stored value v of a
// state with a TTL: it returns the value to keep (v itself unless changed)
// and whether anything is left to keep.
type expireFunc func(v any, now int64) (kept any, keep, changed bool)

// CleanExpired removes what has expired at processing time now from v, a
// value stored for the state d describes (as a Cell loads it): an expired
// value, the expired elements of a list, the expired entries of a map. It
// returns the value to store back when changed, and keep false when
// nothing is left and the entry should be deleted. State without a TTL is
// returned as it is. The runtime's store calls it for incremental
// cleanup; it does not change v.
func CleanExpired(d Descriptor, v any, now int64) (kept any, keep, changed bool) {
	if t, ok := d.(ttlDescriptor); ok && t.ttlConfig() != nil {
		if e := t.expireFunc(); e != nil {
			return e(v, now)
		}
	}
	return v, true, false
}

func (b *base[S]) expireFunc() expireFunc { return b.expire }

// SnapshotFilter implements Descriptor.
func (b base[S]) SnapshotFilter() func(v any, now int64) (any, bool) {
	if b.ttl == nil || !b.ttl.CleanupFullSnapshot {
		return nil
	}
	expire := b.expire
	return func(v any, now int64) (any, bool) {
		live, keep, _ := expire(v, now)
		return live, keep
	}
}

func expireStamped[T any](c *ttlConfig) expireFunc {
	return func(v any, now int64) (any, bool, bool) {
		s, _ := v.(stamped[T])
		if c.expired(s.TS, now) {
			return nil, false, true
		}
		return v, true, false
	}
}

func expireList[T any](c *ttlConfig) expireFunc {
	return func(v any, now int64) (any, bool, bool) {
		l, _ := v.([]stamped[T])
		live, changed := liveElems(c, l, now)
		return live, len(live) > 0, changed
	}
}

// liveElems returns the elements of l that have not expired at now: l
// itself when none has, else a new slice.
func liveElems[T any](c *ttlConfig, l []stamped[T], now int64) ([]stamped[T], bool) {
	for i, e := range l {
		if !c.expired(e.TS, now) {
			continue
		}
		live := make([]stamped[T], i, len(l)-1)
		copy(live, l[:i])
		for _, e := range l[i+1:] {
			if !c.expired(e.TS, now) {
				live = append(live, e)
			}
		}
		return live, true
	}
	return l, false
}

func expireMap[K comparable, V any](c *ttlConfig) expireFunc {
	return func(v any, now int64) (any, bool, bool) {
		m, _ := v.(map[K]stamped[V])
		var live map[K]stamped[V]
		for k, e := range m {
			if !c.expired(e.TS, now) {
				continue
			}
			if live == nil {
				live = maps.Clone(m)
			}
			delete(live, k)
		}
		if live == nil {
			return v, len(m) > 0, false
		}
		return live, len(live) > 0, true
	}
}

// Unstamp returns a value as a backend stores it for a state whose values
// are of type T (T, []E or map[K]V), without the last-access times state
// with a TTL keeps beside it; ok is false when v is not such a value. Tools
// that read state outside a job (package savepoint) use it.
func Unstamp[T any](v any) (T, bool) {
	if t, ok := v.(T); ok {
		return t, true
	}
	if s, ok := v.(stamped[T]); ok {
		return s.V, true
	}
	var zero T
	want := reflect.TypeFor[T]()
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return zero, false
	}
	unstamp := func(e reflect.Value) (reflect.Value, bool) {
		if e.Kind() != reflect.Struct || e.NumField() != 2 || e.Type().Field(1).Name != "TS" {
			return reflect.Value{}, false
		}
		return e.Field(0), true
	}
	switch {
	case rv.Kind() == reflect.Slice && want.Kind() == reflect.Slice:
		out := reflect.MakeSlice(want, rv.Len(), rv.Len())
		for i := range rv.Len() {
			e, ok := unstamp(rv.Index(i))
			if !ok || !e.Type().AssignableTo(want.Elem()) {
				return zero, false
			}
			out.Index(i).Set(e)
		}
		return out.Interface().(T), true
	case rv.Kind() == reflect.Map && want.Kind() == reflect.Map:
		out := reflect.MakeMapWithSize(want, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			e, ok := unstamp(it.Value())
			if !ok || !e.Type().AssignableTo(want.Elem()) || !it.Key().Type().AssignableTo(want.Key()) {
				return zero, false
			}
			out.SetMapIndex(it.Key(), e)
		}
		return out.Interface().(T), true
	}
	return zero, false
}
