package freshet

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"reflect"
	"slices"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/state"
)

// BroadcastStream is a stream every element of which goes to every parallel
// instance of the operator it is connected to, where the function keeps
// what it needs of it in broadcast state (Flink's BroadcastStream, the
// broadcast state pattern: rules, configuration or lookup data applied to
// another stream). Make one with NewBroadcastStream and connect it to a
// stream with ConnectBroadcast or to a keyed stream with
// ConnectKeyedBroadcast.
//
// As in Flink, there is no order between the broadcast input and the other
// input: an element may be processed before a broadcast element that was
// produced earlier. Functions that must not miss a rule buffer their
// elements (in keyed state) until the rule arrives.
type BroadcastStream[B any] struct {
	s *Stream[B]
}

// NewBroadcastStream turns s into a broadcast stream: its elements will be
// sent to every subtask of the operator it is connected to (Flink's
// DataStream.broadcast(stateDescriptors)). The broadcast state itself is
// declared by name where it is used, with BroadcastState.
func NewBroadcastStream[B any](s *Stream[B]) *BroadcastStream[B] {
	return &BroadcastStream[B]{s: s.Broadcast()}
}

// BroadcastConnectedStreams are a stream connected with a broadcast stream
// (Flink's BroadcastConnectedStream); process them with BroadcastProcess.
type BroadcastConnectedStreams[A, B any] struct {
	in *Stream[A]
	bc *BroadcastStream[B]
}

// ConnectBroadcast connects s, whose elements keep their partitioning, with
// the broadcast stream b.
func ConnectBroadcast[A, B any](s *Stream[A], b *BroadcastStream[B]) *BroadcastConnectedStreams[A, B] {
	if s.env != b.s.env {
		s.env.fail(errDifferentEnvs("ConnectBroadcast"))
	}
	return &BroadcastConnectedStreams[A, B]{in: s, bc: b}
}

// KeyedBroadcastConnectedStreams are a keyed stream connected with a
// broadcast stream (Flink's BroadcastConnectedStream of a KeyedStream);
// process them with KeyedBroadcastProcess.
type KeyedBroadcastConnectedStreams[A, B any, K comparable] struct {
	in *KeyedStream[A, K]
	bc *BroadcastStream[B]
}

// ConnectKeyedBroadcast connects the keyed stream k with the broadcast
// stream b.
func ConnectKeyedBroadcast[A, B any, K comparable](k *KeyedStream[A, K], b *BroadcastStream[B]) *KeyedBroadcastConnectedStreams[A, B, K] {
	if k.s.env != b.s.env {
		k.s.env.fail(errDifferentEnvs("ConnectKeyedBroadcast"))
	}
	return &KeyedBroadcastConnectedStreams[A, B, K]{in: k, bc: b}
}

// ErrBroadcastStateReadOnly fails a job whose function changes broadcast
// state anywhere but in ProcessBroadcastElement. As in Flink, only the
// broadcast side may change it: every parallel instance sees the same
// broadcast elements, so their broadcast state stays the same, which a
// change made while processing the other input would break.
var ErrBroadcastStateReadOnly = errors.New("freshet: broadcast state is read-only in ProcessElement and OnTimer; only ProcessBroadcastElement may change it")

// broadcastStore is the broadcast state of one subtask of an operator:
// named maps, writable only while a broadcast element is processed. Each
// map is kept, entry by entry, in a list of the operator's operator state
// with the Broadcast distribution: the snapshot hook writes the maps into
// their lists, and a map is filled from its restored list when the
// function first asks for it.
type broadcastStore struct {
	states   map[string]*broadcastMap
	writable bool
	c        *operator.Context
}

// broadcastStatePrefix starts the name of the operator state list that
// holds a broadcast state.
const broadcastStatePrefix = "broadcast-state/"

type broadcastMap struct {
	m    any          // map[K]V
	save func() error // copies m into its operator state list
}

func newBroadcastStore(c *operator.Context) *broadcastStore {
	bs := &broadcastStore{states: map[string]*broadcastMap{}, c: c}
	c.OnCheckpoint(operator.CheckpointHooks{Snapshot: bs.snapshot})
	return bs
}

// fail fails the subtask after the current call.
func (bs *broadcastStore) fail(err error) { bs.c.Fail(err) }

// snapshot writes every map into its operator state list, in name order
// so that the first error is always the same.
func (bs *broadcastStore) snapshot(int64) error {
	names := make([]string, 0, len(bs.states))
	for name := range bs.states {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := bs.states[name].save(); err != nil {
			return err
		}
	}
	return nil
}

// broadcastEntry is one entry of a broadcast state in its operator state
// list.
type broadcastEntry[K comparable, V any] struct {
	Key   K
	Value V
}

type broadcastEntryCodec[K comparable, V any] struct {
	k codec.Codec[K]
	v codec.Codec[V]
}

func (c broadcastEntryCodec[K, V]) Append(dst []byte, e broadcastEntry[K, V]) []byte {
	return c.v.Append(c.k.Append(dst, e.Key), e.Value)
}

func (c broadcastEntryCodec[K, V]) Decode(src []byte) (broadcastEntry[K, V], int, error) {
	k, n, err := c.k.Decode(src)
	if err != nil {
		return broadcastEntry[K, V]{}, 0, err
	}
	v, m, err := c.v.Decode(src[n:])
	if err != nil {
		return broadcastEntry[K, V]{}, 0, err
	}
	return broadcastEntry[K, V]{Key: k, Value: v}, n + m, nil
}

// newBroadcastMap makes the map of broadcast state name, filled from the
// restored operator state. A map whose types have no codec works until a
// checkpoint, which it fails.
func newBroadcastMap[K comparable, V any](bs *broadcastStore, name string) (map[K]V, *broadcastMap, error) {
	m := map[K]V{}
	kc, kerr := codec.Of[K]()
	vc, verr := codec.Of[V]()
	if err := errors.Join(kerr, verr); err != nil {
		err = fmt.Errorf("broadcast state %q of %s to %s has no codec: %w",
			name, reflect.TypeFor[K](), reflect.TypeFor[V](), err)
		return m, &broadcastMap{m: m, save: func() error { return err }}, nil
	}
	l, err := statebackend.GetList[broadcastEntry[K, V]](bs.c.State(), broadcastStatePrefix+name, statebackend.Broadcast, broadcastEntryCodec[K, V]{kc, vc})
	if err != nil {
		return nil, nil, fmt.Errorf("broadcast state %q: %w", name, err)
	}
	for _, e := range l.Values {
		m[e.Key] = e.Value
	}
	l.Values = nil
	save := func() error {
		l.Values = l.Values[:0]
		for k, v := range m {
			l.Values = append(l.Values, broadcastEntry[K, V]{Key: k, Value: v})
		}
		return nil
	}
	return m, &broadcastMap{m: m, save: save}, nil
}

// BroadcastStateContext is implemented by the contexts of broadcast process
// functions (BroadcastContext, ReadOnlyBroadcastContext and their keyed
// counterparts); BroadcastState reads the operator's broadcast state
// through it.
type BroadcastStateContext interface {
	broadcastStore() *broadcastStore
}

// BroadcastMapState is one named map of an operator's broadcast state
// (Flink's BroadcastState and ReadOnlyBroadcastState). Every subtask keeps
// its own copy, built from the broadcast elements it sees. Reading works
// everywhere; Put, Remove and Clear work only in ProcessBroadcastElement,
// elsewhere they fail the job with ErrBroadcastStateReadOnly. Values are
// held as given, not copied: do not change a value after storing it.
type BroadcastMapState[K comparable, V any] struct {
	name string
	m    map[K]V
	bs   *broadcastStore
}

// BroadcastState returns the broadcast state named name of the operator
// ctx belongs to, a map from K to V (Flink's
// ctx.getBroadcastState(mapStateDescriptor)). The state is empty until
// ProcessBroadcastElement puts something in it, or restored from a
// checkpoint: it is part of the operator's snapshot, and every subtask of
// a restored job, at any parallelism, gets a copy back. K and V need
// codecs (codec.Of) for that; without, a checkpoint fails naming the
// state. Using one name with different types fails the job.
func BroadcastState[K comparable, V any](ctx BroadcastStateContext, name string) BroadcastMapState[K, V] {
	bs := ctx.broadcastStore()
	var m map[K]V
	if v, ok := bs.states[name]; ok {
		m, ok = v.m.(map[K]V)
		if !ok {
			// The subtask fails after the call; until then the function
			// sees an empty state that keeps nothing.
			bs.fail(fmt.Errorf("freshet: broadcast state %q holds a %T, not a %T", name, v.m, m))
			return BroadcastMapState[K, V]{name: name, m: map[K]V{}, bs: &broadcastStore{c: bs.c}}
		}
	} else {
		var bm *broadcastMap
		var err error
		if m, bm, err = newBroadcastMap[K, V](bs, name); err != nil {
			bs.fail(err)
			return BroadcastMapState[K, V]{name: name, m: map[K]V{}, bs: &broadcastStore{c: bs.c}}
		}
		bs.states[name] = bm
	}
	return BroadcastMapState[K, V]{name: name, m: m, bs: bs}
}

// write reports whether the state may be changed, failing the subtask
// with ErrBroadcastStateReadOnly when not.
func (s BroadcastMapState[K, V]) write(op string) bool {
	if !s.bs.writable {
		s.bs.fail(fmt.Errorf("%w (%s on broadcast state %q)", ErrBroadcastStateReadOnly, op, s.name))
	}
	return s.bs.writable
}

// Get returns the value of k.
func (s BroadcastMapState[K, V]) Get(k K) (V, bool) {
	v, ok := s.m[k]
	return v, ok
}

// Contains reports whether the map has k.
func (s BroadcastMapState[K, V]) Contains(k K) bool { _, ok := s.m[k]; return ok }

// Len is the size of the map.
func (s BroadcastMapState[K, V]) Len() int { return len(s.m) }

// All iterates over the map, in no particular order.
func (s BroadcastMapState[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for k, v := range s.m {
			if !yield(k, v) {
				return
			}
		}
	}
}

// Put sets k to v; only in ProcessBroadcastElement.
func (s BroadcastMapState[K, V]) Put(k K, v V) {
	if !s.write("Put") {
		return
	}
	s.m[k] = v
}

// Remove deletes k; only in ProcessBroadcastElement.
func (s BroadcastMapState[K, V]) Remove(k K) {
	if !s.write("Remove") {
		return
	}
	delete(s.m, k)
}

// Clear empties the map; only in ProcessBroadcastElement.
func (s BroadcastMapState[K, V]) Clear() {
	if !s.write("Clear") {
		return
	}
	clear(s.m)
}

// BroadcastContext is the context of ProcessBroadcastElement (Flink's
// BroadcastProcessFunction.Context): Context plus read-write access to the
// broadcast state with BroadcastState. Side outputs work as from any
// Context; timers cannot be set.
type BroadcastContext struct {
	Context
	bs *broadcastStore
}

func (c *BroadcastContext) broadcastStore() *broadcastStore { return c.bs }

// ReadOnlyBroadcastContext is the context of a broadcast process
// function's ProcessElement (Flink's ReadOnlyContext): Context plus
// read-only access to the broadcast state with BroadcastState.
type ReadOnlyBroadcastContext struct {
	Context
	bs *broadcastStore
}

func (c *ReadOnlyBroadcastContext) broadcastStore() *broadcastStore { return c.bs }

// BroadcastProcessFunction processes a stream connected with a broadcast
// stream (Flink's BroadcastProcessFunction): ProcessBroadcastElement sees
// every broadcast element, in every subtask, and may change the broadcast
// state; ProcessElement sees the elements of the other input and may only
// read it. Embed BaseFunction for Open and Close. The function value is
// shared by all subtasks: keep what a subtask learns in broadcast state, not
// in fields.
type BroadcastProcessFunction[A, B, OUT any] interface {
	Lifecycle
	ProcessElement(ctx *ReadOnlyBroadcastContext, v A, out Collector[OUT]) error
	ProcessBroadcastElement(ctx *BroadcastContext, v B, out Collector[OUT]) error
}

// BroadcastProcess applies fn to both inputs of c. The broadcast stream is
// the operator's second input.
func BroadcastProcess[A, B, OUT any](c *BroadcastConnectedStreams[A, B], fn BroadcastProcessFunction[A, B, OUT]) *Stream[OUT] {
	s := newTwoInput[A, B, OUT](&ConnectedStreams[A, B]{first: c.in, second: c.bc.s}, "BroadcastProcess", func() (operator.Operator, error) {
		return &broadcastProcessOp[A, B, OUT]{fn: fn}, nil
	})
	checkHooksOn(s.node, fn)
	return s
}

type broadcastProcessOp[A, B, OUT any] struct {
	twoInputs[OUT]
	fn   BroadcastProcessFunction[A, B, OUT]
	bs   *broadcastStore
	ro   ReadOnlyBroadcastContext
	rw   BroadcastContext
	emit operator.Emitter[OUT]
}

func (o *broadcastProcessOp[A, B, OUT]) Open(c *operator.Context) error {
	o.open(c)
	o.bs = newBroadcastStore(c)
	ctx := Context{rc: RuntimeContext{c: c}, sides: o.base.Side, timers: unkeyedTimers{c: c, wm: o.wms.Current}}
	o.ro = ReadOnlyBroadcastContext{Context: ctx, bs: o.bs}
	o.rw = BroadcastContext{Context: ctx, bs: o.bs}
	o.emit.Out = o.base.Out
	return openFn(o.fn, c)
}

func (o *broadcastProcessOp[A, B, OUT]) ProcessElement1(r operator.Record[A]) error {
	o.ro.rec, o.emit.Timestamp = r.Timestamp, r.Timestamp
	return o.fn.ProcessElement(&o.ro, r.Value, &o.emit)
}

func (o *broadcastProcessOp[A, B, OUT]) ProcessElement2(r operator.Record[B]) error {
	o.rw.rec, o.emit.Timestamp = r.Timestamp, r.Timestamp
	o.bs.writable = true
	defer func() { o.bs.writable = false }()
	return o.fn.ProcessBroadcastElement(&o.rw, r.Value, &o.emit)
}

func (o *broadcastProcessOp[A, B, OUT]) ProcessWatermark1(wm int64) error { return o.watermark(1, wm) }
func (o *broadcastProcessOp[A, B, OUT]) ProcessWatermark2(wm int64) error { return o.watermark(2, wm) }

// ProcessInputStatus implements operator.InputStatus: an idle input no
// longer holds the operator's event time back.
func (o *broadcastProcessOp[A, B, OUT]) ProcessInputStatus(input int, idle bool) error {
	o.wms.SetIdle(input, idle)
	return o.watermark(input, math.MinInt64)
}

func (o *broadcastProcessOp[A, B, OUT]) watermark(input int, wm int64) error {
	if m, ok := o.combine(input, wm); ok {
		return o.base.ProcessWatermark(m)
	}
	return nil
}

func (o *broadcastProcessOp[A, B, OUT]) Close() error { return o.fn.Close() }

// KeyedBroadcastContext is the context of ProcessBroadcastElement of a
// keyed broadcast process function (Flink's
// KeyedBroadcastProcessFunction.Context): BroadcastContext plus
// ApplyToKeyedState. There is no current key, so timers cannot be set.
type KeyedBroadcastContext[K comparable] struct {
	BroadcastContext
	rt *keyedBroadcastRuntime[K]
}

// ApplyToKeyedState calls fn for every key of this subtask that has the
// keyed state d describes (Flink's applyToKeyedState), in no particular
// order, with st the keyed state of that key: read or change that state (or
// any other) through st, such as state.List(st, d), and clear it to drop
// the key. The first error fn returns stops the iteration and is returned.
func (c *KeyedBroadcastContext[K]) ApplyToKeyedState(d state.Descriptor, fn func(key K, st state.Store) error) error {
	return c.rt.apply(d, fn)
}

// KeyedReadOnlyBroadcastContext is the context of ProcessElement and
// OnTimer of a keyed broadcast process function (Flink's ReadOnlyContext
// and OnTimerContext): Context plus the current key, keyed state, timers
// and read-only access to the broadcast state.
type KeyedReadOnlyBroadcastContext[K comparable] struct {
	ReadOnlyBroadcastContext
	rt *keyedBroadcastRuntime[K]
}

// CurrentKey is the key of the element being processed (or of the timer
// firing).
func (c *KeyedReadOnlyBroadcastContext[K]) CurrentKey() K { return c.rt.keyed.scope.Key }

// State is the keyed state of the current key.
func (c *KeyedReadOnlyBroadcastContext[K]) State() state.Store { return &c.rt.store }

// TimeDomain is the domain of the timer firing; it is meaningful in OnTimer.
func (c *KeyedReadOnlyBroadcastContext[K]) TimeDomain() TimeDomain { return c.rt.keyed.domain }

// KeyedBroadcastProcessFunction processes a keyed stream connected with a
// broadcast stream (Flink's KeyedBroadcastProcessFunction):
// ProcessBroadcastElement sees every broadcast element, in every subtask,
// may change the broadcast state and may visit the keyed state of every
// key with ApplyToKeyedState; ProcessElement sees the keyed elements with
// their key, keyed state and timers, and may only read the broadcast state.
// OnTimer is called when a timer the function set fires, with the timer's
// key current, ctx.TimeDomain telling which clock fired and, for event
// time, the output timestamped at the timer's time; event-time timers fire
// when the minimum of both inputs' watermarks passes them, and the
// broadcast state is read-only in OnTimer. A function that sets no timers
// embeds NoBroadcastTimers.
type KeyedBroadcastProcessFunction[A, B any, K comparable, OUT any] interface {
	Lifecycle
	ProcessElement(ctx *KeyedReadOnlyBroadcastContext[K], v A, out Collector[OUT]) error
	ProcessBroadcastElement(ctx *KeyedBroadcastContext[K], v B, out Collector[OUT]) error
	OnTimer(ctx *KeyedReadOnlyBroadcastContext[K], ts int64, out Collector[OUT]) error
}

// NoBroadcastTimers is NoTimers for KeyedBroadcastProcessFunction: embed it
// in one that sets no timers; setting a timer in it fails the job at the
// first registration with ErrNoTimerHandler.
type NoBroadcastTimers[K comparable, OUT any] struct{ BaseFunction }

// OnTimer implements KeyedBroadcastProcessFunction; it is never called, as
// setting a timer fails first.
func (NoBroadcastTimers[K, OUT]) OnTimer(*KeyedReadOnlyBroadcastContext[K], int64, Collector[OUT]) error {
	return ErrNoTimerHandler
}

func (NoBroadcastTimers[K, OUT]) setsNoTimers() {}

// KeyedBroadcastProcess applies fn to both inputs of c. The broadcast
// stream is the operator's second input.
func KeyedBroadcastProcess[A, B any, K comparable, OUT any](c *KeyedBroadcastConnectedStreams[A, B, K], fn KeyedBroadcastProcessFunction[A, B, K, OUT]) *Stream[OUT] {
	key := c.in.key
	s := newTwoInput[A, B, OUT](&ConnectedStreams[A, B]{first: c.in.s, second: c.bc.s}, "KeyedBroadcastProcess", func() (operator.Operator, error) {
		return &keyedBroadcastProcessOp[A, B, K, OUT]{key: key, fn: fn}, nil
	})
	s.node.Keyed = true
	checkHooksOn(s.node, fn)
	return s
}

// keyedBroadcastRuntime is the keyed side of a keyed broadcast operator:
// the key scope and timers, and keyed state indexed by key so that
// ApplyToKeyedState can visit it.
type keyedBroadcastRuntime[K comparable] struct {
	keyed *keyedRuntime[K]
	store indexedStore[K]
}

func (rt *keyedBroadcastRuntime[K]) apply(d state.Descriptor, fn func(key K, st state.Store) error) error {
	c := rt.store.cell(d)
	if c == nil {
		return nil // d is not usable here; the subtask fails after the call
	}
	keys := make([]K, 0, len(c.keys))
	for k := range c.keys {
		keys = append(keys, k)
	}
	scope := &rt.keyed.scope
	saved := scope.Key
	defer func() { scope.Key = saved }()
	for _, k := range keys {
		scope.Key = k
		if _, ok := c.Load(); !ok {
			// Cleared by fn for an earlier key, or removed by the
			// incremental cleanup of state with a TTL.
			delete(c.keys, k)
			continue
		}
		if err := fn(k, &rt.store); err != nil {
			return err
		}
	}
	return nil
}

// indexedStore is a state.Store over the keyed runtime's store that keeps,
// per state name, the set of keys that have a value. Every change of the
// state types in package state that adds or removes a key's value goes
// through Cell.Store or Cell.Clear, so the index is exact.
//
// The index is the keyed runtime's own bookkeeping, not state: a snapshot
// need not hold it, as restoring can rebuild it from the tables.
type indexedStore[K comparable] struct {
	inner *operator.StateStore[K, struct{}]
	scope *operator.Scope[K, struct{}]
	cells map[string]*indexedCell[K]
}

// Cell implements state.Store.
func (s *indexedStore[K]) Cell(d state.Descriptor) state.Cell {
	if c := s.cell(d); c != nil {
		return c
	}
	return noState{}
}

// Fail implements state.Store.
func (s *indexedStore[K]) Fail(err error) { s.inner.Fail(err) }

// Now implements state.Store.
func (s *indexedStore[K]) Now() int64 { return s.inner.Now() }

// cell returns the indexed cell of d, or nil when the inner store refused
// d (and failed the subtask).
func (s *indexedStore[K]) cell(d state.Descriptor) *indexedCell[K] {
	inner := s.inner.Cell(d) // checks d against the name's first descriptor
	if c, ok := s.cells[d.Name()]; ok {
		if c.inner != inner {
			return nil
		}
		return c
	}
	if _, ok := inner.(noState); ok {
		return nil
	}
	c := &indexedCell[K]{inner: inner, scope: s.scope, keys: map[K]struct{}{}}
	// A restored table already holds values: index their keys.
	s.inner.RangeKeys(d.Name(), func(k K) bool { c.keys[k] = struct{}{}; return true })
	s.cells[d.Name()] = c
	return c
}

// noState is the cell of state that could not be created.
type noState = operator.NoCell

type indexedCell[K comparable] struct {
	inner state.Cell
	scope *operator.Scope[K, struct{}]
	keys  map[K]struct{}
}

func (c *indexedCell[K]) Load() (any, bool) { return c.inner.Load() }
func (c *indexedCell[K]) InPlace() bool     { return c.inner.InPlace() }

func (c *indexedCell[K]) Store(v any) {
	c.inner.Store(v)
	c.keys[c.scope.Key] = struct{}{}
}

func (c *indexedCell[K]) Clear() {
	c.inner.Clear()
	delete(c.keys, c.scope.Key)
}

// errBroadcastSideTimers fails a keyed broadcast function that sets a timer
// in ProcessBroadcastElement.
var errBroadcastSideTimers = fmt.Errorf("%w (ProcessBroadcastElement has no current key: set timers in ProcessElement or OnTimer)", ErrTimersNeedKeys)

type keyedBroadcastProcessOp[A, B any, K comparable, OUT any] struct {
	twoInputs[OUT]
	key  func(A) K
	fn   KeyedBroadcastProcessFunction[A, B, K, OUT]
	bs   *broadcastStore
	rt   keyedBroadcastRuntime[K]
	ro   KeyedReadOnlyBroadcastContext[K]
	rw   KeyedBroadcastContext[K]
	emit operator.Emitter[OUT]
}

func (o *keyedBroadcastProcessOp[A, B, K, OUT]) Open(c *operator.Context) error {
	o.open(c)
	k, err := newKeyedRuntime[K](c, o.fn, o.onTimer)
	if err != nil {
		return err
	}
	o.bs = newBroadcastStore(c)
	o.rt = keyedBroadcastRuntime[K]{keyed: k, store: indexedStore[K]{inner: k.store, scope: &k.scope, cells: map[string]*indexedCell[K]{}}}
	rc := RuntimeContext{c: c}
	o.ro = KeyedReadOnlyBroadcastContext[K]{
		ReadOnlyBroadcastContext: ReadOnlyBroadcastContext{Context: Context{rc: rc, sides: o.base.Side, timers: k}, bs: o.bs},
		rt:                       &o.rt,
	}
	o.rw = KeyedBroadcastContext[K]{
		BroadcastContext: BroadcastContext{Context: Context{rc: rc, sides: o.base.Side, timers: unkeyedTimers{c: c, wm: k.CurrentWatermark, err: errBroadcastSideTimers}}, bs: o.bs},
		rt:               &o.rt,
	}
	o.emit.Out = o.base.Out
	return openFn(o.fn, c)
}

func (o *keyedBroadcastProcessOp[A, B, K, OUT]) ProcessElement1(r operator.Record[A]) error {
	o.rt.keyed.scope.Key = o.key(r.Value)
	o.ro.rec, o.emit.Timestamp = r.Timestamp, r.Timestamp
	return o.fn.ProcessElement(&o.ro, r.Value, &o.emit)
}

func (o *keyedBroadcastProcessOp[A, B, K, OUT]) ProcessElement2(r operator.Record[B]) error {
	o.rw.rec, o.emit.Timestamp = r.Timestamp, r.Timestamp
	o.bs.writable = true
	defer func() { o.bs.writable = false }()
	return o.fn.ProcessBroadcastElement(&o.rw, r.Value, &o.emit)
}

func (o *keyedBroadcastProcessOp[A, B, K, OUT]) onTimer(d TimeDomain, t statebackend.Timer[K, struct{}]) error {
	ts := int64(operator.NoTimestamp)
	if d == EventTime {
		ts = t.Time
	}
	o.ro.rec, o.emit.Timestamp = ts, ts
	return o.fn.OnTimer(&o.ro, t.Time, &o.emit)
}

func (o *keyedBroadcastProcessOp[A, B, K, OUT]) ProcessWatermark1(wm int64) error {
	return o.watermark(1, wm)
}

func (o *keyedBroadcastProcessOp[A, B, K, OUT]) ProcessWatermark2(wm int64) error {
	return o.watermark(2, wm)
}

// ProcessInputStatus implements operator.InputStatus: an idle input no
// longer holds the operator's event time back.
func (o *keyedBroadcastProcessOp[A, B, K, OUT]) ProcessInputStatus(input int, idle bool) error {
	o.wms.SetIdle(input, idle)
	return o.watermark(input, math.MinInt64)
}

// watermark fires the event-time timers the combined watermark has passed,
// then forwards it.
func (o *keyedBroadcastProcessOp[A, B, K, OUT]) watermark(input int, wm int64) error {
	m, ok := o.combine(input, wm)
	if !ok {
		return nil
	}
	if err := o.rt.keyed.timers.AdvanceWatermark(m); err != nil {
		return err
	}
	return o.base.ProcessWatermark(m)
}

func (o *keyedBroadcastProcessOp[A, B, K, OUT]) Close() error { return o.fn.Close() }
