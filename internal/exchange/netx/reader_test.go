package netx

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestFrameReader: frames come back whole and in order however the stream
// is cut into reads and wherever a slab ends, and a stream cut inside a
// frame is a protocol error.
func TestFrameReader(t *testing.T) {
	var stream []byte
	stream = appendChanInt(stream, frameCredit, 1, 4)
	stream = append(stream, rawBuffer(1, bytes.Repeat([]byte{7}, 100)...)...)
	stream = appendChanString(stream, frameClose, 3, "gone")
	stream = append(stream, rawBuffer(2, 9)...)
	type got struct {
		typ     byte
		payload string
	}
	want := []got{
		{frameCredit, string(appendChanInt(nil, frameCredit, 1, 4)[headerSize:])},
		{frameBuffer, string(rawBuffer(1, bytes.Repeat([]byte{7}, 100)...)[headerSize:])},
		{frameClose, string(appendChanString(nil, frameClose, 3, "gone")[headerSize:])},
		{frameBuffer, string(rawBuffer(2, 9)[headerSize:])},
	}
	for _, tc := range []struct {
		name string
		r    func() io.Reader
		slab int
	}{
		{"whole", func() io.Reader { return bytes.NewReader(stream) }, slabSize},
		{"bytewise", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) }, slabSize},
		{"small slabs", func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) }, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newFrameReader(tc.r())
			r.size = tc.slab
			var frames []got
			for {
				f, err := r.next(1 << 10)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				frames = append(frames, got{f.typ, string(f.payload)})
			}
			if len(frames) != len(want) {
				t.Fatalf("got %d frames, want %d", len(frames), len(want))
			}
			for i := range want {
				if frames[i] != want[i] {
					t.Errorf("frame %d: got %v, want %v", i, frames[i], want[i])
				}
			}
		})
	}
	for _, tc := range []struct {
		cut  int
		want string
	}{
		{3, "truncated frame header"},
		{len(stream) - 1, "truncated buffer frame (9 bytes announced)"},
	} {
		r := newFrameReader(bytes.NewReader(stream[:tc.cut]))
		var err error
		for err == nil {
			_, err = r.next(1 << 10)
		}
		if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("cut at %d: got %v, want a protocol error of %q", tc.cut, err, tc.want)
		}
	}
}

// TestSlabReuse: the reader reads into the same few slabs while nothing
// holds on to them, and never into one an envelope still points into.
func TestSlabReuse(t *testing.T) {
	var stream []byte
	for i := range 100 {
		stream = append(stream, rawBuffer(1, bytes.Repeat([]byte{byte(i)}, 27)...)...) // 40 bytes
	}
	r := newFrameReader(bytes.NewReader(stream))
	r.size = 64 // a frame and a part of the next per slab
	first, err := r.next(1 << 10)
	if err != nil {
		t.Fatal(err)
	}
	held, want := first.slab, string(first.payload)
	held.hold() // an envelope of the first frame, not yet consumed
	seen := map[*slab]bool{}
	for i := 1; i < 100; i++ {
		f, err := r.next(1 << 10)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.payload[len(f.payload)-1] != byte(i) {
			t.Fatalf("frame %d ends with %d", i, f.payload[len(f.payload)-1])
		}
		if f.slab == held && i > 1 {
			t.Fatalf("frame %d was read into the slab an envelope holds", i)
		}
		seen[f.slab] = true
		if i == 50 {
			if string(first.payload) != want {
				t.Fatal("the held frame's bytes were overwritten")
			}
			held.Release()
			held = nil
		}
	}
	// Two slabs take turns (the next one is taken before the reader lets
	// go of the last), plus the one released half way.
	if len(seen) > 3 {
		t.Errorf("the reader used %d slabs for 100 frames, want at most 3", len(seen))
	}
	if _, err := r.next(1 << 10); err != io.EOF {
		t.Errorf("after the last frame: got %v, want io.EOF", err)
	}
}
