package freshet_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
)

// readerLog records what the readers of listeningSource were told.
type readerLog struct {
	mu        sync.Mutex
	snapshots map[int][]int64
	completes map[int][]int64
}

// listeningSource wraps a source so that its readers implement
// source.CheckpointListener (or, with mistyped, a method of the wrong
// signature).
type listeningSource[T any, S source.Split] struct {
	source.Source[T, S]
	log      *readerLog
	mistyped bool
}

func (s listeningSource[T, S]) CreateReader(ctx source.ReaderContext) (source.Reader[T, S], error) {
	r, err := s.Source.CreateReader(ctx)
	if err != nil {
		return nil, err
	}
	if s.mistyped {
		return mistypedReader[T, S]{r}, nil
	}
	return &listeningReader[T, S]{Reader: r, log: s.log, sub: ctx.SubtaskIndex()}, nil
}

type listeningReader[T any, S source.Split] struct {
	source.Reader[T, S]
	log *readerLog
	sub int
}

func (r *listeningReader[T, S]) SnapshotState(id int64) ([]S, error) {
	r.log.mu.Lock()
	r.log.snapshots[r.sub] = append(r.log.snapshots[r.sub], id)
	r.log.mu.Unlock()
	return r.Reader.SnapshotState(id)
}

func (r *listeningReader[T, S]) NotifyCheckpointComplete(id int64) error {
	r.log.mu.Lock()
	r.log.completes[r.sub] = append(r.log.completes[r.sub], id)
	r.log.mu.Unlock()
	return nil
}

func (r *listeningReader[T, S]) NotifyCheckpointAborted(int64) error { return nil }

// mistypedReader's NotifyCheckpointComplete takes an int: it does not
// implement source.CheckpointListener.
type mistypedReader[T any, S source.Split] struct{ source.Reader[T, S] }

func (mistypedReader[T, S]) NotifyCheckpointComplete(int) error { return nil }

// TestSourceReaderNotifiedOfCompletedCheckpoints: a reader that implements
// source.CheckpointListener is told of completed checkpoints, each one it
// snapshotted and one the job reports as completed.
func TestSourceReaderNotifiedOfCompletedCheckpoints(t *testing.T) {
	const n = 3000
	log := &readerLog{snapshots: map[int][]int64{}, completes: map[int][]int64{}}
	env := freshet.NewEnv(freshet.WithParallelism(2),
		freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		freshet.WithCheckpointing(50*time.Millisecond, freshet.CheckpointStorage(t.TempDir())))
	src := listeningSource[int64, source.GeneratorSplit]{
		Source: source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n), source.GeneratorRate(4000)),
		log:    log,
	}
	out := freshet.Collect(freshet.FromSource(env, src, "numbers"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := len(out.Values()); got != n {
		t.Fatalf("got %d values, want %d", got, n)
	}
	completed := map[int64]bool{}
	for _, c := range jc.Checkpoints() {
		if c.Status == freshet.CheckpointCompleted {
			completed[c.ID] = true
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for sub := range 2 {
		notified := log.completes[sub]
		if len(notified) == 0 {
			t.Fatalf("reader %d was told of no completed checkpoint; checkpoints %+v", sub, jc.Checkpoints())
		}
		for _, id := range notified {
			if !completed[id] {
				t.Fatalf("reader %d told checkpoint %d completed; completed: %v", sub, id, completed)
			}
			if !slices.Contains(log.snapshots[sub], id) {
				t.Fatalf("reader %d told checkpoint %d completed; it snapshotted %v", sub, id, log.snapshots[sub])
			}
		}
	}
}

// TestSourceReaderMistypedListenerFails: a reader whose
// NotifyCheckpointComplete has the wrong signature fails the job with an
// error naming the method, rather than never being called.
func TestSourceReaderMistypedListenerFails(t *testing.T) {
	env := freshet.NewEnv(freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	src := listeningSource[int64, source.GeneratorSplit]{
		Source:   source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(10)),
		mistyped: true,
	}
	freshet.Collect(freshet.FromSource(env, src, "numbers"))
	err := env.Execute(context.Background(), t.Name())
	if err == nil || !strings.Contains(err.Error(), "NotifyCheckpointComplete") || !strings.Contains(err.Error(), "source.CheckpointListener") {
		t.Fatalf("got %v, want an error naming NotifyCheckpointComplete and source.CheckpointListener", err)
	}
}

// TestSourceReaderNotifiedAtEndOfInput: in a job without periodic
// checkpoints, a reader that implements source.CheckpointListener is told
// at its end that what it emitted is final, with
// source.EndOfInputCheckpoint.
func TestSourceReaderNotifiedAtEndOfInput(t *testing.T) {
	log := &readerLog{snapshots: map[int][]int64{}, completes: map[int][]int64{}}
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	src := listeningSource[int64, source.GeneratorSplit]{
		Source: source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(100)),
		log:    log,
	}
	freshet.Collect(freshet.FromSource(env, src, "numbers"))
	if err := env.Execute(context.Background(), t.Name()); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for sub := range 2 {
		if got, want := log.completes[sub], []int64{source.EndOfInputCheckpoint}; !slices.Equal(got, want) {
			t.Errorf("reader %d told of completed checkpoints %v, want %v", sub, got, want)
		}
	}
}
