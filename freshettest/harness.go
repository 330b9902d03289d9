// Package freshettest tests Freshet functions and operators without running
// a job, in the spirit of Flink's operator test harnesses.
//
// A harness takes the same code a job uses — a function from an input stream
// to an output stream — and runs the operators it adds synchronously, on the
// calling goroutine: push elements (with or without timestamps) and
// watermarks in, move processing time, and read what came out of the main
// and side outputs, in the order a downstream operator would see it.
//
//	h, err := freshettest.New(func(in *freshet.Stream[string]) *freshet.Stream[int] {
//		return freshet.Map(in, func(s string) int { return len(s) })
//	})
//	h.Process("hello")
//	h.Values() // [5]
//
// The operators run as one chain of subtask 0 of parallelism 1 unless
// WithSubtask says otherwise; keyed operators own the key groups that
// subtask would own.
//
// Snapshot captures the operators' keyed state, timers and operator
// state, and WithRestore builds a harness from snapshots, at the same or another
// parallelism, as a job restored from a checkpoint.
package freshettest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/internal/bridge"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/metrics"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/internal/task"
	"github.com/freshet-io/freshet/internal/valve"
	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
)

// Record is an element a harness saw come out, with its timestamp.
type Record[T any] struct {
	Value        T
	Timestamp    int64
	HasTimestamp bool
}

// Event is one item of an output in order: a record or a watermark.
type Event[T any] struct {
	IsWatermark bool
	Record      Record[T] // when !IsWatermark
	Watermark   int64     // when IsWatermark
}

func (e Event[T]) String() string {
	if e.IsWatermark {
		return fmt.Sprintf("Watermark(%d)", e.Watermark)
	}
	if e.Record.HasTimestamp {
		return fmt.Sprintf("%v@%d", e.Record.Value, e.Record.Timestamp)
	}
	return fmt.Sprint(e.Record.Value)
}

// Option configures a harness.
type Option func(*config)

type config struct {
	subtask, parallelism, maxParallelism int
	attempt                              int
	now                                  int64
	channels                             int
	sides                                map[string]sideSpec
	restore                              []*Snapshot
	backend                              statebackend.Config
	err                                  error
}

// WithStateBackend runs the operators' keyed state on b, such as
// freshet.PebbleBackend(), instead of the heap; snapshots are the same
// either way, so a snapshot taken on one restores on the other.
func WithStateBackend(b freshet.StateBackend) Option {
	return func(c *config) {
		cfg, err := bridge.StateBackend(b)
		if err != nil && c.err == nil {
			c.err = fmt.Errorf("freshettest: WithStateBackend: %w", err)
		}
		c.backend = cfg
	}
}

// WithInputChannels gives each input n channels, as a subtask reading n
// upstream subtasks has: watermarks and idleness then arrive per channel
// (WatermarkOn, MarkIdle, MarkActive) and the operators see the minimum
// over the active channels, as in a job.
func WithInputChannels(n int) Option { return func(c *config) { c.channels = n } }

type sideSpec struct {
	typ graph.Type
	new func() sideCapture
}

// WithSubtask runs the operators as subtask index of parallelism.
func WithSubtask(index, parallelism int) Option {
	return func(c *config) { c.subtask, c.parallelism = index, parallelism }
}

// WithMaxParallelism sets the number of key groups (default 128).
func WithMaxParallelism(n int) Option { return func(c *config) { c.maxParallelism = n } }

// WithAttempt sets the attempt number the runtime context reports.
func WithAttempt(n int) Option { return func(c *config) { c.attempt = n } }

// WithProcessingTime sets the initial processing time (default 0).
func WithProcessingTime(ms int64) Option { return func(c *config) { c.now = ms } }

// CaptureSideOutput records what the operators emit to tag; read it with
// SideOutput. Every operator of the harness gets the tag's output, so a
// function emitting to the tag's id a value of another type fails with
// freshet.ErrOutputTagType, and so does New if an operator declares the
// tag's id with another type (a late-data tag). Capturing the zero
// OutputTag makes New fail.
func CaptureSideOutput[X any](tag freshet.OutputTag[X]) Option {
	return func(c *config) {
		c.sides[tag.ID()] = sideSpec{typ: graph.TypeOf[X](), new: func() sideCapture { return &capture[X]{} }}
	}
}

// core is what one- and two-input harnesses share.
type core[OUT any] struct {
	cfg      config
	nodes    []*graph.Node
	backends []statebackend.Backend // per operator
	chain    *task.Chain
	out      capture[OUT]
	sides    map[string]sideCapture
	timers   harnessTimers
	ctx      context.Context
	cancel   context.CancelFunc
	closed   bool
	// checkpoints counts the snapshots taken, the ids of their checkpoints.
	checkpoints int64
	// metrics holds what the operators register on their contexts'
	// metric groups.
	metrics *metrics.Subtask
}

type sideCapture interface {
	output() any
	clear()
}

// capture is an operator.Output recording everything in order.
type capture[T any] struct{ events []Event[T] }

func (c *capture[T]) Collect(r operator.Record[T]) {
	c.events = append(c.events, Event[T]{Record: Record[T]{Value: r.Value, Timestamp: r.Timestamp, HasTimestamp: r.HasTimestamp()}})
}
func (c *capture[T]) EmitWatermark(wm int64) {
	c.events = append(c.events, Event[T]{IsWatermark: true, Watermark: wm})
}
func (c *capture[T]) output() any { return c }
func (c *capture[T]) clear()      { c.events = nil }

func newConfig(opts []Option) (config, error) {
	cfg := config{channels: 1, parallelism: 1, sides: map[string]sideSpec{}}
	for _, o := range opts {
		o(&cfg)
	}
	if _, ok := cfg.sides[""]; ok {
		return cfg, fmt.Errorf("freshettest: CaptureSideOutput: %w", freshet.ErrZeroOutputTag)
	}
	if cfg.channels < 1 {
		return cfg, fmt.Errorf("freshettest: %d input channels; want at least 1", cfg.channels)
	}
	if cfg.parallelism < 1 || cfg.subtask < 0 || cfg.subtask >= cfg.parallelism {
		return cfg, fmt.Errorf("freshettest: subtask %d of parallelism %d is not valid", cfg.subtask, cfg.parallelism)
	}
	return cfg, nil
}

// newEnv is the environment a harness's operators are declared in: the
// parallelism of the harness's subtask and, if set, its max parallelism
// (else Flink's default for the parallelism, as in a job).
func newEnv(cfg config) *freshet.Env {
	opts := []freshet.Option{freshet.WithParallelism(cfg.parallelism)}
	if cfg.maxParallelism != 0 {
		opts = append(opts, freshet.WithMaxParallelism(cfg.maxParallelism))
	}
	return freshet.NewEnv(opts...)
}

// plan finds the operators between the harness inputs and out, then plans
// the program as Execute does — with out written to a sink — so the
// harness runs the same validation and defaults as a job. It returns the
// planned nodes of the chain, in order.
func plan[OUT any](out *freshet.Stream[OUT], inputs ...*graph.Node) ([]*graph.Node, error) {
	chain, err := chainTo(out, inputs...)
	if err != nil {
		return nil, err
	}
	freshet.SinkTo(out, discard[OUT]{}, "harness output")
	g, err := bridge.Plan(out, "freshettest")
	if err != nil {
		return nil, err
	}
	byID := make(map[int]*graph.Node, len(g.Nodes))
	for _, n := range g.Nodes {
		byID[n.ID] = n
	}
	for i, n := range chain {
		chain[i] = byID[n.ID]
	}
	return chain, nil
}

// discard is the sink a harness writes its output to when planning; it
// never runs (the harness captures the output itself).
type discard[T any] struct{}

func (discard[T]) CreateWriter(sink.InitContext) (sink.Writer[T], error) {
	return nil, errors.New("freshettest: the harness output is not a real sink")
}

// chainTo finds the operators between the harness inputs and out, in order.
func chainTo(out any, inputs ...*graph.Node) ([]*graph.Node, error) {
	_, n, ok := bridge.Graph(out)
	if !ok {
		return nil, errors.New("freshettest: the build function must return the output of one operator (not a union or a repartitioned stream)")
	}
	isInput := func(x *graph.Node) bool { return slices.Contains(inputs, x) }
	var chain []*graph.Node
	for !isInput(n) {
		chain = append(chain, n)
		if n.Kind == graph.KindSource {
			return nil, fmt.Errorf("freshettest: operator %q reads a source of its own; a harness tests the operators fed by its input", n.Name)
		}
		if n.Kind == graph.KindTwoInput {
			if !allInputs(n, isInput) {
				return nil, fmt.Errorf("freshettest: two-input operator %q must read the harness inputs directly", n.Name)
			}
			break
		}
		if len(n.Inputs) != 1 {
			return nil, fmt.Errorf("freshettest: operator %q reads a union of streams; test the operators after it", n.Name)
		}
		n = n.Inputs[0].From
	}
	if len(chain) == 0 {
		return nil, errors.New("freshettest: the build function added no operator")
	}
	slices.Reverse(chain)
	return chain, nil
}

func allInputs(n *graph.Node, isInput func(*graph.Node) bool) bool {
	for _, e := range n.Inputs {
		if !isInput(e.From) {
			return false
		}
	}
	return true
}

// build makes, wires and opens the chain with the task's code: the last
// operator's main output and the captured side outputs of every operator
// go to the harness's captures.
func (c *core[OUT]) build(nodes []*graph.Node) error {
	c.sides = map[string]sideCapture{}
	sideTypes := map[string]graph.Type{}
	for id, s := range c.cfg.sides {
		for _, n := range nodes {
			if typ, ok := n.Side[id]; ok && typ != s.typ {
				return fmt.Errorf("freshettest: CaptureSideOutput: %w: capturing %s from side output %q of operator %q, which carries %s",
					freshet.ErrOutputTagType, s.typ, id, n.Name, typ)
			}
		}
		c.sides[id] = s.new()
		sideTypes[id] = s.typ
	}
	if c.cfg.err != nil {
		return c.cfg.err
	}
	backends, opStates, err := stateFor(c.cfg, nodes)
	if err != nil {
		return err
	}
	c.nodes, c.backends = nodes, backends
	c.ctx, c.cancel = context.WithCancel(context.Background())
	last := len(nodes) - 1
	chain, err := task.NewChain(nodes, c.cfg.subtask, c.cfg.attempt, task.Ends{
		Side: sideTypes,
		Extra: func(i int, tag string) any {
			if tag == "" {
				if i == last {
					return &c.out
				}
				return nil
			}
			if s, ok := c.sides[tag]; ok {
				return s.output()
			}
			return nil
		},
	}, c.cancel)
	c.chain = chain
	if err != nil {
		return err
	}
	chain.UseBackends(backends)
	chain.UseOperatorState(opStates)
	c.metrics = metrics.NewSubtask(c.cfg.attempt)
	chain.UseMetrics(c.metrics)
	c.timers.now = &c.cfg.now
	return chain.Open(operator.Context{
		Ctx: c.ctx, JobName: "freshettest", Subtask: c.cfg.subtask,
		Parallelism: c.cfg.parallelism, Attempt: c.cfg.attempt,
		Timers: &c.timers,
	})
}

func (c *core[OUT]) call(f func() error) error {
	if c.closed {
		return errors.New("freshettest: harness is closed")
	}
	return c.chain.Call(f)
}

// SetProcessingTime moves processing time to ms and runs, in time order,
// every processing-time callback that is due (timers of process functions,
// processing-time windows). Processing time never goes back.
func (c *core[OUT]) SetProcessingTime(ms int64) error {
	return c.call(func() error {
		if ms > c.cfg.now {
			c.cfg.now = ms
		}
		return c.timers.queue.RunDue(c.cfg.now)
	})
}

// ProcessingTime is the harness's current processing time.
func (c *core[OUT]) ProcessingTime() int64 { return c.cfg.now }

// Metrics returns the metrics the operator called name registered on its
// metric group (RuntimeContext.Metrics), by metric name, with their
// current values.
func (c *core[OUT]) Metrics(name string) []metric.Value {
	if c.metrics == nil {
		return nil
	}
	return c.metrics.Operator(name).Values()
}

// Events returns the main output, records and watermarks, in order.
func (c *core[OUT]) Events() []Event[OUT] { return append([]Event[OUT](nil), c.out.events...) }

// Records returns the records of the main output in order.
func (c *core[OUT]) Records() []Record[OUT] { return records(c.out.events) }

// Values returns the values of the main output in order.
func (c *core[OUT]) Values() []OUT {
	var vs []OUT
	for _, e := range c.out.events {
		if !e.IsWatermark {
			vs = append(vs, e.Record.Value)
		}
	}
	return vs
}

// Watermarks returns the watermarks of the main output in order.
func (c *core[OUT]) Watermarks() []int64 {
	var ws []int64
	for _, e := range c.out.events {
		if e.IsWatermark {
			ws = append(ws, e.Watermark)
		}
	}
	return ws
}

// ClearOutput forgets everything captured so far (main and side outputs).
func (c *core[OUT]) ClearOutput() {
	c.out.events = nil
	for _, s := range c.sides {
		s.clear()
	}
}

func records[T any](events []Event[T]) []Record[T] {
	var rs []Record[T]
	for _, e := range events {
		if !e.IsWatermark {
			rs = append(rs, e.Record)
		}
	}
	return rs
}

// Close finishes nothing and closes the operators, releasing what they
// hold. Call EndInput first to flush what they buffer.
func (c *core[OUT]) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	var err error
	if c.chain != nil {
		err = c.chain.Close()
	}
	if c.cancel != nil {
		c.cancel()
	}
	return err
}

// finish is what the runtime does at the end of bounded input: the
// watermark jumps to the end, then every operator finishes in chain order.
func (c *core[OUT]) finish(watermark func(int64) error) error {
	if err := c.call(func() error { return watermark(math.MaxInt64) }); err != nil {
		return err
	}
	if c.closed {
		return errors.New("freshettest: harness is closed")
	}
	if err := c.chain.Finish(); err != nil {
		return err
	}
	// No checkpoint follows: what waits for one is committed now.
	return c.chain.RunFinal()
}

// SideOutput returns what the operators emitted to tag, which must have
// been captured with CaptureSideOutput.
func SideOutput[X any, H interface{ sideOf(string) sideCapture }](h H, tag freshet.OutputTag[X]) []Record[X] {
	c, ok := h.sideOf(tag.ID()).(*capture[X])
	if !ok {
		return nil
	}
	return records(c.events)
}

func (c *core[OUT]) sideOf(id string) sideCapture { return c.sides[id] }

// Harness drives the operators of a one-input chain.
type Harness[IN, OUT any] struct {
	core[OUT]
	head  operator.OneInput[IN]
	valve *valve.Valve
}

// New builds the operators build adds after its input and opens them.
func New[IN, OUT any](build func(in *freshet.Stream[IN]) *freshet.Stream[OUT], opts ...Option) (*Harness[IN, OUT], error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	env := newEnv(cfg)
	in := freshet.FromSource[IN, inputSplit](env, input[IN]{}, "harness input")
	chain, err := plan(build(in), inputNode(in))
	if err != nil {
		return nil, err
	}
	if chain[0].Kind == graph.KindTwoInput {
		return nil, fmt.Errorf("freshettest: operator %q has two inputs; use New2", chain[0].Name)
	}
	h := &Harness[IN, OUT]{core: core[OUT]{cfg: cfg}}
	if err := h.build(chain); err != nil {
		_ = h.Close()
		return nil, err
	}
	head, ok := h.chain.Head().(operator.OneInput[IN])
	if !ok {
		_ = h.Close()
		return nil, fmt.Errorf("freshettest: operator %q does not read the input type", chain[0].Name)
	}
	h.head = head
	h.valve = valve.New(cfg.channels)
	return h, nil
}

// Process pushes v without a timestamp.
func (h *Harness[IN, OUT]) Process(v IN) error {
	return h.call(func() error {
		return h.head.ProcessElement(operator.Record[IN]{Value: v, Timestamp: operator.NoTimestamp})
	})
}

// ProcessAt pushes v with event-time timestamp ts.
func (h *Harness[IN, OUT]) ProcessAt(v IN, ts int64) error {
	return h.call(func() error { return h.head.ProcessElement(operator.Record[IN]{Value: v, Timestamp: ts}) })
}

// Watermark advances the watermark of every input channel to wm: due
// event-time timers fire, then the watermark is forwarded.
func (h *Harness[IN, OUT]) Watermark(wm int64) error {
	for ch := 0; ch < h.cfg.channels; ch++ {
		if err := h.WatermarkOn(ch, wm); err != nil {
			return err
		}
	}
	return nil
}

// WatermarkOn advances the watermark of input channel ch to wm. The
// operators see a new watermark only when the minimum over the active
// channels advances.
func (h *Harness[IN, OUT]) WatermarkOn(ch int, wm int64) error {
	if ch < 0 || ch >= h.cfg.channels {
		return fmt.Errorf("freshettest: channel %d of %d", ch, h.cfg.channels)
	}
	return h.call(func() error {
		if out, ok := h.valve.InputWatermark(ch, wm); ok {
			return h.head.ProcessWatermark(out)
		}
		return nil
	})
}

// MarkIdle marks input channel ch idle: it no longer holds the watermark
// back.
func (h *Harness[IN, OUT]) MarkIdle(ch int) error { return h.status(ch, true) }

// MarkActive marks input channel ch active again; it holds the watermark
// back once its own watermark has caught up.
func (h *Harness[IN, OUT]) MarkActive(ch int) error { return h.status(ch, false) }

// InputIdle reports whether every input channel is idle (the subtask would
// tell downstream it is idle).
func (h *Harness[IN, OUT]) InputIdle() bool { return h.valve.Idle() }

func (h *Harness[IN, OUT]) status(ch int, idle bool) error {
	if ch < 0 || ch >= h.cfg.channels {
		return fmt.Errorf("freshettest: channel %d of %d", ch, h.cfg.channels)
	}
	return h.call(func() error {
		if r := h.valve.InputStatus(ch, idle); r.EmitWatermark {
			return h.head.ProcessWatermark(r.Watermark)
		}
		return nil
	})
}

// EndInput ends the input as a bounded source does: the watermark jumps to
// the end of time (firing every event-time timer and window), then every
// operator finishes.
func (h *Harness[IN, OUT]) EndInput() error {
	return h.finish(h.head.ProcessWatermark)
}

// Harness2 drives a two-input operator (and the operators chained after it).
type Harness2[A, B, OUT any] struct {
	core[OUT]
	head operator.TwoInput[A, B]
}

// New2 builds the operators build adds after its two inputs and opens them.
func New2[A, B, OUT any](build func(a *freshet.Stream[A], b *freshet.Stream[B]) *freshet.Stream[OUT], opts ...Option) (*Harness2[A, B, OUT], error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	env := newEnv(cfg)
	a := freshet.FromSource[A, inputSplit](env, input[A]{}, "harness input 1")
	b := freshet.FromSource[B, inputSplit](env, input[B]{}, "harness input 2")
	chain, err := plan(build(a, b), inputNode(a), inputNode(b))
	if err != nil {
		return nil, err
	}
	h := &Harness2[A, B, OUT]{core: core[OUT]{cfg: cfg}}
	if err := h.build(chain); err != nil {
		_ = h.Close()
		return nil, err
	}
	head, ok := h.chain.Head().(operator.TwoInput[A, B])
	if !ok {
		_ = h.Close()
		return nil, fmt.Errorf("freshettest: operator %q is not a two-input operator of these types", chain[0].Name)
	}
	h.head = head
	return h, nil
}

// Process1 pushes v into the first input without a timestamp.
func (h *Harness2[A, B, OUT]) Process1(v A) error { return h.Process1At(v, operator.NoTimestamp) }

// Process1At pushes v into the first input with timestamp ts.
func (h *Harness2[A, B, OUT]) Process1At(v A, ts int64) error {
	return h.call(func() error { return h.head.ProcessElement1(operator.Record[A]{Value: v, Timestamp: ts}) })
}

// Process2 pushes v into the second input without a timestamp.
func (h *Harness2[A, B, OUT]) Process2(v B) error { return h.Process2At(v, operator.NoTimestamp) }

// Process2At pushes v into the second input with timestamp ts.
func (h *Harness2[A, B, OUT]) Process2At(v B, ts int64) error {
	return h.call(func() error { return h.head.ProcessElement2(operator.Record[B]{Value: v, Timestamp: ts}) })
}

// Watermark1 advances the first input's watermark.
func (h *Harness2[A, B, OUT]) Watermark1(wm int64) error {
	return h.call(func() error { return h.head.ProcessWatermark1(wm) })
}

// Watermark2 advances the second input's watermark.
func (h *Harness2[A, B, OUT]) Watermark2(wm int64) error {
	return h.call(func() error { return h.head.ProcessWatermark2(wm) })
}

// MarkIdle1 marks the first input idle: a two-input operator leaves it out
// of its watermark.
func (h *Harness2[A, B, OUT]) MarkIdle1() error { return h.inputStatus(1, true) }

// MarkActive1 marks the first input active again.
func (h *Harness2[A, B, OUT]) MarkActive1() error { return h.inputStatus(1, false) }

// MarkIdle2 marks the second input idle.
func (h *Harness2[A, B, OUT]) MarkIdle2() error { return h.inputStatus(2, true) }

// MarkActive2 marks the second input active again.
func (h *Harness2[A, B, OUT]) MarkActive2() error { return h.inputStatus(2, false) }

func (h *Harness2[A, B, OUT]) inputStatus(input int, idle bool) error {
	return h.call(func() error {
		return h.head.ProcessInputStatus(input, idle)
	})
}

// EndInput ends both inputs (see Harness.EndInput).
func (h *Harness2[A, B, OUT]) EndInput() error {
	return h.finish(func(wm int64) error {
		if err := h.head.ProcessWatermark1(wm); err != nil {
			return err
		}
		return h.head.ProcessWatermark2(wm)
	})
}

func inputNode(s any) *graph.Node {
	_, n, _ := bridge.Graph(s)
	return n
}

// input is the placeholder source a harness's input stream comes from; it
// never runs.
type input[T any] struct{}

type inputSplit struct{}

func (inputSplit) SplitID() string { return "harness" }

func (input[T]) Boundedness() source.Boundedness { return source.Unbounded }
func (input[T]) CreateEnumerator(source.EnumeratorContext[inputSplit]) (source.Enumerator[inputSplit], error) {
	return nil, errors.New("freshettest: the harness input is not a real source")
}
func (input[T]) CreateReader(source.ReaderContext) (source.Reader[T, inputSplit], error) {
	return nil, errors.New("freshettest: the harness input is not a real source")
}
func (input[T]) RestoreEnumerator(source.EnumeratorContext[inputSplit], []inputSplit) (source.Enumerator[inputSplit], error) {
	return nil, errors.New("freshettest: the harness input is not a real source")
}

// harnessTimers is the harness's manual processing-time service.
type harnessTimers struct {
	now   *int64
	queue task.TimerQueue
}

func (t *harnessTimers) Now() int64                         { return *t.now }
func (t *harnessTimers) Schedule(ts int64, fn func() error) { t.queue.Add(ts, fn) }
