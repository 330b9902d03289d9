package window

import (
	"math"
	"strconv"
	"time"
)

// TimestampedValue is a window element together with its timestamp, as an
// evictor sees it.
type TimestampedValue[T any] struct {
	Value T
	// Timestamp is the element's event timestamp; meaningful only if
	// HasTimestamp.
	Timestamp int64
	// HasTimestamp reports whether the element carries an event timestamp
	// (elements of a processing-time stream usually do not).
	HasTimestamp bool
}

// EvictorContext is what an evictor sees of the operator.
type EvictorContext interface {
	// CurrentProcessingTime returns the current processing time.
	CurrentProcessingTime() int64
	// CurrentWatermark returns the current event-time watermark.
	CurrentWatermark() int64
}

// Evictor removes elements from a window when it fires (Flink's Evictor).
// An operator with an evictor keeps every element of a window (it cannot
// pre-aggregate) and, on Fire, does:
//
//	kept := ev.EvictBefore(elements, w, ctx) // before the window function
//	run the window function over kept
//	kept = ev.EvictAfter(kept, w, ctx)        // after the window function
//	replace the window contents with kept
//
// Elements evicted before the window function are never seen by it; elements
// evicted after it were seen once and are gone for later firings. Both
// methods filter in place: they return elements[:k] holding the retained
// elements in their original order and zero elements[k:] (so evicted values
// can be garbage collected). len(elements) is the number of elements in the
// window (Flink's size argument).
//
// As Flink warns, the order of elements in a window is the order in which
// the operator stores them, not necessarily arrival or timestamp order, so
// "the first elements" of a window may not be the earliest ones.
type Evictor[T any, W Window] interface {
	// EvictBefore is called before the window function; it returns the
	// elements to keep.
	EvictBefore(elements []TimestampedValue[T], w W, ctx EvictorContext) []TimestampedValue[T]
	// EvictAfter is called after the window function; it returns the
	// elements to keep.
	EvictAfter(elements []TimestampedValue[T], w W, ctx EvictorContext) []TimestampedValue[T]
}

// keepIf compacts elements in place, retaining those for which keep is true.
func keepIf[T any](elements []TimestampedValue[T], keep func(*TimestampedValue[T]) bool) []TimestampedValue[T] {
	n := 0
	for i := range elements {
		if keep(&elements[i]) {
			if n != i {
				elements[n] = elements[i]
			}
			n++
		}
	}
	clear(elements[n:])
	return elements[:n]
}

// CountEvictor keeps at most maxCount elements: when a window holds more, the
// surplus is removed from the beginning of the window (Flink's CountEvictor).
// If doEvictAfter is false eviction happens in EvictBefore, otherwise in
// EvictAfter; the other method keeps everything. maxCount <= 0 evicts every
// element.
func CountEvictor[T any, W Window](maxCount int64, doEvictAfter bool) Evictor[T, W] {
	return countEvictor[T, W]{max: maxCount, after: doEvictAfter}
}

type countEvictor[T any, W Window] struct {
	max   int64
	after bool
}

func (e countEvictor[T, W]) EvictBefore(el []TimestampedValue[T], _ W, _ EvictorContext) []TimestampedValue[T] {
	return inPhase(e, e.after, false, el)
}

func (e countEvictor[T, W]) EvictAfter(el []TimestampedValue[T], _ W, _ EvictorContext) []TimestampedValue[T] {
	return inPhase(e, e.after, true, el)
}

func (e countEvictor[T, W]) evict(el []TimestampedValue[T]) []TimestampedValue[T] {
	n := int64(len(el))
	if n <= e.max {
		return el
	}
	keep := max(e.max, 0)
	copy(el, el[n-keep:])
	clear(el[keep:])
	return el[:keep]
}

func (e countEvictor[T, W]) String() string {
	return "CountEvictor(" + strconv.FormatInt(e.max, 10) + ", evictAfter=" + strconv.FormatBool(e.after) + ")"
}

// TimeEvictor keeps the elements of the last windowSize of event time
// (Flink's TimeEvictor): with maxTs the largest timestamp among the
// elements, it removes every element with timestamp <= maxTs - windowSize,
// keeping those with timestamp > maxTs - windowSize.
//
// As in Flink, nothing is evicted when the first element has no timestamp
// (a processing-time stream). Elements without a timestamp are never evicted
// and do not count for maxTs. If doEvictAfter is false eviction happens in
// EvictBefore, otherwise in EvictAfter. windowSize is truncated to whole
// milliseconds.
func TimeEvictor[T any, W Window](windowSize time.Duration, doEvictAfter bool) Evictor[T, W] {
	return timeEvictor[T, W]{size: windowSize.Milliseconds(), after: doEvictAfter}
}

type timeEvictor[T any, W Window] struct {
	size  int64
	after bool
}

func (e timeEvictor[T, W]) EvictBefore(el []TimestampedValue[T], _ W, _ EvictorContext) []TimestampedValue[T] {
	return inPhase(e, e.after, false, el)
}

func (e timeEvictor[T, W]) EvictAfter(el []TimestampedValue[T], _ W, _ EvictorContext) []TimestampedValue[T] {
	return inPhase(e, e.after, true, el)
}

func (e timeEvictor[T, W]) evict(el []TimestampedValue[T]) []TimestampedValue[T] {
	if len(el) == 0 || !el[0].HasTimestamp {
		return el
	}
	maxTs := int64(math.MinInt64)
	for i := range el {
		if el[i].HasTimestamp {
			maxTs = max(maxTs, el[i].Timestamp)
		}
	}
	cutoff := maxTs - e.size
	return keepIf(el, func(v *TimestampedValue[T]) bool {
		return !v.HasTimestamp || v.Timestamp > cutoff
	})
}

func (e timeEvictor[T, W]) String() string {
	return "TimeEvictor(" + formatMillis(e.size) + ", evictAfter=" + strconv.FormatBool(e.after) + ")"
}

// DeltaEvictor removes every element whose delta to the last element of the
// window is at least threshold (Flink's DeltaEvictor): element x is evicted
// iff delta(x.Value, last.Value) >= threshold, where last is the last
// element before eviction (it is usually kept, its delta to itself being
// 0). delta receives the older element first. If doEvictAfter is false
// eviction happens in EvictBefore, otherwise in EvictAfter. delta must not
// be nil.
func DeltaEvictor[T any, W Window](threshold float64, delta func(old, new T) float64, doEvictAfter bool) Evictor[T, W] {
	if delta == nil {
		return deltaEvictor[T, W]{err: invalid("delta evictor needs a delta function, got nil")}
	}
	return deltaEvictor[T, W]{threshold: threshold, delta: delta, after: doEvictAfter}
}

type deltaEvictor[T any, W Window] struct {
	threshold float64
	delta     func(old, new T) float64
	after     bool
	err       error // invalid parameters; the evictor then keeps everything
}

// Err implements Validator.
func (e deltaEvictor[T, W]) Err() error { return e.err }

func (e deltaEvictor[T, W]) EvictBefore(el []TimestampedValue[T], _ W, _ EvictorContext) []TimestampedValue[T] {
	return inPhase(e, e.after, false, el)
}

func (e deltaEvictor[T, W]) EvictAfter(el []TimestampedValue[T], _ W, _ EvictorContext) []TimestampedValue[T] {
	return inPhase(e, e.after, true, el)
}

func (e deltaEvictor[T, W]) evict(el []TimestampedValue[T]) []TimestampedValue[T] {
	if e.delta == nil {
		return el
	}
	if len(el) == 0 {
		return el
	}
	last := el[len(el)-1].Value
	return keepIf(el, func(v *TimestampedValue[T]) bool {
		return !(e.delta(v.Value, last) >= e.threshold)
	})
}

func (e deltaEvictor[T, W]) String() string {
	return "DeltaEvictor(" + strconv.FormatFloat(e.threshold, 'g', -1, 64) + ", evictAfter=" + strconv.FormatBool(e.after) + ")"
}

// evicter is the eviction of a built-in evictor, whichever its phase.
type evicter[T any] interface {
	evict(el []TimestampedValue[T]) []TimestampedValue[T]
}

// inPhase evicts from el when the call (before or after the window
// function) is the evictor's phase, and keeps everything otherwise.
func inPhase[T any, E evicter[T]](e E, evictAfter, callAfter bool, el []TimestampedValue[T]) []TimestampedValue[T] {
	if evictAfter != callAfter {
		return el
	}
	return e.evict(el)
}
