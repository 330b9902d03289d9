package sink_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/sink"
)

type initCtx struct{ sub int }

func (initCtx) Context() context.Context { return context.Background() }
func (c initCtx) SubtaskIndex() int      { return c.sub }
func (initCtx) Parallelism() int         { return 1 }
func (initCtx) Attempt() int             { return 0 }
func (initCtx) Metrics() *metric.Group   { return nil }

func (initCtx) RestoredCheckpointID() (int64, bool) { return 0, false }

// txn is a transaction of the test's writer: its id and records.
type txn struct {
	ID      int
	Records []string
}

// txnLog is a transactional store: committed transactions, by id, and the
// calls made, in order.
type txnLog struct {
	next      int
	committed map[int][]string
	calls     []string
}

func (l *txnLog) BeginTransaction() (*txn, error) {
	l.next++
	l.calls = append(l.calls, fmt.Sprintf("begin %d", l.next))
	return &txn{ID: l.next}, nil
}

func (l *txnLog) Write(t *txn, v string, _ sink.Context) error {
	t.Records = append(t.Records, v)
	return nil
}

func (l *txnLog) PreCommit(t *txn) error {
	l.calls = append(l.calls, fmt.Sprintf("precommit %d", t.ID))
	return nil
}

func (l *txnLog) Commit(t *txn) error {
	l.calls = append(l.calls, fmt.Sprintf("commit %d", t.ID))
	if l.committed == nil {
		l.committed = map[int][]string{}
	}
	l.committed[t.ID] = slices.Clone(t.Records) // idempotent
	return nil
}

func (l *txnLog) Abort(t *txn) error {
	l.calls = append(l.calls, fmt.Sprintf("abort %d", t.ID))
	return nil
}

func (l *txnLog) Close() error { return nil }

func (l *txnLog) all() []string {
	var ids []int
	for id := range l.committed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []string
	for _, id := range ids {
		out = append(out, l.committed[id]...)
	}
	return out
}

func (l *txnLog) takeCalls() string {
	s := strings.Join(l.calls, ", ")
	l.calls = nil
	return s
}

func newTwoPhase(t *testing.T, log *txnLog, restored [][]byte) (sink.Writer[string], sink.CheckpointHooks) {
	t.Helper()
	s := &sink.TwoPhaseCommit[string, *txn]{
		NewWriter: func(sink.InitContext) (sink.TransactionalWriter[string, *txn], error) { return log, nil },
	}
	w, h, err := s.CreateCheckpointedWriter(initCtx{}, restored)
	if err != nil {
		t.Fatal(err)
	}
	return w, h
}

func write(t *testing.T, w sink.Writer[string], vs ...string) {
	t.Helper()
	for _, v := range vs {
		if err := w.Write(v, sink.Context{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTwoPhaseCommitOrder(t *testing.T) {
	log := &txnLog{}
	w, h := newTwoPhase(t, log, nil)
	write(t, w, "a", "b")
	if _, err := h.SnapshotState(1); err != nil {
		t.Fatal(err)
	}
	write(t, w, "c")
	if _, err := h.SnapshotState(2); err != nil {
		t.Fatal(err)
	}
	write(t, w, "d")
	if got, want := log.takeCalls(), "begin 1, precommit 1, begin 2, precommit 2, begin 3"; got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if len(log.committed) != 0 {
		t.Fatalf("committed %v before any checkpoint completed", log.committed)
	}
	// Checkpoint 1 is aborted, 2 completes: both pending transactions
	// are committed, oldest first.
	if err := h.NotifyCheckpointAborted(1); err != nil {
		t.Fatal(err)
	}
	if err := h.NotifyCheckpointComplete(2); err != nil {
		t.Fatal(err)
	}
	if got, want := log.takeCalls(), "commit 1, commit 2"; got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if got := log.all(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("committed %v", got)
	}
	// End of input pre-commits the open transaction; the final
	// checkpoint (4) commits it.
	if err := w.Flush(true); err != nil {
		t.Fatal(err)
	}
	if got, want := log.takeCalls(), "precommit 3"; got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if _, err := h.SnapshotState(4); err != nil {
		t.Fatal(err)
	}
	if err := h.NotifyCheckpointComplete(4); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := log.takeCalls(), "commit 3"; got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if got := log.all(); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("committed %v", got)
	}
}

func TestTwoPhaseCommitRestore(t *testing.T) {
	log := &txnLog{}
	w, h := newTwoPhase(t, log, nil)
	write(t, w, "a")
	if _, err := h.SnapshotState(1); err != nil {
		t.Fatal(err)
	}
	write(t, w, "b")
	st, err := h.SnapshotState(2)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, "c")
	// Checkpoint 2 completes, but the writer fails after committing the
	// transaction of checkpoint 1 only.
	if err := h.NotifyCheckpointComplete(1); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := log.takeCalls(), "begin 1, precommit 1, begin 2, precommit 2, begin 3, commit 1, abort 3"; got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
	// The restore from checkpoint 2 commits 1 again (idempotent) and 2,
	// aborts 3 (open at checkpoint 2) and begins a new transaction.
	w, h = newTwoPhase(t, log, st)
	if got, want := log.takeCalls(), "commit 1, commit 2, abort 3, begin 4"; got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
	write(t, w, "c")
	if err := w.Flush(true); err != nil {
		t.Fatal(err)
	}
	// No checkpoint after the end of input: the subtask's end commits.
	if err := h.NotifyCheckpointComplete(sink.EndOfInput); err != nil {
		t.Fatal(err)
	}
	if got := log.all(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("committed %v, want a, b, c once each", got)
	}
}

func TestWriteAheadCommitsAtCompletion(t *testing.T) {
	var got []string
	var ids []int64
	s := &sink.WriteAhead[string]{Commit: func(_ sink.InitContext, id int64, rs []string) error {
		got = append(got, rs...)
		ids = append(ids, id)
		return nil
	}}
	w, h, err := s.CreateCheckpointedWriter(initCtx{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, "a", "b")
	if _, err := h.SnapshotState(1); err != nil {
		t.Fatal(err)
	}
	write(t, w, "c")
	st, err := h.SnapshotState(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("wrote %v before a checkpoint completed", got)
	}
	if err := h.NotifyCheckpointComplete(1); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("wrote %v after checkpoint 1", got)
	}
	// A restore from checkpoint 2 writes its batch at once.
	w, h, err = s.CreateCheckpointedWriter(initCtx{}, st)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, "d")
	if err := w.Flush(true); err != nil {
		t.Fatal(err)
	}
	if err := h.NotifyCheckpointComplete(sink.EndOfInput); err != nil {
		t.Fatal(err)
	}
	// "a", "b" are written again (at least once): an idempotent writer
	// makes that exactly once.
	if want := []string{"a", "b", "a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("wrote %v, want %v", got, want)
	}
	if want := []int64{1, 1, 2, sink.EndOfInput}; !slices.Equal(ids, want) {
		t.Fatalf("checkpoint ids %v, want %v", ids, want)
	}
}
