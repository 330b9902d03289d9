package window

import (
	"strconv"
	"time"
)

// TriggerResult tells the operator what to do with a window after a trigger
// method ran. It is a bit set: Fire and Purge can be combined.
type TriggerResult uint8

const (
	// Continue does nothing with the window.
	Continue TriggerResult = 0
	// Fire evaluates the window (runs the window function over its
	// contents) and emits the result; the contents are kept.
	Fire TriggerResult = 1
	// Purge discards the window's contents without evaluating them. The
	// window itself, its trigger state and its timers stay.
	Purge TriggerResult = 2
	// FireAndPurge evaluates and emits the window, then discards its
	// contents.
	FireAndPurge TriggerResult = Fire | Purge
)

// IsFire reports whether the window must be evaluated (Fire or FireAndPurge).
func (r TriggerResult) IsFire() bool { return r&Fire != 0 }

// IsPurge reports whether the window contents must be discarded (Purge or
// FireAndPurge).
func (r TriggerResult) IsPurge() bool { return r&Purge != 0 }

// String returns Flink's name for the result: CONTINUE, FIRE, PURGE or
// FIRE_AND_PURGE.
func (r TriggerResult) String() string {
	switch r {
	case Continue:
		return "CONTINUE"
	case Fire:
		return "FIRE"
	case Purge:
		return "PURGE"
	case FireAndPurge:
		return "FIRE_AND_PURGE"
	}
	return "TriggerResult(" + strconv.Itoa(int(r)) + ")"
}

// TriggerContext is what a trigger sees of the operator. The operator
// implements it and scopes it to the current key and to the window passed to
// the trigger method: timers and state belong to that (key, window) pair.
// For merging assigners this window is the actual (merged) window, not the
// state window of the MergingWindowSet.
//
// The operator keeps the trigger state as int64 values keyed by (key,
// window, name) and the timers keyed by (key, window, time), de-duplicated;
// deleting a timer that does not exist does nothing. Its current watermark
// starts at math.MinInt64.
type TriggerContext interface {
	// CurrentWatermark returns the operator's current event-time watermark
	// (math.MinInt64 before the first watermark).
	CurrentWatermark() int64
	// CurrentProcessingTime returns the current processing time.
	CurrentProcessingTime() int64

	// RegisterEventTimeTimer asks for OnEventTime(t, w) once the watermark
	// reaches t. Timers are de-duplicated per (key, window, t); a timer at or
	// before the current watermark fires with the next watermark.
	RegisterEventTimeTimer(t int64)
	// DeleteEventTimeTimer removes the event-time timer at t for the
	// current key and window, if there is one.
	DeleteEventTimeTimer(t int64)
	// RegisterProcessingTimeTimer asks for OnProcessingTime(t, w) once the
	// processing time reaches t. Timers are de-duplicated per (key, window, t).
	RegisterProcessingTimeTimer(t int64)
	// DeleteProcessingTimeTimer removes the processing-time timer at t for
	// the current key and window, if there is one.
	DeleteProcessingTimeTimer(t int64)

	// GetState returns the int64 trigger state called name for the current
	// key and window, and whether it is set.
	GetState(name string) (v int64, ok bool)
	// SetState sets the int64 trigger state called name for the current key
	// and window.
	SetState(name string, v int64)
	// ClearState removes the trigger state called name for the current key
	// and window.
	ClearState(name string)
}

// MergeContext is the TriggerContext passed to Trigger.OnMerge. Its window is
// the merge result; the operator also knows the windows merged into it.
type MergeContext interface {
	TriggerContext
	// MergeState folds the state called name of every window merged into the
	// current window into the current window's state, combining the values
	// that are set with reduce (the result's own value, if set, takes part
	// too). The merged windows lose the value. If no window has it set the
	// state stays unset. reduce should be associative and commutative, as the
	// order of combination is unspecified.
	MergeState(name string, reduce func(a, b int64) int64)
}

// Trigger decides when a window is evaluated and when its contents are
// discarded. The operator calls it for every element added to a window, for
// every timer the trigger registered, when windows merge, and when a window
// is removed.
//
// Triggers must keep all per-window data in the context (timers and state),
// never in fields: one trigger value serves every key and window. All
// built-in triggers are immutable and safe for concurrent use.
//
// How a window operator acts on a trigger:
//
//   - On a TriggerResult that IsFire, when the window's contents are not
//     empty, it evaluates the window: the window function receives the key,
//     the actual window w (for merging assigners not the state window) and
//     the contents, and its results carry the timestamp w.MaxTimestamp().
//     With an evictor, see Evictor for the sequence.
//   - On a result that IsPurge it clears the contents; the trigger's state
//     and timers stay.
//   - On a watermark wm it first sets its current watermark to wm, then
//     fires every event-time timer (k, w, t) with t <= wm in ascending order
//     of t (timers registered meanwhile at or before wm fire in the same
//     pass), then forwards the watermark. For a timer it calls OnEventTime
//     and acts on the result as above; for a merging assigner it first
//     ignores the timer if w is no longer in flight (set.StateWindow(w)
//     reports false: the window was merged away).
//   - When the timer is the window's cleanup timer (t == CleanupTime(w, …)
//     in the assigner's time domain) it then clears everything of w: its
//     contents, the trigger's data through Clear, the window function's
//     per-window state, and for merging assigners the window in the
//     MergingWindowSet (RetireWindow). As the cleanup timer and
//     EventTimeTrigger's timer coincide when the allowed lateness is 0, one
//     firing both emits and removes the window.
//   - Processing-time timers are handled the same way with OnProcessingTime,
//     as the clock advances.
type Trigger[T any, W Window] interface {
	// OnElement is called for each element added to window w; ts is the
	// element's timestamp (NoTimestamp if none).
	OnElement(v T, ts int64, w W, ctx TriggerContext) TriggerResult
	// OnEventTime is called when an event-time timer registered for w fires.
	OnEventTime(time int64, w W, ctx TriggerContext) TriggerResult
	// OnProcessingTime is called when a processing-time timer registered for
	// w fires.
	OnProcessingTime(time int64, w W, ctx TriggerContext) TriggerResult
	// CanMerge reports whether the trigger supports merging windows. Only
	// such triggers may be used with a MergingAssigner.
	CanMerge() bool
	// OnMerge is called when windows merged into w. It typically merges state
	// with MergeContext.MergeState and registers the timers w needs. After
	// it, the operator calls Clear for each window that was merged away.
	OnMerge(w W, ctx MergeContext)
	// Clear removes every timer and all state the trigger keeps for w. It is
	// called when w is removed (its cleanup time passed) and for windows
	// merged away.
	Clear(w W, ctx TriggerContext)
}

// EventTimeTrigger fires once the watermark passes the end of the window
// (Flink's EventTimeTrigger, the default trigger of event-time assigners):
//
//   - OnElement: if w.MaxTimestamp() <= watermark the window is already
//     complete and this is a late element within the allowed lateness, so it
//     returns Fire at once; otherwise it registers an event-time timer at
//     w.MaxTimestamp() and returns Continue.
//   - OnEventTime: Fire iff time == w.MaxTimestamp(), else Continue.
//   - OnProcessingTime: Continue.
//   - OnMerge: registers the timer at w.MaxTimestamp() if that is after the
//     watermark. CanMerge is true.
//   - Clear: deletes the timer at w.MaxTimestamp().
//
// It keeps no state.
func EventTimeTrigger[T any, W Window]() Trigger[T, W] { return eventTimeTrigger[T, W]{} }

type eventTimeTrigger[T any, W Window] struct{}

func (eventTimeTrigger[T, W]) OnElement(_ T, _ int64, w W, ctx TriggerContext) TriggerResult {
	if w.MaxTimestamp() <= ctx.CurrentWatermark() {
		return Fire
	}
	ctx.RegisterEventTimeTimer(w.MaxTimestamp())
	return Continue
}

func (eventTimeTrigger[T, W]) OnEventTime(time int64, w W, _ TriggerContext) TriggerResult {
	if time == w.MaxTimestamp() {
		return Fire
	}
	return Continue
}

func (eventTimeTrigger[T, W]) OnProcessingTime(int64, W, TriggerContext) TriggerResult {
	return Continue
}

func (eventTimeTrigger[T, W]) CanMerge() bool { return true }

func (eventTimeTrigger[T, W]) OnMerge(w W, ctx MergeContext) {
	if m := w.MaxTimestamp(); m > ctx.CurrentWatermark() {
		ctx.RegisterEventTimeTimer(m)
	}
}

func (eventTimeTrigger[T, W]) Clear(w W, ctx TriggerContext) {
	ctx.DeleteEventTimeTimer(w.MaxTimestamp())
}

func (eventTimeTrigger[T, W]) String() string { return "EventTimeTrigger()" }

// ProcessingTimeTrigger fires once the processing time passes the end of the
// window (Flink's ProcessingTimeTrigger, the default trigger of
// processing-time assigners):
//
//   - OnElement: registers a processing-time timer at w.MaxTimestamp() and
//     returns Continue.
//   - OnProcessingTime: Fire (any processing-time timer of the window).
//   - OnEventTime: Continue.
//   - OnMerge: registers the timer at w.MaxTimestamp() if that is after the
//     current processing time. CanMerge is true.
//   - Clear: deletes the timer at w.MaxTimestamp().
//
// It keeps no state.
func ProcessingTimeTrigger[T any, W Window]() Trigger[T, W] {
	return processingTimeTrigger[T, W]{}
}

type processingTimeTrigger[T any, W Window] struct{}

func (processingTimeTrigger[T, W]) OnElement(_ T, _ int64, w W, ctx TriggerContext) TriggerResult {
	ctx.RegisterProcessingTimeTimer(w.MaxTimestamp())
	return Continue
}

func (processingTimeTrigger[T, W]) OnEventTime(int64, W, TriggerContext) TriggerResult {
	return Continue
}

func (processingTimeTrigger[T, W]) OnProcessingTime(int64, W, TriggerContext) TriggerResult {
	return Fire
}

func (processingTimeTrigger[T, W]) CanMerge() bool { return true }

func (processingTimeTrigger[T, W]) OnMerge(w W, ctx MergeContext) {
	if m := w.MaxTimestamp(); m > ctx.CurrentProcessingTime() {
		ctx.RegisterProcessingTimeTimer(m)
	}
}

func (processingTimeTrigger[T, W]) Clear(w W, ctx TriggerContext) {
	ctx.DeleteProcessingTimeTimer(w.MaxTimestamp())
}

func (processingTimeTrigger[T, W]) String() string { return "ProcessingTimeTrigger()" }

// CountStateName is the name of the trigger state in which CountTrigger
// keeps the number of elements seen since it last fired.
const CountStateName = "count"

// FireTimeStateName is the name of the trigger state in which the
// continuous triggers keep their next fire timestamp.
const FireTimeStateName = "fire-time"

// CountTrigger fires every maxCount elements (Flink's CountTrigger):
//
//   - OnElement: increments the count; once it reaches maxCount (count >=
//     maxCount) the count is reset (cleared) and the result is Fire,
//     otherwise Continue. With maxCount <= 1 every element fires.
//   - OnEventTime, OnProcessingTime: Continue.
//   - OnMerge: sums the counts of the merged windows (it does not fire even
//     if the sum reaches maxCount; the next element does). CanMerge is true.
//   - Clear: clears the count.
//
// The count is kept in the trigger state CountStateName. Fire does not purge;
// wrap the trigger in PurgingTrigger for tumbling count windows.
func CountTrigger[T any, W Window](maxCount int64) Trigger[T, W] {
	return countTrigger[T, W]{max: maxCount}
}

type countTrigger[T any, W Window] struct{ max int64 }

func (t countTrigger[T, W]) OnElement(_ T, _ int64, _ W, ctx TriggerContext) TriggerResult {
	n, _ := ctx.GetState(CountStateName)
	n++
	if n >= t.max {
		ctx.ClearState(CountStateName)
		return Fire
	}
	ctx.SetState(CountStateName, n)
	return Continue
}

func (countTrigger[T, W]) OnEventTime(int64, W, TriggerContext) TriggerResult { return Continue }

func (countTrigger[T, W]) OnProcessingTime(int64, W, TriggerContext) TriggerResult {
	return Continue
}

func (countTrigger[T, W]) CanMerge() bool { return true }

func (countTrigger[T, W]) OnMerge(_ W, ctx MergeContext) { ctx.MergeState(CountStateName, sum) }

func (countTrigger[T, W]) Clear(_ W, ctx TriggerContext) { ctx.ClearState(CountStateName) }

func (t countTrigger[T, W]) String() string {
	return "CountTrigger(" + strconv.FormatInt(t.max, 10) + ")"
}

func sum(a, b int64) int64 { return a + b }

func minInt64(a, b int64) int64 { return min(a, b) }

func checkInterval(what string, interval time.Duration) (int64, error) {
	if interval <= 0 {
		return 0, invalid("%s interval must be greater than 0, got %v", what, interval)
	}
	return millis(what+" interval", interval)
}

// ContinuousEventTimeTrigger fires repeatedly, every interval of event time,
// and at the end of the window (Flink's ContinuousEventTimeTrigger, including
// the FLINK-20443 fix that caps fire times at the window end):
//
//   - OnElement: if w.MaxTimestamp() <= watermark it returns Fire at once
//     (late element). Otherwise it registers an event-time timer at
//     w.MaxTimestamp() and, if no fire time is stored yet, stores and
//     registers the first fire time min(ts - ts%interval + interval,
//     w.MaxTimestamp()); it returns Continue. (ts%interval truncates toward
//     zero as in Java, so for negative ts the first fire time is one
//     interval later than epoch alignment would give.)
//   - OnEventTime: Fire if time == w.MaxTimestamp(). Otherwise, if time is
//     the stored fire time, it stores and registers the next fire time
//     min(time + interval, w.MaxTimestamp()) and returns Fire; else Continue.
//   - OnProcessingTime: Continue.
//   - OnMerge: merges the stored fire times of the merged windows keeping the
//     smallest, and registers a timer for it if there is one. CanMerge is true.
//   - Clear: deletes the timer at the stored fire time and clears it. (Like
//     Flink it does not delete the timer at w.MaxTimestamp(); that timer is
//     harmless once the window is gone.)
//
// The fire time is kept in the trigger state FireTimeStateName. Rule:
// interval > 0, a whole number of milliseconds. The returned trigger
// implements Validator: if the rule is violated its Err returns an error
// wrapping ErrInvalidWindow that names the rule, and it returns Continue for
// everything (its CanMerge is true).
func ContinuousEventTimeTrigger[T any, W Window](interval time.Duration) Trigger[T, W] {
	ms, err := checkInterval("continuous event-time trigger", interval)
	if err != nil {
		return invalidTrigger[T, W]{name: "ContinuousEventTimeTrigger", err: err}
	}
	return continuousEventTimeTrigger[T, W]{interval: ms}
}

type continuousEventTimeTrigger[T any, W Window] struct{ interval int64 }

func (t continuousEventTimeTrigger[T, W]) OnElement(_ T, ts int64, w W, ctx TriggerContext) TriggerResult {
	maxTs := w.MaxTimestamp()
	if maxTs <= ctx.CurrentWatermark() {
		return Fire
	}
	ctx.RegisterEventTimeTimer(maxTs)
	if _, ok := ctx.GetState(FireTimeStateName); !ok {
		t.registerNext(ts-ts%t.interval, maxTs, ctx)
	}
	return Continue
}

func (t continuousEventTimeTrigger[T, W]) OnEventTime(time int64, w W, ctx TriggerContext) TriggerResult {
	maxTs := w.MaxTimestamp()
	if time == maxTs {
		return Fire
	}
	if ft, ok := ctx.GetState(FireTimeStateName); ok && ft == time {
		t.registerNext(time, maxTs, ctx)
		return Fire
	}
	return Continue
}

func (t continuousEventTimeTrigger[T, W]) registerNext(time, maxTs int64, ctx TriggerContext) {
	next := min(time+t.interval, maxTs)
	ctx.SetState(FireTimeStateName, next)
	ctx.RegisterEventTimeTimer(next)
}

func (continuousEventTimeTrigger[T, W]) OnProcessingTime(int64, W, TriggerContext) TriggerResult {
	return Continue
}

func (continuousEventTimeTrigger[T, W]) CanMerge() bool { return true }

func (continuousEventTimeTrigger[T, W]) OnMerge(_ W, ctx MergeContext) {
	ctx.MergeState(FireTimeStateName, minInt64)
	if ft, ok := ctx.GetState(FireTimeStateName); ok {
		ctx.RegisterEventTimeTimer(ft)
	}
}

func (continuousEventTimeTrigger[T, W]) Clear(_ W, ctx TriggerContext) {
	if ft, ok := ctx.GetState(FireTimeStateName); ok {
		ctx.DeleteEventTimeTimer(ft)
		ctx.ClearState(FireTimeStateName)
	}
}

// Err returns nil: the trigger was created with a valid interval.
func (continuousEventTimeTrigger[T, W]) Err() error { return nil }

func (t continuousEventTimeTrigger[T, W]) String() string {
	return "ContinuousEventTimeTrigger(" + formatMillis(t.interval) + ")"
}

// ContinuousProcessingTimeTrigger fires repeatedly, every interval of
// processing time, the last time at the end of the window (Flink's
// ContinuousProcessingTimeTrigger, including the FLINK-20443 fix):
//
//   - OnElement: if no fire time is stored yet, with now the current
//     processing time, stores and registers the first fire time
//     min(now - now%interval + interval, w.MaxTimestamp()); returns Continue.
//   - OnProcessingTime: if time is the stored fire time, stores and registers
//     the next fire time min(time + interval, w.MaxTimestamp()) and returns
//     Fire; otherwise Continue (also when nothing is stored, where Flink
//     would fail). At the window end this re-registers a timer at
//     w.MaxTimestamp(), which the operator's cleanup of the window (Clear)
//     deletes.
//   - OnEventTime: Continue.
//   - OnMerge: merges the stored fire times keeping the smallest and
//     registers a processing-time timer for it if there is one. CanMerge is
//     true.
//   - Clear: deletes the timer at the stored fire time and clears it.
//
// The fire time is kept in the trigger state FireTimeStateName. Rule:
// interval > 0, a whole number of milliseconds. The returned trigger
// implements Validator: if the rule is violated its Err returns an error
// wrapping ErrInvalidWindow that names the rule, and it returns Continue for
// everything (its CanMerge is true).
func ContinuousProcessingTimeTrigger[T any, W Window](interval time.Duration) Trigger[T, W] {
	ms, err := checkInterval("continuous processing-time trigger", interval)
	if err != nil {
		return invalidTrigger[T, W]{name: "ContinuousProcessingTimeTrigger", err: err}
	}
	return continuousProcessingTimeTrigger[T, W]{interval: ms}
}

type continuousProcessingTimeTrigger[T any, W Window] struct{ interval int64 }

func (t continuousProcessingTimeTrigger[T, W]) OnElement(_ T, _ int64, w W, ctx TriggerContext) TriggerResult {
	if _, ok := ctx.GetState(FireTimeStateName); !ok {
		now := ctx.CurrentProcessingTime()
		t.registerNext(now-now%t.interval, w.MaxTimestamp(), ctx)
	}
	return Continue
}

func (t continuousProcessingTimeTrigger[T, W]) OnProcessingTime(time int64, w W, ctx TriggerContext) TriggerResult {
	if ft, ok := ctx.GetState(FireTimeStateName); ok && ft == time {
		t.registerNext(time, w.MaxTimestamp(), ctx)
		return Fire
	}
	return Continue
}

func (t continuousProcessingTimeTrigger[T, W]) registerNext(time, maxTs int64, ctx TriggerContext) {
	next := min(time+t.interval, maxTs)
	ctx.SetState(FireTimeStateName, next)
	ctx.RegisterProcessingTimeTimer(next)
}

func (continuousProcessingTimeTrigger[T, W]) OnEventTime(int64, W, TriggerContext) TriggerResult {
	return Continue
}

func (continuousProcessingTimeTrigger[T, W]) CanMerge() bool { return true }

func (continuousProcessingTimeTrigger[T, W]) OnMerge(_ W, ctx MergeContext) {
	ctx.MergeState(FireTimeStateName, minInt64)
	if ft, ok := ctx.GetState(FireTimeStateName); ok {
		ctx.RegisterProcessingTimeTimer(ft)
	}
}

func (continuousProcessingTimeTrigger[T, W]) Clear(_ W, ctx TriggerContext) {
	if ft, ok := ctx.GetState(FireTimeStateName); ok {
		ctx.DeleteProcessingTimeTimer(ft)
		ctx.ClearState(FireTimeStateName)
	}
}

// Err returns nil: the trigger was created with a valid interval.
func (continuousProcessingTimeTrigger[T, W]) Err() error { return nil }

func (t continuousProcessingTimeTrigger[T, W]) String() string {
	return "ContinuousProcessingTimeTrigger(" + formatMillis(t.interval) + ")"
}

// PurgingTrigger wraps nested so that whenever it fires the window is also
// purged (Flink's PurgingTrigger): Fire becomes FireAndPurge; Continue, Purge
// and FireAndPurge pass through unchanged. CanMerge, OnMerge and Clear
// delegate to nested.
func PurgingTrigger[T any, W Window](nested Trigger[T, W]) Trigger[T, W] {
	return purgingTrigger[T, W]{nested: nested}
}

type purgingTrigger[T any, W Window] struct{ nested Trigger[T, W] }

func purging(r TriggerResult) TriggerResult {
	if r.IsFire() {
		return FireAndPurge
	}
	return r
}

func (t purgingTrigger[T, W]) OnElement(v T, ts int64, w W, ctx TriggerContext) TriggerResult {
	return purging(t.nested.OnElement(v, ts, w, ctx))
}

func (t purgingTrigger[T, W]) OnEventTime(time int64, w W, ctx TriggerContext) TriggerResult {
	return purging(t.nested.OnEventTime(time, w, ctx))
}

func (t purgingTrigger[T, W]) OnProcessingTime(time int64, w W, ctx TriggerContext) TriggerResult {
	return purging(t.nested.OnProcessingTime(time, w, ctx))
}

func (t purgingTrigger[T, W]) CanMerge() bool { return t.nested.CanMerge() }

func (t purgingTrigger[T, W]) OnMerge(w W, ctx MergeContext) { t.nested.OnMerge(w, ctx) }

func (t purgingTrigger[T, W]) Clear(w W, ctx TriggerContext) { t.nested.Clear(w, ctx) }

// Err returns the nested trigger's Err if it implements Validator, else nil.
func (t purgingTrigger[T, W]) Err() error {
	if v, ok := t.nested.(Validator); ok {
		return v.Err()
	}
	return nil
}

func (t purgingTrigger[T, W]) String() string {
	if s, ok := t.nested.(interface{ String() string }); ok {
		return "PurgingTrigger(" + s.String() + ")"
	}
	return "PurgingTrigger"
}

// NeverTrigger never fires (Flink's GlobalWindows.NeverTrigger, the default
// trigger of Global): every method returns Continue or does nothing. Like
// Flink's, it reports CanMerge false.
func NeverTrigger[T any, W Window]() Trigger[T, W] { return neverTrigger[T, W]{} }

type neverTrigger[T any, W Window] struct{}

func (neverTrigger[T, W]) OnElement(T, int64, W, TriggerContext) TriggerResult { return Continue }

func (neverTrigger[T, W]) OnEventTime(int64, W, TriggerContext) TriggerResult { return Continue }

func (neverTrigger[T, W]) OnProcessingTime(int64, W, TriggerContext) TriggerResult {
	return Continue
}

func (neverTrigger[T, W]) CanMerge() bool { return false }

func (neverTrigger[T, W]) OnMerge(W, MergeContext) {}

func (neverTrigger[T, W]) Clear(W, TriggerContext) {}

func (neverTrigger[T, W]) String() string { return "NeverTrigger()" }

// invalidTrigger is what a trigger constructor returns for invalid
// parameters: it carries the error for Err and otherwise does nothing.
type invalidTrigger[T any, W Window] struct {
	name string
	err  error
}

func (invalidTrigger[T, W]) OnElement(T, int64, W, TriggerContext) TriggerResult { return Continue }

func (invalidTrigger[T, W]) OnEventTime(int64, W, TriggerContext) TriggerResult { return Continue }

func (invalidTrigger[T, W]) OnProcessingTime(int64, W, TriggerContext) TriggerResult {
	return Continue
}

func (invalidTrigger[T, W]) CanMerge() bool { return true }

func (invalidTrigger[T, W]) OnMerge(W, MergeContext) {}

func (invalidTrigger[T, W]) Clear(W, TriggerContext) {}

// Err returns the error describing the invalid parameters.
func (t invalidTrigger[T, W]) Err() error { return t.err }

func (t invalidTrigger[T, W]) String() string { return t.name + "(invalid)" }

var (
	_ Validator = continuousEventTimeTrigger[int, TimeWindow]{}
	_ Validator = continuousProcessingTimeTrigger[int, TimeWindow]{}
	_ Validator = purgingTrigger[int, TimeWindow]{}
	_ Validator = invalidTrigger[int, TimeWindow]{}
)

// IsEventTimeTrigger reports whether t is the built-in EventTimeTrigger.
// A window operator may rely on its behaviour: for a window that already
// holds elements and whose end the watermark has not reached, OnElement
// only re-registers the timer it registered for the first element, so the
// call can be skipped.
func IsEventTimeTrigger[T any, W Window](t Trigger[T, W]) bool {
	_, ok := t.(eventTimeTrigger[T, W])
	return ok
}
