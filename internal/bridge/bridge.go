// Package bridge lets freshettest reach the operators behind the public
// API without widening it: the root package fills in Graph at init.
package bridge

import (
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/statebackend"
)

// Graph returns the nodes of the environment a stream (a *freshet.Stream[T],
// passed as any) belongs to, and the node that produces the stream.
var Graph func(stream any) (nodes []*graph.Node, node *graph.Node, ok bool)

// Plan validates the program of the environment a stream belongs to and
// builds its job graph, as Execute does, on a copy of its nodes.
var Plan func(stream any, name string) (*graph.JobGraph, error)

// StateBackend returns the backend configuration of a freshet.StateBackend
// (passed as any), or its error.
var StateBackend func(b any) (statebackend.Config, error)
