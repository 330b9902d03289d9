package task

import (
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
