package task

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/freshet-io/freshet/internal/exchange"
	"github.com/freshet-io/freshet/internal/graph"
	"github.com/freshet-io/freshet/internal/operator"
	"github.com/freshet-io/freshet/source"
)

// eventLog records, in order, what ran on a subtask's goroutine.
type eventLog struct {
	mu struct {
		sync.Mutex
		events []string
	}
}

func (l *eventLog) add(ev string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.events = append(l.mu.events, ev)
}

func (l *eventLog) events() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.mu.events)
}

// emitter is a source operator that emits perPoll records on every poll
// and counts its polls; once logPolls is set it also logs them.
type emitter struct {
	operator.Base[int]
	perPoll  int
	polls    atomic.Int64
	logPolls atomic.Bool
	log      eventLog
}

func (e *emitter) EndOfInput()                 {}
func (e *emitter) Available() <-chan struct{}  { return nil }
func (e *emitter) HandleEvent([]byte) error    { return nil }
func (e *emitter) SetEventSender(func([]byte)) {}
func (e *emitter) Poll() (source.InputStatus, error) {
	n := int(e.polls.Add(1)) - 1
	if e.logPolls.Load() {
		e.log.add("poll")
	}
	for i := range e.perPoll {
		e.Out.Collect(operator.Record[int]{Value: n*e.perPoll + i})
	}
	return source.MoreAvailable, nil
}

// flatMap emits perElement records for every element, counting elements.
type flatMap struct {
	operator.Base[int]
	perElement int
	elements   atomic.Int64
}

func (f *flatMap) ProcessElement(r operator.Record[int]) error {
	f.elements.Add(1)
	for i := range f.perElement {
		f.Out.Collect(operator.Record[int]{Value: r.Value*f.perElement + i})
	}
	return nil
}

// rig runs one subtask whose chain is op alone. Its one output goes to
// channel 0 of out, a gate the test reads (or leaves full); a one-input
// op reads in, a gate the test feeds. At the end of the test the subtask
// is cancelled and must stop without leaving goroutines behind.
type rig struct {
	task *Task
	out  *exchange.Gate
	in   *exchange.Gate
}

func startRig(t *testing.T, op operator.Operator, kind graph.Kind, capacity, batch int) *rig {
	t.Helper()
	intType := graph.TypeOf[int]()
	forward := graph.Partitioning{Kind: graph.PartitionForward}
	head := &graph.Node{ID: 1, Name: "head", Kind: kind, Out: intType, Parallelism: 1, MaxParallelism: 128,
		NewOperator: func() (operator.Operator, error) { return op, nil }}
	down := &graph.Node{ID: 2, Name: "down", Kind: graph.KindSink, In: [2]graph.Type{intType}, Parallelism: 1, MaxParallelism: 128}
	e := &graph.Edge{From: head, To: down, Input: 1, Part: forward}
	head.Outputs, down.Inputs = []*graph.Edge{e}, []*graph.Edge{e}
	v := &graph.Vertex{ID: 1, Nodes: []*graph.Node{head}, Parallelism: 1, MaxParallelism: 128}
	dv := &graph.Vertex{ID: 2, Nodes: []*graph.Node{down}, Parallelism: 1, MaxParallelism: 128}
	je := &graph.JobEdge{Edge: e, Source: v, Target: dv}
	v.Outputs, dv.Inputs = []*graph.JobEdge{je}, []*graph.JobEdge{je}
	r := &rig{out: exchange.NewGate(1, capacity)}
	if kind == graph.KindOneInput {
		up := &graph.Node{ID: 0, Name: "up", Kind: graph.KindSource, Out: intType, Parallelism: 1, MaxParallelism: 128}
		ue := &graph.Edge{From: up, To: head, Input: 1, Part: forward}
		up.Outputs, head.Inputs, head.In[0] = []*graph.Edge{ue}, []*graph.Edge{ue}, intType
		uv := &graph.Vertex{ID: 0, Nodes: []*graph.Node{up}, Parallelism: 1, MaxParallelism: 128}
		uje := &graph.JobEdge{Edge: ue, Source: uv, Target: v}
		uv.Outputs, v.Inputs = []*graph.JobEdge{uje}, []*graph.JobEdge{uje}
		r.in = exchange.NewGate(1, capacity)
	}
	r.task = New(Spec{
		Vertex: v, Config: Config{JobName: "test", BatchSize: batch}, Gate: r.in,
		Channel: func(_ context.Context, _, _, ch int) (exchange.ChannelWriter, error) {
			return r.out.Channel(ch), nil
		},
		SendEvent: func([]byte) {},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.task.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run after cancel = %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("subtask did not stop within 10s of cancel")
			return
		}
		goleak.VerifyNone(t)
	})
	return r
}

// waitFor polls cond until it holds, failing t after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// await fails t unless ch is closed within 10 s.
func await(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// readInts takes the next envelope of out's channel 0, which must hold
// records, and returns their values.
func readInts(t *testing.T, out *exchange.Gate) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, _, err := out.Next(ctx, nil, nil)
	if err != nil {
		t.Fatalf("reading the output: %v", err)
	}
	b, ok := e.Batch.(*exchange.Batch[int])
	if e.Kind != exchange.KindRecords || !ok {
		t.Fatalf("output envelope %v, want records", e.Kind)
	}
	var vs []int
	for _, r := range b.Records {
		vs = append(vs, r.Value)
	}
	exchange.Release(exchange.PoolFor[int](), b)
	return vs
}

// TestMailAndTimersRunUnderBackpressure: while the subtask's output is full
// (its consumer reads nothing) the subtask takes no more input, yet a
// posted mail runs and a processing-time timer fires.
func TestMailAndTimersRunUnderBackpressure(t *testing.T) {
	const capacity = 2
	src := &emitter{perPoll: 1}
	r := startRig(t, src, graph.KindSource, capacity, 1)
	waitFor(t, "the output to fill", func() bool { return r.out.Queued(0) >= capacity })

	type seen struct{ polls, queued int }
	var atMail, atTimer seen
	fired := make(chan struct{})
	if err := r.task.Post(func() error {
		atMail = seen{int(src.polls.Load()), r.out.Queued(0)}
		timers := src.Ctx.Timers
		timers.Schedule(timers.Now()+5, func() error {
			atTimer = seen{int(src.polls.Load()), r.out.Queued(0)}
			close(fired)
			return nil
		})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	await(t, "the timer to fire under backpressure", fired)
	want := seen{capacity, capacity}
	if atMail != want || atTimer != want {
		t.Fatalf("(polls, queued) at the mail %v, at the timer %v; want %v: the subtask took input while its output was full", atMail, atTimer, want)
	}
	// Room downstream lets the subtask take input again, in order.
	for i := range 10 {
		if vs := readInts(t, r.out); !slices.Equal(vs, []int{i}) {
			t.Fatalf("output %d = %v, want [%d]", i, vs, i)
		}
	}
}

// TestPriorityMailRunsFirst: in a source's loop, priority mail runs before
// ordinary mail posted earlier. (Whether the source polls between the
// rounds depends on room downstream; TestMailRunsInRounds shows rounds.)
func TestPriorityMailRunsFirst(t *testing.T) {
	src := &emitter{perPoll: 1}
	r := startRig(t, src, graph.KindSource, 2, 1)
	// A consumer that keeps the output available, so the subtask would
	// poll its source again as soon as it can.
	ctx, cancel := context.WithCancel(context.Background())
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			e, _, err := r.out.Next(ctx, nil, nil)
			if err != nil {
				return
			}
			if b, ok := e.Batch.(*exchange.Batch[int]); ok {
				exchange.Release(exchange.PoolFor[int](), b)
			}
		}
	}()
	defer func() { cancel(); <-drained }()

	// Hold the subtask in a mail while the others are posted.
	inside, release, ranAll := make(chan struct{}), make(chan struct{}), make(chan struct{})
	post := func(f func() error, priority bool) {
		t.Helper()
		var err error
		if priority {
			err = r.task.PostPriority(f)
		} else {
			err = r.task.Post(f)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	post(func() error {
		src.logPolls.Store(true)
		src.log.add("hold")
		close(inside)
		<-release
		return nil
	}, false)
	await(t, "the first mail to run", inside)
	post(func() error { src.log.add("ordinary 1"); return nil }, false)
	post(func() error { src.log.add("ordinary 2"); close(ranAll); return nil }, false)
	post(func() error { src.log.add("priority 1"); return nil }, true)
	post(func() error { src.log.add("priority 2"); return nil }, true)
	close(release)
	await(t, "the mail to run", ranAll)
	waitFor(t, "the next poll", func() bool { return len(src.log.events()) > 5 })
	got := slices.DeleteFunc(src.log.events(), func(e string) bool { return e == "poll" })
	want := []string{"hold", "priority 1", "priority 2", "ordinary 1", "ordinary 2"}
	if !slices.Equal(got, want) {
		t.Fatalf("ran %q, want %q", got, want)
	}
}

// TestPostNeverBlocks: thousands of mails queue up while the subtask is
// busy, without Post waiting; they then run in the order posted.
func TestPostNeverBlocks(t *testing.T) {
	const mails = 10000
	src := &emitter{perPoll: 1}
	r := startRig(t, src, graph.KindSource, 2, 1)
	inside, release, ranAll := make(chan struct{}), make(chan struct{}), make(chan struct{})
	if err := r.task.Post(func() error { close(inside); <-release; return nil }); err != nil {
		t.Fatal(err)
	}
	await(t, "the first mail to run", inside)
	var order []int // appended to on the subtask's goroutine only
	posted := make(chan error, 1)
	go func() {
		for i := range mails {
			f := func() error { order = append(order, i); return nil }
			if i == mails-1 {
				f = func() error { order = append(order, i); close(ranAll); return nil }
			}
			if err := r.task.Post(f); err != nil {
				posted <- err
				return
			}
		}
		posted <- nil
	}()
	select {
	case err := <-posted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatalf("posting %d mails to a busy subtask did not finish within 10s", mails)
	}
	close(release)
	await(t, "the mails to run", ranAll)
	for i, v := range order {
		if v != i {
			t.Fatalf("mail %d ran as number %d", v, i)
		}
	}
	if len(order) != mails {
		t.Fatalf("%d mails ran, want %d", len(order), mails)
	}
}

// TestPostAfterEnd: posting to a task that has stopped fails at once.
func TestPostAfterEnd(t *testing.T) {
	m := newMailbox()
	if !m.put(func() error { return nil }, false) {
		t.Fatal("put to an open mailbox failed")
	}
	m.close()
	if m.hasMail() || m.take() != nil {
		t.Fatal("mail left after close")
	}
	task := &Task{mail: m}
	if err := task.Post(func() error { return nil }); !errors.Is(err, ErrTaskEnded) {
		t.Fatalf("Post after the end = %v, want ErrTaskEnded", err)
	}
	if err := task.PostPriority(func() error { return nil }); !errors.Is(err, ErrTaskEnded) {
		t.Fatalf("PostPriority after the end = %v, want ErrTaskEnded", err)
	}
}

// TestOverdraftHoldsOneElement: an element that emits several batches into
// a channel near its capacity completes, its emissions going into the
// overdraft; then the subtask takes no further element until the channel
// has room. The channel never holds more than its capacity plus the
// overdraft, and records keep their order.
func TestOverdraftHoldsOneElement(t *testing.T) {
	const capacity, perElement, elements = 8, 3, 10
	fm := &flatMap{perElement: perElement}
	r := startRig(t, fm, graph.KindOneInput, capacity, 1)
	in := r.in.Channel(0)
	pool := exchange.PoolFor[int]()
	for i := range elements {
		b := pool.Get().(*exchange.Batch[int])
		b.Records = append(b.Records[:0], operator.Record[int]{Value: i})
		if err := in.Send(context.Background(), exchange.Envelope{Kind: exchange.KindRecords, Batch: b, Count: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// Elements 0 and 1 leave the channel below its capacity (6 batches);
	// element 2 takes it over (9), and the subtask waits for room.
	const taken, queued = 3, 3 * perElement
	waitFor(t, "the output to fill", func() bool { return r.out.Queued(0) >= queued })
	var atMail [2]int
	ran := make(chan struct{})
	if err := r.task.Post(func() error {
		atMail = [2]int{int(fm.elements.Load()), r.out.Queued(0)}
		close(ran)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	await(t, "the mail to run", ran)
	if want := [2]int{taken, queued}; atMail != want {
		t.Fatalf("(elements taken, batches queued) while waiting = %v, want %v", atMail, want)
	}
	var got []int
	for len(got) < elements*perElement {
		if n := r.out.Queued(0); n > capacity+exchange.Overdraft {
			t.Fatalf("%d batches queued, more than capacity %d + overdraft %d", n, capacity, exchange.Overdraft)
		}
		got = append(got, readInts(t, r.out)...)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("record %d is %d: order lost", i, v)
		}
	}
}

// TestSendBlocksBeyondOverdraft: an element that emits more than the
// overdraft holds blocks its subtask in Send until the consumer makes
// room; nothing is lost or reordered.
func TestSendBlocksBeyondOverdraft(t *testing.T) {
	const capacity = 2
	const perElement = capacity + exchange.Overdraft + 3
	fm := &flatMap{perElement: perElement}
	r := startRig(t, fm, graph.KindOneInput, capacity, 1)
	pool := exchange.PoolFor[int]()
	b := pool.Get().(*exchange.Batch[int])
	b.Records = append(b.Records[:0], operator.Record[int]{Value: 0})
	if err := r.in.Channel(0).Send(context.Background(), exchange.Envelope{Kind: exchange.KindRecords, Batch: b, Count: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the output to fill", func() bool { return r.out.Queued(0) == capacity+exchange.Overdraft })
	var got []int
	for len(got) < perElement {
		got = append(got, readInts(t, r.out)...)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("record %d is %d: order lost", i, v)
		}
	}
}

// loggingMap forwards every element and logs it.
type loggingMap struct {
	operator.Base[int]
	log *eventLog
}

func (m *loggingMap) ProcessElement(r operator.Record[int]) error {
	m.log.add("element")
	m.Out.Collect(r)
	return nil
}

// TestMailRunsInRounds: in the input loop, mail runs in rounds of what
// was queued when the round began, priority mail before ordinary mail
// posted earlier; mail posted while a round runs waits for the input
// already waiting, so mail that keeps coming cannot starve the input.
func TestMailRunsInRounds(t *testing.T) {
	var log eventLog
	r := startRig(t, &loggingMap{log: &log}, graph.KindOneInput, 4, 1)
	inside, release, ranAll := make(chan struct{}), make(chan struct{}), make(chan struct{})
	if err := r.task.Post(func() error { log.add("hold"); close(inside); <-release; return nil }); err != nil {
		t.Fatal(err)
	}
	await(t, "the first mail to run", inside)
	// An element waits in the input while the mails are posted.
	b := exchange.PoolFor[int]().Get().(*exchange.Batch[int])
	b.Records = append(b.Records[:0], operator.Record[int]{Value: 7, Timestamp: operator.NoTimestamp})
	if err := r.in.Channel(0).Send(context.Background(), exchange.Envelope{Kind: exchange.KindRecords, Batch: b, Count: 1}); err != nil {
		t.Fatal(err)
	}
	for i, p := range []struct {
		name     string
		priority bool
	}{{"ordinary 1", false}, {"ordinary 2", false}, {"priority 1", true}, {"priority 2", true}} {
		post, name := r.task.Post, p.name
		if p.priority {
			post = r.task.PostPriority
		}
		last := i == 1
		if err := post(func() error {
			log.add(name)
			if last {
				close(ranAll)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	await(t, "the mail to run", ranAll)
	if got := readInts(t, r.out); !slices.Equal(got, []int{7}) {
		t.Fatalf("output %v, want [7]", got)
	}
	want := []string{"hold", "element", "priority 1", "priority 2", "ordinary 1", "ordinary 2"}
	if got := log.events(); !slices.Equal(got, want) {
		t.Fatalf("ran %q, want %q", got, want)
	}
}
