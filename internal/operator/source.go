package operator

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"sync"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
)

// Coordinator runs a source's enumerator for one job run. Its methods may be
// called from any goroutine; it serializes them onto its own.
type Coordinator interface {
	Start(ctx context.Context) error
	// ReaderStarted is called when a reader subtask has opened.
	ReaderStarted(subtask int)
	// HandleEvent handles an event a reader sent, encoded (see
	// EncodeSplitRequest).
	HandleEvent(subtask int, event []byte)
	// Checkpoint snapshots the enumerator for checkpoint id on the
	// coordinator's goroutine and calls done there with its encoded state:
	// events the coordinator sends to readers from then on are sent after
	// whatever done sends (the checkpoint's trigger), as Flink closes its
	// event valve until the barriers are injected.
	Checkpoint(id int64, done func(state []byte, err error))
	// Close stops the coordinator and waits for its goroutine.
	Close() error
}

// The events between a source's coordinator and its readers cross as
// bytes, as they would between processes: a kind, then for a split
// assignment the splits encoded with their codec (as the enumerator's
// checkpoints encode them).
const (
	// eventSplitRequest: a reader asks for a split.
	eventSplitRequest byte = 1 + iota
	// eventAddSplits hands splits to a reader.
	eventAddSplits
	// eventNoMoreSplits tells a reader no more splits will come.
	eventNoMoreSplits
)

// EncodeSplitRequest returns the event a reader sends to ask for a split.
func EncodeSplitRequest() []byte { return []byte{eventSplitRequest} }

// EncodeNoMoreSplits returns the event that tells a reader no more splits
// will come.
func EncodeNoMoreSplits() []byte { return []byte{eventNoMoreSplits} }

// EncodeAddSplits returns the event that hands splits to a reader.
func EncodeAddSplits[S any](splits []S) ([]byte, error) {
	b, err := codec.Marshal(splits)
	if err != nil {
		return nil, fmt.Errorf("encoding splits: %w", err)
	}
	return append([]byte{eventAddSplits}, b...), nil
}

// DescribeEvent names an encoded event for messages.
func DescribeEvent(event []byte) string {
	if len(event) == 0 {
		return "empty event"
	}
	switch event[0] {
	case eventSplitRequest:
		return "split request"
	case eventAddSplits:
		return "split assignment"
	case eventNoMoreSplits:
		return "no more splits"
	}
	return fmt.Sprintf("unknown event kind %d", event[0])
}

// SourceDriver is how a source subtask drives its reader; a source node's
// operator must implement it.
type SourceDriver interface {
	Operator
	// EndOfInput is called once the reader has read everything: the
	// source's event time jumps to the end.
	EndOfInput()
	// Poll lets the reader emit; see source.Reader.PollNext.
	Poll() (source.InputStatus, error)
	Available() <-chan struct{}
	// HandleEvent handles an encoded event from the coordinator.
	HandleEvent(event []byte) error
	// SetEventSender gives the driver the way to reach its coordinator.
	SetEventSender(send func(event []byte))
}

// Source is the operator that runs a source's reader in a subtask. With a
// watermark strategy, it assigns timestamps and generates watermarks per
// split (for readers that use per-split outputs) or for the whole reader.
type Source[T any, S source.Split] struct {
	Src        source.Source[T, S]
	Watermarks *watermark.Strategy[T]
	out        Output[T]
	reader     source.Reader[T, S]
	send       func(event []byte)
	ctx        *Context
	emit       sourceOutput[T]
	splits     *watermark.SplitWatermarks[T]
	ended      bool
	run        *runOutput[T] // s.out, when the chain takes runs
	// side are the side outputs the job reads (tag id → Output[X]), and
	// sideEmit their Collect methods, found on first use.
	side     map[string]any
	sideEmit map[string]reflect.Value
}

// sourceOutput is the reader's output; with a strategy it runs the split's
// watermark generator on every record.
type sourceOutput[T any] struct {
	// run, when set, is out: the source has no watermark strategy and its
	// chain takes runs, so records are appended to the run directly.
	run   *runOutput[T]
	out   Output[T]
	split *watermark.SplitOutput[T] // nil without a strategy
	// wm, when set, creates the shared split on the first record collected
	// without a split, so readers that only use per-split outputs are not
	// held back by an empty shared split.
	wm *watermark.SplitWatermarks[T]
	op interface {
		forSplit(id string) *sourceOutput[T]
		releaseSplit(id string)
		emitToSide(id string, v any, ts int64) error
	}
}

func (o *sourceOutput[T]) Collect(v T) {
	if r := o.run; r != nil {
		r.buf = append(r.buf, Record[T]{Value: v, Timestamp: NoTimestamp})
		if len(r.buf) == cap(r.buf) {
			r.flush()
		}
		return
	}
	o.CollectWithTimestamp(v, NoTimestamp)
}

// CollectAll implements source.BatchOutput.
func (o *sourceOutput[T]) CollectAll(vs []T) {
	r := o.run
	if r == nil {
		for _, v := range vs {
			o.CollectWithTimestamp(v, NoTimestamp)
		}
		return
	}
	for len(vs) > 0 {
		m := len(r.buf)
		n := min(len(vs), cap(r.buf)-m)
		rs := r.buf[m : m+n]
		// Field by field: a Record literal would copy each value
		// twice more.
		for i := range rs {
			rs[i].Value = vs[i]
			rs[i].Timestamp = NoTimestamp
		}
		r.buf = r.buf[:m+n]
		vs = vs[n:]
		if len(r.buf) == cap(r.buf) {
			r.flush()
		}
	}
}

func (o *sourceOutput[T]) CollectWithTimestamp(v T, ts int64) {
	if r := o.run; r != nil {
		r.buf = append(r.buf, Record[T]{Value: v, Timestamp: ts})
		if len(r.buf) == cap(r.buf) {
			r.flush()
		}
		return
	}
	if o.split == nil {
		if o.wm == nil {
			o.out.Collect(Record[T]{Value: v, Timestamp: ts})
			return
		}
		o.split = o.wm.AddSplit("")
	}
	ts = o.split.AssignTimestamp(v, ts)
	o.out.Collect(Record[T]{Value: v, Timestamp: ts})
	o.split.OnEvent(v, ts)
}

// EmitToSide implements source.SideOutput.
func (o *sourceOutput[T]) EmitToSide(id string, v any, ts int64) error {
	return o.op.emitToSide(id, v, ts)
}

// ForSplit implements source.SplitOutputs.
func (o *sourceOutput[T]) ForSplit(id string) source.Output[T] { return o.op.forSplit(id) }

// ReleaseSplit implements source.SplitOutputs.
func (o *sourceOutput[T]) ReleaseSplit(id string) { o.op.releaseSplit(id) }

func (s *Source[T, S]) forSplit(id string) *sourceOutput[T] {
	if s.splits == nil {
		return &s.emit
	}
	return &sourceOutput[T]{out: s.out, split: s.splits.AddSplit(id), op: s}
}

// emitToSide emits v to side output id. The output's record type is only
// known at run time, so the record is built by reflection: side outputs
// of sources carry exceptions (bad records), not the bulk of the data.
func (s *Source[T, S]) emitToSide(id string, v any, ts int64) error {
	o, ok := s.side[id]
	if !ok {
		return nil
	}
	collect, ok := s.sideEmit[id]
	if !ok {
		collect = reflect.ValueOf(o).MethodByName("Collect")
		if s.sideEmit == nil {
			s.sideEmit = map[string]reflect.Value{}
		}
		s.sideEmit[id] = collect
	}
	rec := reflect.New(collect.Type().In(0)).Elem()
	val := rec.FieldByName("Value")
	if v == nil || !reflect.TypeOf(v).AssignableTo(val.Type()) {
		return fmt.Errorf("%w: emitting %T to side output %q, which carries %s", ErrSideOutputType, v, id, val.Type())
	}
	val.Set(reflect.ValueOf(v))
	rec.FieldByName("Timestamp").SetInt(ts)
	collect.Call([]reflect.Value{rec})
	return nil
}

// sideWatermark forwards the source's watermark to its side outputs.
func (s *Source[T, S]) sideWatermark(wm int64) {
	for _, o := range s.side {
		o.(WatermarkOutput).EmitWatermark(wm)
	}
}

func (s *Source[T, S]) releaseSplit(id string) {
	if s.splits != nil {
		s.splits.RemoveSplit(id)
	}
}

// wmOutput forwards generated watermarks and idleness to the subtask.
type wmOutput[T any] struct {
	out   Output[T]
	ctx   *Context
	ended *bool
	flush func()
	side  func(wm int64)
}

func (w wmOutput[T]) EmitWatermark(ts int64) {
	if !*w.ended {
		w.out.EmitWatermark(ts)
		w.side(ts)
	}
}

func (w wmOutput[T]) MarkIdle()   { w.setIdle(true) }
func (w wmOutput[T]) MarkActive() { w.setIdle(false) }

func (w wmOutput[T]) setIdle(idle bool) {
	if w.ctx.SetIdle != nil && !*w.ended {
		w.flush()
		w.ctx.Failure.Raise(w.ctx.SetIdle(idle))
	}
}

// periodicEmit runs the generators' periodic emission every interval.
func (s *Source[T, S]) periodicEmit() error {
	if s.ended || s.splits == nil {
		return nil
	}
	s.splits.OnPeriodicEmit()
	s.schedule()
	return nil
}

func (s *Source[T, S]) schedule() {
	if iv := s.ctx.AutoWatermarkInterval; iv > 0 && s.ctx.Timers != nil {
		s.ctx.Timers.Schedule(s.ctx.Timers.Now()+iv.Milliseconds(), s.periodicEmit)
	}
}

// runOutput gathers the records a reader emits into runs for an output that
// takes them. Anything else sent through it (a watermark) first hands down
// the pending run, and the source hands it down at the end of every poll and
// before it marks the subtask idle or active, so the run never reorders
// records and events.
type runOutput[T any] struct {
	out BatchOutput[T]
	buf []Record[T]
}

// sourceRun is the most records a source hands down its chain at once.
const sourceRun = 256

func (r *runOutput[T]) Collect(rec Record[T]) {
	r.buf = append(r.buf, rec)
	if len(r.buf) == cap(r.buf) {
		r.flush()
	}
}

func (r *runOutput[T]) EmitWatermark(wm int64) {
	r.flush()
	r.out.EmitWatermark(wm)
}

func (r *runOutput[T]) flush() {
	if len(r.buf) == 0 {
		return
	}
	rs := r.buf
	r.buf = r.buf[:0]
	r.out.CollectBatch(rs)
}

// flush hands down the records of the current poll.
func (s *Source[T, S]) flush() {
	if s.run != nil {
		s.run.flush()
	}
}

// Setup implements Setup.
func (s *Source[T, S]) Setup(main any, side map[string]any) error {
	s.side = side
	s.out = main.(Output[T])
	if b, ok := s.out.(BatchOutput[T]); ok {
		s.run = &runOutput[T]{out: b, buf: make([]Record[T], 0, sourceRun)}
		s.out = s.run
	}
	s.emit.out = s.out
	s.emit.op = s
	return nil
}

// SetEventSender implements SourceDriver.
func (s *Source[T, S]) SetEventSender(send func(event []byte)) { s.send = send }

// Open implements Operator.
func (s *Source[T, S]) Open(ctx *Context) error {
	s.ctx = ctx
	r, err := s.Src.CreateReader(readerContext{ctx: ctx, send: s.send})
	if err != nil {
		return fmt.Errorf("creating source reader: %w", err)
	}
	s.reader = r
	if s.Watermarks != nil {
		sw, err := s.Watermarks.NewSplitWatermarks(wmOutput[T]{out: s.out, ctx: ctx, ended: &s.ended, flush: s.flush, side: s.sideWatermark})
		if err != nil {
			return err
		}
		s.splits = sw
		// Records collected without a split go through one shared split.
		// With idleness it exists from the start, so a reader that never
		// emits becomes idle; without, it is created by the first record, so
		// readers that emit per split are not held back by it.
		s.emit.wm = sw
		if s.Watermarks.HasIdleness() {
			s.emit.split = sw.AddSplit("")
		}
		s.schedule()
	}
	if s.Watermarks == nil {
		s.emit.run = s.run
	}
	if err := checkReaderListener(r); err != nil {
		return err
	}
	if err := checkReaderInterface(r, reflect.TypeFor[source.UnionStateReader]()); err != nil {
		return err
	}
	// What a reader keeps for every reader is union list state: on a
	// restore each subtask gets the elements of all.
	var union *statebackend.OpList[[]byte]
	u, hasUnion := r.(source.UnionStateReader)
	if hasUnion {
		if union, err = statebackend.GetList[[]byte](ctx.State(), sourceUnionState, statebackend.Union, nil); err != nil {
			return err
		}
		if ctx.IsRestored() {
			if err := u.RestoreUnionState(union.Values); err != nil {
				return fmt.Errorf("restoring union state of source reader %T: %w", r, err)
			}
		}
		union.Values = nil
	}
	// The reader's splits are list state, split evenly on a restore at
	// another parallelism, as Flink's source operator keeps them.
	splits, err := statebackend.GetList[S](ctx.State(), sourceSplitsState, statebackend.SplitEven, nil)
	if err != nil {
		return err
	}
	if len(splits.Values) > 0 {
		r.AddSplits(splits.Values)
	}
	splits.Values = nil
	hooks := CheckpointHooks{Snapshot: func(id int64) error {
		ss, err := r.SnapshotState(id)
		if err != nil {
			return fmt.Errorf("snapshotting source reader: %w", err)
		}
		splits.Values = ss
		if hasUnion {
			els, err := u.SnapshotUnionState(id)
			if err != nil {
				return fmt.Errorf("snapshotting union state of source reader %T: %w", r, err)
			}
			union.Values = els
		}
		return nil
	}}
	if l, ok := r.(source.CheckpointListener); ok {
		hooks.Complete = func(id int64) error {
			if err := l.NotifyCheckpointComplete(id); err != nil {
				return fmt.Errorf("source reader %T: checkpoint %d complete: %w", r, id, err)
			}
			return nil
		}
		hooks.Aborted = func(id int64) error {
			if err := l.NotifyCheckpointAborted(id); err != nil {
				return fmt.Errorf("source reader %T: checkpoint %d aborted: %w", r, id, err)
			}
			return nil
		}
		hooks.Final = func() error {
			if err := l.NotifyCheckpointComplete(source.EndOfInputCheckpoint); err != nil {
				return fmt.Errorf("source reader %T: end of input: %w", r, err)
			}
			return nil
		}
	}
	ctx.OnCheckpoint(hooks)
	if err := r.Start(ctx.Ctx); err != nil {
		return fmt.Errorf("starting source reader: %w", err)
	}
	return nil
}

// Poll implements SourceDriver.
func (s *Source[T, S]) Poll() (source.InputStatus, error) {
	st, err := s.reader.PollNext(&s.emit)
	s.flush()
	return st, err
}

// Available implements SourceDriver.
func (s *Source[T, S]) Available() <-chan struct{} { return s.reader.Available() }

// HandleEvent implements SourceDriver.
func (s *Source[T, S]) HandleEvent(event []byte) error {
	switch {
	case len(event) > 0 && event[0] == eventAddSplits:
		splits, err := codec.Unmarshal[[]S](event[1:])
		if err != nil {
			return fmt.Errorf("source reader decoding splits: %w", err)
		}
		s.reader.AddSplits(splits)
	case len(event) == 1 && event[0] == eventNoMoreSplits:
		s.reader.NotifyNoMoreSplits()
	default:
		return fmt.Errorf("source reader got %s", DescribeEvent(event))
	}
	return nil
}

// Finish implements Operator.
func (s *Source[T, S]) Finish() error { return nil }

// Close implements Operator.
func (s *Source[T, S]) Close() error {
	if s.reader == nil {
		return nil
	}
	return s.reader.Close()
}

type readerContext struct {
	ctx  *Context
	send func([]byte)
}

func (r readerContext) SubtaskIndex() int { return r.ctx.Subtask }
func (r readerContext) Parallelism() int  { return r.ctx.Parallelism }

// Metrics implements source.ReaderContext.
func (r readerContext) Metrics() *metric.Group { return r.ctx.Metrics }
func (r readerContext) SendSplitRequest() {
	if r.send != nil {
		r.send(EncodeSplitRequest())
	}
}

// sourceSplitsState names the operator state holding a reader's splits.
const sourceSplitsState = "source-splits"

// sourceUnionState names the operator state holding a reader's union
// state (source.UnionStateReader).
const sourceUnionState = "source-union"

// SourceCoordinator runs a source's Enumerator on a goroutine of its own.
type SourceCoordinator[T any, S source.Split] struct {
	src         source.Source[T, S]
	parallelism int
	send        func(subtask int, event []byte)
	log         *slog.Logger
	mu          struct {
		sync.Mutex
		queue []func() error
	}
	wake    chan struct{}
	enum    source.Enumerator[S]
	wg      sync.WaitGroup
	cancel  context.CancelFunc
	errOnce sync.Once
	err     error
	onError func(error)
	// restored is the enumerator state to start from, if any.
	restored []byte
}

// NewSourceCoordinator returns a coordinator for src. onError is called once
// if the enumerator fails. Split assignments are logged to log (nil:
// slog.Default()), which should carry the job's and the source's attributes.
//
// restored, when not nil, is the enumerator's state from a checkpoint (what
// Checkpoint encoded): the enumerator is created with RestoreEnumerator.
func NewSourceCoordinator[T any, S source.Split](src source.Source[T, S], parallelism int, send func(subtask int, event []byte), onError func(error), log *slog.Logger, restored []byte) *SourceCoordinator[T, S] {
	if log == nil {
		log = slog.Default()
	}
	return &SourceCoordinator[T, S]{src: src, parallelism: parallelism, send: send, log: log, wake: make(chan struct{}, 1), onError: onError, restored: restored}
}

// Checkpoint implements Coordinator.
func (c *SourceCoordinator[T, S]) Checkpoint(id int64, done func(state []byte, err error)) {
	c.post(func() error {
		splits, err := c.enum.SnapshotState(id)
		if err != nil {
			done(nil, fmt.Errorf("snapshotting split enumerator: %w", err))
			return nil
		}
		b, err := codec.Marshal(splits)
		if err != nil {
			err = fmt.Errorf("snapshotting split enumerator: %w", err)
		}
		done(b, err)
		return nil
	})
}

// Parallelism implements source.EnumeratorContext.
func (c *SourceCoordinator[T, S]) Parallelism() int { return c.parallelism }

// AssignSplits implements source.EnumeratorContext.
func (c *SourceCoordinator[T, S]) AssignSplits(subtask int, splits ...S) {
	ids := make([]string, len(splits))
	for i, s := range splits {
		ids[i] = s.SplitID()
	}
	c.log.Info("splits assigned", slog.Int("subtask", subtask), slog.Any("splits", ids))
	event, err := EncodeAddSplits(splits)
	if err != nil {
		c.fail(fmt.Errorf("assigning splits %v to subtask %d: %w", ids, subtask, err))
		return
	}
	c.send(subtask, event)
}

// SignalNoMoreSplits implements source.EnumeratorContext.
func (c *SourceCoordinator[T, S]) SignalNoMoreSplits(subtask int) {
	c.log.Debug("no more splits", slog.Int("subtask", subtask))
	c.send(subtask, EncodeNoMoreSplits())
}

// Start implements Coordinator. A panic in the user's enumerator becomes
// an error.
func (c *SourceCoordinator[T, S]) Start(ctx context.Context) error {
	ctx, c.cancel = context.WithCancel(ctx)
	err := c.call(func() error {
		var e source.Enumerator[S]
		var err error
		if c.restored != nil {
			splits, derr := codec.Unmarshal[[]S](c.restored)
			if derr != nil {
				return fmt.Errorf("restoring split enumerator: %w", derr)
			}
			e, err = c.src.RestoreEnumerator(c, splits)
		} else {
			e, err = c.src.CreateEnumerator(c)
		}
		if err != nil {
			return fmt.Errorf("creating split enumerator: %w", err)
		}
		if e == nil {
			return fmt.Errorf("creating split enumerator: the source returned none")
		}
		c.enum = e
		if err := e.Start(ctx); err != nil {
			return fmt.Errorf("starting split enumerator: %w", err)
		}
		return nil
	})
	if err != nil {
		c.cancel()
		return err
	}
	c.wg.Add(1)
	go c.run(ctx)
	return nil
}

func (c *SourceCoordinator[T, S]) run(ctx context.Context) {
	defer c.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		c.mu.Lock()
		queue := c.mu.queue
		c.mu.queue = nil
		c.mu.Unlock()
		for _, f := range queue {
			if err := c.call(f); err != nil {
				c.fail(err)
				return
			}
		}
	}
}

// fail reports the coordinator's first failure.
func (c *SourceCoordinator[T, S]) fail(err error) {
	c.errOnce.Do(func() {
		c.err = err
		if c.onError != nil {
			c.onError(err)
		}
	})
}

func (c *SourceCoordinator[T, S]) call(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("split enumerator panicked: %v", r)
		}
	}()
	return f()
}

func (c *SourceCoordinator[T, S]) post(f func() error) {
	c.mu.Lock()
	c.mu.queue = append(c.mu.queue, f)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// ReaderStarted implements Coordinator.
func (c *SourceCoordinator[T, S]) ReaderStarted(subtask int) {
	c.post(func() error { c.enum.AddReader(subtask); return nil })
}

// HandleEvent implements Coordinator.
func (c *SourceCoordinator[T, S]) HandleEvent(subtask int, event []byte) {
	switch {
	case len(event) == 1 && event[0] == eventSplitRequest:
		c.post(func() error { c.enum.HandleSplitRequest(subtask); return nil })
	}
}

// Close implements Coordinator.
func (c *SourceCoordinator[T, S]) Close() error {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	if c.enum == nil {
		return nil
	}
	return c.call(c.enum.Close)
}

// EndOfInput is called when a bounded source has read everything: event
// time jumps to the end so every downstream window and timer fires.
func (s *Source[T, S]) EndOfInput() {
	s.ended = true
	s.out.EmitWatermark(math.MaxInt64)
	s.sideWatermark(math.MaxInt64)
}

// checkReaderListener reports a reader that has a method of
// source.CheckpointListener without implementing the interface, such as
// one whose NotifyCheckpointComplete takes an int: the runtime would never
// call it, and its acknowledgements would never be sent.
func checkReaderListener(r any) error {
	return checkReaderInterface(r, reflect.TypeFor[source.CheckpointListener]())
}

// checkReaderInterface reports a reader that has a method of iface, an
// optional interface of package source, without implementing it.
func checkReaderInterface(r any, iface reflect.Type) error {
	t := reflect.TypeOf(r)
	if t.Implements(iface) {
		return nil
	}
	for i := range iface.NumMethod() {
		want := iface.Method(i)
		if m, ok := t.MethodByName(want.Name); ok {
			return fmt.Errorf("source reader %s has method %s of type %s, so it does not implement source.%s (%s %s) and would never be called",
				t, want.Name, m.Type, iface.Name(), want.Name, want.Type)
		}
	}
	return nil
}
