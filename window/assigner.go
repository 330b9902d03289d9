package window

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrInvalidWindow is wrapped by every error this package returns for an
// invalid window specification: assigner parameters, trigger parameters,
// count-window parameters, a dynamic session gap, or an assigner/trigger
// combination. The wrapping error names the violated rule and the offending
// value, e.g. "tumbling window size must be greater than 0, got -5s".
var ErrInvalidWindow = errors.New("window: invalid window specification")

// ErrNoTimestamp is returned by event-time tumbling and sliding assigners
// for an element whose timestamp is NoTimestamp: such windows need event
// timestamps, so timestamps (and watermarks) must be assigned upstream.
var ErrNoTimestamp = errors.New("window: element has no timestamp (NoTimestamp); event-time windows need timestamps assigned upstream")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidWindow}, args...)...)
}

// millis converts d to whole milliseconds, rejecting sub-millisecond
// precision, which the millisecond-based window arithmetic cannot express.
func millis(what string, d time.Duration) (int64, error) {
	if d%time.Millisecond != 0 {
		return 0, invalid("%s must be a whole number of milliseconds, got %v", what, d)
	}
	return d.Milliseconds(), nil
}

func formatMillis(ms int64) string { return strconv.FormatInt(ms, 10) + "ms" }

// Validator is implemented by assigners, triggers and evictors whose
// parameters can be invalid. The constructors of such values never fail:
// given invalid parameters they return a value whose Err reports the
// violated rule (an error wrapping ErrInvalidWindow), so the error can be
// reported when the job is built. Err returns nil for a valid value.
type Validator interface {
	Err() error
}

// Must returns a and panics with a.Err() if that is not nil. It is meant for
// package-level variables and tests with constant, known-good parameters:
//
//	var hourly = window.Must(window.TumblingEventTime[Event](time.Hour, 0))
func Must[A Validator](a A) A {
	if err := a.Err(); err != nil {
		panic(err)
	}
	return a
}

// Assigner assigns each element to zero or more windows of type W.
//
// Implementations must be deterministic and safe for concurrent use (all
// built-in assigners are immutable).
//
// A window operator holds one assigner, the trigger (the assigner's
// DefaultTrigger unless the user set one; CheckTrigger validates the pair
// and reports the Err of an invalid assigner or trigger), an optional
// evictor and the allowed lateness in milliseconds (>= 0; it applies to
// event time only). For an element v of key k with timestamp ts (or
// NoTimestamp) at processing time now, it:
//
//  1. calls ws, err := AssignWindows(buf[:0], v, ts, now);
//  2. for a MergingAssigner, adds each w of ws to the key's
//     MergingWindowSet, actual, err := set.AddWindow(w, merge) (see
//     MergeFunc for merge); if IsWindowLate(actual, lateness, eventTime,
//     watermark) it retires actual (set.RetireWindow) and skips it,
//     otherwise it adds v to the contents stored under
//     set.StateWindow(actual) and goes on with step 4 for actual;
//  3. for any other assigner, skips each w of ws for which IsWindowLate
//     holds and adds v to the contents of the others;
//  4. calls the trigger's OnElement(v, ts, w, ctx) and acts on its result
//     (see Trigger), then registers the cleanup timer of w at CleanupTime
//     unless that is math.MaxInt64 (an event-time timer for event-time
//     assigners, a processing-time timer otherwise);
//  5. if v went into no window and IsElementLate holds, sends it to the
//     late-data side output or counts it as dropped.
type Assigner[T any, W Window] interface {
	// AssignWindows appends the windows v belongs to to dst and returns the
	// extended slice, so an operator can reuse one buffer for every element
	// (pass buf[:0]). ts is the element's event timestamp (NoTimestamp if it
	// has none) and now the current processing time; event-time assigners
	// use ts, processing-time assigners use now and ignore ts.
	// On error dst is returned unchanged.
	AssignWindows(dst []W, v T, ts int64, now int64) ([]W, error)
	// DefaultTrigger returns the trigger used when the user sets none.
	DefaultTrigger() Trigger[T, W]
	// IsEventTime reports whether windows are based on event time (and thus
	// on watermarks) rather than on processing time. It decides which clock
	// the operator uses for lateness and window cleanup.
	IsEventTime() bool
}

// WindowMerger merges windows; it is the merging half of a MergingAssigner
// and all a MergingWindowSet needs.
type WindowMerger[W Window] interface {
	// MergeWindows determines which of windows must be merged and calls merge
	// once per group of two or more windows, with the distinct windows of the
	// group and the window they merge into. MergeWindows may reorder windows
	// in place (the caller passes a scratch slice it owns); the toMerge slice
	// is only valid during the call to merge.
	MergeWindows(windows []W, merge func(toMerge []W, into W))
}

// MergingAssigner is an Assigner whose windows can merge, such as session
// windows. An operator driving a MergingAssigner keeps a MergingWindowSet per
// key and its trigger must support merging (see CheckTrigger).
type MergingAssigner[T any, W Window] interface {
	Assigner[T, W]
	WindowMerger[W]
}

// TumblingAssigner assigns every element to exactly one fixed-size,
// non-overlapping, epoch-aligned time window (Flink's TumblingEventTimeWindows
// and TumblingProcessingTimeWindows). Create it with TumblingEventTime or
// TumblingProcessingTime.
type TumblingAssigner[T any] struct {
	timeAssigner[T]
	size, offset int64
}

// TumblingEventTime returns an assigner of tumbling windows of the given size
// based on the element timestamp. offset shifts the window boundaries (for
// example -8h with size 24h gives days aligned to midnight UTC+8).
//
// Rules (as in Flink): size > 0 and abs(offset) < size; both must be whole
// milliseconds. If they are violated the returned assigner is invalid: its
// Err and AssignWindows return an error wrapping ErrInvalidWindow that names
// the rule. The default trigger is EventTimeTrigger.
func TumblingEventTime[T any](size, offset time.Duration) *TumblingAssigner[T] {
	return newTumbling[T](size, offset, true)
}

// TumblingProcessingTime is like TumblingEventTime but assigns by the current
// processing time, ignoring the element timestamp. The default trigger is
// ProcessingTimeTrigger.
func TumblingProcessingTime[T any](size, offset time.Duration) *TumblingAssigner[T] {
	return newTumbling[T](size, offset, false)
}

// newTumbling returns the assigner, invalid (carrying the broken rule) if
// the parameters are.
func newTumbling[T any](size, offset time.Duration, eventTime bool) *TumblingAssigner[T] {
	a := &TumblingAssigner[T]{timeAssigner: timeAssigner[T]{eventTime: eventTime}}
	switch {
	case size <= 0:
		a.err = invalid("tumbling window size must be greater than 0, got %v", size)
	case offset <= -size || offset >= size:
		a.err = invalid("tumbling window offset must satisfy abs(offset) < size, got offset %v and size %v", offset, size)
	default:
		var errSize, errOffset error
		a.size, errSize = millis("tumbling window size", size)
		a.offset, errOffset = millis("tumbling window offset", offset)
		a.err = cmp.Or(errSize, errOffset)
	}
	return a
}

// AssignWindows appends [start, start+size) with start = WindowStart(t,
// offset, size), where t is ts for event time and now for processing time.
// An event-time assigner returns ErrNoTimestamp if ts is NoTimestamp; an
// invalid assigner returns Err().
func (a *TumblingAssigner[T]) AssignWindows(dst []TimeWindow, _ T, ts, now int64) ([]TimeWindow, error) {
	if a.err != nil {
		return dst, a.err
	}
	t := now
	if a.eventTime {
		if ts == NoTimestamp {
			return dst, ErrNoTimestamp
		}
		t = ts
	}
	start := WindowStart(t, a.offset, a.size)
	return append(dst, TimeWindow{Start: start, End: start + a.size}), nil
}

// String describes the assigner, e.g. "TumblingEventTimeWindows(size=5000ms, offset=0ms)",
// or "TumblingEventTimeWindows(invalid)" for an invalid one.
func (a *TumblingAssigner[T]) String() string {
	if a.err != nil {
		return "Tumbling" + timeKind(a.eventTime) + "Windows(invalid)"
	}
	return "Tumbling" + timeKind(a.eventTime) + "Windows(size=" + formatMillis(a.size) + ", offset=" + formatMillis(a.offset) + ")"
}

// SlidingAssigner assigns every element to the size/slide overlapping,
// epoch-aligned time windows that contain it (Flink's SlidingEventTimeWindows
// and SlidingProcessingTimeWindows). Create it with SlidingEventTime or
// SlidingProcessingTime.
type SlidingAssigner[T any] struct {
	timeAssigner[T]
	size, slide, offset int64
}

// SlidingEventTime returns an assigner of windows of the given size that
// start every slide, based on the element timestamp, with boundaries shifted
// by offset. slide need not divide size; if slide > size, elements falling in
// the gaps between windows are assigned to no window.
//
// Rules (as in Flink): size > 0, slide > 0 and abs(offset) < slide; all must
// be whole milliseconds. If they are violated the returned assigner is
// invalid: its Err and AssignWindows return an error wrapping
// ErrInvalidWindow that names the rule. The default trigger is
// EventTimeTrigger.
func SlidingEventTime[T any](size, slide, offset time.Duration) *SlidingAssigner[T] {
	return newSliding[T](size, slide, offset, true)
}

// SlidingProcessingTime is like SlidingEventTime but assigns by the current
// processing time, ignoring the element timestamp. The default trigger is
// ProcessingTimeTrigger.
func SlidingProcessingTime[T any](size, slide, offset time.Duration) *SlidingAssigner[T] {
	return newSliding[T](size, slide, offset, false)
}

// newSliding returns the assigner, invalid (carrying the broken rule) if
// the parameters are.
func newSliding[T any](size, slide, offset time.Duration, eventTime bool) *SlidingAssigner[T] {
	a := &SlidingAssigner[T]{timeAssigner: timeAssigner[T]{eventTime: eventTime}}
	switch {
	case size <= 0:
		a.err = invalid("sliding window size must be greater than 0, got %v", size)
	case slide <= 0:
		a.err = invalid("sliding window slide must be greater than 0, got %v", slide)
	case offset <= -slide || offset >= slide:
		a.err = invalid("sliding window offset must satisfy abs(offset) < slide, got offset %v and slide %v", offset, slide)
	default:
		var errSize, errSlide, errOffset error
		a.size, errSize = millis("sliding window size", size)
		a.slide, errSlide = millis("sliding window slide", slide)
		a.offset, errOffset = millis("sliding window offset", offset)
		a.err = cmp.Or(errSize, errSlide, errOffset)
	}
	return a
}

// AssignWindows appends every window containing t (ts for event time, now
// for processing time), in Flink's order: starting with the latest window,
// start = WindowStart(t, offset, slide), then stepping back by slide while
// start > t - size. Each window is [start, start+size). An event-time
// assigner returns ErrNoTimestamp if ts is NoTimestamp; an invalid assigner
// returns Err().
func (a *SlidingAssigner[T]) AssignWindows(dst []TimeWindow, _ T, ts, now int64) ([]TimeWindow, error) {
	if a.err != nil {
		return dst, a.err
	}
	t := now
	if a.eventTime {
		if ts == NoTimestamp {
			return dst, ErrNoTimestamp
		}
		t = ts
	}
	for start := WindowStart(t, a.offset, a.slide); start > t-a.size; start -= a.slide {
		dst = append(dst, TimeWindow{Start: start, End: start + a.size})
	}
	return dst, nil
}

// String describes the assigner, e.g. "SlidingEventTimeWindows(size=10ms, slide=3ms, offset=0ms)",
// or "SlidingEventTimeWindows(invalid)" for an invalid one.
func (a *SlidingAssigner[T]) String() string {
	if a.err != nil {
		return "Sliding" + timeKind(a.eventTime) + "Windows(invalid)"
	}
	return "Sliding" + timeKind(a.eventTime) + "Windows(size=" + formatMillis(a.size) + ", slide=" + formatMillis(a.slide) + ", offset=" + formatMillis(a.offset) + ")"
}

// SessionAssigner assigns each element to the window [t, t+gap), where t is
// its timestamp (event time) or the current processing time, and merges
// windows that intersect, so a session ends after a period of inactivity of
// at least gap (Flink's EventTimeSessionWindows, ProcessingTimeSessionWindows
// and their Dynamic variants). It is a MergingAssigner. Create it with
// EventTimeSession, ProcessingTimeSession, DynamicEventTimeSession or
// DynamicProcessingTimeSession.
type SessionAssigner[T any] struct {
	timeAssigner[T]
	gap   int64
	gapFn func(T) time.Duration
}

// EventTimeSession returns an event-time session assigner with a fixed gap.
// Rule (as in Flink): gap > 0, a whole number of milliseconds. If it is
// violated the returned assigner is invalid: its Err and AssignWindows return
// an error wrapping ErrInvalidWindow that names the rule. The default trigger
// is EventTimeTrigger.
func EventTimeSession[T any](gap time.Duration) *SessionAssigner[T] {
	return newSession[T](gap, true)
}

// ProcessingTimeSession returns a processing-time session assigner with a
// fixed gap. Rule: gap > 0, a whole number of milliseconds; if it is
// violated the assigner is invalid, as for EventTimeSession. The default
// trigger is ProcessingTimeTrigger.
func ProcessingTimeSession[T any](gap time.Duration) *SessionAssigner[T] {
	return newSession[T](gap, false)
}

// newSession returns the assigner, invalid (carrying the broken rule) if
// the gap is.
func newSession[T any](gap time.Duration, eventTime bool) *SessionAssigner[T] {
	a := &SessionAssigner[T]{timeAssigner: timeAssigner[T]{eventTime: eventTime}}
	if gap <= 0 {
		a.err = invalid("session window gap must be greater than 0, got %v", gap)
	} else {
		a.gap, a.err = millis("session window gap", gap)
	}
	return a
}

// DynamicEventTimeSession returns an event-time session assigner whose gap is
// computed per element by gap. gap must not be nil (otherwise the returned
// assigner is invalid: its Err and AssignWindows return an error wrapping
// ErrInvalidWindow); a gap it returns that is not > 0 (or not whole
// milliseconds) makes AssignWindows fail with an error wrapping
// ErrInvalidWindow, as Flink fails at assignment time.
func DynamicEventTimeSession[T any](gap func(T) time.Duration) *SessionAssigner[T] {
	return newDynamicSession(gap, true)
}

// DynamicProcessingTimeSession is like DynamicEventTimeSession but uses the
// current processing time as the session start of each element.
func DynamicProcessingTimeSession[T any](gap func(T) time.Duration) *SessionAssigner[T] {
	return newDynamicSession(gap, false)
}

// newDynamicSession returns the assigner, invalid if gap is nil.
func newDynamicSession[T any](gap func(T) time.Duration, eventTime bool) *SessionAssigner[T] {
	a := &SessionAssigner[T]{gapFn: gap, timeAssigner: timeAssigner[T]{eventTime: eventTime}}
	if gap == nil {
		a.err = invalid("dynamic session window gap extractor must not be nil")
	}
	return a
}

// AssignWindows appends [t, t+gap), where t is ts for event time and now for
// processing time. For a dynamic assigner the gap is extracted from v and
// must be > 0 and whole milliseconds. An invalid assigner returns Err().
func (a *SessionAssigner[T]) AssignWindows(dst []TimeWindow, v T, ts, now int64) ([]TimeWindow, error) {
	if a.err != nil {
		return dst, a.err
	}
	t := now
	if a.eventTime {
		t = ts
	}
	gap := a.gap
	if a.gapFn != nil {
		d := a.gapFn(v)
		if d <= 0 {
			return dst, invalid("dynamic session window gap must be greater than 0, got %v", d)
		}
		g, err := millis("dynamic session window gap", d)
		if err != nil {
			return dst, err
		}
		gap = g
	}
	return append(dst, TimeWindow{Start: t, End: t + gap}), nil
}

// MergeWindows merges intersecting (including touching) windows; see
// MergeTimeWindows. It sorts and de-duplicates windows in place.
func (a *SessionAssigner[T]) MergeWindows(windows []TimeWindow, merge func(toMerge []TimeWindow, into TimeWindow)) {
	mergeTimeWindows(windows, merge)
}

// String describes the assigner, e.g. "EventTimeSessionWindows(gap=5000ms)",
// or "EventTimeSessionWindows(invalid)" for an invalid one.
func (a *SessionAssigner[T]) String() string {
	prefix := ""
	if a.gapFn != nil {
		prefix = "Dynamic"
	}
	s := prefix + timeKind(a.eventTime) + "SessionWindows("
	switch {
	case a.err != nil:
		s += "invalid"
	case a.gapFn == nil:
		s += "gap=" + formatMillis(a.gap)
	}
	return s + ")"
}

// GlobalAssigner assigns every element to the single GlobalWindow (Flink's
// GlobalWindows). Its default trigger, NeverTrigger, never fires, so it is
// used with a custom trigger (see CountTumbling and CountSliding).
type GlobalAssigner[T any] struct{}

// Global returns the global-window assigner.
func Global[T any]() *GlobalAssigner[T] { return &GlobalAssigner[T]{} }

// AssignWindows appends GlobalWindow{}.
func (*GlobalAssigner[T]) AssignWindows(dst []GlobalWindow, _ T, _, _ int64) ([]GlobalWindow, error) {
	return append(dst, GlobalWindow{}), nil
}

// DefaultTrigger returns NeverTrigger.
func (*GlobalAssigner[T]) DefaultTrigger() Trigger[T, GlobalWindow] {
	return NeverTrigger[T, GlobalWindow]()
}

// IsEventTime returns false, as in Flink: the global window is cleaned up
// neither by event time nor by processing time.
func (*GlobalAssigner[T]) IsEventTime() bool { return false }

// Err returns nil: the global-window assigner has no parameters.
func (*GlobalAssigner[T]) Err() error { return nil }

// String returns "GlobalWindows()".
func (*GlobalAssigner[T]) String() string { return "GlobalWindows()" }

func timeKind(eventTime bool) string {
	if eventTime {
		return "EventTime"
	}
	return "ProcessingTime"
}

var (
	_ Assigner[int, TimeWindow]        = (*TumblingAssigner[int])(nil)
	_ Assigner[int, TimeWindow]        = (*SlidingAssigner[int])(nil)
	_ MergingAssigner[int, TimeWindow] = (*SessionAssigner[int])(nil)
	_ Assigner[int, GlobalWindow]      = (*GlobalAssigner[int])(nil)
	_ WindowMerger[TimeWindow]         = (*SessionAssigner[int])(nil)
	_ Validator                        = (*TumblingAssigner[int])(nil)
	_ Validator                        = (*SlidingAssigner[int])(nil)
	_ Validator                        = (*SessionAssigner[int])(nil)
	_ Validator                        = (*GlobalAssigner[int])(nil)
)

// timeAssigner is what the time-based assigners share: their time domain
// and, for invalid parameters, the error.
type timeAssigner[T any] struct {
	eventTime bool
	err       error
}

// DefaultTrigger returns EventTimeTrigger for event time and
// ProcessingTimeTrigger for processing time.
func (a *timeAssigner[T]) DefaultTrigger() Trigger[T, TimeWindow] {
	if a.eventTime {
		return EventTimeTrigger[T, TimeWindow]()
	}
	return ProcessingTimeTrigger[T, TimeWindow]()
}

// IsEventTime reports whether the assigner uses event time.
func (a *timeAssigner[T]) IsEventTime() bool { return a.eventTime }

// Err returns the error describing the invalid parameters the assigner was
// created with, or nil if they are valid.
func (a *timeAssigner[T]) Err() error { return a.err }
