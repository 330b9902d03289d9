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
