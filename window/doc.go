// Package window holds the pure, deterministic semantics of Freshet's
// windowing, matching Apache Flink's DataStream windowing: windows
// (TimeWindow, GlobalWindow), window assigners, triggers, evictors, the
// merging-window bookkeeping of session windows (MergingWindowSet) and the
// lateness/cleanup rules of Flink's WindowOperator. It keeps no state of its
// own and performs no I/O; a window operator drives it.
//
// All timestamps are int64 milliseconds since the epoch. Parameters given as
// time.Duration must be whole milliseconds.
//
// # Building blocks
//
//   - Assigners: TumblingEventTime, TumblingProcessingTime, SlidingEventTime,
//     SlidingProcessingTime, EventTimeSession, ProcessingTimeSession,
//     DynamicEventTimeSession, DynamicProcessingTimeSession, Global.
//     Count windows are Global plus a count trigger: see CountTumbling and
//     CountSliding.
//   - Triggers: EventTimeTrigger, ProcessingTimeTrigger, CountTrigger,
//     ContinuousEventTimeTrigger, ContinuousProcessingTimeTrigger,
//     PurgingTrigger, NeverTrigger, or any user implementation of Trigger.
//   - Evictors: CountEvictor, TimeEvictor, DeltaEvictor, or any user
//     implementation of Evictor.
//
// Invalid parameters are reported with errors wrapping ErrInvalidWindow that
// name the violated rule. The assigner constructors and the continuous
// trigger constructors return a single value so they compose in
// expressions; they defer the error instead of returning it: given invalid
// parameters they return a value implementing Validator whose Err reports
// the error (an invalid assigner's AssignWindows returns it too, an invalid
// trigger does nothing). Check Err when the job is built, or use Must for
// known-good parameters:
//
//	a := window.TumblingEventTime[Event](size, 0)
//	if err := a.Err(); err != nil { ... }
//
// CountTumbling and CountSliding return their error directly.
//
// # Driving the package from a window operator
//
// Per operator the driver holds the assigner, the trigger (the assigner's
// DefaultTrigger unless the user set one; validate the pair with
// CheckTrigger, which also reports the Err of an invalid assigner or
// trigger), an optional evictor and the allowed lateness (>= 0, event
// time only; pass it in milliseconds). Per key it keeps:
//
//   - window contents, keyed by the state window (for non-merging assigners
//     the window itself);
//   - trigger state: named int64 values keyed by (key, window, name), where
//     window is the actual window, never the state window;
//   - event-time and processing-time timers keyed by (key, window, time),
//     de-duplicated, with deletion of an absent timer a no-op;
//   - for a MergingAssigner, a MergingWindowSet (persist its All pairs).
//
// The operator implements TriggerContext (and MergeContext) scoped to the
// current key and window, and EvictorContext. The current watermark starts
// at math.MinInt64.
//
// On an element (key k, value v, timestamp ts or NoTimestamp, processing
// time now):
//
//  1. ws, err := assigner.AssignWindows(buf[:0], v, ts, now).
//  2. For a merging assigner, for each w in ws: actual, err :=
//     set.AddWindow(w, merge), with merge as described below. If
//     IsWindowLate(actual, lateness, eventTime, watermark), call
//     set.RetireWindow(actual) and skip it; otherwise add v to the contents
//     stored under set.StateWindow(actual) and go on with step 4 using
//     actual as the window.
//  3. For a non-merging assigner, for each w in ws: skip w if
//     IsWindowLate(w, lateness, assigner.IsEventTime(), watermark);
//     otherwise add v to w's contents.
//  4. r := trigger.OnElement(v, ts, w, ctx). If r.IsFire() and the contents
//     are not empty, emit them (see "Firing" below). If r.IsPurge(), clear the
//     contents (trigger state and timers stay). Then register the cleanup
//     timer at CleanupTime(w, lateness, eventTime) unless it is
//     math.MaxInt64 (an event-time timer for event-time assigners, a
//     processing-time timer otherwise).
//  5. If v was added to no window and IsElementLate(ts, lateness,
//     eventTime, watermark), send it to the late-data side output or count
//     it as dropped.
//
// The merge function passed to AddWindow, merge(result, merged, stateResult,
// mergedStates), does in order:
//
//   - fail if the merged window would already be late: for event time
//     IsWindowLate(result, lateness, true, watermark), for processing time
//     result.MaxTimestamp() <= now (Flink throws in both cases);
//   - trigger.OnMerge(result, ctx), with a MergeContext scoped to result
//     whose MergeState folds the state of the windows in merged;
//   - for each m in merged: trigger.Clear(m, ctx scoped to m), and delete m's
//     cleanup timer at CleanupTime(m, lateness, eventTime);
//   - merge the contents stored under each of mergedStates into the contents
//     stored under stateResult, and drop them.
//
// On a watermark wm: set the current watermark to wm first, then fire every
// event-time timer with time <= wm in ascending time order (timers
// registered while firing that are <= wm fire in the same pass), then
// forward the watermark. For a timer (k, w, t):
//
//  1. For a merging assigner, look up sw := set.StateWindow(w); if w is no
//     longer in flight the timer is stale: ignore it.
//  2. r := trigger.OnEventTime(t, w, ctx); fire and/or purge as above.
//  3. If the assigner is event time and t == CleanupTime(w, ...), clear
//     everything of w: its contents, trigger.Clear(w, ctx), any per-window
//     state of the window function, and set.RetireWindow(w) for merging
//     assigners.
//
// Processing-time timers are handled the same way with OnProcessingTime and
// cleanup when the assigner is processing time. Because the cleanup timer
// and EventTimeTrigger's timer coincide when the allowed lateness is 0, the
// single firing both emits the window and removes it.
//
// Firing: the window function receives the key, the actual window w (not
// the state window) and the contents; results are stamped with
// w.MaxTimestamp(). With an evictor the contents are kept as a list of
// TimestampedValue and the sequence is EvictBefore, the window function
// over the survivors, EvictAfter, and finally the window contents are
// replaced by what EvictAfter kept.
//
// Count windows use the global window, which is never cleaned up and whose
// cleanup time is math.MaxInt64: no cleanup timer is registered.
//
// # Differences from Flink
//
//   - Durations must be whole milliseconds; Flink's Time has no finer unit.
//   - Evictors filter a slice in place and return the kept elements instead
//     of removing through an iterator; the size argument is len(elements).
//   - ContinuousProcessingTimeTrigger.OnProcessingTime returns Continue when
//     no fire time is stored, where Flink would fail.
//   - MergingWindowSet keeps the state window of an in-flight window when an
//     identical window is added again (see AddWindow).
//   - CountTumbling and CountSliding reject non-positive sizes.
//   - Window staggering of Flink's processing-time tumbling windows is not
//     provided: it is non-deterministic by design.
package window
