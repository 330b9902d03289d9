// OnTimer without its error result: it hides nothing and the function does
// not satisfy KeyedProcessFunction, so the program must not compile.
package main

import "github.com/freshet-io/freshet"

type alerts struct{ freshet.BaseFunction }

func (alerts) ProcessElement(ctx *freshet.KeyedContext[string], v int, out freshet.Collector[string]) error {
	ctx.TimerService().RegisterEventTimeTimer(10)
	return nil
}

func (alerts) OnTimer(ctx *freshet.KeyedContext[string], ts int64, out freshet.Collector[string]) {}

func main() {
	env := freshet.NewEnv()
	k := freshet.KeyBy(freshet.FromElements(env, 1, 2), func(v int) string { return "k" })
	freshet.KeyedProcess(k, freshet.KeyedProcessFunction[int, string, string](alerts{})).Print()
}
