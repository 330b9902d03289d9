package watermark

import "math"

// boundedGenerator is Flink's BoundedOutOfOrdernessWatermarks: it tracks the
// highest timestamp seen and periodically emits
// maxTimestamp - outOfOrderness - 1. maxTimestamp starts at
// MinInt64 + outOfOrderness + 1, so the first watermark is MinInt64.
type boundedGenerator[T any] struct {
	maxTimestamp   int64
	outOfOrderness int64
}

func newBoundedGenerator[T any](outOfOrdernessMillis int64) *boundedGenerator[T] {
	return &boundedGenerator[T]{
		maxTimestamp:   math.MinInt64 + outOfOrdernessMillis + 1,
		outOfOrderness: outOfOrdernessMillis,
	}
}

func (g *boundedGenerator[T]) OnEvent(_ T, ts int64, _ Output) {
	if ts > g.maxTimestamp {
		g.maxTimestamp = ts
	}
}

func (g *boundedGenerator[T]) OnPeriodicEmit(out Output) {
	out.EmitWatermark(g.maxTimestamp - g.outOfOrderness - 1)
}

// punctuatedGenerator emits the watermark returned by fn from OnEvent and
// nothing periodically.
type punctuatedGenerator[T any] struct {
	fn func(v T, ts int64) (int64, bool)
}

func (g *punctuatedGenerator[T]) OnEvent(v T, ts int64, out Output) {
	if wm, ok := g.fn(v, ts); ok {
		out.EmitWatermark(wm)
	}
}

func (g *punctuatedGenerator[T]) OnPeriodicEmit(Output) {}

// noWatermarksGenerator is Flink's NoWatermarksGenerator.
type noWatermarksGenerator[T any] struct{}

func (noWatermarksGenerator[T]) OnEvent(T, int64, Output) {}
func (noWatermarksGenerator[T]) OnPeriodicEmit(Output)    {}

// idlenessGenerator is Flink's WatermarksWithIdleness. Idleness is only
// evaluated in OnPeriodicEmit: the countdown starts at the first periodic
// emit that saw no event since the previous one, and the output is marked
// idle at the first periodic emit at which strictly more than the timeout
// has elapsed on the clock since the countdown started. While idle the
// wrapped generator's OnPeriodicEmit is not called. The next event marks the
// output active again (before the wrapped generator sees the event).
type idlenessGenerator[T any] struct {
	inner         Generator[T]
	clock         Clock
	timeoutMillis int64

	sawEvent      bool  // an event arrived since the last idleness check
	timerRunning  bool  // the inactivity countdown has started
	inactiveSince int64 // clock reading when the countdown started
	idle          bool  // this generator has marked the output idle
}

func newIdlenessGenerator[T any](inner Generator[T], timeoutMillis int64, clock Clock) *idlenessGenerator[T] {
	return &idlenessGenerator[T]{inner: inner, clock: clock, timeoutMillis: timeoutMillis}
}

func (g *idlenessGenerator[T]) OnEvent(v T, ts int64, out Output) {
	if g.idle {
		g.idle = false
		out.MarkActive()
	}
	g.inner.OnEvent(v, ts, out)
	g.sawEvent = true
}

func (g *idlenessGenerator[T]) OnPeriodicEmit(out Output) {
	if g.checkIfIdle() {
		if !g.idle {
			g.idle = true
			out.MarkIdle()
		}
		return
	}
	g.inner.OnPeriodicEmit(out)
}

func (g *idlenessGenerator[T]) checkIfIdle() bool {
	if g.sawEvent {
		// Activity since the last check: reset the countdown.
		g.sawEvent = false
		g.timerRunning = false
		return false
	}
	now := g.clock.Now()
	if !g.timerRunning {
		// First check without activity: start the countdown.
		g.timerRunning = true
		g.inactiveSince = now
		return false
	}
	if now < g.inactiveSince {
		// The clock stepped backwards; restart the countdown from now.
		g.inactiveSince = now
		return false
	}
	// The clock has millisecond resolution, so for a whole number of
	// elapsed milliseconds "elapsed > timeout" equals
	// "elapsed > floor(timeout in ms)".
	return now-g.inactiveSince > g.timeoutMillis
}
