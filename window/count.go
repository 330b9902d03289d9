package window

// CountWindows is the assigner, trigger and optional evictor that together
// make a count window, the way Flink's KeyedStream.countWindow builds one on
// top of the global window.
type CountWindows[T any] struct {
	// Assigner puts every element of a key into the GlobalWindow.
	Assigner *GlobalAssigner[T]
	// Trigger decides when the window fires.
	Trigger Trigger[T, GlobalWindow]
	// Evictor trims the window before it is evaluated; nil for tumbling
	// count windows.
	Evictor Evictor[T, GlobalWindow]
}

// CountTumbling returns the parts of a tumbling count window of size
// elements, as Flink's countWindow(size): Global, PurgingTrigger(CountTrigger(
// size)), no evictor. Every size elements of a key are evaluated together
// and then discarded.
//
// Rule: size > 0 (Freshet rejects what Flink would silently treat as "fire
// on every element").
func CountTumbling[T any](size int64) (CountWindows[T], error) {
	if size <= 0 {
		return CountWindows[T]{}, invalid("count window size must be greater than 0, got %d", size)
	}
	return CountWindows[T]{
		Assigner: Global[T](),
		Trigger:  PurgingTrigger(CountTrigger[T, GlobalWindow](size)),
	}, nil
}

// CountSliding returns the parts of a sliding count window, as Flink's
// countWindow(size, slide): Global, CountTrigger(slide) and
// CountEvictor(size) evicting before the window function. Every slide
// elements of a key the window fires over the last size elements.
//
// Rules: size > 0 and slide > 0.
func CountSliding[T any](size, slide int64) (CountWindows[T], error) {
	if size <= 0 {
		return CountWindows[T]{}, invalid("count window size must be greater than 0, got %d", size)
	}
	if slide <= 0 {
		return CountWindows[T]{}, invalid("count window slide must be greater than 0, got %d", slide)
	}
	return CountWindows[T]{
		Assigner: Global[T](),
		Trigger:  CountTrigger[T, GlobalWindow](slide),
		Evictor:  CountEvictor[T, GlobalWindow](size, false),
	}, nil
}
