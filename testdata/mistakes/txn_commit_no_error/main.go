// A transactional writer whose Commit returns nothing is not a
// sink.TransactionalWriter, so the two-phase-commit sink must not compile.
package main

import (
	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/sink"
)

type txns struct{}

func (txns) BeginTransaction() (*[]int, error)           { return new([]int), nil }
func (txns) Write(t *[]int, v int, _ sink.Context) error { *t = append(*t, v); return nil }
func (txns) PreCommit(*[]int) error                      { return nil }
func (txns) Commit(*[]int)                               {}
func (txns) Abort(*[]int) error                          { return nil }
func (txns) Close() error                                { return nil }

func main() {
	env := freshet.NewEnv()
	freshet.SinkTo(freshet.FromElements(env, 1, 2), &sink.TwoPhaseCommit[int, *[]int]{
		NewWriter: func(sink.InitContext) (sink.TransactionalWriter[int, *[]int], error) { return txns{}, nil },
	}, "txn")
}
