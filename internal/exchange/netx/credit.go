package netx

import "fmt"

// The credit accounting of one channel, on both sides, as deterministic
// single-threaded types: they take events and return what to send, and do
// no I/O and no locking (their owner holds its channel's lock).
//
// The receiver owns a fixed number of buffers per channel (Flink's
// exclusive buffers) and announces each as a credit: one credit lets the
// sender send one buffer. It announces them all when the channel opens, and
// one more each time its consumer has taken every envelope of a buffer. The
// sender queues the buffers it fills and sends them only against credit;
// each buffer carries the sender's backlog (the buffers still queued after
// it), and a sender that queues a buffer without credit announces its
// backlog, so the receiver knows who waits. Events travel inside buffers
// and so need credit, in order with the records, except priority events
// (an unaligned checkpoint's barrier), which need none and overtake.

// sendCredit is the sender's side of one channel.
type sendCredit struct {
	credit           int    // buffers the receiver has room for
	queue            []*buf // sealed buffers waiting for credit, oldest first
	sent             int    // buffers sent
	backlogAnnounced bool   // a backlog was announced that no buffer has answered since
}

// buf is a filled network buffer: data starts with bufferHeader bytes of
// room for the frame's header.
type buf struct {
	data []byte
	n    int // envelopes in it
}

// sendable is a buffer to send with the backlog it reports.
type sendable struct {
	b       *buf
	backlog int
}

// push queues a sealed buffer. It returns the buffers that can be sent now
// (appended to out) and whether to announce the backlog (no credit).
func (s *sendCredit) push(b *buf, out []sendable) ([]sendable, bool) {
	s.queue = append(s.queue, b)
	out = s.drain(out)
	announce := len(s.queue) > 0 && !s.backlogAnnounced
	if announce {
		s.backlogAnnounced = true
	}
	return out, announce
}

// addCredit takes n credits announced by the receiver and returns the
// buffers that can be sent now. A receiver that announces an absurd number
// of credits has broken the protocol.
func (s *sendCredit) addCredit(n int, out []sendable) ([]sendable, error) {
	if n <= 0 || s.credit+n > maxCredit {
		return out, fmt.Errorf("%w: credit of %d on top of %d", ErrProtocol, n, s.credit)
	}
	s.credit += n
	return s.drain(out), nil
}

// maxCredit bounds the credit a receiver may announce for one channel.
const maxCredit = 1 << 20

func (s *sendCredit) drain(out []sendable) []sendable {
	for s.credit > 0 && len(s.queue) > 0 {
		b := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.credit--
		s.sent++
		s.backlogAnnounced = false
		out = append(out, sendable{b: b, backlog: len(s.queue)})
	}
	if len(s.queue) == 0 {
		s.queue = s.queue[:0:0]
	}
	return out
}

// queued is the number of buffers waiting for credit.
func (s *sendCredit) queued() int { return len(s.queue) }

// recvCredit is the receiver's side of one channel.
type recvCredit struct {
	buffers int // exclusive buffers of the channel
	// granted is the credit the sender holds: buffers it may send that
	// have not arrived.
	granted int
	held    int // buffers received and not yet consumed
	// unannounced counts the buffers consumed whose credit has not been
	// announced yet.
	unannounced int
	backlog     int // the sender's latest backlog
}

func newRecvCredit(buffers int) recvCredit { return recvCredit{buffers: buffers} }

// open returns the credits to announce when the channel opens: one per
// exclusive buffer.
func (r *recvCredit) open() int {
	r.granted = r.buffers
	return r.buffers
}

// received accounts for a buffer that arrived with the sender's backlog.
// A buffer without credit breaks the protocol.
func (r *recvCredit) received(backlog int) error {
	if r.granted == 0 {
		return fmt.Errorf("%w: buffer sent without credit", ErrProtocol)
	}
	r.granted--
	r.held++
	r.backlog = backlog
	return nil
}

// announced records the backlog a sender announced.
func (r *recvCredit) announced(backlog int) { r.backlog = backlog }

// consumed accounts for a buffer the consumer has taken completely and
// returns the credits to announce. Its buffer is free again; credits are
// announced once half the channel's buffers (rounded up) are free and
// unannounced, which halves the credit frames of a busy channel and never
// leaves the sender without credit while its buffers are free: a sender
// out of credit has every buffer held or unannounced, and the consumer
// frees them.
func (r *recvCredit) consumed() int {
	if r.held == 0 {
		return 0
	}
	r.held--
	r.unannounced++
	if r.unannounced < (r.buffers+1)/2 {
		return 0
	}
	n := r.unannounced
	r.unannounced = 0
	r.granted += n
	return n
}
