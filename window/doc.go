// Package window holds the window assigners, triggers and evictors that cut
// a stream into finite windows, with Apache Flink's semantics. A job picks
// them when it windows a stream with freshet.Window (per key) or
// freshet.WindowAll (the whole stream), then evaluates each window with
// freshet.WindowReduce, WindowAggregate or WindowProcess:
//
//	hourly := freshet.Window(byUser, window.TumblingEventTime[Click](time.Hour, 0))
//	counts := freshet.WindowAggregate(hourly, countClicks{})
//
// A window is made of three parts:
//
//   - The assigner says which windows an element belongs to: one fixed
//     window (tumbling), several overlapping ones (sliding), a window that
//     grows while elements keep coming (session), or the one global window.
//   - The trigger says when a window is evaluated ("fires") and whether its
//     contents are then discarded ("purged"). Every assigner has a default
//     trigger: event-time windows fire when the watermark passes their end,
//     processing-time windows when the clock does.
//   - The evictor, optional, removes elements from a window just before or
//     after it is evaluated.
//
// # Window boundaries
//
// Time windows are TimeWindow values, the half-open interval [Start, End) of
// milliseconds since the epoch, as in Flink: Start is inclusive, End
// exclusive, and MaxTimestamp, the last millisecond inside, is End-1. A
// tumbling window of one minute starting at 12:00 holds 12:00:00.000 up to
// 12:00:59.999; an element at 12:01:00.000 belongs to the next window. An
// event-time window fires once the watermark reaches its MaxTimestamp, and
// the results it emits carry MaxTimestamp as their timestamp, so they fall
// inside the window they summarize.
//
// Tumbling and sliding windows are aligned to the epoch: windows of size
// 10ms are ..., [-10, 0), [0, 10), [10, 20), ... (see WindowStart). The
// offset shifts every boundary by a fixed amount: daily windows in a time
// zone eight hours east of UTC are
//
//	window.TumblingEventTime[Click](24*time.Hour, -8*time.Hour)
//
// which start at 16:00 UTC, midnight there. The offset must be smaller than
// the size (for sliding windows, than the slide) in absolute value.
// Session windows are not aligned: an element at t opens [t, t+gap), and
// windows that overlap or touch merge into one.
//
// All timestamps are int64 milliseconds since the epoch, and every duration
// given to this package must be a whole number of milliseconds.
//
// # Choosing an assigner
//
// Event-time assigners use the elements' timestamps, so the stream needs
// timestamps and watermarks (freshet.AssignTimestampsAndWatermarks);
// processing-time assigners use the clock of the machine running the
// window. With byUser a keyed stream of Click:
//
//	window.TumblingEventTime[Click](time.Minute, 0)                    // every minute, one window per element
//	window.SlidingEventTime[Click](time.Hour, 10*time.Minute, 0)       // the last hour, every 10 minutes
//	window.EventTimeSession[Click](30*time.Minute)                     // activity separated by 30 minutes of quiet
//	window.DynamicEventTimeSession(func(c Click) time.Duration { … })  // a gap per element
//	window.TumblingProcessingTime[Click](time.Minute, 0)               // and SlidingProcessingTime, ProcessingTimeSession, …
//	window.Global[Click]()                                             // one window per key; needs a trigger
//
// Count windows are the global window with a count trigger; the root
// package builds them:
//
//	freshet.CountWindow(byUser, 100)             // every 100 clicks of a user
//	freshet.CountWindowSliding(byUser, 100, 10)  // the last 100 clicks, every 10
//
// The constructors never fail, so they compose in expressions: invalid
// parameters (a size of zero, an offset as large as the size) give an
// assigner whose Err reports the broken rule, wrapping ErrInvalidWindow,
// and freshet.Window reports it as an invalid program when the job is
// executed. Use Must for package-level values made from constants:
//
//	var hourly = window.Must(window.TumblingEventTime[Click](time.Hour, 0))
//
// # Triggers
//
// Set a trigger on the windowed stream to fire windows at other times than
// the assigner's default trigger does. The built-in triggers fire without
// discarding the contents; wrap one in PurgingTrigger to discard them each
// time it fires.
//
//	.Trigger(window.ContinuousEventTimeTrigger[Click, window.TimeWindow](time.Minute))   // early results every minute of event time
//	.Trigger(window.CountTrigger[Click, window.TimeWindow](1000))                        // every 1000 elements, not at the end
//	.Trigger(window.PurgingTrigger(window.CountTrigger[Click, window.GlobalWindow](3)))  // a tumbling count window
//
// The built-ins are EventTimeTrigger and ProcessingTimeTrigger (the
// defaults), CountTrigger, ContinuousEventTimeTrigger,
// ContinuousProcessingTimeTrigger, PurgingTrigger and NeverTrigger (the
// default of Global). Session windows need a trigger that can merge, which
// every built-in but NeverTrigger can. Implement Trigger for your own.
//
// # Evictors
//
// An evictor trims a window when it fires; with one, every element is kept
// until then (the window cannot be pre-aggregated).
//
//	.Evictor(window.CountEvictor[Click, window.TimeWindow](100, false))         // only the last 100 elements
//	.Evictor(window.TimeEvictor[Click, window.TimeWindow](time.Minute, false))  // only the last minute of the window
//	.Evictor(window.DeltaEvictor[Click, window.TimeWindow](5, dist, false))     // only elements less than 5 from the last one
//
// The last argument says whether to evict after the window function
// instead of before it.
//
// # Late elements
//
// An element of an event-time window is late when the watermark has
// already reached the window's MaxTimestamp: the window has fired. By
// default (allowed lateness 0) late elements are dropped, as in Flink.
// freshet.WindowedStream.AllowedLateness keeps event-time windows for a
// while after their end: an element arriving within it is still added and,
// with the default trigger, fires the window again with the updated result;
// the window is removed once the watermark reaches MaxTimestamp plus the
// allowed lateness. freshet.WindowedStream.SideOutputLateData sends the
// elements that come later still to a side output instead of dropping them:
//
//	freshet.Window(byUser, window.TumblingEventTime[Click](time.Minute, 0)).
//		AllowedLateness(10*time.Second).
//		SideOutputLateData(lateClicks)
//
// Processing-time windows and the global window are never late.
//
// # Writing a window operator
//
// The package keeps no state and performs no I/O: a window operator (the
// root package's) holds the contents, timers and trigger state per key and
// window, and calls the assigners, triggers and evictors. The contracts it
// follows are documented where they apply: Assigner and MergingWindowSet
// for assigning and merging, Trigger and TriggerContext for firing and
// timers, Evictor for evaluation with an evictor, and CleanupTime,
// IsWindowLate and IsElementLate for lateness and cleanup.
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
