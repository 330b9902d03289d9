package operator

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/state"
)

// TimeDomain says which clock a timer belongs to.
type TimeDomain uint8

const (
	// EventTime timers fire when the watermark passes them.
	EventTime TimeDomain = iota
	// ProcessingTime timers fire when the machine clock passes them.
	ProcessingTime
)

func (d TimeDomain) String() string {
	if d == EventTime {
		return "EVENT_TIME"
	}
	return "PROCESSING_TIME"
}

// TimerService keeps the event- and processing-time timers of a keyed
// operator, per key and namespace, deduplicated (Flink's internal timer
// service). Fired timers call the operator's callback with the timer.
type TimerService[K, N comparable] struct {
	event, proc statebackend.TimerQueue[K, N]
	pts         ProcessingTimeService
	onTimer     func(d TimeDomain, t statebackend.Timer[K, N]) error
	watermark   int64
	scheduled   int64 // earliest processing time the service will wake us
}

// NewTimerService returns the timer service name of an operator; onTimer is
// called on the subtask's goroutine for every timer that fires.
func NewTimerService[K, N comparable](b statebackend.Backend, name string, pts ProcessingTimeService,
	onTimer func(d TimeDomain, t statebackend.Timer[K, N]) error) (*TimerService[K, N], error) {
	ev, err := statebackend.NewTimerQueue[K, N](b, name+"/event")
	if err != nil {
		return nil, err
	}
	pr, err := statebackend.NewTimerQueue[K, N](b, name+"/processing")
	if err != nil {
		return nil, err
	}
	s := &TimerService[K, N]{event: ev, proc: pr, pts: pts, onTimer: onTimer, watermark: math.MinInt64, scheduled: math.MaxInt64}
	// Processing-time timers restored from a snapshot need a wake-up.
	if t, ok := pr.Peek(); ok && pts != nil {
		s.scheduled = t.Time
		pts.Schedule(t.Time, s.fireProcessing)
	}
	return s, nil
}

// Watermark is the current event time: the last watermark the operator saw.
func (s *TimerService[K, N]) Watermark() int64 { return s.watermark }

// Now is the current processing time.
func (s *TimerService[K, N]) Now() int64 { return s.pts.Now() }

// RegisterEventTimer adds an event-time timer.
func (s *TimerService[K, N]) RegisterEventTimer(k K, ns N, ts int64) {
	s.event.Add(statebackend.Timer[K, N]{Time: ts, Key: k, Namespace: ns})
}

// DeleteEventTimer removes an event-time timer.
func (s *TimerService[K, N]) DeleteEventTimer(k K, ns N, ts int64) {
	s.event.Remove(statebackend.Timer[K, N]{Time: ts, Key: k, Namespace: ns})
}

// RegisterProcessingTimer adds a processing-time timer.
func (s *TimerService[K, N]) RegisterProcessingTimer(k K, ns N, ts int64) {
	if s.proc.Add(statebackend.Timer[K, N]{Time: ts, Key: k, Namespace: ns}) && ts < s.scheduled {
		s.scheduled = ts
		s.pts.Schedule(ts, s.fireProcessing)
	}
}

// DeleteProcessingTimer removes a processing-time timer.
func (s *TimerService[K, N]) DeleteProcessingTimer(k K, ns N, ts int64) {
	s.proc.Remove(statebackend.Timer[K, N]{Time: ts, Key: k, Namespace: ns})
}

// AdvanceWatermark fires, in time order, every event-time timer at or
// before wm. Timers registered while firing fire too if they are due.
func (s *TimerService[K, N]) AdvanceWatermark(wm int64) error {
	if wm > s.watermark {
		s.watermark = wm
	}
	for {
		t, ok := s.event.Peek()
		if !ok || t.Time > wm {
			return nil
		}
		s.event.Poll()
		if err := s.onTimer(EventTime, t); err != nil {
			return err
		}
	}
}

func (s *TimerService[K, N]) fireProcessing() error {
	now := s.pts.Now()
	s.scheduled = math.MaxInt64
	for {
		t, ok := s.proc.Peek()
		if !ok {
			return nil
		}
		if t.Time > now {
			if t.Time < s.scheduled {
				s.scheduled = t.Time
				s.pts.Schedule(t.Time, s.fireProcessing)
			}
			return nil
		}
		s.proc.Poll()
		if err := s.onTimer(ProcessingTime, t); err != nil {
			return err
		}
	}
}

// NumEventTimers is the number of pending event-time timers.
func (s *TimerService[K, N]) NumEventTimers() int { return s.event.Len() }

// NumProcessingTimers is the number of pending processing-time timers.
func (s *TimerService[K, N]) NumProcessingTimers() int { return s.proc.Len() }

// Scope is the key and namespace that user state and timers of a keyed
// operator currently refer to.
type Scope[K, N comparable] struct {
	Key       K
	Namespace N
}

// StateStore implements state.Store over a backend: each piece of state
// is a table of the operator, created from its descriptor on first use and
// read and written at the scope's current key and namespace.
//
// Its cells report InPlace when the backend holds values as given (see
// statebackend.ValuesInPlace); the heap backend holds Go values and takes no
// snapshot while a function runs, so map and list state may change the
// value a cell loads before storing it back. A snapshot taken while the
// job runs (copy-on-write, the checkpointing work) will have to copy a
// value before it is changed, as Flink's CopyOnWriteStateMap does.
type StateStore[K, N comparable] struct {
	backend statebackend.Backend
	clock   ProcessingTimeService
	failure *Failure
	prefix  string
	scope   *Scope[K, N]
	cells   map[string]*cell[K, N]
	ops     *statebackend.OperatorState
	schemas *schemaList
}

// schemaList records the layout of every state of an operator (in its
// operator state, so snapshots carry it), and what a restore brought.
type schemaList struct {
	list     *statebackend.OpList[string] // "name\x00schema" entries
	restored map[string]string
}

// stateSchemas names the operator state holding the layouts of an
// operator's keyed state; every subtask holds the same.
const stateSchemas = "keyed-state-schemas"

// NewStateStore returns the state store, in c's backend, of an operator
// whose current key and namespace are in scope.
func NewStateStore[K, N comparable](c *Context, prefix string, scope *Scope[K, N]) *StateStore[K, N] {
	return &StateStore[K, N]{backend: c.StateBackend(), clock: c.Timers, failure: c.Failure, prefix: prefix, scope: scope, cells: map[string]*cell[K, N]{}, ops: c.State()}
}

// schemaFor returns the layout state name had in the snapshot restored,
// if any, and records its layout now.
func (s *StateStore[K, N]) schemaFor(name, now string) (string, error) {
	if s.schemas == nil {
		l, err := statebackend.GetList[string](s.ops, stateSchemas, statebackend.Broadcast, nil)
		if err != nil {
			return "", err
		}
		s.schemas = &schemaList{list: l, restored: map[string]string{}}
		for _, e := range l.Values {
			if n, sc, ok := strings.Cut(e, "\x00"); ok {
				s.schemas.restored[n] = sc
			}
		}
	}
	old := s.schemas.restored[name]
	entry := name + "\x00" + now
	for i, e := range s.schemas.list.Values {
		if strings.HasPrefix(e, name+"\x00") {
			s.schemas.list.Values[i] = entry
			return old, nil
		}
	}
	s.schemas.list.Values = append(s.schemas.list.Values, entry)
	return old, nil
}

// Cell implements state.Store.
func (s *StateStore[K, N]) Cell(d state.Descriptor) state.Cell {
	name := d.Name()
	if c, ok := s.cells[name]; ok {
		if c.d != d && !state.Compatible(c.d, d) {
			// The subtask fails after the call; until then the function
			// sees empty state that keeps nothing.
			s.failure.Raise(state.Mismatch(c.d, d))
			return NoCell{}
		}
		return c
	}
	if err := d.Err(); err != nil {
		s.failure.Raise(err)
		return NoCell{}
	}
	// A restored state whose layout changed is read with the old one.
	td := d
	old, err := s.schemaFor(s.prefix+name, state.SchemaOf(d))
	if err == nil {
		td, err = state.Migrate(d, old)
	}
	if err != nil {
		s.failure.Raise(fmt.Errorf("restoring %s: %w", d, err))
		return NoCell{}
	}
	t, err := statebackend.NewStateTable[K, N](s.backend, s.prefix+name, td)
	if err != nil {
		s.failure.Raise(fmt.Errorf("creating %s: %w", d, err))
		return NoCell{}
	}
	c := &cell[K, N]{t: t, scope: s.scope, d: d, inPlace: statebackend.ValuesInPlace(s.backend)}
	if ttl, ok := state.TTLOf(d); ok && ttl.CleanupIncrementally > 0 {
		c.sweep = &sweeper[K, N]{n: ttl.CleanupIncrementally, now: s.Now}
	}
	s.cells[name] = c
	return c
}

// Fail implements state.Store.
func (s *StateStore[K, N]) Fail(err error) { s.failure.Raise(err) }

// RangeKeys calls fn, until it returns false, for every key that has a
// value of the state named name in some namespace (restored values
// included), in no particular order.
func (s *StateStore[K, N]) RangeKeys(name string, fn func(k K) bool) {
	if c, ok := s.cells[name]; ok {
		c.t.Range(func(k K, _ N, _ any) bool { return fn(k) })
	}
}

// Now implements state.Store: the operator's processing time, which state
// with a TTL expires by (the machine clock if the operator has no
// processing-time service).
func (s *StateStore[K, N]) Now() int64 {
	if s.clock == nil {
		return time.Now().UnixMilli()
	}
	return s.clock.Now()
}

// ClearNamespace removes every cell's state of the current key and
// namespace (a purged or expired window).
func (s *StateStore[K, N]) ClearNamespace() {
	for _, c := range s.cells {
		c.Clear()
	}
}

// NoCell is the cell of state that could not be created: it keeps
// nothing. The store has failed the subtask, which stops after the call.
type NoCell struct{}

func (NoCell) Load() (any, bool) { return nil, false }
func (NoCell) Store(any)         {}
func (NoCell) Clear()            {}
func (NoCell) InPlace() bool     { return false }

type cell[K, N comparable] struct {
	t     statebackend.Table[K, N, any]
	scope *Scope[K, N]
	d     state.Descriptor
	sweep *sweeper[K, N] // for state with a TTL and incremental cleanup
	// inPlace: the backend holds values as given (the heap), so a loaded
	// value changed in place needs no Store.
	inPlace bool
}

func (c *cell[K, N]) Load() (any, bool) {
	if c.sweep != nil {
		c.sweep.step(c.t, c.d)
	}
	return c.t.Get(c.scope.Key, c.scope.Namespace)
}

func (c *cell[K, N]) Store(v any) {
	if c.sweep != nil {
		c.sweep.step(c.t, c.d)
	}
	c.t.Put(c.scope.Key, c.scope.Namespace, v)
}

func (c *cell[K, N]) Clear()        { c.t.Delete(c.scope.Key, c.scope.Namespace) }
func (c *cell[K, N]) InPlace() bool { return c.inPlace }

// sweeper is the incremental cleanup of a state with a TTL (Flink's
// TtlIncrementalCleanup for heap state): every access to the state first
// checks the next n entries of its table, key group by key group, and
// removes what has expired (expired entries, list elements, map entries),
// so state that is never read again goes too.
//
// It walks the table with a cursor: the keys and namespaces of one key
// group are taken at once (the table cannot change while it is ranged
// over), then checked n at a time against the table as it is then. An
// entry added to a group already taken is checked on the next round.
type sweeper[K, N comparable] struct {
	n       int
	now     func() int64
	kg      int // the next key group to take
	pending []Scope[K, N]
	next    int // index in pending of the next entry to check
}

func (w *sweeper[K, N]) step(t statebackend.Table[K, N, any], d state.Descriptor) {
	limit := min(w.n, t.Len()) // a small table is not gone round more than once
	if limit == 0 {
		return
	}
	now := w.now()
	for checked, groups := 0, 0; checked < limit; {
		if w.next == len(w.pending) {
			if groups == t.MaxParallelism() {
				return // a whole round found fewer than n entries
			}
			w.take(t)
			groups++
			continue
		}
		e := w.pending[w.next]
		w.next++
		v, ok := t.Get(e.Key, e.Namespace)
		if !ok {
			continue
		}
		checked++
		kept, keep, changed := state.CleanExpired(d, v, now)
		switch {
		case !keep:
			t.Delete(e.Key, e.Namespace)
		case changed:
			t.Put(e.Key, e.Namespace, kept)
		}
	}
}

// take fills pending with the entries of the next key group.
func (w *sweeper[K, N]) take(t statebackend.Table[K, N, any]) {
	w.pending, w.next = w.pending[:0], 0
	if w.kg >= t.MaxParallelism() {
		w.kg = 0
	}
	t.RangeKeyGroup(w.kg, func(k K, ns N, _ any) bool {
		w.pending = append(w.pending, Scope[K, N]{k, ns})
		return true
	})
	w.kg++
}
