// Package task runs one subtask: a goroutine that owns an operator chain,
// takes elements from its input gate (or its source reader), calls the
// operators directly, and hands their output to record writers.
//
// The loop also runs mail — functions other goroutines post to the task, such
// as split assignments and timers — between elements, so every operator
// method is called from this one goroutine (Flink's mailbox model).
//
// The subtask never waits inside an operator for room downstream: before it
// takes its next input (or polls its source) it checks that every output is
// available, and while one is not it waits for "output available, or mail,
// or ctx done", running mail as it comes. So timers, split assignments and
// priority mail (checkpoint triggers, barriers) run under backpressure. What
// one input element emits beyond the room left goes into the channels'
// overdraft (see exchange.Overdraft).
//
// Goroutines: Run is the subtask's goroutine and the only one that calls
// into the chain. Post and PostPriority may be called from any goroutine, at
// any time, and never block. HandleEvent runs only on the subtask's
// goroutine, as mail.
package task

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/freshet-io/freshet/internal/checkpoint/barrier"
	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/metrics"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
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
	// StateBackend is where operators keep keyed state; the zero value is
	// the heap backend.
	StateBackend statebackend.Config
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
	// SendEvent sends a source reader's encoded event to its coordinator.
	SendEvent func(event []byte)
	// Clock returns the processing time; nil means the machine clock.
	Clock func() time.Time
	// Checkpoints, when set, makes the subtask take part in checkpoints.
	Checkpoints *CheckpointSpec
	// Restore, when set, is the checkpoint the subtask starts from.
	Restore *Restore
	// Logger receives the subtask's warnings; nil logs nothing.
	Logger *slog.Logger
	// Metrics receives the subtask's counters, updated once per batch or
	// event by the subtask's goroutine; nil keeps them to the task.
	Metrics *metrics.Subtask
	// Running, when set, is called on the subtask's goroutine once its
	// operators are built, restored and open, before it takes input.
	Running func()
}

// Task is one running subtask.
type Task struct {
	spec  Spec
	mail  *mailbox
	chain *Chain
	head  operator.Operator
	// one or two is the head's watermark input, by the kind of its node.
	one     operator.WatermarkInput
	two     operator.TwoWatermarkInputs
	writers []graph.Writer
	readers [3]func(*exchange.Envelope) error
	inputOf []int // gate channel → input 1 or 2
	local   []int // gate channel → index among the channels of its input
	valves  [3]*valve.Valve
	ended   int
	timers  *procTimers
	idleOut bool // the subtask told downstream it is idle

	// Checkpointing: the barrier handler of a subtask with inputs, the
	// channel state being recorded, the state files being written, the
	// alignment timeout armed, and restored in-flight records to replay.
	barriers   *barrier.Handler
	chState    *channelState
	async      sync.WaitGroup
	alignTimer time.Time
	replay     []byte
	// barrierCh and barrierSeq are the channel and position of the
	// barrier being handled (-1 when none).
	barrierCh  int
	barrierSeq int64
	// sourceDone ends a source after a draining savepoint's barrier;
	// suspended stops it reading after a stopping one.
	sourceDone, suspended bool
	// The end of input: the channels whose data ended (KindEndOfData),
	// whether the operators finished, the first checkpoint taken after
	// they did and the newest checkpoint known complete.
	dataDone  []bool
	dataEnded int
	finished  bool
	finalID   int64
	completed int64
	// lastCheckpoint is the newest checkpoint the subtask snapshotted.
	lastCheckpoint int64
	// savepointBarriers handles savepoints' barriers, aligned, in a job
	// whose checkpoints may be unaligned; inSavepoint is set while one is
	// handled, so what it forwards is marked a savepoint's.
	savepointBarriers *barrier.Handler
	inSavepoint       bool
	// runCtx is the context the chain runs in, for waits outside the
	// main loop (Gate.Spill).
	runCtx context.Context
	// m counts records, bytes, backpressure and the input watermark;
	// inputWM holds each input's watermark (index 1 and 2).
	m       *metrics.Subtask
	inputWM [3]int64
}

// New returns a task for spec; Run starts it.
func New(spec Spec) *Task {
	t := &Task{spec: spec, mail: newMailbox(), barrierCh: -1, m: spec.Metrics}
	if t.m == nil {
		t.m = metrics.NewSubtask(spec.Attempt)
	}
	t.inputWM = [3]int64{metrics.NoWatermark, metrics.NoWatermark, metrics.NoWatermark}
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
func (t *Task) HandleEvent(event []byte) error {
	d, ok := t.head.(operator.SourceDriver)
	if !ok {
		return fmt.Errorf("%s for a task without a source", operator.DescribeEvent(event))
	}
	return d.HandleEvent(event)
}

// Post runs f on the task's goroutine between elements, after the mail
// posted before it. Any goroutine may call it; it never blocks, also while
// the subtask waits for room downstream (the mailbox is unbounded). It
// returns ErrTaskEnded once the task has stopped; mail still queued then
// never runs.
func (t *Task) Post(f func() error) error {
	if !t.mail.put(f, false) {
		return ErrTaskEnded
	}
	return nil
}

// PostPriority is Post for the priority lane: f runs before any ordinary
// mail, even mail posted earlier, and before the subtask takes its next
// input or polls its source again. Priority mail runs in the order it was
// posted. Checkpoint triggers and barriers that overtake data go here.
func (t *Task) PostPriority(f func() error) error {
	if !t.mail.put(f, true) {
		return ErrTaskEnded
	}
	return nil
}

// Name is the subtask's name for messages, as Flink prints it.
func (t *Task) Name() string {
	v := t.spec.Vertex
	return fmt.Sprintf("%s (%d/%d)", v.Name(), t.spec.Subtask+1, v.Parallelism)
}

// Run runs the subtask until its input ends, ctx ends, or it fails.
// A cancellation returns ctx's error; a failure returns an *operator.Error.
func (t *Task) Run(ctx context.Context) (err error) {
	defer t.mail.close()
	defer t.timers.stop()
	// The chain's first failure cancels its context, so that code waiting
	// on it (a reader, a sink) stops while the failure is reported.
	chainCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = &operator.Error{Operator: t.spec.Vertex.Name(), Subtask: t.spec.Subtask, Attempt: t.spec.Attempt,
				Err: &operator.PanicError{Value: r}, Stack: string(debug.Stack())}
		}
		if t.chain != nil {
			if cerr := t.chain.Close(); err == nil && cerr != nil {
				err = cerr
			}
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
	if err := t.build(chainCtx, cancel); err != nil {
		return err
	}
	if err := t.restore(chainCtx); err != nil {
		return t.chain.Wrap(err)
	}
	if err := t.initCheckpoints(); err != nil {
		return t.chain.Wrap(err)
	}
	if err := t.open(chainCtx); err != nil {
		return err
	}
	if t.spec.Running != nil {
		t.spec.Running()
	}
	if src, ok := t.head.(operator.SourceDriver); ok {
		err = t.runSource(chainCtx, src)
	} else {
		err = t.runInputs(chainCtx)
	}
	if err != nil {
		return t.chain.Wrap(err)
	}
	if !t.finished {
		if err := t.finishData(chainCtx); err != nil {
			return err
		}
	}
	if err := t.awaitFinal(chainCtx); err != nil {
		return t.chain.Wrap(err)
	}
	if t.finalID == 0 || t.completed < t.finalID {
		if err := t.chain.RunFinal(); err != nil {
			return err
		}
	}
	if err := t.chain.Wrap(t.endOutputs()); err != nil {
		return err
	}
	// A finished subtask owes no later checkpoint, so the ones it took
	// must be acknowledged before it reports that it finished.
	t.async.Wait()
	return nil
}

// build creates the chain's operators and wires their outputs.
func (t *Task) build(ctx context.Context, cancel func()) error {
	t.runCtx = ctx
	v := t.spec.Vertex
	jobEdge := map[*graph.Edge]*graph.JobEdge{}
	for _, je := range v.Outputs {
		jobEdge[je.Edge] = je
	}
	chain, err := NewChain(v.Nodes, t.spec.Subtask, t.spec.Attempt, Ends{
		Edge: func(e *graph.Edge, f *operator.Failure) (any, error) {
			je, ok := jobEdge[e]
			if !ok {
				return nil, nil
			}
			w, err := t.newWriter(ctx, je, f)
			if err != nil {
				return nil, err
			}
			t.writers = append(t.writers, w)
			return w.Output(), nil
		},
	}, cancel)
	t.chain = chain
	if err != nil {
		return err
	}
	t.head = chain.Head()
	// NewChain checked that the head implements its kind's interface.
	if v.Head().Kind == graph.KindTwoInput {
		t.two = t.head.(operator.TwoWatermarkInputs)
	} else {
		t.one, _ = t.head.(operator.WatermarkInput)
	}
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
		input := in
		if head.Kind != graph.KindTwoInput {
			input = 0
		}
		r, err := typ.NewReader(t.head, input)
		if err != nil {
			return chain.Wrap(err)
		}
		t.readers[in] = r
		if perInput[in] > 0 {
			t.valves[in] = valve.New(perInput[in])
		}
	}
	return nil
}

func (t *Task) newWriter(ctx context.Context, je *graph.JobEdge, failure *operator.Failure) (graph.Writer, error) {
	var targets []exchange.ChannelWriter
	for _, j := range je.Targets(t.spec.Subtask) {
		cw, err := t.spec.Channel(ctx, je.Target.ID, j, je.Channel(t.spec.Subtask, j))
		if err != nil {
			return nil, fmt.Errorf("connecting to %s subtask %d: %w", je.Target.Name(), j, err)
		}
		targets = append(targets, countingWriter{cw, t.m})
	}
	from := je.Edge.From
	typ := from.Out
	if je.Edge.Tag != "" {
		typ = from.Side[je.Edge.Tag]
	}
	return typ.NewWriter(ctx, targets, je.Edge.Part, t.spec.Subtask, je.Target.MaxParallelism, exchange.WriterConfig{BatchSize: t.spec.Config.BatchSize, Encode: t.spec.Config.Encode, Failure: failure})
}

func (t *Task) open(ctx context.Context) error {
	v := t.spec.Vertex
	if src, ok := t.head.(operator.SourceDriver); ok {
		src.SetEventSender(t.spec.SendEvent)
	}
	t.chain.MakeBackends(t.newBackend)
	t.chain.UseMetrics(t.m)
	var restored int64
	if r := t.spec.Restore; r != nil {
		restored = int64(r.Checkpoint.ID)
	}
	return t.chain.Open(operator.Context{
		Ctx: ctx, JobName: t.spec.Config.JobName, Subtask: t.spec.Subtask,
		Parallelism: v.Parallelism, Attempt: t.spec.Attempt, RestoredCheckpoint: restored,
		Timers:                t.timers,
		SetIdle:               t.setIdle,
		AutoWatermarkInterval: t.spec.Config.AutoWatermarkInterval,
	})
}

// backendConfig is the state backend configuration of the operator of
// node n in this subtask: the job's, with the operator's directory of
// local checkpoint copies.
func (t *Task) backendConfig(n *graph.Node) statebackend.Config {
	cfg := t.spec.Config.StateBackend
	if cfg.Pebble.LocalRoot != "" {
		cfg.Pebble.LocalDir = filepath.Join(cfg.Pebble.LocalRoot, localName(n.StateID())+"-"+strconv.Itoa(t.spec.Subtask))
	}
	return cfg
}

// localName is id reduced to characters safe in a file name.
func localName(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, id)
}

// newBackend returns how the operator of node n makes its state backend:
// nil, the heap default, unless the job names another.
func (t *Task) newBackend(n *graph.Node) func(int) (statebackend.Backend, error) {
	if t.spec.Config.StateBackend.IsHeap() {
		return nil
	}
	return t.backendConfig(n).New
}

func (t *Task) flush() error {
	for _, w := range t.writers {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// runMail runs f, a mail or a timer, as a call into the chain.
func (t *Task) runMail(f func() error) error { return t.chain.Call(f) }

// drainMail runs the mail queued when it is called, priority mail first.
// Mail put meanwhile waits for the next call, so a subtask whose mail
// keeps coming (a checkpoint triggered as soon as the last one completes,
// with a slow snapshot) still reads its input in between.
func (t *Task) drainMail() error {
	for n := t.mail.pending.Load(); n > 0; n-- {
		f := t.mail.take()
		if f == nil {
			return nil
		}
		if err := t.runMail(f); err != nil {
			return err
		}
	}
	return nil
}

// outputAvailable reports whether every output has room; no output (a sink
// chain) always has.
func (t *Task) outputAvailable() bool {
	for _, w := range t.writers {
		if !w.IsAvailable() {
			return false
		}
	}
	return true
}

// awaitOutput returns once every output has room, running mail while it
// waits. It does not flush: a full output's consumer has work queued, and a
// flush would spend the overdraft on a partial batch.
func (t *Task) awaitOutput(ctx context.Context) error {
	for {
		if err := t.drainMail(); err != nil {
			return err
		}
		var wait <-chan struct{}
		for _, w := range t.writers {
			if !w.IsAvailable() {
				wait = w.Available()
				break
			}
		}
		if wait == nil {
			return nil
		}
		t.m.BackPressureStart(time.Now())
		select {
		case <-wait:
		case <-t.mail.wake:
		case <-ctx.Done():
			t.m.BackPressureEnd(time.Now())
			return ctx.Err()
		}
		t.m.BackPressureEnd(time.Now())
	}
}

// beforeInput runs the queued mail and waits for room in every output; the
// loops call it before they take an input element or poll the source.
func (t *Task) beforeInput(ctx context.Context) error {
	if t.mail.hasMail() {
		if err := t.drainMail(); err != nil {
			return err
		}
	}
	if t.outputAvailable() {
		return nil
	}
	return t.awaitOutput(ctx)
}

func (t *Task) runSource(ctx context.Context, src operator.SourceDriver) error {
	timeout := t.spec.Config.BufferTimeout
	lastFlush := time.Now()
	var status source.InputStatus
	poll := func() error {
		var err error
		status, err = src.Poll()
		if err != nil {
			return fmt.Errorf("reading source: %w", err)
		}
		return nil
	}
	for {
		if err := t.beforeInput(ctx); err != nil {
			return err
		}
		if t.sourceDone {
			return nil
		}
		if t.suspended {
			if err := t.flush(); err != nil {
				return err
			}
			select {
			case <-t.mail.wake:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		if err := t.chain.Call(poll); err != nil {
			return err
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
			case <-t.mail.wake: // the loop runs the mail
			case <-ctx.Done():
				return ctx.Err()
			}
		case source.EndOfInput:
			return t.chain.Call(func() error { src.EndOfInput(); return nil })
		}
	}
}

func (t *Task) runInputs(ctx context.Context) error {
	gate := t.spec.Gate
	total := gate.NumChannels()
	t.dataDone = make([]bool, total)
	timeout := t.spec.Config.BufferTimeout
	lastFlush := time.Now()
	idle := func() error {
		lastFlush = time.Now()
		return t.flush()
	}
	var e exchange.Envelope
	handle := func() error { return t.handle(&e) }
	for t.ended < total {
		if err := t.beforeInput(ctx); err != nil {
			return err
		}
		if len(t.replay) > 0 {
			var err error
			if e, err = t.nextReplay(); err != nil {
				return err
			}
			if err := t.chain.Call(handle); err != nil {
				return err
			}
			continue
		}
		var woken bool
		var err error
		e, woken, err = gate.Next(ctx, idle, t.mail.wake)
		if err != nil {
			return err
		}
		if woken {
			continue // the loop runs the mail
		}
		if err := t.chain.Call(handle); err != nil {
			return err
		}
		if !t.finished && t.dataEnded == total {
			if err := t.finishData(ctx); err != nil {
				return err
			}
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
		t.m.AddIn(e.Count, len(e.Bytes))
		if t.chState != nil {
			if err := t.record(e); err != nil {
				return err
			}
		}
		return t.readers[in](e)
	case exchange.KindBarrier, exchange.KindCancelBarrier:
		return t.onBarrier(e)
	case exchange.KindWatermark:
		return t.watermark(in, e.Channel, e.Watermark)
	case exchange.KindEndOfData:
		return t.endOfData(in, e.Channel)
	case exchange.KindEndOfInput:
		if !t.dataDone[e.Channel] {
			if err := t.endOfData(in, e.Channel); err != nil {
				return err
			}
		}
		t.ended++
		if t.barriers != nil {
			if err := t.apply(t.barriers.EndOfInput(e.Channel)); err != nil {
				return err
			}
		}
		if t.savepointBarriers != nil {
			t.inSavepoint = true
			err := t.apply(t.savepointBarriers.EndOfInput(e.Channel))
			t.inSavepoint = false
			if err != nil {
				return err
			}
		}
		return nil
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
	if t.two != nil {
		if err := t.two.ProcessInputStatus(in, r.Idle); err != nil {
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

// forwardWatermark hands input in's new watermark to the chain's head,
// through the interface of its kind (checked when the chain was built).
func (t *Task) forwardWatermark(in int, out int64) error {
	t.inputWM[in] = out
	switch {
	case t.two == nil:
		t.m.SetInputWatermark(out)
	case t.valves[1] == nil || t.valves[2] == nil:
		t.m.SetInputWatermark(max(t.inputWM[1], t.inputWM[2]))
	default:
		t.m.SetInputWatermark(min(t.inputWM[1], t.inputWM[2]))
	}
	switch {
	case t.two == nil:
		return t.one.ProcessWatermark(out)
	case in == 1:
		return t.two.ProcessWatermark1(out)
	}
	return t.two.ProcessWatermark2(out)
}

// endOfData ends the data of channel ch of input in: its watermark no
// longer holds the input back.
func (t *Task) endOfData(in, ch int) error {
	if t.dataDone[ch] {
		return nil
	}
	t.dataDone[ch] = true
	t.dataEnded++
	if err := t.status(in, ch, false); err != nil {
		return err
	}
	return t.watermark(in, ch, math.MaxInt64)
}

// finishData finishes the operators once the input's data ended, and
// tells every downstream channel that the data ended: the subtask still
// takes checkpoints, now of its finished operators.
func (t *Task) finishData(ctx context.Context) error {
	if err := t.chain.Finish(); err != nil {
		return err
	}
	t.finished = true
	// Wait for room running mail, so that a checkpoint triggered now is
	// not held up behind the backlog downstream.
	if err := t.awaitOutput(ctx); err != nil {
		return err
	}
	return t.chain.Wrap(t.sendEvent(exchange.Envelope{Kind: exchange.KindEndOfData}))
}

// awaitFinal waits, running mail, for a checkpoint taken after the
// operators finished to complete, when the job takes checkpoints: a
// source asks for one, a subtask with inputs waits for the one it took at
// its inputs' final barriers (it took none if its upstream subtasks ended
// without one, as after a savepoint that stops the job).
func (t *Task) awaitFinal(ctx context.Context) error {
	cs := t.spec.Checkpoints
	if cs == nil || !cs.Final {
		return nil
	}
	if t.spec.Gate == nil {
		if t.sourceDone || t.suspended {
			return nil
		}
		if t.finalID == 0 && cs.AwaitFinal != nil {
			cs.AwaitFinal()
		}
	} else if t.finalID == 0 {
		return nil
	}
	for t.finalID == 0 || t.completed < t.finalID {
		if err := t.drainMail(); err != nil {
			return err
		}
		if t.finalID != 0 && t.completed >= t.finalID {
			return nil
		}
		select {
		case <-t.mail.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// endOutputs tells every downstream channel the input ended.
func (t *Task) endOutputs() error {
	for _, w := range t.writers {
		if err := w.Event(exchange.Envelope{Kind: exchange.KindEndOfInput}); err != nil {
			return err
		}
	}
	return nil
}

// countingWriter counts the records and encoded bytes of every batch sent
// to a channel.
type countingWriter struct {
	exchange.ChannelWriter
	m *metrics.Subtask
}

// Remote implements exchange.RemoteChannel: a channel to another
// TaskManager stays one through the count, so its batches are encoded.
func (w countingWriter) Remote() bool {
	r, ok := w.ChannelWriter.(exchange.RemoteChannel)
	return ok && r.Remote()
}

// CopiesBytes implements exchange.CopyingChannel: the count keeps no
// reference to what it counts.
func (w countingWriter) CopiesBytes() bool {
	c, ok := w.ChannelWriter.(exchange.CopyingChannel)
	return ok && c.CopiesBytes()
}

func (w countingWriter) Send(ctx context.Context, e exchange.Envelope) error {
	if e.Kind == exchange.KindRecords || e.Kind == exchange.KindEncoded {
		w.m.AddOut(e.Count, len(e.Bytes))
	}
	return w.ChannelWriter.Send(ctx, e)
}
