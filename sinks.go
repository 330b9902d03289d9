package freshet

import (
	"context"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"sync"

	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/internal/statebackend"
	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/sink"
)

// SinkStream is the end of a stream written to a sink (Flink's
// DataStreamSink): it has the operator settings but nothing can read it.
type SinkStream struct {
	env  *Env
	node *graph.Node
}

// Name sets the sink's name.
func (s *SinkStream) Name(name string) *SinkStream { s.node.Name = name; return s }

// UID sets the sink's stable identity for state across job versions.
func (s *SinkStream) UID(uid string) *SinkStream { s.node.UID = uid; return s }

// SetParallelism sets the sink's parallelism.
func (s *SinkStream) SetParallelism(n int) *SinkStream {
	s.node.Parallelism = n
	if n < 1 {
		s.env.fail(fmt.Errorf("%w: operator %q: parallelism %d is below 1", ErrInvalidProgram, s.node.Name, n))
	}
	return s
}

// DisableChaining keeps the sink out of its input's chain.
func (s *SinkStream) DisableChaining() *SinkStream { s.node.Chaining = graph.ChainNever; return s }

// SlotSharingGroup puts the sink in the named slot sharing group.
func (s *SinkStream) SlotSharingGroup(name string) *SinkStream {
	if name == "default" {
		name = ""
	}
	s.node.SlotSharingGroup = name
	return s
}

// SinkTo writes the stream to snk.
func SinkTo[T any](s *Stream[T], snk sink.Sink[T], name string) *SinkStream {
	if snk == nil {
		s.env.fail(fmt.Errorf("%w: SinkTo %q: sink is nil", ErrInvalidProgram, name))
	}
	n := newOneInput[T, struct{}](s, name, graph.KindSink, func() (operator.Operator, error) {
		return &sinkOp[T]{snk: snk}, nil
	})
	n.Validate = func() error {
		if err := checkSinkHooks[T](snk); err != nil {
			return err
		}
		return validateConfig(snk, "sink", reflect.TypeFor[sink.Validator]())
	}
	return &SinkStream{env: s.env, node: n}
}

// checkSinkHooks reports a sink that has a CreateCheckpointedWriter method
// but does not implement sink.Checkpointed: the runtime would never call
// it, which Go cannot tell, as implementing the interface is optional.
func checkSinkHooks[T any](snk sink.Sink[T]) error {
	if snk == nil {
		return nil
	}
	const name = "CreateCheckpointedWriter"
	t := reflect.TypeOf(snk)
	iface := reflect.TypeFor[sink.Checkpointed[T]]()
	if t.Implements(iface) {
		return nil
	}
	want, _ := iface.MethodByName(name)
	if m, ok := t.MethodByName(name); ok {
		return fmt.Errorf("%w: sink %s has method %s%s, but sink.Checkpointed wants %s%s: the runtime would never call it",
			ErrInvalidProgram, t, name, signature(m.Type, true), name, signature(want.Type, false))
	}
	if t.Kind() != reflect.Pointer {
		if pm, ok := reflect.PointerTo(t).MethodByName(name); ok {
			return fmt.Errorf("%w: sink %s has method %s%s on its pointer type %s only, so it does not implement sink.Checkpointed: pass a pointer",
				ErrInvalidProgram, t, name, signature(pm.Type, true), reflect.PointerTo(t))
		}
	}
	return nil
}

// checkPlainWriter reports a writer of a sink that is not a
// sink.Checkpointed but has a method of sink.StatefulWriter, such as
// NotifyCheckpointComplete: the runtime would never call it, which the
// sink's type cannot tell when the job is built.
func checkPlainWriter(w any) error {
	t := reflect.TypeOf(w)
	if t == nil {
		return nil
	}
	for _, name := range []string{"SnapshotState", "NotifyCheckpointComplete", "NotifyCheckpointAborted"} {
		if _, ok := t.MethodByName(name); ok {
			return fmt.Errorf("%w: sink writer %s has method %s, but its sink does not implement sink.Checkpointed, so the runtime would never call it: create it with sink.StatefulSink or sink.TwoPhaseCommit",
				ErrInvalidProgram, t, name)
		}
	}
	return nil
}

// sinkStateName is the operator state list of a checkpointed sink writer.
const sinkStateName = "sink-writer-state"

type sinkOp[T any] struct {
	operator.Base[struct{}]
	snk sink.Sink[T]
	w   sink.Writer[T]
	bw  sink.BatchWriter[T] // w, when it takes runs
	wm  int64
}

type initContext struct{ c *operator.Context }

func (i initContext) Context() context.Context { return i.c.Ctx }
func (i initContext) SubtaskIndex() int        { return i.c.Subtask }
func (i initContext) Parallelism() int         { return i.c.Parallelism }
func (i initContext) Attempt() int             { return i.c.Attempt }
func (i initContext) Metrics() *metric.Group   { return i.c.Metrics }

func (i initContext) RestoredCheckpointID() (int64, bool) {
	return i.c.RestoredCheckpoint, i.c.RestoredCheckpoint > 0
}

func (o *sinkOp[T]) Open(c *operator.Context) error {
	o.wm = operator.NoTimestamp
	var w sink.Writer[T]
	var err error
	if cs, ok := o.snk.(sink.Checkpointed[T]); ok {
		w, err = o.openCheckpointed(c, cs)
	} else if w, err = o.snk.CreateWriter(initContext{c}); err == nil {
		err = checkPlainWriter(w)
	}
	if err != nil {
		return fmt.Errorf("creating sink writer: %w", err)
	}
	o.w = w
	o.bw, _ = w.(sink.BatchWriter[T])
	return nil
}

// openCheckpointed creates the writer of a checkpointed sink from its
// restored state and registers its hooks; its state is one operator state
// list of encoded elements, split evenly on a restore at another
// parallelism.
func (o *sinkOp[T]) openCheckpointed(c *operator.Context, cs sink.Checkpointed[T]) (sink.Writer[T], error) {
	l, err := statebackend.GetList[[]byte](c.State(), sinkStateName, statebackend.SplitEven, nil)
	if err != nil {
		return nil, err
	}
	w, h, err := cs.CreateCheckpointedWriter(initContext{c}, l.Values)
	if err != nil {
		return nil, err
	}
	if w == nil {
		return nil, fmt.Errorf("%w: %T created a nil writer", sink.ErrInvalidSink, cs)
	}
	l.Values = nil
	var hooks operator.CheckpointHooks
	if h.SnapshotState != nil {
		hooks.Snapshot = func(id int64) error {
			vals, err := h.SnapshotState(id)
			if err != nil {
				return fmt.Errorf("snapshotting sink writer: %w", err)
			}
			l.Values = vals
			return nil
		}
	}
	if h.NotifyCheckpointComplete != nil {
		hooks.Complete = func(id int64) error {
			if err := h.NotifyCheckpointComplete(id); err != nil {
				return fmt.Errorf("sink writer at checkpoint %d complete: %w", id, err)
			}
			return nil
		}
		hooks.Final = func() error {
			if err := h.NotifyCheckpointComplete(sink.EndOfInput); err != nil {
				return fmt.Errorf("sink writer at the end of input: %w", err)
			}
			return nil
		}
	}
	if h.NotifyCheckpointAborted != nil {
		hooks.Aborted = func(id int64) error {
			if err := h.NotifyCheckpointAborted(id); err != nil {
				return fmt.Errorf("sink writer at checkpoint %d aborted: %w", id, err)
			}
			return nil
		}
	}
	c.OnCheckpoint(hooks)
	return w, nil
}

func (o *sinkOp[T]) ProcessElement(r operator.Record[T]) error {
	return o.w.Write(r.Value, sink.Context{Timestamp: r.Timestamp, HasTimestamp: r.HasTimestamp(), Watermark: o.wm})
}

func (o *sinkOp[T]) ProcessBatch(rs []operator.Record[T]) error {
	if o.bw != nil {
		return o.bw.WriteBatch(rs, o.wm)
	}
	w, wm := o.w, o.wm
	for _, r := range rs {
		if err := w.Write(r.Value, sink.Context{Timestamp: r.Timestamp, HasTimestamp: r.HasTimestamp(), Watermark: wm}); err != nil {
			return err
		}
	}
	return nil
}

func (o *sinkOp[T]) ProcessWatermark(wm int64) error { o.wm = wm; return nil }

func (o *sinkOp[T]) Finish() error { return o.w.Flush(true) }

func (o *sinkOp[T]) Close() error {
	if o.w == nil {
		return nil
	}
	return o.w.Close()
}

// Print writes every element to standard output, one per line, formatted
// with fmt's %v. As in Flink, when the sink runs with parallelism above 1
// each line starts with the subtask's number (index+1) and "> ".
func (s *Stream[T]) Print() *SinkStream {
	return SinkTo(s, &PrintSink[T]{}, "Print to Std. Out")
}

// PrintToErr is Print to standard error.
func (s *Stream[T]) PrintToErr() *SinkStream {
	return SinkTo(s, &PrintSink[T]{W: os.Stderr}, "Print to Std. Err")
}

// PrintSink writes elements as lines to W (standard output if nil), with
// an optional identifier prefix "id:" before Flink's subtask prefix.
type PrintSink[T any] struct {
	W      io.Writer
	Prefix string
}

// printMu keeps lines of different subtasks whole on a shared writer.
var printMu sync.Mutex

// CreateWriter implements sink.Sink.
func (p *PrintSink[T]) CreateWriter(ctx sink.InitContext) (sink.Writer[T], error) {
	w := p.W
	if w == nil {
		w = os.Stdout
	}
	prefix := p.Prefix
	if ctx.Parallelism() > 1 {
		if prefix != "" {
			prefix += ":"
		}
		prefix += strconv.Itoa(ctx.SubtaskIndex()+1) + "> "
	} else if prefix != "" {
		prefix += "> "
	}
	return &printWriter[T]{w: w, prefix: prefix}, nil
}

type printWriter[T any] struct {
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *printWriter[T]) Write(v T, _ sink.Context) error {
	p.buf = append(p.buf[:0], p.prefix...)
	p.buf = fmt.Appendf(p.buf, "%v\n", v)
	printMu.Lock()
	_, err := p.w.Write(p.buf)
	printMu.Unlock()
	return err
}

func (p *printWriter[T]) Flush(bool) error { return nil }
func (p *printWriter[T]) Close() error     { return nil }

// Collected holds what a Collect sink received. Read it after the job ends.
type Collected[T any] struct {
	mu     sync.Mutex
	values []T
	bySub  map[int][]T
}

// Collect sends the stream's elements back to the caller: after Execute
// returns, Values holds every element (in arrival order per subtask) and
// BySubtask which sink subtask received each.
func Collect[T any](s *Stream[T]) *Collected[T] {
	c := &Collected[T]{bySub: map[int][]T{}}
	SinkTo[T](s, c, "Collect Sink")
	return c
}

// CreateWriter implements sink.Sink.
func (c *Collected[T]) CreateWriter(ctx sink.InitContext) (sink.Writer[T], error) {
	return &collectWriter[T]{c: c, sub: ctx.SubtaskIndex()}, nil
}

// Len returns how many elements have been collected so far.
func (c *Collected[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.values)
}

// Values returns all collected elements. Elements of one sink subtask keep
// their order; between subtasks the order is arbitrary.
func (c *Collected[T]) Values() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]T(nil), c.values...)
}

// BySubtask returns the collected elements grouped by the sink subtask that
// received them.
func (c *Collected[T]) BySubtask() map[int][]T {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int][]T, len(c.bySub))
	for k, v := range c.bySub {
		out[k] = append([]T(nil), v...)
	}
	return out
}

type collectWriter[T any] struct {
	c   *Collected[T]
	sub int
}

func (w *collectWriter[T]) Write(v T, _ sink.Context) error {
	w.c.mu.Lock()
	w.c.values = append(w.c.values, v)
	w.c.bySub[w.sub] = append(w.c.bySub[w.sub], v)
	w.c.mu.Unlock()
	return nil
}

// WriteBatch implements sink.BatchWriter: one lock per run.
func (w *collectWriter[T]) WriteBatch(rs []sink.Record[T], _ int64) error {
	w.c.mu.Lock()
	for _, r := range rs {
		w.c.values = append(w.c.values, r.Value)
		w.c.bySub[w.sub] = append(w.c.bySub[w.sub], r.Value)
	}
	w.c.mu.Unlock()
	return nil
}

func (w *collectWriter[T]) Flush(bool) error { return nil }
func (w *collectWriter[T]) Close() error     { return nil }
