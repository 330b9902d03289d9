package window

import "math"

// CleanupTime returns the time at which window w and all its state can be
// dropped, as Flink's WindowOperator computes it. For event time this is
// w.MaxTimestamp() + allowedLateness, saturating at math.MaxInt64 (the global
// window is never cleaned up); for processing time it is w.MaxTimestamp()
// (allowed lateness applies to event time only). The operator registers a
// cleanup timer at this time (event-time timer for event-time assigners,
// processing-time timer otherwise) unless it is math.MaxInt64, as for the
// global window of count windows, which is never cleaned up; see Trigger
// for what the operator does when the timer fires.
func CleanupTime[W Window](w W, allowedLateness int64, eventTime bool) int64 {
	maxTs := w.MaxTimestamp()
	if !eventTime {
		return maxTs
	}
	return addSaturating(maxTs, allowedLateness)
}

// IsWindowLate reports whether window w is already past its cleanup time for
// the given watermark, so elements must not be added to it: true only for
// event time, when CleanupTime(w) <= watermark.
func IsWindowLate[W Window](w W, allowedLateness int64, eventTime bool, watermark int64) bool {
	return eventTime && CleanupTime(w, allowedLateness, eventTime) <= watermark
}

// IsElementLate reports whether an element with timestamp ts is late beyond
// the allowed lateness: true only for event time, when ts + allowedLateness
// <= watermark (saturating). The operator uses it for elements that were
// added to no window, to route them to the late-data side output or count
// them as dropped.
func IsElementLate(ts, allowedLateness int64, eventTime bool, watermark int64) bool {
	return eventTime && addSaturating(ts, allowedLateness) <= watermark
}

func addSaturating(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}

// CheckTrigger reports whether trigger t may be used with assigner a: a
// MergingAssigner needs a trigger whose CanMerge is true. It first reports
// the Err of a and then of t if they implement Validator and are invalid.
// The error wraps ErrInvalidWindow. Operators should call it when the job is
// built, as Flink does when a trigger is set.
func CheckTrigger[T any, W Window](a Assigner[T, W], t Trigger[T, W]) error {
	if v, ok := a.(Validator); ok {
		if err := v.Err(); err != nil {
			return err
		}
	}
	if v, ok := t.(Validator); ok {
		if err := v.Err(); err != nil {
			return err
		}
	}
	if _, merging := a.(MergingAssigner[T, W]); merging && !t.CanMerge() {
		return invalid("a merging window assigner cannot be used with a trigger that does not support merging")
	}
	return nil
}
