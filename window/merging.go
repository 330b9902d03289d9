package window

import (
	"errors"
	"fmt"
	"iter"
)

// ErrWindowNotInFlight is returned by MergingWindowSet.RetireWindow for a
// window the set does not hold.
var ErrWindowNotInFlight = errors.New("window: window is not in the in-flight window set")

// MergeFunc is called by MergingWindowSet.AddWindow when windows merge.
//
// mergeResult is the new merged window; mergedWindows are the in-flight
// windows that were merged into it (never the newly added window, which has
// no state yet). stateWindowResult is the state window that now holds the
// contents of mergeResult (the state window of one of the merged windows),
// and mergedStateWindows are the state windows of the other merged windows,
// whose contents must be merged into stateWindowResult. The slices are only
// valid during the call. A non-nil error aborts AddWindow.
//
// A window operator's merge function does, in order:
//
//  1. fail if the merged window would already be late: for event time if
//     IsWindowLate(mergeResult, lateness, true, watermark), for processing
//     time if mergeResult.MaxTimestamp() <= now (Flink throws in both
//     cases);
//  2. call the trigger's OnMerge(mergeResult, ctx), with a MergeContext
//     scoped to mergeResult whose MergeState folds in the state of
//     mergedWindows;
//  3. for each window m of mergedWindows, call the trigger's Clear(m, ctx)
//     with ctx scoped to m, and delete m's cleanup timer at CleanupTime(m,
//     lateness, eventTime);
//  4. merge the contents stored under each of mergedStateWindows into those
//     stored under stateWindowResult, and drop them.
type MergeFunc[W Window] func(mergeResult W, mergedWindows []W, stateWindowResult W, mergedStateWindows []W) error

// MergingWindowSet tracks the in-flight windows of one key for a merging
// assigner (Flink's MergingWindowSet). Each in-flight window maps to a state
// window: the window under whose name its contents are stored. When windows
// merge, the merged window keeps the state window of one of its parts, so
// only the contents of the other parts need merging and the in-flight window
// can grow without moving its state.
//
// An operator keeps one set per key (persisting it as the pairs from All and
// rebuilding it with Restore), adds every assigned window with AddWindow,
// stores contents under StateWindow(actual), and calls RetireWindow when a
// window is cleaned up or turns out to be late.
//
// A MergingWindowSet is not safe for concurrent use.
type MergingWindowSet[W Window] struct {
	merger  WindowMerger[W]
	mapping map[W]W

	// Scratch buffers and per-call state for AddWindow, kept here so the
	// merge callback (created once) does not allocate per call.
	scratch   []W
	mergedBuf []W
	statesBuf []W
	onMerge   func(toMerge []W, into W)
	newWindow W
	result    W
	mergedNew bool
	mergeFn   MergeFunc[W]
	err       error
}

// NewMergingWindowSet returns an empty set that merges windows with merger,
// typically the MergingAssigner itself.
func NewMergingWindowSet[W Window](merger WindowMerger[W]) *MergingWindowSet[W] {
	s := &MergingWindowSet[W]{merger: merger, mapping: make(map[W]W)}
	s.onMerge = s.mergeGroup
	return s
}

// Restore records that in-flight window w keeps its contents under
// stateWindow. It rebuilds a persisted set (see All).
func (s *MergingWindowSet[W]) Restore(w, stateWindow W) { s.mapping[w] = stateWindow }

// Len returns the number of in-flight windows.
func (s *MergingWindowSet[W]) Len() int { return len(s.mapping) }

// All yields every in-flight window with its state window, in no particular
// order. These pairs are what an operator persists for the key.
func (s *MergingWindowSet[W]) All() iter.Seq2[W, W] {
	return func(yield func(W, W) bool) {
		for w, sw := range s.mapping {
			if !yield(w, sw) {
				return
			}
		}
	}
}

// StateWindow returns the state window of in-flight window w, and false if w
// is not in flight (for example a timer of a window already merged away).
func (s *MergingWindowSet[W]) StateWindow(w W) (W, bool) {
	sw, ok := s.mapping[w]
	return sw, ok
}

// RetireWindow removes in-flight window w. It returns an error wrapping
// ErrWindowNotInFlight if w is not in flight.
func (s *MergingWindowSet[W]) RetireWindow(w W) error {
	if _, ok := s.mapping[w]; !ok {
		return fmt.Errorf("%w: %v", ErrWindowNotInFlight, w)
	}
	delete(s.mapping, w)
	return nil
}

// AddWindow adds newWindow to the in-flight windows, merging it with the
// windows it intersects, and returns the window it ended up in: newWindow
// itself, or the merged window that swallowed it. The element must be added
// to, and the trigger called for, only that returned window.
//
// For every group of windows that merges, merge is called, except when the
// new window falls entirely inside one in-flight window (nothing changes then
// but the returned window). merge is where the operator checks lateness,
// merges trigger state (Trigger.OnMerge), clears the merged windows'
// triggers and merges their contents; see MergeFunc.
//
// Semantics follow Flink's MergingWindowSet.addWindow, including its fix for
// a new window that covers existing ones, with one deviation: a new window
// equal to an in-flight window keeps that window's state window instead of
// being reset to itself (which in Flink can orphan contents when dynamic
// session gaps recreate an already merged window).
//
// If merge returns an error AddWindow stops and returns it; the set may then
// hold some of the merges already made.
func (s *MergingWindowSet[W]) AddWindow(newWindow W, merge MergeFunc[W]) (W, error) {
	s.scratch = s.scratch[:0]
	for w := range s.mapping {
		s.scratch = append(s.scratch, w)
	}
	s.scratch = append(s.scratch, newWindow)

	s.newWindow, s.result, s.mergedNew, s.mergeFn, s.err = newWindow, newWindow, false, merge, nil
	s.merger.MergeWindows(s.scratch, s.onMerge)
	result, mergedNew, err := s.result, s.mergedNew, s.err

	var zero W
	s.newWindow, s.result, s.mergeFn, s.err = zero, zero, nil, nil
	clear(s.scratch)
	clear(s.mergedBuf)
	clear(s.statesBuf)
	if err != nil {
		return zero, err
	}
	if !mergedNew {
		if _, ok := s.mapping[newWindow]; !ok {
			s.mapping[newWindow] = newWindow
		}
	}
	return result, nil
}

// mergeGroup handles one merge group reported by the merger.
func (s *MergingWindowSet[W]) mergeGroup(toMerge []W, into W) {
	if s.err != nil {
		return
	}
	merged := s.mergedBuf[:0]
	seenNew := false
	for _, w := range toMerge {
		if w == s.newWindow {
			// The new window may also be listed as the in-flight window it
			// equals; count it once.
			if seenNew {
				continue
			}
			seenNew = true
			s.mergedNew = true
			s.result = into
			if _, inFlight := s.mapping[w]; !inFlight {
				continue // the new window has no state to merge
			}
		}
		merged = append(merged, w)
	}
	s.mergedBuf = merged

	if len(merged) == 0 {
		// Only the new window was "merged" (possible with custom mergers):
		// the result is a fresh window with its own state.
		if _, ok := s.mapping[into]; !ok {
			s.mapping[into] = into
		}
		return
	}

	// The result keeps the state window of the first merged window.
	stateResult, found := into, false
	for _, m := range merged {
		if sw, ok := s.mapping[m]; ok {
			stateResult, found = sw, true
			break
		}
	}
	states := s.statesBuf[:0]
	skipped := !found
	for _, m := range merged {
		sw, ok := s.mapping[m]
		if !ok {
			continue
		}
		delete(s.mapping, m)
		if !skipped && sw == stateResult {
			skipped = true
			continue
		}
		states = append(states, sw)
	}
	s.statesBuf = states
	s.mapping[into] = stateResult

	// Merging a single in-flight window into itself (the new window fell
	// inside it) changes nothing and needs no callback.
	if len(merged) == 1 && merged[0] == into {
		return
	}
	s.err = s.mergeFn(into, merged, stateResult, states)
}
