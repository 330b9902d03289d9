package freshet_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
)

// unionLog records the union state the readers of unionSource were given.
type unionLog struct {
	mu       sync.Mutex
	started  int
	restored map[int][]string // by subtask
}

// unionSource wraps a source so that its readers implement
// source.UnionStateReader: each keeps the element "<tag>-<subtask>" and
// the elements it was restored with (or, with mistyped, has a method of
// the wrong signature).
type unionSource[T any, S source.Split] struct {
	source.Source[T, S]
	tag      string
	log      *unionLog
	mistyped bool
}

func (s unionSource[T, S]) CreateReader(ctx source.ReaderContext) (source.Reader[T, S], error) {
	r, err := s.Source.CreateReader(ctx)
	if err != nil {
		return nil, err
	}
	if s.mistyped {
		return mistypedUnionReader[T, S]{r}, nil
	}
	s.log.mu.Lock()
	s.log.started++
	s.log.mu.Unlock()
	return &unionReader[T, S]{Reader: r, log: s.log, own: s.tag + "-" + strconv.Itoa(ctx.SubtaskIndex()), sub: ctx.SubtaskIndex()}, nil
}

type unionReader[T any, S source.Split] struct {
	source.Reader[T, S]
	log      *unionLog
	own      string
	sub      int
	restored [][]byte
}

func (r *unionReader[T, S]) SnapshotUnionState(int64) ([][]byte, error) {
	return append([][]byte{[]byte(r.own)}, r.restored...), nil
}

func (r *unionReader[T, S]) RestoreUnionState(elements [][]byte) error {
	r.restored = slices.Clone(elements)
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	for _, e := range elements {
		r.log.restored[r.sub] = append(r.log.restored[r.sub], string(e))
	}
	return nil
}

// mistypedUnionReader's RestoreUnionState takes strings: it does not
// implement source.UnionStateReader.
type mistypedUnionReader[T any, S source.Split] struct{ source.Reader[T, S] }

func (mistypedUnionReader[T, S]) SnapshotUnionState(int64) ([][]byte, error) { return nil, nil }
func (mistypedUnionReader[T, S]) RestoreUnionState([]string) error           { return nil }

// TestSourceReaderUnionStateRescaled stops a job whose three readers keep
// union state with a savepoint and resumes it at parallelism 2 and again
// at 4: every reader of a resumed job is given the elements of all the
// readers of the job before, in subtask order.
func TestSourceReaderUnionStateRescaled(t *testing.T) {
	const n = 2000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run := func(p int, tag, restore string) (*unionLog, string) {
		t.Helper()
		log := &unionLog{restored: map[int][]string{}}
		opts := []freshet.Option{freshet.WithParallelism(p), freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
		if restore != "" {
			opts = append(opts, freshet.WithRestoreFrom(restore))
		}
		env := freshet.NewEnv(opts...)
		src := unionSource[int64, source.GeneratorSplit]{
			Source: source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(n), source.GeneratorRate(n)),
			tag:    tag,
			log:    log,
		}
		freshet.Collect(freshet.FromSource(env, src, "numbers").UID("numbers"))
		jc, err := env.ExecuteAsync(ctx, t.Name())
		if err != nil {
			t.Fatal(err)
		}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			log.mu.Lock()
			started := log.started
			log.mu.Unlock()
			if started == p {
				break
			}
			<-tick.C
		}
		path, err := jc.StopWithSavepoint(ctx, t.TempDir(), false)
		if err != nil {
			t.Fatalf("stopping the job at parallelism %d with a savepoint: %v", p, err)
		}
		if err := jc.Wait(); err != nil {
			t.Fatal(err)
		}
		return log, path
	}
	first, path := run(3, "a", "")
	if len(first.restored) != 0 {
		t.Fatalf("readers of a fresh job were restored with %v", first.restored)
	}
	second, path := run(2, "b", path)
	want := []string{"a-0", "a-1", "a-2"}
	for sub := range 2 {
		if got := second.restored[sub]; !slices.Equal(got, want) {
			t.Errorf("reader %d of 2 restored with %v, want %v", sub, got, want)
		}
	}
	third, _ := run(4, "c", path)
	// Each reader of the second job kept its own element and those of
	// the first.
	want = []string{"b-0", "a-0", "a-1", "a-2", "b-1", "a-0", "a-1", "a-2"}
	for sub := range 4 {
		if got := third.restored[sub]; !slices.Equal(got, want) {
			t.Errorf("reader %d of 4 restored with %v, want %v", sub, got, want)
		}
	}
}

// TestSourceReaderMistypedUnionStateFails: a reader whose
// RestoreUnionState has the wrong signature fails the job with an error
// naming the method and the interface, rather than never being called.
func TestSourceReaderMistypedUnionStateFails(t *testing.T) {
	env := freshet.NewEnv(freshet.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	src := unionSource[int64, source.GeneratorSplit]{
		Source:   source.Generator(func(i int64) int64 { return i }, source.GeneratorCount(10)),
		mistyped: true,
	}
	freshet.Collect(freshet.FromSource(env, src, "numbers"))
	err := env.Execute(context.Background(), t.Name())
	if err == nil || !strings.Contains(err.Error(), "RestoreUnionState") || !strings.Contains(err.Error(), "source.UnionStateReader") {
		t.Fatalf("got %v, want an error naming RestoreUnionState and source.UnionStateReader", err)
	}
}
