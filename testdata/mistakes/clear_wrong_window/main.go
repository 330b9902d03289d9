// Clear for another window type hides BaseWindowFunction's Clear, so the
// function is not a ProcessWindowFunction of time windows and the program
// must not compile.
package main

import (
	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/window"
)

type count struct {
	freshet.BaseWindowFunction[string, window.TimeWindow]
}

func (count) Process(ctx *freshet.WindowContext[string, window.TimeWindow], vs []int, out freshet.Collector[int]) error {
	out.Collect(len(vs))
	return nil
}

func (count) Clear(ctx *freshet.WindowContext[string, window.GlobalWindow]) error { return nil }

var _ freshet.ProcessWindowFunction[int, string, window.TimeWindow, int] = count{}

func main() {}
