package task

import (
	"container/heap"
	"sync"
	"time"
)

// procTimers is the subtask's processing-time service: callbacks wait in a
// heap and one machine timer wakes the subtask (through its mailbox) for
// the earliest. Callbacks run on the subtask's goroutine.
type procTimers struct {
	t     *Task
	clock func() time.Time
	queue TimerQueue
	mu    struct {
		sync.Mutex
		timer   *time.Timer
		pending bool // a fire is posted to the mailbox and not yet run
		stopped bool
	}
}

// TimerQueue holds processing-time callbacks in time order, those of one
// time in the order they were scheduled. The subtask's timer service and
// the test harness's manual clock both keep their callbacks in one.
type TimerQueue struct {
	items timerHeap
	seq   int
}

type timerItem struct {
	ts  int64
	seq int
	fn  func() error
}

type timerHeap []timerItem

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].ts != h[j].ts {
		return h[i].ts < h[j].ts
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timerItem)) }
func (h *timerHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// Add schedules fn for time ts and reports whether it is now the earliest.
func (q *TimerQueue) Add(ts int64, fn func() error) bool {
	q.seq++
	heap.Push(&q.items, timerItem{ts: ts, seq: q.seq, fn: fn})
	return q.items[0].seq == q.seq
}

// RunDue runs, in order, every callback due at now (also those the
// callbacks schedule for now or earlier); it stops at the first error.
func (q *TimerQueue) RunDue(now int64) error {
	for len(q.items) > 0 && q.items[0].ts <= now {
		it := heap.Pop(&q.items).(timerItem)
		if err := it.fn(); err != nil {
			return err
		}
	}
	return nil
}

// Next is the time of the earliest callback, if any.
func (q *TimerQueue) Next() (int64, bool) {
	if len(q.items) == 0 {
		return 0, false
	}
	return q.items[0].ts, true
}

// Now implements operator.ProcessingTimeService.
func (p *procTimers) Now() int64 { return p.clock().UnixMilli() }

// Schedule implements operator.ProcessingTimeService. It must be called on
// the subtask's goroutine.
func (p *procTimers) Schedule(ts int64, fn func() error) {
	if p.queue.Add(ts, fn) {
		p.arm(ts)
	}
}

// arm sets the machine timer to wake the subtask at ts.
func (p *procTimers) arm(ts int64) {
	d := time.Duration(ts-p.Now()) * time.Millisecond
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.stopped {
		return
	}
	if p.mu.timer == nil {
		p.mu.timer = time.AfterFunc(d, p.wake)
		return
	}
	p.mu.timer.Reset(d)
}

// wake runs on the timer's goroutine: it posts one fire to the mailbox.
func (p *procTimers) wake() {
	p.mu.Lock()
	if p.mu.pending || p.mu.stopped {
		p.mu.Unlock()
		return
	}
	p.mu.pending = true
	p.mu.Unlock()
	// Post never blocks; it fails only when the task has ended.
	_ = p.t.Post(p.fire)
}

// fire runs due callbacks on the subtask's goroutine and re-arms the timer.
func (p *procTimers) fire() error {
	p.mu.Lock()
	p.mu.pending = false
	p.mu.Unlock()
	if err := p.queue.RunDue(p.Now()); err != nil {
		return err
	}
	if ts, ok := p.queue.Next(); ok {
		p.arm(ts)
	}
	return nil
}

// stop stops the machine timer; no callback runs afterwards.
func (p *procTimers) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.stopped = true
	if p.mu.timer != nil {
		p.mu.timer.Stop()
	}
}
