package source

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet-io/freshet/metric"
)

// The harness runs a source the way the runtime does: the enumerator on a
// goroutine of its own that serializes its calls, and each reader on a
// subtask goroutine that delivers split events between polls and waits on
// Available after NothingAvailable.

// mailbox is an unbounded queue with a wake-up channel.
type mailbox struct {
	mu   sync.Mutex
	q    []any
	wake chan struct{}
}

func newMailbox() *mailbox { return &mailbox{wake: make(chan struct{}, 1)} }

func (m *mailbox) put(v any) {
	m.mu.Lock()
	m.q = append(m.q, v)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *mailbox) take() []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.q
	m.q = nil
	return q
}

type (
	evAddReader    struct{ subtask int }
	evSplitRequest struct{ subtask int }
	evNoMoreSplits struct{}
)

type harness[S Split] struct {
	p     int
	enum  *mailbox
	boxes []*mailbox
}

// Parallelism, AssignSplits and SignalNoMoreSplits implement EnumeratorContext.
func (h *harness[S]) Parallelism() int { return h.p }
func (h *harness[S]) AssignSplits(subtask int, splits ...S) {
	h.boxes[subtask].put(append([]S(nil), splits...))
}
func (h *harness[S]) SignalNoMoreSplits(subtask int) { h.boxes[subtask].put(evNoMoreSplits{}) }

type readerCtx struct {
	subtask, p int
	enum       *mailbox
}

func (c readerCtx) SubtaskIndex() int    { return c.subtask }
func (c readerCtx) Parallelism() int     { return c.p }
func (c readerCtx) SendSplitRequest()    { c.enum.put(evSplitRequest{c.subtask}) }
func (readerCtx) Metrics() *metric.Group { return nil }

// collector is an Output that records what one subtask emits.
type collector[T any] struct {
	vals   []T
	ts     []int64 // timestamp per value; -1 when Collect was used
	total  *atomic.Int64
	limit  int64
	cancel context.CancelFunc
}

func (c *collector[T]) Collect(v T) { c.CollectWithTimestamp(v, -1) }
func (c *collector[T]) CollectWithTimestamp(v T, ts int64) {
	c.vals = append(c.vals, v)
	c.ts = append(c.ts, ts)
	if n := c.total.Add(1); c.limit > 0 && n >= c.limit {
		c.cancel()
	}
}

// result is what a run produced.
type result[T any] struct {
	out   [][]T  // values per subtask, in emission order
	ended []bool // whether each subtask reached EndOfInput
}

func (r result[T]) all() []T {
	var all []T
	for _, o := range r.out {
		all = append(all, o...)
	}
	return all
}

// run runs src at parallelism p until every reader has ended, ctx ends, or
// (if limit > 0) at least limit records were emitted in all. It returns the
// first error of the enumerator or a reader.
func run[T any, S Split](t testing.TB, ctx context.Context, src Source[T, S], p int, limit int64) (result[T], error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := &harness[S]{p: p, enum: newMailbox()}
	for range p {
		h.boxes = append(h.boxes, newMailbox())
	}
	enum, err := src.CreateEnumerator(h)
	if err != nil {
		return result[T]{}, err
	}
	enumCtx, stopEnum := context.WithCancel(context.Background())
	if err := enum.Start(enumCtx); err != nil {
		stopEnum()
		return result[T]{}, err
	}
	enumDone := make(chan struct{})
	go func() {
		defer close(enumDone)
		for {
			select {
			case <-enumCtx.Done():
				return
			case <-h.enum.wake:
			}
			for _, ev := range h.enum.take() {
				switch ev := ev.(type) {
				case evAddReader:
					enum.AddReader(ev.subtask)
				case evSplitRequest:
					enum.HandleSplitRequest(ev.subtask)
				}
			}
		}
	}()

	res := result[T]{out: make([][]T, p), ended: make([]bool, p)}
	errs := make([]error, p)
	var total atomic.Int64
	var wg sync.WaitGroup
	for i := range p {
		wg.Go(func() {
			out := &collector[T]{total: &total, limit: limit, cancel: cancel}
			res.ended[i], errs[i] = runReader(ctx, src, readerCtx{i, p, h.enum}, h.boxes[i], out)
			res.out[i] = out.vals
			if errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	stopEnum()
	<-enumDone
	errs = append(errs, enum.Close())
	return res, errors.Join(errs...)
}

func runReader[T any, S Split](ctx context.Context, src Source[T, S], rc readerCtx, box *mailbox, out Output[T]) (ended bool, err error) {
	r, err := src.CreateReader(rc)
	if err != nil {
		return false, err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	if err := r.Start(ctx); err != nil {
		return false, err
	}
	rc.enum.put(evAddReader{rc.subtask})
	for {
		for _, ev := range box.take() {
			switch ev := ev.(type) {
			case []S:
				r.AddSplits(ev)
			case evNoMoreSplits:
				r.NotifyNoMoreSplits()
			}
		}
		st, err := r.PollNext(out)
		if err != nil {
			return false, err
		}
		switch st {
		case MoreAvailable:
			if ctx.Err() != nil {
				return false, nil
			}
		case NothingAvailable:
			select {
			case <-r.Available():
			case <-box.wake:
			case <-ctx.Done():
				return false, nil
			}
		case EndOfInput:
			return true, nil
		}
	}
}

// waitGone fails t unless, within a few seconds, no goroutine's stack
// mentions fn.
func waitGone(t testing.TB, fn string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte(fn)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutine running %s still alive:\n%s", fn, buf[:n])
		}
		time.Sleep(time.Millisecond)
	}
}

// sliceOutput is an Output that appends to a slice, for driving a reader by
// hand.
type sliceOutput[T any] struct{ vals []T }

func (o *sliceOutput[T]) Collect(v T)                       { o.vals = append(o.vals, v) }
func (o *sliceOutput[T]) CollectWithTimestamp(v T, _ int64) { o.vals = append(o.vals, v) }
