// OnTimer with a process function's context hides NoTimers' OnTimer, so the
// function no longer satisfies KeyedProcessFunction and the program must not
// compile.
package main

import "github.com/freshet-io/freshet"

type alerts struct {
	freshet.NoTimers[string, string]
}

func (alerts) ProcessElement(ctx *freshet.KeyedContext[string], v int, out freshet.Collector[string]) error {
	return nil
}

func (alerts) OnTimer(ctx *freshet.Context, ts int64, out freshet.Collector[string]) error {
	return nil
}

func main() {
	env := freshet.NewEnv()
	k := freshet.KeyBy(freshet.FromElements(env, 1, 2), func(v int) string { return "k" })
	freshet.KeyedProcess(k, freshet.KeyedProcessFunction[int, string, string](alerts{})).Print()
}
