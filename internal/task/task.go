// Package task runs one subtask: a goroutine that owns an operator chain,
// takes elements from its input gate (or its source reader), calls the
// operators directly, and hands their output to record writers.
//
// The loop also runs mail — functions other goroutines post to the task, such
// as split assignments — between elements, so every operator method is called
// from this one goroutine (Flink's mailbox model).
package task

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"time"

	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/keygroup"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/valve"
	"github.com/freshet-io/freshet/source"
)

// Config is the runtime configuration a task needs.
type Config struct {
	JobName       string
	BatchSize     int
	BufferTimeout time.Duration
	Encode        bool // encode every exchange, as a remote channel would
	// AutoWatermarkInterval is how often periodic watermarks are emitted.
	AutoWatermarkInterval time.Duration
}

// Spec says which subtask to run and how it is connected.
type Spec struct {
	Vertex  *graph.Vertex
	Subtask int
	Attempt int
	Config  Config
	// Gate is the subtask's input gate; nil for a source vertex.
	Gate *exchange.Gate
	// Channel resolves the writer for channel ch of the gate of subtask j of
	// vertex; it may block until that subtask has registered its gate.
	Channel func(ctx context.Context, vertex, subtask, ch int) (exchange.ChannelWriter, error)
	// SendEvent sends a source reader's event to its coordinator.
	SendEvent func(event any)
	// Clock returns the processing time; nil means the machine clock.
	Clock func() time.Time
}

// Task is one running subtask.
type Task struct {
	spec    Spec
	mail    chan func() error
	done    chan struct{}
	ops     []operator.Operator
	cur     int
	writers []graph.Writer
	readers [3]func(*exchange.Envelope) error
	inputOf []int // gate channel → input 1 or 2
	local   []int // gate channel → index among the channels of its input
	valves  [3]*valve.Valve
	ended   int
	timers  *procTimers
	idleOut bool // the subtask told downstream it is idle
}

// New returns a task for spec; Run starts it.
func New(spec Spec) *Task {
	t := &Task{spec: spec, mail: make(chan func() error, 16), done: make(chan struct{})}
	clock := spec.Clock
	if clock == nil {
		clock = time.Now
	}
	t.timers = &procTimers{t: t, clock: clock}
	return t
}

// ErrDownstreamClosed ends a subtask whose downstream stopped taking
// records because it failed or was cancelled. It counts as a cancellation.
var ErrDownstreamClosed = fmt.Errorf("freshet: downstream subtask stopped: %w", context.Canceled)

// ErrTaskEnded is returned when posting to a task that has stopped.
var ErrTaskEnded = errors.New("freshet: task has ended")

// HandleEvent hands a coordinator's event to the chain's source reader. It
// must run on the task's goroutine (through Post).
func (t *Task) HandleEvent(event any) error {
	d, ok := t.ops[0].(operator.SourceDriver)
	if !ok {
		return fmt.Errorf("event %T for a task without a source", event)
	}
	return d.HandleEvent(event)
}

// Post runs f on the task's goroutine between elements. It never blocks for
// long: the mailbox is drained by the task loop.
func (t *Task) Post(ctx context.Context, f func() error) error {
	select {
	case t.mail <- f:
		return nil
	case <-t.done:
		return ErrTaskEnded
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Name is the subtask's name for messages, as Flink prints it.
func (t *Task) Name() string {
	v := t.spec.Vertex
	return fmt.Sprintf("%s (%d/%d)", v.Name(), t.spec.Subtask+1, v.Parallelism)
}

// Run runs the subtask until its input ends, ctx ends, or it fails.
// A cancellation returns ctx's error; a failure returns an *operator.Error.
func (t *Task) Run(ctx context.Context) (err error) {
	defer close(t.done)
	defer t.timers.stop()
	defer func() {
		if r := recover(); r != nil {
			err = t.fail(r)
		}
		if cerr := t.closeAll(); err == nil && cerr != nil {
			err = t.wrap(cerr)
		}
		if t.spec.Gate != nil {
			t.spec.Gate.Close()
		}
		if ctx.Err() != nil && !isOperatorErr(err) {
			err = ctx.Err()
		}
		// A closed downstream gate means the downstream subtask failed or
		// was cancelled; that subtask reports the cause, this one was
		// merely cancelled by it.
		if errors.Is(err, exchange.ErrGateClosed) {
			err = ErrDownstreamClosed
		}
	}()
	if err := t.build(ctx); err != nil {
		return t.wrap(err)
	}
	if err := t.open(ctx); err != nil {
		return t.wrap(err)
	}
	if src, ok := t.ops[0].(operator.SourceDriver); ok {
		err = t.runSource(ctx, src)
	} else {
		err = t.runInputs(ctx)
	}
	if err != nil {
		return t.wrap(err)
	}
	return t.wrap(t.finish())
}

func isOperatorErr(err error) bool {
	var oe *operator.Error
	return errors.As(err, &oe)
}

func (t *Task) wrap(err error) error {
	if err == nil || isOperatorErr(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &operator.Error{Operator: t.opName(), Subtask: t.spec.Subtask, Attempt: t.spec.Attempt, Err: err}
}

func (t *Task) opName() string {
	nodes := t.spec.Vertex.Nodes
	if t.cur >= 0 && t.cur < len(nodes) {
		return nodes[t.cur].Name
	}
	return t.spec.Vertex.Name()
}

func (t *Task) fail(r any) error {
	if a, ok := r.(operator.Abort); ok {
		return t.wrap(a.Err)
	}
	return &operator.Error{Operator: t.opName(), Subtask: t.spec.Subtask, Attempt: t.spec.Attempt,
		Err: &operator.PanicError{Value: r}, Stack: string(debug.Stack())}
}

// build creates the chain's operators and wires their outputs.
func (t *Task) build(ctx context.Context) error {
	v := t.spec.Vertex
	index := map[*graph.Node]int{}
	t.ops = make([]operator.Operator, len(v.Nodes))
	for i, n := range v.Nodes {
		t.cur = i
		op, err := n.NewOperator()
		if err != nil {
			return fmt.Errorf("creating operator: %w", err)
		}
		t.ops[i] = op
		index[n] = i
	}
	edgeWriter := map[*graph.Edge]graph.Writer{}
	for _, je := range v.Outputs {
		w, err := t.newWriter(ctx, je)
		if err != nil {
			return err
		}
		edgeWriter[je.Edge] = w
		t.writers = append(t.writers, w)
	}
	for i, n := range v.Nodes {
		t.cur = i
		outs := map[string][]any{}
		for _, e := range n.Outputs {
			var o any
			if j, ok := index[e.To]; ok {
				typ := n.Out
				if e.Tag != "" {
					typ = n.Side[e.Tag]
				}
				l, err := typ.Link(t.ops[j], e.Input, &t.cur, j)
				if err != nil {
					return err
				}
				o = l
			} else {
				o = edgeWriter[e].Output()
			}
			outs[e.Tag] = append(outs[e.Tag], o)
		}
		s, ok := t.ops[i].(operator.Setup)
		if !ok {
			continue
		}
		var main any
		if n.Out != nil {
			main = combine(n.Out, outs[""])
		}
		side := map[string]any{}
		for tag, typ := range n.Side {
			side[tag] = combine(typ, outs[tag])
		}
		if err := s.Setup(main, side); err != nil {
			return err
		}
	}
	t.cur = 0
	if t.spec.Gate == nil {
		return nil
	}
	head := v.Head()
	var perInput [3]int
	for _, cs := range v.GateChannels(t.spec.Subtask) {
		in := cs.Edge.Edge.Input
		t.inputOf = append(t.inputOf, in)
		t.local = append(t.local, perInput[in])
		perInput[in]++
	}
	for in := 1; in <= 2; in++ {
		typ := head.In[in-1]
		if typ == nil {
			continue
		}
		r, err := typ.NewReader(t.ops[0], in)
		if err != nil {
			return err
		}
		t.readers[in] = r
		if perInput[in] > 0 {
			t.valves[in] = valve.New(perInput[in])
		}
	}
	return nil
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

func (t *Task) newWriter(ctx context.Context, je *graph.JobEdge) (graph.Writer, error) {
	var targets []exchange.ChannelWriter
	for _, j := range je.Targets(t.spec.Subtask) {
		cw, err := t.spec.Channel(ctx, je.Target.ID, j, je.Channel(t.spec.Subtask, j))
		if err != nil {
			return nil, fmt.Errorf("connecting to %s subtask %d: %w", je.Target.Name(), j, err)
		}
		targets = append(targets, cw)
	}
	from := je.Edge.From
	typ := from.Out
	if je.Edge.Tag != "" {
		typ = from.Side[je.Edge.Tag]
	}
	return typ.NewWriter(ctx, targets, je.Edge.Part, t.spec.Subtask, je.Target.MaxParallelism, exchange.WriterConfig{BatchSize: t.spec.Config.BatchSize, Encode: t.spec.Config.Encode})
}

func (t *Task) open(ctx context.Context) error {
	v := t.spec.Vertex
	if src, ok := t.ops[0].(operator.SourceDriver); ok {
		src.SetEventSender(t.spec.SendEvent)
	}
	// Open downstream operators first so an operator's output is ready when it opens.
	for i := len(t.ops) - 1; i >= 0; i-- {
		t.cur = i
		n := v.Nodes[i]
		oc := &operator.Context{
			Ctx: ctx, JobName: t.spec.Config.JobName, TaskName: n.Name, Subtask: t.spec.Subtask,
			Parallelism: v.Parallelism, MaxParallelism: n.MaxParallelism, Attempt: t.spec.Attempt,
			Current: &t.cur, Index: i,
			Timers:                t.timers,
			SetIdle:               t.setIdle,
			AutoWatermarkInterval: t.spec.Config.AutoWatermarkInterval,
		}
		kgs := keygroup.RangeFor(n.MaxParallelism, v.Parallelism, t.spec.Subtask)
		oc.KeyGroupStart, oc.KeyGroupEnd = kgs.Start, kgs.End
		if err := t.ops[i].Open(oc); err != nil {
			return fmt.Errorf("opening: %w", err)
		}
	}
	t.cur = 0
	return nil
}

func (t *Task) closeAll() error {
	var first error
	for i, op := range t.ops {
		if op == nil {
			continue
		}
		t.cur = i
		if err := safeClose(op); err != nil && first == nil {
			first = fmt.Errorf("closing: %w", err)
		}
	}
	return first
}

func safeClose(op operator.Operator) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &operator.PanicError{Value: r}
		}
	}()
	return op.Close()
}

func (t *Task) flush() error {
	for _, w := range t.writers {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func (t *Task) drainMail() error {
	for {
		select {
		case f := <-t.mail:
			if err := f(); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (t *Task) runSource(ctx context.Context, src operator.SourceDriver) error {
	timeout := t.spec.Config.BufferTimeout
	lastFlush := time.Now()
	for {
		if err := t.drainMail(); err != nil {
			return err
		}
		status, err := src.Poll()
		if err != nil {
			return fmt.Errorf("reading source: %w", err)
		}
		switch status {
		case source.MoreAvailable:
			if timeout > 0 {
				if now := time.Now(); now.Sub(lastFlush) >= timeout {
					if err := t.flush(); err != nil {
						return err
					}
					lastFlush = now
				}
			}
		case source.NothingAvailable:
			if err := t.flush(); err != nil {
				return err
			}
			lastFlush = time.Now()
			select {
			case <-src.Available():
			case f := <-t.mail:
				if err := f(); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		case source.EndOfInput:
			if e, ok := src.(interface{ EndOfInput() }); ok {
				e.EndOfInput()
			}
			return nil
		}
	}
}

func (t *Task) runInputs(ctx context.Context) error {
	gate := t.spec.Gate
	total := gate.NumChannels()
	timeout := t.spec.Config.BufferTimeout
	lastFlush := time.Now()
	idle := func() error {
		lastFlush = time.Now()
		return t.flush()
	}
	for t.ended < total {
		e, mail, err := gate.Next(ctx, idle, t.mail)
		if err != nil {
			return err
		}
		if mail != nil {
			if err := mail(); err != nil {
				return err
			}
			continue
		}
		if err := t.handle(&e); err != nil {
			return err
		}
		if timeout > 0 {
			if now := time.Now(); now.Sub(lastFlush) >= timeout {
				if err := t.flush(); err != nil {
					return err
				}
				lastFlush = now
			}
		}
	}
	return nil
}

func (t *Task) handle(e *exchange.Envelope) error {
	in := t.inputOf[e.Channel]
	switch e.Kind {
	case exchange.KindRecords, exchange.KindEncoded:
		return t.readers[in](e)
	case exchange.KindWatermark:
		return t.watermark(in, e.Channel, e.Watermark)
	case exchange.KindEndOfInput:
		t.ended++
		if err := t.status(in, e.Channel, false); err != nil {
			return err
		}
		return t.watermark(in, e.Channel, math.MaxInt64)
	case exchange.KindIdle:
		return t.status(in, e.Channel, true)
	case exchange.KindActive:
		return t.status(in, e.Channel, false)
	}
	return nil
}

// status applies a channel's idle/active change: the input's watermark may
// advance (an idle channel no longer holds it back), and when every input is
// idle the subtask tells downstream it is idle too.
func (t *Task) status(in, ch int, idle bool) error {
	r := t.valves[in].InputStatus(t.local[ch], idle)
	if r.EmitWatermark {
		if err := t.forwardWatermark(in, r.Watermark); err != nil {
			return err
		}
	}
	if !r.StatusChanged {
		return nil
	}
	if op, ok := t.ops[0].(operator.InputStatus); ok {
		if err := op.ProcessInputStatus(in, r.Idle); err != nil {
			return err
		}
	}
	all := true
	for _, v := range t.valves[1:] {
		if v != nil && !v.Idle() {
			all = false
		}
	}
	return t.setIdle(all)
}

// setIdle tells downstream that this subtask's output is idle or active.
func (t *Task) setIdle(idle bool) error {
	if idle == t.idleOut {
		return nil
	}
	t.idleOut = idle
	kind := exchange.KindActive
	if idle {
		kind = exchange.KindIdle
	}
	for _, w := range t.writers {
		if err := w.Event(exchange.Envelope{Kind: kind}); err != nil {
			return err
		}
	}
	return nil
}

func (t *Task) watermark(in, ch int, wm int64) error {
	out, ok := t.valves[in].InputWatermark(t.local[ch], wm)
	if !ok {
		return nil
	}
	return t.forwardWatermark(in, out)
}

// forwardWatermark hands input in's new watermark to the chain's head.
func (t *Task) forwardWatermark(in int, out int64) error {
	if in == 1 {
		// A two-input operator may also have ProcessWatermark (for its
		// output); its first input's watermark must go through
		// ProcessWatermark1 to be combined with the second's.
		if op, ok := t.ops[0].(interface{ ProcessWatermark1(int64) error }); ok {
			return op.ProcessWatermark1(out)
		}
		if op, ok := t.ops[0].(interface{ ProcessWatermark(int64) error }); ok {
			return op.ProcessWatermark(out)
		}
		return nil
	}
	if op, ok := t.ops[0].(interface{ ProcessWatermark2(int64) error }); ok {
		return op.ProcessWatermark2(out)
	}
	return nil
}

// finish ends the chain once all input has been processed: every operator
// emits what it holds, then every downstream channel is told the input ended.
func (t *Task) finish() error {
	for i, op := range t.ops {
		t.cur = i
		if err := op.Finish(); err != nil {
			return fmt.Errorf("finishing: %w", err)
		}
	}
	t.cur = 0
	for _, w := range t.writers {
		if err := w.Event(exchange.Envelope{Kind: exchange.KindEndOfInput}); err != nil {
			return err
		}
	}
	return nil
}
