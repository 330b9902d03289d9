package freshet_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
)

// panicEnumSource wraps a slice source with an enumerator that panics when
// created or when closed.
type panicEnumSource struct {
	inner  source.Source[int, source.SliceSplit]
	inInit bool
}

type panicCloseEnum struct {
	source.Enumerator[source.SliceSplit]
}

func (panicCloseEnum) Close() error { panic("enumerator close exploded") }

func (s panicEnumSource) Boundedness() source.Boundedness { return source.Bounded }
func (s panicEnumSource) CreateEnumerator(ctx source.EnumeratorContext[source.SliceSplit]) (source.Enumerator[source.SliceSplit], error) {
	if s.inInit {
		panic("create enumerator exploded")
	}
	e, err := s.inner.CreateEnumerator(ctx)
	return panicCloseEnum{e}, err
}
func (s panicEnumSource) CreateReader(ctx source.ReaderContext) (source.Reader[int, source.SliceSplit], error) {
	return s.inner.CreateReader(ctx)
}

func TestPanicInSplitEnumeratorFailsTheJob(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, inInit := range []bool{true, false} {
		env := freshet.NewEnv(freshet.WithParallelism(2))
		freshet.Collect(freshet.FromSource[int, source.SliceSplit](env, panicEnumSource{inner: source.FromSlice(ints(10)), inInit: inInit}, "exploding"))
		err := env.Execute(context.Background(), "enumerator panics")
		if err == nil || !strings.Contains(err.Error(), "exploded") {
			t.Fatalf("inInit=%v: Execute = %v, want the enumerator's panic", inInit, err)
		}
	}
}

var errReaderBoom = errors.New("reader boom")

type failingReaderSource struct {
	inner source.Source[int, source.SliceSplit]
}

func (s failingReaderSource) Boundedness() source.Boundedness { return source.Bounded }
func (s failingReaderSource) CreateEnumerator(ctx source.EnumeratorContext[source.SliceSplit]) (source.Enumerator[source.SliceSplit], error) {
	return s.inner.CreateEnumerator(ctx)
}
func (s failingReaderSource) CreateReader(source.ReaderContext) (source.Reader[int, source.SliceSplit], error) {
	return nil, errReaderBoom
}

func TestJobErrorIsTheRootCause(t *testing.T) {
	for i := 0; i < 5; i++ {
		env := freshet.NewEnv(freshet.WithParallelism(2))
		freshet.Collect(freshet.FromSource[int, source.SliceSplit](env, failingReaderSource{source.FromSlice(ints(100))}, "src"))
		if err := env.Execute(context.Background(), "reader fails"); !errors.Is(err, errReaderBoom) {
			t.Fatalf("Execute = %v, want the reader's error", err)
		}
	}
}

func (s panicEnumSource) RestoreEnumerator(ctx source.EnumeratorContext[source.SliceSplit], _ []source.SliceSplit) (source.Enumerator[source.SliceSplit], error) {
	return s.CreateEnumerator(ctx)
}

func (s failingReaderSource) RestoreEnumerator(ctx source.EnumeratorContext[source.SliceSplit], _ []source.SliceSplit) (source.Enumerator[source.SliceSplit], error) {
	return s.CreateEnumerator(ctx)
}
