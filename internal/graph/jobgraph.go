package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/keygroup"
)

// ErrInvalidProgram is wrapped by every error about a malformed program.
var ErrInvalidProgram = errors.New("freshet: invalid program")

// Config is the part of the environment's configuration the plan needs.
type Config struct {
	Parallelism    int
	MaxParallelism int
	Chaining       bool
}

// JobGraph is the plan of a job: vertices (chains of nodes) and the edges
// between them.
type JobGraph struct {
	Name     string
	Nodes    []*Node // in creation order, which is topological
	Vertices []*Vertex
}

// Vertex is a chain of nodes run together by one subtask goroutine.
type Vertex struct {
	ID               int
	Nodes            []*Node // head first, in topological order
	Parallelism      int
	MaxParallelism   int
	SlotSharingGroup string
	Inputs           []*JobEdge // edges into the head
	Outputs          []*JobEdge
}

// Head is the first node of the chain.
func (v *Vertex) Head() *Node { return v.Nodes[0] }

// Name joins the names of the chained nodes as Flink does.
func (v *Vertex) Name() string {
	names := make([]string, len(v.Nodes))
	for i, n := range v.Nodes {
		names[i] = n.Name
	}
	return strings.Join(names, " -> ")
}

// JobEdge is an edge between two vertices.
type JobEdge struct {
	Edge   *Edge
	Source *Vertex
	Target *Vertex
	index  int // position among Target.Inputs
}

// Pointwise reports whether the edge connects subtasks pointwise.
func (e *JobEdge) Pointwise() bool { return e.Edge.Part.Kind.Pointwise() }

// Targets returns the downstream subtasks upstream subtask i sends to.
func (e *JobEdge) Targets(i int) []int {
	if e.Pointwise() {
		return exchange.Pointwise(e.Source.Parallelism, e.Target.Parallelism, i)
	}
	out := make([]int, e.Target.Parallelism)
	for j := range out {
		out[j] = j
	}
	return out
}

// Sources returns the upstream subtasks downstream subtask j reads.
func (e *JobEdge) Sources(j int) []int {
	if e.Pointwise() {
		return exchange.PointwiseSources(e.Source.Parallelism, e.Target.Parallelism, j)
	}
	out := make([]int, e.Source.Parallelism)
	for i := range out {
		out[i] = i
	}
	return out
}

// Channel returns the index, in the input gate of downstream subtask j, of the
// channel from upstream subtask i over e.
func (e *JobEdge) Channel(i, j int) int {
	off := 0
	for _, in := range e.Target.Inputs[:e.index] {
		off += len(in.Sources(j))
	}
	for k, s := range e.Sources(j) {
		if s == i {
			return off + k
		}
	}
	return -1
}

// GateChannels returns, for subtask j of v, the input edge and upstream
// subtask of each gate channel, in channel order.
func (v *Vertex) GateChannels(j int) []ChannelSource {
	var out []ChannelSource
	for _, in := range v.Inputs {
		for _, s := range in.Sources(j) {
			out = append(out, ChannelSource{Edge: in, Subtask: s})
		}
	}
	return out
}

// ChannelSource is where one gate channel's data comes from.
type ChannelSource struct {
	Edge    *JobEdge
	Subtask int
}

// Clone copies nodes and their input edges, so a build can fill in
// defaults without changing the program. Operator factories and other
// read-only parts are shared.
func Clone(nodes []*Node) []*Node {
	clone := make(map[*Node]*Node, len(nodes))
	out := make([]*Node, len(nodes))
	for i, n := range nodes {
		c := *n
		c.Outputs = nil
		clone[n] = &c
		out[i] = &c
	}
	for _, c := range out {
		ins := make([]*Edge, len(c.Inputs))
		for i, e := range c.Inputs {
			ce := *e
			if from, ok := clone[e.From]; ok {
				ce.From = from
			}
			ce.To = c
			ins[i] = &ce
		}
		c.Inputs = ins
	}
	return out
}

// Build validates the program and builds its job graph.
func Build(name string, nodes []*Node, cfg Config) (*JobGraph, error) {
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: the job %q has no operators; add a source and a sink", ErrInvalidProgram, name)
	}
	if err := resolve(nodes, cfg); err != nil {
		return nil, err
	}
	g := &JobGraph{Name: name, Nodes: nodes}
	for _, n := range nodes {
		n.Outputs = n.Outputs[:0]
	}
	for _, n := range nodes {
		for _, e := range n.Inputs {
			e.To = n
			e.From.Outputs = append(e.From.Outputs, e)
		}
	}
	vertexOf := map[*Node]*Vertex{}
	for _, n := range nodes {
		if len(n.Inputs) == 1 && chainable(n.Inputs[0], cfg) {
			v := vertexOf[n.Inputs[0].From]
			v.Nodes = append(v.Nodes, n)
			vertexOf[n] = v
			continue
		}
		v := &Vertex{ID: len(g.Vertices) + 1, Nodes: []*Node{n}, Parallelism: n.Parallelism, MaxParallelism: n.MaxParallelism, SlotSharingGroup: n.SlotSharingGroup}
		g.Vertices = append(g.Vertices, v)
		vertexOf[n] = v
		for _, e := range n.Inputs {
			src := vertexOf[e.From]
			je := &JobEdge{Edge: e, Source: src, Target: v, index: len(v.Inputs)}
			v.Inputs = append(v.Inputs, je)
			src.Outputs = append(src.Outputs, je)
		}
	}
	return g, nil
}

func chainable(e *Edge, cfg Config) bool {
	up, down := e.From, e.To
	return cfg.Chaining &&
		e.Part.Kind == PartitionForward &&
		up.Parallelism == down.Parallelism &&
		up.Chaining != ChainNever &&
		down.Chaining == ChainAlways &&
		up.SlotSharingGroup == down.SlotSharingGroup &&
		down.Kind != KindTwoInput
}

// resolve fills in defaults and checks the rules every program must keep.
func resolve(nodes []*Node, cfg Config) error {
	uids := map[string]*Node{}
	sinks := 0
	consumed := map[*Node]bool{}
	for _, n := range nodes {
		for _, e := range n.Inputs {
			consumed[e.From] = true
		}
	}
	for _, n := range nodes {
		if n.Kind == KindSink {
			sinks++
		}
		if n.Parallelism < 0 || (n.Parallelism == 0 && cfg.Parallelism < 1) {
			return nodeErr(n, "parallelism must be at least 1, got %d", n.Parallelism)
		}
		if n.Parallelism == 0 {
			n.Parallelism = cfg.Parallelism
			if n.NonParallel {
				n.Parallelism = 1
			}
		}
		if n.NonParallel && n.Parallelism != 1 {
			return nodeErr(n, "is not parallel; its parallelism must be 1, got %d", n.Parallelism)
		}
		n.MaxParallelismSet = n.MaxParallelism != 0 || cfg.MaxParallelism != 0
		if n.MaxParallelism == 0 {
			n.MaxParallelism = cfg.MaxParallelism
			if n.MaxParallelism == 0 {
				n.MaxParallelism = keygroup.DefaultMaxParallelismFor(n.Parallelism)
			}
		}
		if n.MaxParallelism < 1 || n.MaxParallelism > keygroup.UpperBoundMaxParallelism {
			return nodeErr(n, "max parallelism must be between 1 and %d, got %d", keygroup.UpperBoundMaxParallelism, n.MaxParallelism)
		}
		if n.MaxParallelism < n.Parallelism {
			return nodeErr(n, "max parallelism %d is below its parallelism %d", n.MaxParallelism, n.Parallelism)
		}
		if n.UID != "" {
			if other, ok := uids[n.UID]; ok {
				return nodeErr(n, "UID %q is already used by operator %q; UIDs must be unique", n.UID, other.Name)
			}
			uids[n.UID] = n
		}
		if n.Validate != nil {
			if err := n.Validate(); err != nil {
				return fmt.Errorf("%w: operator %q (%d): %w", ErrInvalidProgram, n.Name, n.ID, err)
			}
		}
		if n.Kind != KindSink && !consumed[n] {
			return nodeErr(n, "its output is never used: connect it to a sink or remove it")
		}
		for _, e := range n.Inputs {
			if e.Part.Kind == PartitionDefault {
				e.Part.Kind = PartitionRebalance
				if e.From.Parallelism == n.Parallelism {
					e.Part.Kind = PartitionForward
				}
			}
			if e.Part.Kind == PartitionForward && e.From.Parallelism != n.Parallelism {
				return nodeErr(n, "forward partitioning does not allow a change of parallelism (upstream %q has %d, this operator %d); use Rebalance or Rescale",
					e.From.Name, e.From.Parallelism, n.Parallelism)
			}
		}
	}
	if sinks == 0 {
		return fmt.Errorf("%w: the job has no sink; add one (for example SinkTo, Print or Collect)", ErrInvalidProgram)
	}
	return nil
}

func nodeErr(n *Node, format string, args ...any) error {
	return fmt.Errorf("%w: operator %q (%d): %s", ErrInvalidProgram, n.Name, n.ID, fmt.Sprintf(format, args...))
}

// Plan is the JSON execution plan, in the shape of Flink's.
type Plan struct {
	Nodes []PlanNode `json:"nodes"`
}

// PlanNode is one operator of the plan.
type PlanNode struct {
	ID           int             `json:"id"`
	Type         string          `json:"type"`
	Pact         string          `json:"pact"`
	Contents     string          `json:"contents"`
	UID          string          `json:"uid,omitempty"`
	Parallelism  int             `json:"parallelism"`
	Chain        int             `json:"chain"`
	Predecessors []PlanPredecess `json:"predecessors,omitempty"`
}

// PlanPredecess is an input of a plan node.
type PlanPredecess struct {
	ID           int    `json:"id"`
	ShipStrategy string `json:"ship_strategy"`
	Side         string `json:"side"`
	SideOutput   string `json:"side_output,omitempty"`
}

// Plan returns the execution plan.
func (g *JobGraph) Plan() Plan {
	var p Plan
	chainOf := map[*Node]int{}
	for _, v := range g.Vertices {
		for _, n := range v.Nodes {
			chainOf[n] = v.ID
		}
	}
	for _, n := range g.Nodes {
		pact := "Operator"
		switch n.Kind {
		case KindSource:
			pact = "Data Source"
		case KindSink:
			pact = "Data Sink"
		}
		pn := PlanNode{ID: n.ID, Type: n.Name, Pact: pact, Contents: n.Name, UID: n.UID, Parallelism: n.Parallelism, Chain: chainOf[n]}
		for _, e := range n.Inputs {
			side := "first"
			if e.Input == 2 {
				side = "second"
			}
			pn.Predecessors = append(pn.Predecessors, PlanPredecess{ID: e.From.ID, ShipStrategy: e.Part.Kind.String(), Side: side, SideOutput: e.Tag})
		}
		p.Nodes = append(p.Nodes, pn)
	}
	sort.Slice(p.Nodes, func(i, j int) bool { return p.Nodes[i].ID < p.Nodes[j].ID })
	return p
}

// PlanJSON returns the execution plan as indented JSON.
func (g *JobGraph) PlanJSON() string {
	b, _ := json.MarshalIndent(g.Plan(), "", "  ")
	return string(b)
}

// Fingerprint is a hash of the graph's structure: its name, every node's
// id, name, UID, kind, parallelisms, chaining, slot sharing group and
// element types, every edge's ends, side output, partitioning and input,
// and the vertices' chains and parallelisms. A process that rebuilds the
// graph from the same program (a TaskManager's worker) gets the same
// fingerprint, which it checks before running the graph's subtasks.
func (g *JobGraph) Fingerprint() string {
	h := sha256.New()
	w := func(format string, args ...any) { fmt.Fprintf(h, format, args...) }
	typ := func(t Type) string {
		if t == nil {
			return "-"
		}
		return t.String()
	}
	w("job %q\n", g.Name)
	for _, n := range g.Nodes {
		w("node %d %q uid=%q kind=%d p=%d maxp=%d/%t nonpar=%t chain=%d group=%q keyed=%t out=%s in=%s,%s source=%t\n",
			n.ID, n.Name, n.UID, n.Kind, n.Parallelism, n.MaxParallelism, n.MaxParallelismSet, n.NonParallel, n.Chaining,
			n.SlotSharingGroup, n.Keyed, typ(n.Out), typ(n.In[0]), typ(n.In[1]), n.Source != nil)
		tags := make([]string, 0, len(n.Side))
		for tag := range n.Side {
			tags = append(tags, tag)
		}
		sort.Strings(tags)
		for _, tag := range tags {
			w("  side %q %s\n", tag, typ(n.Side[tag]))
		}
		for _, e := range n.Inputs {
			w("  edge %d->%d tag=%q part=%s input=%d\n", e.From.ID, e.To.ID, e.Tag, e.Part.Kind, e.Input)
		}
	}
	for _, v := range g.Vertices {
		w("vertex %d p=%d maxp=%d group=%q nodes=", v.ID, v.Parallelism, v.MaxParallelism, v.SlotSharingGroup)
		for _, n := range v.Nodes {
			w("%d,", n.ID)
		}
		w("\n")
	}
	return hex.EncodeToString(h.Sum(nil))
}
