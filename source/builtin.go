package source

import (
	"context"
	"strconv"
)

// never is a channel that is never ready: readers driven only by split
// events (which wake the subtask themselves) return it from Available.
var never = make(chan struct{})

// Static is an Enumerator for a fixed set of splits known up front. It
// assigns split i to subtask i mod parallelism when the reader registers,
// then signals that no more splits will come, so the assignment is
// deterministic. Splits handed back after a failure (AddSplitsBack) go to
// the same subtask again when its reader registers anew.
type Static[S Split] struct {
	ctx    EnumeratorContext[S]
	splits []S
	byTask map[int][]S
}

// NewStatic returns an enumerator that hands out splits.
func NewStatic[S Split](ctx EnumeratorContext[S], splits []S) *Static[S] {
	e := &Static[S]{ctx: ctx, splits: splits, byTask: map[int][]S{}}
	p := ctx.Parallelism()
	for i, s := range splits {
		e.byTask[i%p] = append(e.byTask[i%p], s)
	}
	return e
}

// Start implements Enumerator.
func (e *Static[S]) Start(context.Context) error { return nil }

// HandleSplitRequest implements Enumerator.
func (e *Static[S]) HandleSplitRequest(int) {}

// AddReader implements Enumerator.
func (e *Static[S]) AddReader(subtask int) {
	if s := e.byTask[subtask]; len(s) > 0 {
		e.ctx.AssignSplits(subtask, s...)
	}
	delete(e.byTask, subtask)
	e.ctx.SignalNoMoreSplits(subtask)
}

// AddSplitsBack implements Enumerator.
func (e *Static[S]) AddSplitsBack(splits []S, subtask int) {
	e.byTask[subtask] = append(e.byTask[subtask], splits...)
}

// SnapshotState implements Enumerator: the splits of readers that have
// not registered yet, in subtask order.
func (e *Static[S]) SnapshotState(int64) ([]S, error) {
	var out []S
	for subtask := 0; subtask < e.ctx.Parallelism(); subtask++ {
		out = append(out, e.byTask[subtask]...)
	}
	return out, nil
}

// Close implements Enumerator.
func (e *Static[S]) Close() error { return nil }

// SliceSplit is a contiguous range [Start, End) of a slice source's values;
// Next is the position of the next value to read.
type SliceSplit struct {
	ID, Start, End, Next int
}

// SplitID implements Split.
func (s SliceSplit) SplitID() string { return "slice-" + strconv.Itoa(s.ID) }

// Slice is a bounded source that emits a slice's values. The values are cut
// into one contiguous split per reader, so at parallelism 1 they arrive in
// order, and at parallelism n subtask i reads the i-th n-th of them.
type Slice[T any] struct {
	Values []T
}

// FromSlice returns a bounded source over values.
func FromSlice[T any](values []T) *Slice[T] { return &Slice[T]{Values: values} }

// Boundedness implements Source.
func (s *Slice[T]) Boundedness() Boundedness { return Bounded }

// CreateEnumerator implements Source.
func (s *Slice[T]) CreateEnumerator(ctx EnumeratorContext[SliceSplit]) (Enumerator[SliceSplit], error) {
	p := ctx.Parallelism()
	n := len(s.Values)
	splits := make([]SliceSplit, 0, p)
	for i := 0; i < p; i++ {
		lo, hi := i*n/p, (i+1)*n/p
		if lo < hi {
			splits = append(splits, SliceSplit{ID: i, Start: lo, End: hi, Next: lo})
		}
	}
	return NewStatic(ctx, splits), nil
}

// RestoreEnumerator implements Source.
func (s *Slice[T]) RestoreEnumerator(ctx EnumeratorContext[SliceSplit], unassigned []SliceSplit) (Enumerator[SliceSplit], error) {
	return NewStatic(ctx, unassigned), nil
}

// CreateReader implements Source.
func (s *Slice[T]) CreateReader(ReaderContext) (Reader[T, SliceSplit], error) {
	return &sliceReader[T]{values: s.Values}, nil
}

type sliceReader[T any] struct {
	values []T
	splits []SliceSplit
	done   bool
}

// pollBatch is how many values a built-in reader emits per PollNext, as
// one run (see emit).
const pollBatch = 256

// emit hands vs to out: in one call when out takes runs (BatchOutput, as
// the runtime's does), else value by value. out does not keep vs.
func emit[T any](out Output[T], vs []T) {
	if b, ok := out.(BatchOutput[T]); ok {
		b.CollectAll(vs)
		return
	}
	for _, v := range vs {
		out.Collect(v)
	}
}

func (r *sliceReader[T]) Start(context.Context) error { return nil }

func (r *sliceReader[T]) PollNext(out Output[T]) (InputStatus, error) {
	if len(r.splits) > 0 {
		sp := &r.splits[0]
		end := min(sp.Next+pollBatch, sp.End)
		emit(out, r.values[sp.Next:end])
		sp.Next = end
		if sp.Next == sp.End {
			r.splits = r.splits[1:]
		}
		return MoreAvailable, nil
	}
	if r.done {
		return EndOfInput, nil
	}
	return NothingAvailable, nil
}

func (r *sliceReader[T]) Available() <-chan struct{} { return never }
func (r *sliceReader[T]) AddSplits(splits []SliceSplit) {
	r.splits = append(r.splits, splits...)
}
func (r *sliceReader[T]) NotifyNoMoreSplits() { r.done = true }

// SnapshotState implements Reader: the splits left, each at its next value.
func (r *sliceReader[T]) SnapshotState(int64) ([]SliceSplit, error) {
	return append([]SliceSplit(nil), r.splits...), nil
}
func (r *sliceReader[T]) Close() error { return nil }
