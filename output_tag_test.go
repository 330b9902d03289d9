package freshet_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/window"
)

func TestNewOutputTagPanicsOnAnEmptyID(t *testing.T) {
	defer func() {
		r := recover()
		msg, _ := r.(string)
		if !strings.Contains(msg, "NewOutputTag") || !strings.Contains(msg, "must not be empty") {
			t.Fatalf("recovered %v, want a panic naming NewOutputTag and the empty id", r)
		}
	}()
	freshet.NewOutputTag[int]("")
	t.Fatal("NewOutputTag did not panic")
}

func TestOutputTagID(t *testing.T) {
	if id := freshet.NewOutputTag[int]("odd").ID(); id != "odd" {
		t.Errorf("ID() = %q", id)
	}
	if id := (freshet.OutputTag[int]{}).ID(); id != "" {
		t.Errorf("zero tag ID() = %q", id)
	}
}

// emitAt3 is a process function that emits v to tag when v is 3 and
// passes every value on.
func emitAt3[X any](tag freshet.OutputTag[X], x X) freshet.ProcessFunction[int, int] {
	return freshet.ProcessFunc(func(ctx *freshet.Context, v int, out freshet.Collector[int]) error {
		if v == 3 {
			freshet.Output(ctx, tag, x)
		}
		out.Collect(v)
		return nil
	})
}

// wantOperatorFailure checks that err is an OperatorError of operator op
// wrapping sentinel and mentioning every one of words.
func wantOperatorFailure(t *testing.T, err, sentinel error, op string, words ...string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want %v", err, sentinel)
	}
	var oe *freshet.OperatorError
	if !errors.As(err, &oe) || oe.Operator != op {
		t.Fatalf("error %v, want an OperatorError of operator %q", err, op)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %s", err, w)
		}
	}
}

func TestOutputToTheZeroTagFailsTheJob(t *testing.T) {
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprintf("p=%d", p), func(t *testing.T) {
			env := freshet.NewEnv(freshet.WithParallelism(p))
			s := freshet.Process(freshet.FromSlice(env, ints(10)), emitAt3(freshet.OutputTag[string]{}, "x")).Name("tagger")
			freshet.Collect(s)
			err := env.Execute(context.Background(), "zero tag")
			wantOperatorFailure(t, err, freshet.ErrZeroOutputTag, "tagger", `operator "tagger"`, "zero OutputTag")
		})
	}
}

func TestOutputOfTheWrongTypeForItsTagFailsTheJob(t *testing.T) {
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprintf("p=%d", p), func(t *testing.T) {
			env := freshet.NewEnv(freshet.WithParallelism(p))
			s := freshet.Process(freshet.FromSlice(env, ints(10)), emitAt3(freshet.NewOutputTag[string]("x"), "three")).Name("tagger")
			freshet.Collect(s)
			freshet.Collect(freshet.SideOutput(s, freshet.NewOutputTag[int]("x")))
			err := env.Execute(context.Background(), "wrong tag type")
			wantOperatorFailure(t, err, freshet.ErrOutputTagType, "tagger", `operator "tagger"`, `"x"`, "emitting string", "carries int")
		})
	}
}

func TestKeyedOutputOfTheWrongTypeForItsTagFailsTheJob(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	keyed := freshet.KeyBy(freshet.FromSlice(env, ints(20)), func(v int) int { return v % 4 })
	s := freshet.KeyedProcess(keyed, freshet.KeyedProcessFunc(func(ctx *freshet.KeyedContext[int], v int, out freshet.Collector[int]) error {
		if v == 13 {
			freshet.Output(ctx, freshet.NewOutputTag[float64]("big"), 13.0)
		}
		out.Collect(v)
		return nil
	})).Name("keyed tagger")
	freshet.Collect(s)
	freshet.Collect(freshet.SideOutput(s, freshet.NewOutputTag[int]("big")))
	err := env.Execute(context.Background(), "keyed wrong tag type")
	wantOperatorFailure(t, err, freshet.ErrOutputTagType, "keyed tagger", `"big"`, "emitting float64", "carries int")
}

// A tag id is one type per operator, as in Flink: other operators may use
// the same id with other types, and a tag no one reads takes any type.
func TestOneTagIDWithDifferentTypesOnDifferentOperators(t *testing.T) {
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprintf("p=%d", p), func(t *testing.T) {
			env := freshet.NewEnv(freshet.WithParallelism(p))
			first := freshet.Process(freshet.FromSlice(env, ints(10)), emitAt3(freshet.NewOutputTag[string]("x"), "three")).Name("first")
			second := freshet.Process(first, emitAt3(freshet.NewOutputTag[int]("x"), 300)).Name("second")
			unread := freshet.Process(second, emitAt3(freshet.NewOutputTag[bool]("x"), true)).Name("unread")
			main := freshet.Collect(unread)
			strs := freshet.Collect(freshet.SideOutput(first, freshet.NewOutputTag[string]("x")))
			nums := freshet.Collect(freshet.SideOutput(second, freshet.NewOutputTag[int]("x")))
			execute(t, env)
			if got := sorted(main.Values()); !slices.Equal(got, ints(10)) {
				t.Errorf("main output %v", got)
			}
			if got := strs.Values(); !slices.Equal(got, []string{"three"}) {
				t.Errorf("first's side output %v", got)
			}
			if got := nums.Values(); !slices.Equal(got, []int{300}) {
				t.Errorf("second's side output %v", got)
			}
		})
	}
}

func TestReadingSideOutputsIsCheckedWhenTheJobIsBuilt(t *testing.T) {
	cases := []struct {
		name  string
		build func(s *freshet.Stream[int])
		is    []error
		want  []string
	}{
		{"one operator's tag id read with two types", func(s *freshet.Stream[int]) {
			freshet.Collect(freshet.SideOutput(s, freshet.NewOutputTag[int]("x")))
			freshet.Collect(freshet.SideOutput(s, freshet.NewOutputTag[string]("x")))
		}, []error{freshet.ErrInvalidProgram}, []string{`operator "tagger"`, `"x"`, "int", "string"}},
		{"the zero tag", func(s *freshet.Stream[int]) {
			freshet.Collect(freshet.SideOutput(s, freshet.OutputTag[int]{}))
		}, []error{freshet.ErrInvalidProgram, freshet.ErrZeroOutputTag}, []string{`operator "tagger"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := freshet.NewEnv()
			started := false
			s := freshet.Process(observed(env, &started), emitAt3(freshet.NewOutputTag[int]("x"), 3)).Name("tagger")
			freshet.Collect(s)
			c.build(s)
			err := env.Execute(context.Background(), "bad tags")
			for _, is := range c.is {
				if !errors.Is(err, is) {
					t.Errorf("error %v, want %v", err, is)
				}
			}
			for _, w := range c.want {
				if err != nil && !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if started {
				t.Error("a task started before the program was found invalid")
			}
		})
	}
}

var oddTag = freshet.NewOutputTag[int]("odd")

func TestHarnessOutputTagFailures(t *testing.T) {
	t.Run("zero tag", func(t *testing.T) {
		h, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.Process(in, emitAt3(freshet.OutputTag[int]{}, 3)).Name("tagger")
		})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		check(t, h.Process(1))
		wantOperatorFailure(t, h.Process(3), freshet.ErrZeroOutputTag, "tagger")
	})
	t.Run("captured as another type", func(t *testing.T) {
		h, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.Process(in, emitAt3(freshet.NewOutputTag[string]("odd"), "three")).Name("tagger")
		}, freshettest.CaptureSideOutput(oddTag))
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		check(t, h.Process(1))
		wantOperatorFailure(t, h.Process(3), freshet.ErrOutputTagType, "tagger", `"odd"`, "emitting string", "carries int")
		if side := freshettest.SideOutput(h, oddTag); len(side) != 0 {
			t.Errorf("side output %v, want nothing", side)
		}
	})
	t.Run("captured with the right type", func(t *testing.T) {
		h, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.Process(in, emitAt3(oddTag, 33)).Name("tagger")
		}, freshettest.CaptureSideOutput(oddTag))
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		check(t, h.ProcessAt(3, 70))
		want := []freshettest.Record[int]{{Value: 33, Timestamp: 70, HasTimestamp: true}}
		if side := freshettest.SideOutput(h, oddTag); !slices.Equal(side, want) {
			t.Errorf("side output %v, want %v", side, want)
		}
	})
	t.Run("capturing the zero tag", func(t *testing.T) {
		_, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.Process(in, emitAt3(oddTag, 3))
		}, freshettest.CaptureSideOutput(freshet.OutputTag[int]{}))
		if !errors.Is(err, freshet.ErrZeroOutputTag) {
			t.Fatalf("New = %v, want ErrZeroOutputTag", err)
		}
	})
	t.Run("capturing a late-data tag as another type", func(t *testing.T) {
		late := freshet.NewOutputTag[int]("late")
		_, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
			w := freshet.WindowAll(in, window.TumblingEventTime[int](10*time.Millisecond, 0)).SideOutputLateData(late)
			return freshet.WindowReduce(w, func(a, b int) int { return a + b }).Name("sums")
		}, freshettest.CaptureSideOutput(freshet.NewOutputTag[string]("late")))
		if !errors.Is(err, freshet.ErrOutputTagType) || !strings.Contains(err.Error(), `"sums"`) {
			t.Fatalf("New = %v, want ErrOutputTagType naming the operator", err)
		}
	})
}

// TestZeroLateDataTagIsAnInvalidProgram: late data sent to the zero tag
// would vanish; the program is refused when it is built, as Flink refuses a
// null tag.
func TestZeroLateDataTagIsAnInvalidProgram(t *testing.T) {
	var zero freshet.OutputTag[int]
	for name, build := range map[string]func(env *freshet.Env){
		"window": func(env *freshet.Env) {
			w := freshet.Window(freshet.KeyBy(freshet.FromElements(env, 1), func(v int) int { return v }), window.TumblingEventTime[int](time.Second, 0))
			freshet.Collect(freshet.WindowReduce(w.SideOutputLateData(zero), func(a, b int) int { return a + b }))
		},
		"interval join": func(env *freshet.Env) {
			k := freshet.KeyBy(freshet.FromElements(env, 1), func(v int) int { return v })
			j := freshet.IntervalJoin(k, k).Between(0, time.Second).SideOutputRightLateData(zero)
			freshet.Collect(freshet.IntervalJoinApply(j, func(a, b int) int { return a + b }))
		},
	} {
		t.Run(name, func(t *testing.T) {
			env := freshet.NewEnv()
			build(env)
			err := env.Execute(t.Context(), t.Name())
			if !errors.Is(err, freshet.ErrInvalidProgram) || !errors.Is(err, freshet.ErrZeroOutputTag) {
				t.Fatalf("Execute = %v, want ErrInvalidProgram wrapping ErrZeroOutputTag", err)
			}
		})
	}
}
