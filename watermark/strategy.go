package watermark

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidStrategy is wrapped by every error that [Strategy.Validate]
// returns; the wrapping error names the violated rule.
var ErrInvalidStrategy = errors.New("invalid watermark strategy")

// Strategy describes how a stream gets event timestamps and watermarks
// (Flink's WatermarkStrategy). It is an immutable value: every With* method
// returns a modified copy and leaves the receiver unchanged, so a Strategy
// may be shared freely between goroutines and jobs.
//
// The zero Strategy is equivalent to [NoWatermarks].
//
// Constructors never panic. An invalid argument is recorded in the value and
// reported by [Strategy.Validate]; the runtime must call Validate when the job
// is built. [Strategy.NewGenerator] panics on an invalid strategy.
type Strategy[T any] struct {
	kind        string
	newGen      func() Generator[T]              // nil: no watermarks
	newAssigner func(Clock) TimestampAssigner[T] // nil: keep the record timestamp
	idleness    []time.Duration                  // innermost wrapper first
	clock       Clock                            // nil: SystemClock
	err         error                            // first recorded violation
}

// ForBoundedOutOfOrderness returns a periodic strategy for records that are
// out of order by at most maxOutOfOrderness (Flink's
// WatermarkStrategy.forBoundedOutOfOrderness). On each periodic emit the
// watermark is maxTimestamp - maxOutOfOrderness - 1, where maxTimestamp is
// the highest timestamp seen so far and maxOutOfOrderness is truncated to
// whole milliseconds. Before any record the watermark is [MinWatermark].
//
// A negative maxOutOfOrderness makes the strategy invalid.
func ForBoundedOutOfOrderness[T any](maxOutOfOrderness time.Duration) Strategy[T] {
	s := Strategy[T]{kind: fmt.Sprintf("BoundedOutOfOrderness(%v)", maxOutOfOrderness)}
	if maxOutOfOrderness < 0 {
		s.err = fmt.Errorf("watermark: maxOutOfOrderness cannot be negative (got %v): %w",
			maxOutOfOrderness, ErrInvalidStrategy)
		return s
	}
	ms := maxOutOfOrderness.Milliseconds()
	s.newGen = func() Generator[T] { return newBoundedGenerator[T](ms) }
	return s
}

// ForMonotonousTimestamps returns a periodic strategy for records whose
// timestamps never decrease (Flink's forMonotonousTimestamps). It is
// [ForBoundedOutOfOrderness] with 0: the watermark is maxTimestamp - 1.
func ForMonotonousTimestamps[T any]() Strategy[T] {
	s := ForBoundedOutOfOrderness[T](0)
	s.kind = "MonotonousTimestamps"
	return s
}

// Punctuated returns a strategy whose watermarks come from the records
// themselves: after each record, fn is called with the record and its
// timestamp, and if it reports ok the returned watermark is emitted. Nothing
// is emitted periodically. A nil fn makes the strategy invalid.
func Punctuated[T any](fn func(v T, ts int64) (wm int64, ok bool)) Strategy[T] {
	s := Strategy[T]{kind: "Punctuated"}
	if fn == nil {
		s.err = fmt.Errorf("watermark: punctuated watermark function must not be nil: %w", ErrInvalidStrategy)
		return s
	}
	s.newGen = func() Generator[T] { return &punctuatedGenerator[T]{fn: fn} }
	return s
}

// ForGenerator returns a strategy that uses a custom [Generator]. newGen is
// called once per subtask or split and must return a fresh, non-nil
// generator each time. A nil newGen makes the strategy invalid.
func ForGenerator[T any](newGen func() Generator[T]) Strategy[T] {
	s := Strategy[T]{kind: "Generator"}
	if newGen == nil {
		s.err = fmt.Errorf("watermark: generator factory must not be nil: %w", ErrInvalidStrategy)
		return s
	}
	s.newGen = newGen
	return s
}

// NoWatermarks returns a strategy that generates no watermarks (Flink's
// WatermarkStrategy.noWatermarks). Records keep their timestamps unless a
// timestamp assigner is added. It is equal in behaviour to the zero Strategy.
func NoWatermarks[T any]() Strategy[T] {
	return Strategy[T]{kind: "NoWatermarks"}
}

// IngestionTime returns Flink's ingestion-time strategy
// (IngestionTimeWatermarkStrategy): each record's timestamp is the
// processing time at which it passes the assigner (the strategy's clock,
// [SystemClock] by default), forced to be non-decreasing even if the clock
// steps back (IngestionTimeAssigner); the watermark generator is
// [ForMonotonousTimestamps], so each periodic emit produces the last
// assigned timestamp - 1.
//
// Note that, as in Flink, the watermark is derived from the last assigned
// timestamp, not from the clock: it advances only while records flow. Use
// [Strategy.WithIdleness] if the input may stall.
func IngestionTime[T any]() Strategy[T] {
	s := ForMonotonousTimestamps[T]()
	s.kind = "IngestionTime"
	s.newAssigner = func(c Clock) TimestampAssigner[T] {
		maxTs := NoTimestamp
		return func(T, int64) int64 {
			now := c.Now()
			if now < maxTs {
				now = maxTs
			}
			maxTs = now
			return now
		}
	}
	return s
}

// WithTimestampAssigner returns a copy of s that extracts record timestamps
// with fn, replacing any assigner set before (including IngestionTime's).
// A nil fn makes the strategy invalid.
func (s Strategy[T]) WithTimestampAssigner(fn TimestampAssigner[T]) Strategy[T] {
	if fn == nil {
		s.setErr(fmt.Errorf("watermark: timestamp assigner must not be nil: %w", ErrInvalidStrategy))
		return s
	}
	s.newAssigner = func(Clock) TimestampAssigner[T] { return fn }
	return s
}

// HasIdleness reports whether s detects idleness (WithIdleness).
func (s Strategy[T]) HasIdleness() bool { return len(s.idleness) > 0 }

// WithIdleness returns a copy of s whose generators also detect idleness
// (Flink's withIdleness / WatermarksWithIdleness). Idleness is checked on
// every periodic emit against the strategy's clock: the countdown starts at
// the first periodic emit that saw no record since the previous one, and the
// output is marked idle at the first periodic emit at which strictly more
// than timeout has elapsed since then. While idle, the wrapped generator's
// periodic emits are skipped. The next record marks the output active again.
//
// As in Flink, calling WithIdleness again wraps once more (the later call is
// the outer wrapper) rather than replacing the timeout.
//
// A timeout <= 0 makes the strategy invalid ("idleTimeout must be greater
// than zero").
func (s Strategy[T]) WithIdleness(timeout time.Duration) Strategy[T] {
	if timeout <= 0 {
		s.setErr(fmt.Errorf("watermark: idleTimeout must be greater than zero (got %v): %w",
			timeout, ErrInvalidStrategy))
		return s
	}
	// The full slice expression forces a copy so copies never share backing
	// arrays.
	s.idleness = append(s.idleness[:len(s.idleness):len(s.idleness)], timeout)
	return s
}

// WithClock returns a copy of s that reads processing time from c for
// idleness detection and ingestion-time timestamps. A nil c selects
// [SystemClock]. Tests inject a [ManualClock] here.
func (s Strategy[T]) WithClock(c Clock) Strategy[T] {
	s.clock = c
	return s
}

// Validate reports the first invalid setting recorded while building s. The
// error wraps [ErrInvalidStrategy] and names the violated rule.
func (s Strategy[T]) Validate() error { return s.err }

// NewGenerator returns a fresh generator for one subtask or split, already
// wrapped with idleness detection if configured. It panics if s is invalid
// (see [Strategy.Validate]) or if a custom generator factory returns nil.
func (s Strategy[T]) NewGenerator() Generator[T] {
	if s.err != nil {
		panic(s.err)
	}
	var g Generator[T] = noWatermarksGenerator[T]{}
	if s.newGen != nil {
		g = s.newGen()
		if g == nil {
			panic(fmt.Errorf("watermark: generator factory returned nil: %w", ErrInvalidStrategy))
		}
	}
	clock := s.getClock()
	for _, d := range s.idleness {
		g = newIdlenessGenerator(g, d.Milliseconds(), clock)
	}
	return g
}

// Assigner returns the timestamp assigner for one subtask, or nil if records
// keep the timestamp they already carry (Flink's RecordTimestampAssigner).
// The returned assigner may be stateful (ingestion time is), so call
// Assigner once per subtask and use it from one goroutine.
func (s Strategy[T]) Assigner() TimestampAssigner[T] {
	if s.newAssigner == nil {
		return nil
	}
	return s.newAssigner(s.getClock())
}

// NewEmitter validates s and returns an [Emitter] that runs a fresh
// generator and assigner of s and forwards filtered watermarks and status
// changes to out.
func (s Strategy[T]) NewEmitter(out Output) (*Emitter[T], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return NewEmitter(s.NewGenerator(), s.Assigner(), out), nil
}

// String describes the strategy, e.g. "BoundedOutOfOrderness(5s).WithIdleness(1m0s)".
func (s Strategy[T]) String() string {
	k := s.kind
	if k == "" {
		k = "NoWatermarks"
	}
	for _, d := range s.idleness {
		k += fmt.Sprintf(".WithIdleness(%v)", d)
	}
	return k
}

func (s *Strategy[T]) setErr(err error) {
	if s.err == nil {
		s.err = err
	}
}

func (s Strategy[T]) getClock() Clock {
	if s.clock == nil {
		return SystemClock{}
	}
	return s.clock
}
