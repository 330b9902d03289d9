package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/internal/metrics"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
)

// Chain is the operators of one chain: made from their graph nodes, wired
// output to input, opened, called and closed by one goroutine. A subtask
// runs its operators through a Chain, and so does the test harness, so
// both build, open, call and close operators with the same code.
type Chain struct {
	nodes   []*graph.Node
	ops     []operator.Operator
	cur     int // index of the running operator
	failure *operator.Failure
	subtask int
	attempt int
	// backends, if set, holds operator i's state backend at i.
	backends []statebackend.Backend
	// newBackend, if set, makes an operator's backend factory.
	newBackend func(n *graph.Node) func(int) (statebackend.Backend, error)
	// opStates, if set, holds operator i's restored operator state at i.
	opStates []*statebackend.OperatorState
	// ctxs holds operator i's context from Open.
	ctxs []*operator.Context
	// metrics, if set, holds the groups of metrics the operators register.
	metrics *metrics.Subtask
}

// Ends says where the outputs that leave a chain go.
type Ends struct {
	// Edge returns the Output for edge e, which leaves the chain, or nil
	// to drop what it carries; the output raises its failures on f, the
	// chain's failure slot.
	Edge func(e *graph.Edge, f *operator.Failure) (any, error)
	// Side are further side outputs every operator of the chain gets,
	// beside those its node declares (the harness's captured tags).
	Side map[string]graph.Type
	// Extra returns a further output of operator i for tag ("" for the
	// main output), or nil.
	Extra func(i int, tag string) any
}

// NewChain creates the operators of nodes, a chain in order, and wires
// their outputs. cancel, if set, is called on the chain's first failure.
func NewChain(nodes []*graph.Node, subtask, attempt int, ends Ends, cancel func()) (*Chain, error) {
	c := &Chain{nodes: nodes, ops: make([]operator.Operator, len(nodes)), subtask: subtask, attempt: attempt}
	c.failure = operator.NewFailure(&c.cur, cancel)
	index := map[*graph.Node]int{}
	for i, n := range nodes {
		c.cur = i
		if n.NewOperator == nil {
			return c, c.Wrap(errors.New("the operator has no runtime implementation"))
		}
		op, err := n.NewOperator()
		if err != nil {
			return c, c.Wrap(fmt.Errorf("creating operator: %w", err))
		}
		if err := checkKind(n, op); err != nil {
			return c, c.Wrap(err)
		}
		c.ops[i] = op
		index[n] = i
	}
	for i, n := range nodes {
		c.cur = i
		if err := c.setup(i, n, index, ends); err != nil {
			return c, c.Wrap(err)
		}
	}
	c.cur = 0
	return c, nil
}

// checkKind makes sure op implements the interface its node's kind calls
// it through.
func checkKind(n *graph.Node, op operator.Operator) error {
	var ok bool
	var want string
	switch n.Kind {
	case graph.KindSource:
		_, ok = op.(operator.SourceDriver)
		want = "operator.SourceDriver"
	case graph.KindTwoInput:
		_, ok = op.(operator.TwoWatermarkInputs)
		want = "operator.TwoInput"
	default:
		_, ok = op.(operator.WatermarkInput)
		want = "operator.OneInput"
	}
	if !ok {
		return fmt.Errorf("operator %T of a %s node does not implement %s", op, n.Kind, want)
	}
	return nil
}

func (c *Chain) setup(i int, n *graph.Node, index map[*graph.Node]int, ends Ends) error {
	outs := map[string][]any{}
	for _, e := range n.Outputs {
		typ := n.Out
		if e.Tag != "" {
			typ = n.Side[e.Tag]
		}
		if j, ok := index[e.To]; ok {
			l, err := typ.Link(c.ops[j], &c.cur, j, c.failure)
			if err != nil {
				return err
			}
			outs[e.Tag] = append(outs[e.Tag], l)
		} else if ends.Edge != nil {
			o, err := ends.Edge(e, c.failure)
			if err != nil {
				return err
			}
			if o != nil {
				outs[e.Tag] = append(outs[e.Tag], o)
			}
		}
	}
	sideTypes := make(map[string]graph.Type, len(n.Side)+len(ends.Side))
	for tag, typ := range ends.Side {
		sideTypes[tag] = typ
	}
	for tag, typ := range n.Side {
		sideTypes[tag] = typ
	}
	if ends.Extra != nil {
		for _, tag := range append([]string{""}, keys(sideTypes)...) {
			if o := ends.Extra(i, tag); o != nil {
				outs[tag] = append(outs[tag], o)
			}
		}
	}
	var main any
	if n.Out != nil {
		main = combine(n.Out, outs[""])
	}
	side := make(map[string]any, len(sideTypes))
	for tag, typ := range sideTypes {
		side[tag] = combine(typ, outs[tag])
	}
	if err := c.ops[i].Setup(main, side); err != nil {
		return fmt.Errorf("setting up: %w", err)
	}
	return nil
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func combine(typ graph.Type, outs []any) any {
	switch len(outs) {
	case 0:
		return typ.Discard()
	case 1:
		return outs[0]
	}
	return typ.FanOut(outs)
}

// UseBackends gives operator i the state backend bs[i] (nil for the
// default heap backend); call it before Open. A test harness restores
// operators from snapshots through it.
func (c *Chain) UseBackends(bs []statebackend.Backend) { c.backends = bs }

// MakeBackends makes the operators that have no backend given by
// UseBackends make theirs through newBackend(node), when it returns one.
func (c *Chain) MakeBackends(newBackend func(n *graph.Node) func(int) (statebackend.Backend, error)) {
	c.newBackend = newBackend
}

// UseOperatorState gives operator i the restored operator state ss[i]
// (nil for none); call it before Open.
func (c *Chain) UseOperatorState(ss []*statebackend.OperatorState) { c.opStates = ss }

// UseMetrics gives every operator the group of metrics its name has in m.
func (c *Chain) UseMetrics(m *metrics.Subtask) { c.metrics = m }

// Nodes are the chain's graph nodes, in order.
func (c *Chain) Nodes() []*graph.Node { return c.nodes }

// Head is the chain's first operator.
func (c *Chain) Head() operator.Operator { return c.ops[0] }

// Open opens the operators, the last first so that an operator's outputs
// are ready when it opens. Each gets a copy of tmpl with its own name,
// index, max parallelism and key groups.
func (c *Chain) Open(tmpl operator.Context) error {
	c.ctxs = make([]*operator.Context, len(c.ops))
	return c.Call(func() error {
		for i := len(c.ops) - 1; i >= 0; i-- {
			c.cur = i
			n := c.nodes[i]
			oc := tmpl
			oc.TaskName, oc.Index, oc.MaxParallelism = n.Name, i, n.MaxParallelism
			oc.Current, oc.Failure = &c.cur, c.failure
			if c.newBackend != nil {
				if f := c.newBackend(n); f != nil {
					oc.NewBackend = f
				}
			}
			if i < len(c.backends) && c.backends[i] != nil {
				oc.Backend = c.backends[i]
			}
			if i < len(c.opStates) && c.opStates[i] != nil {
				oc.OperatorState = c.opStates[i]
			}
			if c.metrics != nil {
				oc.Metrics = c.metrics.Operator(n.Name)
			}
			c.ctxs[i] = &oc
			if tmpl.Timers != nil {
				oc.Timers = opTimers{ProcessingTimeService: tmpl.Timers, cur: &c.cur, idx: i}
			}
			kgs := keygroup.RangeFor(n.MaxParallelism, tmpl.Parallelism, tmpl.Subtask)
			oc.KeyGroupStart, oc.KeyGroupEnd = kgs.Start, kgs.End
			if err := c.ops[i].Open(&oc); err != nil {
				return fmt.Errorf("opening: %w", err)
			}
			if c.failure.Failed() {
				return nil
			}
		}
		return nil
	})
}

// opTimers is an operator's view of the subtask's processing-time service:
// its callbacks run as calls of that operator, so a failure names it.
type opTimers struct {
	operator.ProcessingTimeService
	cur *int
	idx int
}

func (t opTimers) Schedule(ts int64, fn func() error) {
	t.ProcessingTimeService.Schedule(ts, func() error {
		*t.cur = t.idx
		return fn()
	})
}

// Call runs f, one call into the chain (an input's records or watermark, a
// timer, mail), and returns the chain's failure as an *operator.Error
// naming the operator that failed: an error raised on the chain's failure
// slot during the call, else the error f returned, else a panic.
func (c *Chain) Call(f func() error) (err error) {
	defer c.recover(&err)
	c.cur = 0
	err = f()
	if ferr := c.failure.Err(); ferr != nil {
		return c.wrapAt(ferr, c.failure.Operator())
	}
	return c.Wrap(err)
}

// recover turns a panic of the running operator into its failure.
func (c *Chain) recover(err *error) {
	if r := recover(); r != nil {
		*err = &operator.Error{Operator: c.name(c.cur), Subtask: c.subtask, Attempt: c.attempt,
			Err: &operator.PanicError{Value: r}, Stack: string(debug.Stack())}
	}
}

// OperatorSnapshot is the state of one operator of a chain at a checkpoint.
type OperatorSnapshot struct {
	Node *graph.Node
	// Keyed is the keyed state, of the key groups KeyGroups; nil when the
	// operator has none.
	Keyed     []byte
	KeyGroups keygroup.Range
	// Incremental, instead of Keyed, is an incremental snapshot of the
	// keyed state, whose files the caller stores and then Finishes.
	Incremental *statebackend.Incremental
	// Operator is the operator state; nil when the operator has none.
	Operator []byte
}

// Snapshot runs every operator's Snapshot hooks, then encodes its keyed
// state (backends that are Snapshotters, or copies it for an incremental
// snapshot, except in a savepoint, which is canonical) and operator state,
// within one Call. The bytes are the state at the call: later changes do
// not touch them. The incremental snapshots returned, also with an
// error, must be finished.
func (c *Chain) Snapshot(id int64, savepoint bool) ([]OperatorSnapshot, error) {
	var out []OperatorSnapshot
	err := c.Call(func() error {
		for i, oc := range c.ctxs {
			c.cur = i
			for _, h := range oc.Hooks() {
				if h.Snapshot != nil {
					if err := h.Snapshot(id); err != nil {
						return fmt.Errorf("snapshotting state for checkpoint %d: %w", id, err)
					}
				}
			}
			if c.failure.Failed() {
				return nil
			}
			s := OperatorSnapshot{Node: c.nodes[i]}
			now := time.Now().UnixMilli()
			if oc.Timers != nil {
				now = oc.Timers.Now()
			}
			kgs := keygroup.Range{Start: oc.KeyGroupStart, End: oc.KeyGroupEnd}
			if inc, ok := oc.Backend.(statebackend.IncrementalSnapshotter); ok && inc.Incremental() && !savepoint {
				snap, err := inc.SnapshotIncremental(id, now, kgs)
				if err != nil {
					return fmt.Errorf("snapshotting keyed state for checkpoint %d: %w", id, err)
				}
				s.Incremental, s.KeyGroups = snap, kgs
				out = append(out, s) // released by the caller, on every path
				s = OperatorSnapshot{Node: c.nodes[i]}
			} else if sn, ok := oc.Backend.(statebackend.Snapshotter); ok {
				b, err := sn.Snapshot(now)
				if err != nil {
					return fmt.Errorf("snapshotting keyed state for checkpoint %d: %w", id, err)
				}
				s.Keyed, s.KeyGroups = b, kgs
			}
			if oc.OperatorState != nil && !oc.OperatorState.Empty() {
				b, err := oc.OperatorState.Snapshot()
				if err != nil {
					return err
				}
				s.Operator = b
			}
			if s.Keyed != nil || s.Operator != nil {
				out = append(out, s)
			}
		}
		return nil
	})
	return out, err
}

// NotifyCheckpoint runs every operator's Complete (or Aborted) hooks for
// checkpoint id, within one Call.
func (c *Chain) NotifyCheckpoint(id int64, complete bool) error {
	return c.Call(func() error {
		for i, oc := range c.ctxs {
			c.cur = i
			for _, h := range oc.Hooks() {
				f, what := h.Aborted, "aborted"
				if complete {
					f, what = h.Complete, "complete"
				}
				if f == nil {
					continue
				}
				if err := f(id); err != nil {
					return fmt.Errorf("notified that checkpoint %d is %s: %w", id, what, err)
				}
				if c.failure.Failed() {
					return nil
				}
			}
		}
		return nil
	})
}

// RunFinal runs every operator's Final hooks, within one Call.
func (c *Chain) RunFinal() error {
	return c.Call(func() error {
		for i, oc := range c.ctxs {
			c.cur = i
			for _, h := range oc.Hooks() {
				if h.Final == nil {
					continue
				}
				if err := h.Final(); err != nil {
					return fmt.Errorf("committing at the end of input: %w", err)
				}
				if c.failure.Failed() {
					return nil
				}
			}
		}
		return nil
	})
}

// Finish finishes the operators in order, within one Call.
func (c *Chain) Finish() error {
	return c.Call(func() error {
		for i, op := range c.ops {
			c.cur = i
			if err := op.Finish(); err != nil {
				return fmt.Errorf("finishing: %w", err)
			}
			if c.failure.Failed() {
				return nil
			}
		}
		return nil
	})
}

// Close closes every operator that was made, also after a failure, then
// the state backends that hold files (given to UseBackends or made by the
// operators), and returns the first error of a Close (a panic included).
func (c *Chain) Close() error {
	var first error
	for i, op := range c.ops {
		if op == nil {
			continue
		}
		if err := c.closeOne(i, op); err != nil && first == nil {
			first = err
		}
	}
	closed := map[statebackend.Backend]bool{}
	closeBackend := func(b statebackend.Backend) {
		cl, ok := b.(io.Closer)
		if !ok || closed[b] {
			return
		}
		closed[b] = true
		if err := cl.Close(); err != nil && first == nil {
			first = fmt.Errorf("closing the %s state backend: %w", b.Name(), err)
		}
	}
	for _, oc := range c.ctxs {
		if oc != nil {
			closeBackend(oc.Backend)
		}
	}
	for _, b := range c.backends {
		closeBackend(b)
	}
	return first
}

func (c *Chain) closeOne(i int, op operator.Operator) (err error) {
	defer c.recover(&err)
	c.cur = i
	if err := op.Close(); err != nil {
		return c.Wrap(fmt.Errorf("closing: %w", err))
	}
	return nil
}

// Wrap names the running operator in err, unless err already names one or
// is a cancellation.
func (c *Chain) Wrap(err error) error { return c.wrapAt(err, c.cur) }

func (c *Chain) wrapAt(err error, i int) error {
	if err == nil || isOperatorErr(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &operator.Error{Operator: c.name(i), Subtask: c.subtask, Attempt: c.attempt, Err: err}
}

func (c *Chain) name(i int) string {
	if i >= 0 && i < len(c.nodes) {
		return c.nodes[i].Name
	}
	return ""
}

func isOperatorErr(err error) bool {
	var oe *operator.Error
	return errors.As(err, &oe)
}
