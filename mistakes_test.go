package freshet_test

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/freshettest"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

// goTool is the go command that runs the tests (go test puts it first on
// PATH).
func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to build testdata with: %v", err)
	}
	return p
}

// TestMistakesDoNotCompile builds small programs whose handlers have a
// slightly wrong signature: each must fail to compile, naming the method.
func TestMistakesDoNotCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds programs; run without -short")
	}
	for _, tc := range []struct{ dir, want string }{
		{"ontimer_no_error", "wrong type for method OnTimer"},
		{"ontimer_wrong_context", "wrong type for method OnTimer"},
		{"open_wrong_arg", "wrong type for method Open"},
		{"clear_wrong_window", "wrong type for method Clear"},
		{"txn_commit_no_error", "wrong type for method Commit"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			cmd := exec.Command(goTool(t), "vet", "./testdata/mistakes/"+tc.dir)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if err == nil {
				t.Fatalf("go vet passed; the program must not compile")
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Fatalf("go vet output does not say %q:\n%s", tc.want, out.String())
			}
		})
	}
}

// noTimerFn embeds NoTimers but sets a timer.
type noTimerFn struct {
	freshet.NoTimers[string, int]
}

func (noTimerFn) ProcessElement(ctx *freshet.KeyedContext[string], v int, out freshet.Collector[int]) error {
	ctx.TimerService().RegisterEventTimeTimer(100)
	out.Collect(v)
	return nil
}

func TestTimerInFunctionWithoutOnTimerFailsAtRegistration(t *testing.T) {
	for name, fn := range map[string]freshet.KeyedProcessFunction[int, string, int]{
		"embeds NoTimers": noTimerFn{},
		"KeyedProcessFunc": freshet.KeyedProcessFunc(func(ctx *freshet.KeyedContext[string], v int, out freshet.Collector[int]) error {
			ctx.TimerService().RegisterProcessingTimeTimer(100)
			return nil
		}),
	} {
		t.Run(name, func(t *testing.T) {
			env := freshet.NewEnv(freshet.WithParallelism(2))
			k := freshet.KeyBy(freshet.FromElements(env, 1, 2, 3), func(v int) string { return fmt.Sprint(v) })
			freshet.Collect(freshet.KeyedProcess(k, fn).Name("no timers"))
			err := env.Execute(t.Context(), t.Name())
			var oe *freshet.OperatorError
			if !errors.Is(err, freshet.ErrNoTimerHandler) || !errors.As(err, &oe) || oe.Operator != "no timers" {
				t.Fatalf("Execute = %v, want ErrNoTimerHandler in operator \"no timers\"", err)
			}
		})
	}
	t.Run("harness", func(t *testing.T) {
		h, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.KeyedProcess(freshet.KeyBy(in, func(v int) string { return "k" }), freshet.KeyedProcessFunction[int, string, int](noTimerFn{}))
		})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if err := h.Process(1); !errors.Is(err, freshet.ErrNoTimerHandler) {
			t.Fatalf("Process = %v, want ErrNoTimerHandler", err)
		}
		if got := h.Values(); len(got) != 1 || got[0] != 1 {
			t.Fatalf("values %v: the element's own output is kept, the failure reported after the call", got)
		}
	})
}

// swallowing recovers every panic of what it calls, as some user code does.
type swallowing struct{ freshet.BaseFunction }

func (swallowing) ProcessElement(_ *freshet.Context, v int, out freshet.Collector[int]) error {
	defer func() { _ = recover() }()
	out.Collect(v)
	return nil
}

var errDownstream = errors.New("downstream refuses 3")

// TestRecoverCannotSwallowFailures: a failure of a downstream operator
// reaches the job even when the upstream function recovers panics.
func TestRecoverCannotSwallowFailures(t *testing.T) {
	env := freshet.NewEnv()
	up := freshet.Process(freshet.FromElements(env, 1, 2, 3, 4), freshet.ProcessFunction[int, int](swallowing{})).Name("swallowing")
	down := freshet.Process(up, freshet.ProcessFunc(func(_ *freshet.Context, v int, out freshet.Collector[int]) error {
		if v == 3 {
			return errDownstream
		}
		out.Collect(v)
		return nil
	})).Name("refusing")
	freshet.Collect(down)
	err := env.Execute(t.Context(), t.Name())
	var oe *freshet.OperatorError
	if !errors.Is(err, errDownstream) || !errors.As(err, &oe) || oe.Operator != "refusing" {
		t.Fatalf("Execute = %v, want errDownstream from operator \"refusing\"", err)
	}
}

func TestOperatorErrorIsOneLine(t *testing.T) {
	env := freshet.NewEnv()
	freshet.Collect(freshet.Map(freshet.FromElements(env, 1), func(int) int { panic("boom") }).Name("exploding"))
	err := env.Execute(t.Context(), t.Name())
	var oe *freshet.OperatorError
	if !errors.As(err, &oe) {
		t.Fatalf("Execute = %v, want an OperatorError", err)
	}
	if want := `operator "exploding" (subtask 0, attempt 0): panic: boom`; oe.Error() != want {
		t.Fatalf("Error() = %q, want %q", oe.Error(), want)
	}
	if !strings.Contains(oe.Stack, "mistakes_test.go") {
		t.Fatalf("Stack does not show the panicking function:\n%s", oe.Stack)
	}
	full := fmt.Sprintf("%+v", oe)
	if !strings.HasPrefix(full, oe.Error()+"\n") || !strings.Contains(full, oe.Stack) {
		t.Fatalf("%%+v = %q, want the line then the stack", full)
	}
	if s := fmt.Sprintf("%v", oe); s != oe.Error() {
		t.Fatalf("%%v = %q, want Error()", s)
	}
}

// TestHarnessValidatesLikeExecute: an invalid assigner, trigger, evictor
// or watermark strategy fails when the harness is made, with the error
// Execute gives.
func TestHarnessValidatesLikeExecute(t *testing.T) {
	keyed := func(in *freshet.Stream[int]) *freshet.KeyedStream[int, int] {
		return freshet.KeyBy(in, func(v int) int { return v })
	}
	sum := func(a, b int) int { return a + b }
	tumbling := window.TumblingEventTime[int](time.Second, 0)
	for name, build := range map[string]func(in *freshet.Stream[int]) *freshet.Stream[int]{
		"assigner": func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.WindowReduce(freshet.Window(keyed(in), window.TumblingEventTime[int](0, 0)), sum)
		},
		"trigger": func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.WindowReduce(freshet.Window(keyed(in), tumbling).Trigger(window.ContinuousEventTimeTrigger[int, window.TimeWindow](0)), sum)
		},
		"evictor": func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.WindowReduce(freshet.Window(keyed(in), tumbling).Evictor(window.DeltaEvictor[int, window.TimeWindow](1, nil, false)), sum)
		},
		"strategy": func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.AssignTimestampsAndWatermarks(in, watermark.ForBoundedOutOfOrderness[int](-time.Second))
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, herr := freshettest.New(build)
			if !errors.Is(herr, freshet.ErrInvalidProgram) {
				t.Fatalf("freshettest.New = %v, want ErrInvalidProgram", herr)
			}
			env := freshet.NewEnv()
			freshet.Collect(build(freshet.FromElements(env, 1)))
			if xerr := env.Execute(t.Context(), t.Name()); xerr == nil || xerr.Error() != herr.Error() {
				t.Fatalf("Execute = %v\nharness = %v\nwant the same error", xerr, herr)
			}
		})
	}
}

// TestHarnessDefaultMaxParallelism: with no max parallelism set, the
// harness derives it from the parallelism as a job does (Flink's rule).
func TestHarnessDefaultMaxParallelism(t *testing.T) {
	for _, tc := range []struct{ parallelism, want int }{{1, 128}, {100, 256}, {200, 512}} {
		var got int
		h, err := freshettest.New(func(in *freshet.Stream[int]) *freshet.Stream[int] {
			return freshet.Process(in, freshet.ProcessFunc(func(ctx *freshet.Context, v int, out freshet.Collector[int]) error {
				got = ctx.Runtime().MaxParallelism()
				return nil
			}))
		}, freshettest.WithSubtask(0, tc.parallelism))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Process(1); err != nil {
			t.Fatal(err)
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("parallelism %d: max parallelism %d, want %d", tc.parallelism, got, tc.want)
		}
	}
}

// unencodable cannot be encoded once N is negative.
type unencodable struct{ N int }

var errUnencodable = errors.New("negative values have no encoding")

func (u unencodable) MarshalBinary() ([]byte, error) {
	if u.N < 0 {
		return nil, errUnencodable
	}
	return []byte{byte(u.N)}, nil
}

func (u *unencodable) UnmarshalBinary(b []byte) error {
	u.N = int(b[0])
	return nil
}

// TestEncodingFailureIsNotSwallowed: a value the exchange cannot encode
// fails the job with the codec's error, even when the function that emitted
// it recovers panics.
func TestEncodingFailureIsNotSwallowed(t *testing.T) {
	env := freshet.NewEnv(freshet.WithForcedSerialization(), freshet.WithParallelism(2))
	vs := freshet.Process(freshet.FromElements(env, 1, 2, -3, 4), freshet.ProcessFunc(func(_ *freshet.Context, v int, out freshet.Collector[unencodable]) error {
		defer func() { _ = recover() }()
		out.Collect(unencodable{N: v})
		return nil
	}))
	freshet.Collect(vs.Rebalance())
	err := env.Execute(t.Context(), t.Name())
	var ee *codec.EncodeError
	if !errors.Is(err, errUnencodable) || !errors.As(err, &ee) {
		t.Fatalf("Execute = %v, want the codec's EncodeError wrapping errUnencodable", err)
	}
}
