// Open taking a context.Context instead of a *freshet.RuntimeContext hides
// BaseFunction's Open, so the function is not a ProcessFunction and the
// program must not compile.
package main

import (
	"context"

	"github.com/freshet-io/freshet"
)

type enrich struct{ freshet.BaseFunction }

func (enrich) Open(ctx context.Context) error { return nil }

func (enrich) ProcessElement(ctx *freshet.Context, v int, out freshet.Collector[int]) error {
	out.Collect(v)
	return nil
}

func main() {
	env := freshet.NewEnv()
	freshet.Process(freshet.FromElements(env, 1, 2), freshet.ProcessFunction[int, int](enrich{})).Print()
}
