package source

import "context"

// Pull is an Enumerator for a fixed set of splits that readers pull one at
// a time, like the static split assigners of Flink's FileSource: a reader
// calls ReaderContext.SendSplitRequest when it has nothing to read, and Pull
// answers each request with the next split, or, once none remain, with
// SignalNoMoreSplits. Faster readers thus take more of the work.
//
// Splits returned after a failure (AddSplitsBack) go to the front of the
// queue and are handed to the next reader that asks; readers already told
// that no more splits will come do not ask again, so they are picked up by
// the failed subtask when its reader restarts and asks.
type Pull[S Split] struct {
	ctx     EnumeratorContext[S]
	pending []S
}

var _ Enumerator[SliceSplit] = (*Pull[SliceSplit])(nil)

// NewPull returns an enumerator that hands out splits on request, in order.
func NewPull[S Split](ctx EnumeratorContext[S], splits []S) *Pull[S] {
	return &Pull[S]{ctx: ctx, pending: append([]S(nil), splits...)}
}

// Start implements Enumerator.
func (e *Pull[S]) Start(context.Context) error { return nil }

// HandleSplitRequest implements Enumerator: it assigns the subtask one
// split, or signals that there are no more.
func (e *Pull[S]) HandleSplitRequest(subtask int) {
	if len(e.pending) == 0 {
		e.ctx.SignalNoMoreSplits(subtask)
		return
	}
	s := e.pending[0]
	var zero S
	e.pending[0] = zero
	e.pending = e.pending[1:]
	e.ctx.AssignSplits(subtask, s)
}

// AddReader implements Enumerator; readers ask for splits themselves.
func (e *Pull[S]) AddReader(int) {}

// AddSplitsBack implements Enumerator.
func (e *Pull[S]) AddSplitsBack(splits []S, _ int) {
	e.pending = append(append([]S(nil), splits...), e.pending...)
}

// Remaining returns the splits not yet handed out, in the order they will
// be; the slice is a copy.
func (e *Pull[S]) Remaining() []S { return append([]S(nil), e.pending...) }

// SnapshotState implements Enumerator: the splits not handed out yet.
func (e *Pull[S]) SnapshotState(int64) ([]S, error) { return e.Remaining(), nil }

// Close implements Enumerator.
func (e *Pull[S]) Close() error { return nil }
