package freshet_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/internal/operator"
)

func TestInvalidProgramsFailBeforeAnyTaskStarts(t *testing.T) {
	cases := []struct {
		name  string
		build func(env *freshet.Env, started *bool)
		want  []string
	}{
		{"parallelism below one", func(env *freshet.Env, started *bool) {
			s := freshet.Map(observed(env, started), double).Name("doubler").SetParallelism(0)
			freshet.Collect(s)
		}, []string{`"doubler"`, "parallelism", "at least 1"}},
		{"max parallelism below parallelism", func(env *freshet.Env, started *bool) {
			s := freshet.Map(observed(env, started), double).Name("doubler").SetParallelism(8).SetMaxParallelism(4)
			freshet.Collect(s)
		}, []string{`"doubler"`, "max parallelism 4 is below its parallelism 8"}},
		{"max parallelism too large", func(env *freshet.Env, started *bool) {
			s := freshet.Map(observed(env, started), double).Name("doubler").SetMaxParallelism(40000)
			freshet.Collect(s)
		}, []string{`"doubler"`, "max parallelism", "32768"}},
		{"duplicate uid", func(env *freshet.Env, started *bool) {
			a := freshet.Map(observed(env, started), double).Name("first").UID("same")
			b := freshet.Map(a, double).Name("second").UID("same")
			freshet.Collect(b)
		}, []string{`"second"`, `UID "same"`, `"first"`}},
		{"dangling stream", func(env *freshet.Env, started *bool) {
			src := observed(env, started)
			freshet.Map(src, double).Name("forgotten")
			freshet.Collect(src)
		}, []string{`"forgotten"`, "never used"}},
		{"no sink", func(env *freshet.Env, started *bool) {
			freshet.Map(observed(env, started), double)
		}, []string{"never used"}},
		{"forward with parallelism change", func(env *freshet.Env, started *bool) {
			s := freshet.Map(observed(env, started).Forward(), double).Name("wide").SetParallelism(3)
			freshet.Collect(s)
		}, []string{`"wide"`, "forward partitioning"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := freshet.NewEnv(freshet.WithParallelism(2))
			started := false
			c.build(env, &started)
			err := env.Execute(context.Background(), "bad")
			if !errors.Is(err, freshet.ErrInvalidProgram) {
				t.Fatalf("Execute = %v, want ErrInvalidProgram", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if started {
				t.Error("a task started before validation failed")
			}
		})
	}
}

func TestEmptyJob(t *testing.T) {
	err := freshet.NewEnv().Execute(context.Background(), "empty")
	if !errors.Is(err, freshet.ErrInvalidProgram) || !strings.Contains(err.Error(), "no operators") {
		t.Fatalf("Execute = %v, want empty-job error", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, opt := range []freshet.Option{
		freshet.WithParallelism(0), freshet.WithMaxParallelism(40000), freshet.WithBatchSize(0), freshet.WithChannelCapacity(0),
	} {
		env := freshet.NewEnv(opt)
		freshet.Collect(freshet.FromElements(env, 1))
		if err := env.Execute(context.Background(), "bad options"); !errors.Is(err, freshet.ErrInvalidConfig) {
			t.Errorf("Execute = %v, want ErrInvalidConfig", err)
		}
	}
}

func double(v int) int { return 2 * v }

// observed is a slice source whose use of the runtime is observed: started
// becomes true if any function of the job runs.
func observed(env *freshet.Env, started *bool) *freshet.Stream[int] {
	return freshet.Map(freshet.FromSlice(env, ints(10)), func(v int) int { *started = true; return v })
}

type exploding struct {
	freshet.BaseFunction
	at int
}

func (e exploding) ProcessElement(ctx *freshet.Context, v int, out freshet.Collector[int]) error {
	if v == e.at {
		var m map[string]int
		m["boom"]++ // a nil map write: a real runtime panic
	}
	out.Collect(v)
	return nil
}

func TestPanicInUserCodeFailsTheJob(t *testing.T) {
	defer goleak.VerifyNone(t)
	env := freshet.NewEnv(freshet.WithParallelism(2))
	s := freshet.Process(freshet.FromSlice(env, ints(100)), freshet.ProcessFunction[int, int](exploding{at: 77})).Name("exploder")
	freshet.Collect(s)
	err := env.Execute(context.Background(), "panics")
	var oe *operator.Error
	if !errors.As(err, &oe) {
		t.Fatalf("Execute = %v, want an operator error", err)
	}
	if oe.Operator != "exploder" || oe.Subtask != 1 {
		t.Errorf("error names operator %q subtask %d, want exploder subtask 1", oe.Operator, oe.Subtask)
	}
	if !strings.Contains(oe.Stack, "ProcessElement") {
		t.Errorf("stack does not show the user function:\n%s", oe.Stack)
	}
	if !strings.Contains(err.Error(), "assignment to entry in nil map") {
		t.Errorf("error %q does not carry the panic", err)
	}
}

type failing struct{ freshet.BaseFunction }

func (failing) ProcessElement(ctx *freshet.Context, v int, out freshet.Collector[int]) error {
	if v == 3 {
		return errors.New("bad record 3")
	}
	return nil
}

func TestErrorFromUserFunctionFailsTheJob(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(1))
	freshet.Collect(freshet.Process(freshet.FromSlice(env, ints(10)), freshet.ProcessFunction[int, int](failing{})).Name("validator"))
	err := env.Execute(context.Background(), "fails")
	if err == nil || !strings.Contains(err.Error(), "bad record 3") || !strings.Contains(err.Error(), "validator") {
		t.Fatalf("Execute = %v, want error naming validator and the cause", err)
	}
}

func TestEnvMaxParallelismBelowParallelismFails(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(4), freshet.WithMaxParallelism(2))
	freshet.Collect(freshet.Map(freshet.FromSlice(env, ints(10)), double).Name("doubler"))
	err := env.Execute(context.Background(), "max below parallelism")
	if !errors.Is(err, freshet.ErrInvalidProgram) || !strings.Contains(err.Error(), "max parallelism 2 is below its parallelism 4") {
		t.Fatalf("Execute = %v", err)
	}
}

func TestExecuteSameEnvTwiceConcurrently(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	got := freshet.Collect(freshet.Map(freshet.FromSlice(env, ints(1000)), double))
	c1, err1 := env.ExecuteAsync(context.Background(), "one")
	c2, err2 := env.ExecuteAsync(context.Background(), "two")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if c1.Wait() != nil || c2.Wait() != nil || got.Len() != 2000 {
		t.Fatalf("two runs collected %d values, want 2000", got.Len())
	}
}
