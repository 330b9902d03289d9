package netx

import (
	"errors"
	"testing"
)

func TestSendCredit(t *testing.T) {
	var s sendCredit
	bufs := make([]*buf, 5)
	for i := range bufs {
		bufs[i] = &buf{n: i}
	}
	// Without credit buffers queue; the first queued one announces the backlog.
	out, announce := s.push(bufs[0], nil)
	if len(out) != 0 || !announce {
		t.Fatalf("push without credit: sent %d, announce %v; want 0, true", len(out), announce)
	}
	out, announce = s.push(bufs[1], nil)
	if len(out) != 0 || announce || s.queued() != 2 {
		t.Fatalf("second push: sent %d, announce %v, queued %d; want 0, false, 2", len(out), announce, s.queued())
	}
	// One credit sends the oldest, reporting one more behind it.
	out, err := s.addCredit(1, nil)
	if err != nil || len(out) != 1 || out[0].b != bufs[0] || out[0].backlog != 1 {
		t.Fatalf("addCredit(1) = %+v, %v; want bufs[0] with backlog 1", out, err)
	}
	// Three credits: the queued one goes, two remain for later buffers.
	out, _ = s.addCredit(3, nil)
	if len(out) != 1 || out[0].b != bufs[1] || out[0].backlog != 0 {
		t.Fatalf("addCredit(3) = %+v; want bufs[1] with backlog 0", out)
	}
	for i := 2; i < 4; i++ {
		out, announce = s.push(bufs[i], nil)
		if len(out) != 1 || out[0].b != bufs[i] || announce {
			t.Fatalf("push %d with credit = %+v, %v; want sent at once", i, out, announce)
		}
	}
	out, announce = s.push(bufs[4], nil)
	if len(out) != 0 || !announce || s.credit != 0 || s.sent != 4 {
		t.Fatalf("push past credit: sent %d announce %v credit %d sent %d", len(out), announce, s.credit, s.sent)
	}
	for _, n := range []int{0, -1, maxCredit + 1} {
		if _, err := s.addCredit(n, nil); !errors.Is(err, ErrProtocol) {
			t.Errorf("addCredit(%d) = %v, want ErrProtocol", n, err)
		}
	}
}

func TestRecvCredit(t *testing.T) {
	r := newRecvCredit(4)
	if err := r.received(0); !errors.Is(err, ErrProtocol) {
		t.Fatalf("buffer before open: %v, want ErrProtocol", err)
	}
	if n := r.open(); n != 4 {
		t.Fatalf("open() = %d, want 4", n)
	}
	for i, backlog := range []int{5, 4, 3, 2} {
		if err := r.received(backlog); err != nil {
			t.Fatalf("buffer %d: %v", i, err)
		}
	}
	if r.backlog != 2 || r.held != 4 || r.granted != 0 {
		t.Fatalf("after four buffers: %+v", r)
	}
	if err := r.received(3); !errors.Is(err, ErrProtocol) {
		t.Fatalf("buffer past credit: %v, want ErrProtocol", err)
	}
	// Credits go back two at a time: half the channel's buffers.
	for i, want := range []int{0, 2, 0, 2} {
		if n := r.consumed(); n != want {
			t.Fatalf("consumed() #%d = %d, want %d", i, n, want)
		}
	}
	if err := r.received(3); err != nil {
		t.Fatalf("buffer on returned credit: %v", err)
	}
	if n := r.consumed(); n != 0 || r.granted != 3 || r.unannounced != 1 {
		t.Fatalf("consumed = %d (granted %d, unannounced %d), want 0 (3, 1)", n, r.granted, r.unannounced)
	}
	if n := r.consumed(); n != 0 {
		t.Fatalf("consumed with none held = %d, want 0", n)
	}
}

func TestRecvCreditOneBuffer(t *testing.T) {
	r := newRecvCredit(1)
	r.open()
	for i := range 3 {
		if err := r.received(0); err != nil {
			t.Fatalf("buffer %d: %v", i, err)
		}
		if n := r.consumed(); n != 1 {
			t.Fatalf("consumed() = %d, want 1 (a channel of one buffer announces each)", n)
		}
	}
}
