package task

import "testing"

// TestMailboxOrder: priority mail comes out first, each lane in the order
// it was put, also while the ordinary lane is being taken from and added to
// (which compacts it).
func TestMailboxOrder(t *testing.T) {
	m := newMailbox()
	var got []int
	put := func(v int, priority bool) {
		if !m.put(func() error { got = append(got, v); return nil }, priority) {
			t.Fatal("put to an open mailbox failed")
		}
	}
	takeN := func(n int) {
		for range n {
			f := m.take()
			if f == nil {
				t.Fatal("mailbox empty too early")
			}
			_ = f()
		}
	}
	var want []int
	for i := range 200 {
		put(i, false)
	}
	takeN(100)
	want = append(want, seq(0, 100)...)
	for i := 200; i < 400; i++ {
		put(i, false)
	}
	put(-1, true)
	put(-2, true)
	takeN(3)
	want = append(want, -1, -2, 100)
	takeN(299)
	want = append(want, seq(101, 400)...)
	if m.hasMail() || m.take() != nil {
		t.Fatal("mail left over")
	}
	if len(got) != len(want) {
		t.Fatalf("took %d mails, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("mail %d is %d, want %d", i, got[i], want[i])
		}
	}
	if len(m.mu.ordinary) != 0 || cap(m.mu.ordinary) > 1024 {
		t.Fatalf("drained ordinary lane holds %d (capacity %d)", len(m.mu.ordinary), cap(m.mu.ordinary))
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}
