package task

import (
	"errors"
	"strings"
	"testing"

	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
)

// oneInput is a one-input operator of ints that forwards everything.
type oneInput struct{ operator.Base[int] }

func (o *oneInput) ProcessElement(r operator.Record[int]) error { o.Out.Collect(r); return nil }

// TestChainChecksOperatorKind: an operator is called through the interface
// of its node's kind; one that lacks it fails the build, naming it, rather
// than having its inputs' watermarks silently dropped.
func TestChainChecksOperatorKind(t *testing.T) {
	n := &graph.Node{ID: 1, Name: "join", Kind: graph.KindTwoInput, Out: graph.TypeOf[int](),
		NewOperator: func() (operator.Operator, error) { return &oneInput{}, nil }}
	_, err := NewChain([]*graph.Node{n}, 0, 0, Ends{}, nil)
	if err == nil || !strings.Contains(err.Error(), `operator "join"`) || !strings.Contains(err.Error(), "does not implement operator.TwoInput") {
		t.Fatalf("NewChain = %v, want an error naming the operator and the missing interface", err)
	}
	n.Kind = graph.KindOneInput
	c, err := NewChain([]*graph.Node{n}, 0, 0, Ends{}, nil)
	if err != nil {
		t.Fatalf("NewChain = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// manualTimers is a processing-time service on a manual clock.
type manualTimers struct {
	now   int64
	queue TimerQueue
}

func (m *manualTimers) Now() int64                         { return m.now }
func (m *manualTimers) Schedule(ts int64, fn func() error) { m.queue.Add(ts, fn) }

// timerFailing schedules a processing-time callback at Open that fails.
type timerFailing struct{ oneInput }

func (o *timerFailing) Open(c *operator.Context) error {
	c.Timers.Schedule(10, func() error { return errors.New("timer failed") })
	return nil
}

// TestChainTimerFailureNamesItsOperator: a processing-time callback runs as
// a call of the operator that scheduled it, so its failure names that
// operator, not the chain's head.
func TestChainTimerFailureNamesItsOperator(t *testing.T) {
	head := &graph.Node{ID: 1, Name: "head", Kind: graph.KindOneInput, Out: graph.TypeOf[int](), MaxParallelism: 128,
		NewOperator: func() (operator.Operator, error) { return &oneInput{}, nil }}
	second := &graph.Node{ID: 2, Name: "second", Kind: graph.KindOneInput, Out: graph.TypeOf[int](), MaxParallelism: 128,
		NewOperator: func() (operator.Operator, error) { return &timerFailing{}, nil }}
	e := &graph.Edge{From: head, To: second, Input: 1}
	head.Outputs, second.Inputs = []*graph.Edge{e}, []*graph.Edge{e}
	c, err := NewChain([]*graph.Node{head, second}, 0, 0, Ends{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	timers := &manualTimers{}
	if err := c.Open(operator.Context{Parallelism: 1, Timers: timers}); err != nil {
		t.Fatal(err)
	}
	err = c.Call(func() error { return timers.queue.RunDue(10) })
	var oe *operator.Error
	if !errors.As(err, &oe) || oe.Operator != "second" || oe.Err.Error() != "timer failed" {
		t.Fatalf("Call = %v, want the timer's error in operator \"second\"", err)
	}
}
