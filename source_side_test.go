package freshet_test

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/window"
)

// negSource reads a slice of ints and emits the negative ones to side
// output "neg" as strings (or as sideValue, when set) instead of its stream.
type negSource struct {
	*source.Slice[int]
	sideValue any
	declare   reflect.Type
}

func (s negSource) SideOutputTypes() map[string]reflect.Type {
	if s.declare == nil {
		return nil
	}
	return map[string]reflect.Type{"neg": s.declare}
}

func (s negSource) CreateReader(ctx source.ReaderContext) (source.Reader[int, source.SliceSplit], error) {
	r, err := s.Slice.CreateReader(ctx)
	return negReader{r, s.sideValue}, err
}

type negReader struct {
	source.Reader[int, source.SliceSplit]
	sideValue any
}

func (r negReader) PollNext(out source.Output[int]) (source.InputStatus, error) {
	o := &negOutput{out: out, sideValue: r.sideValue}
	st, err := r.Reader.PollNext(o)
	if o.err != nil {
		return source.EndOfInput, o.err
	}
	return st, err
}

type negOutput struct {
	out       source.Output[int]
	sideValue any
	err       error
}

func (o *negOutput) Collect(v int) { o.CollectWithTimestamp(v, int64(v)) }

func (o *negOutput) CollectWithTimestamp(v int, _ int64) {
	if v >= 0 {
		o.out.CollectWithTimestamp(v, int64(v))
		return
	}
	var sv any = strconv.Itoa(v)
	if o.sideValue != nil {
		sv = o.sideValue
	}
	if err := source.EmitToSide(o.out, "neg", sv, int64(-v)); err != nil && o.err == nil {
		o.err = err
	}
}

// TestSourceSideOutput: a reader's values emitted to a side output reach
// freshet.SideOutput on the source's stream with their timestamps, and
// the end of input reaches them too (an event-time window fires).
func TestSourceSideOutput(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	vals := []int{1, -1, 2, -2, 3, -30, 4, -40}
	src := freshet.FromSource[int, source.SliceSplit](env, negSource{Slice: source.FromSlice(vals), declare: reflect.TypeFor[string]()}, "ints")
	main := freshet.Collect(src)
	neg := freshet.SideOutput(src, freshet.NewOutputTag[string]("neg"))
	negs := freshet.Collect(neg)
	// Windows of 10 ms on the negated values as event time: 1,2 | 30 | 40.
	counts := freshet.Collect(freshet.WindowProcess(freshet.WindowAll(neg, window.TumblingEventTime[string](10*time.Millisecond, 0)),
		freshet.ProcessWindowFunc(func(_ *freshet.WindowContext[struct{}, window.TimeWindow], vs []string, out freshet.Collector[string]) error {
			vs = slices.Clone(vs)
			slices.Sort(vs)
			out.Collect(strings.Join(vs, ","))
			return nil
		})))
	execute(t, env)
	gotMain := main.Values()
	slices.Sort(gotMain)
	if !slices.Equal(gotMain, []int{1, 2, 3, 4}) {
		t.Errorf("main output %v, want [1 2 3 4]", gotMain)
	}
	gotNeg := negs.Values()
	slices.Sort(gotNeg)
	if !slices.Equal(gotNeg, []string{"-1", "-2", "-30", "-40"}) {
		t.Errorf("side output %v", gotNeg)
	}
	gotCounts := counts.Values()
	slices.Sort(gotCounts)
	if !slices.Equal(gotCounts, []string{"-1,-2", "-30", "-40"}) {
		t.Errorf("windows over the side output %v", gotCounts)
	}
}

// TestSourceSideOutputTypes: reading a declared side output with another
// type is an invalid program; emitting a value of another type than the
// tag's fails the job with ErrOutputTagType.
func TestSourceSideOutputTypes(t *testing.T) {
	t.Run("declared", func(t *testing.T) {
		env := freshet.NewEnv()
		src := freshet.FromSource[int, source.SliceSplit](env, negSource{Slice: source.FromSlice([]int{-1}), declare: reflect.TypeFor[string]()}, "ints")
		freshet.Collect(freshet.SideOutput(src, freshet.NewOutputTag[int]("neg")))
		err := env.Execute(t.Context(), "bad")
		if !errors.Is(err, freshet.ErrInvalidProgram) || !strings.Contains(err.Error(), `side output "neg" carries string, read as int`) {
			t.Fatalf("Execute = %v, want ErrInvalidProgram naming both types", err)
		}
	})
	t.Run("emitted", func(t *testing.T) {
		env := freshet.NewEnv()
		src := freshet.FromSource[int, source.SliceSplit](env, negSource{Slice: source.FromSlice([]int{-1}), sideValue: 7}, "ints")
		freshet.Collect(freshet.SideOutput(src, freshet.NewOutputTag[string]("neg")))
		err := env.Execute(t.Context(), "bad")
		if !errors.Is(err, freshet.ErrOutputTagType) {
			t.Fatalf("Execute = %v, want ErrOutputTagType", err)
		}
	})
}
