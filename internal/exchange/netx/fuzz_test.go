package netx

import (
	"bytes"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/freshet-io/freshet/internal/exchange"
)

// FuzzFrame feeds arbitrary bytes to the frame reader and the payload
// parsers: they must return errors, never panic, and what they accept must
// survive being encoded and decoded again.
func FuzzFrame(f *testing.F) {
	enc := []exchange.Envelope{
		{Kind: exchange.KindEncoded, Count: 2, Bytes: []byte("ab")},
		{Kind: exchange.KindWatermark, Watermark: -5},
		{Kind: exchange.KindBarrier, Checkpoint: 3, Savepoint: true},
		{Kind: exchange.KindEndOfInput},
	}
	var seed []byte
	seed = appendHello(seed, "tm-1")
	seed = appendChanString(seed, frameOpen, 1, string(chanID(3).append(nil)))
	body := []byte{}
	for i := range enc {
		body = appendEnvelope(body, &enc[i])
	}
	seed = append(seed, rawBuffer(1, body...)...)
	seed = appendEvent(seed, 1, 7, &exchange.Envelope{Kind: exchange.KindBarrier, Checkpoint: 4, Priority: true})
	seed = appendChanInt(seed, frameCredit, 1, 4)
	seed = appendChanInt(seed, frameBacklog, 1, 2)
	seed = appendChanString(seed, frameClose, 1, "gone")
	f.Add(seed)
	f.Add(appendHeader(nil, frameBuffer, 1<<30))
	f.Add([]byte{0, 0, 0, 1, frameEvent, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		// One byte at a time into small slabs, so frames straddle reads
		// and slabs.
		r := newFrameReader(iotest.OneByteReader(bytes.NewReader(data)))
		r.size = 64
		for {
			fr, err := r.next(1 << 16)
			if err != nil {
				return
			}
			switch fr.typ {
			case frameHello:
				parseHello(fr)
			case frameOpen:
				if _, s, err := parseChanString(fr); err == nil {
					if id, err := parseChannelID([]byte(s)); err == nil {
						if again, err := parseChannelID(id.append(nil)); err != nil || again != id {
							t.Fatalf("channel id %+v came back as %+v, %v", id, again, err)
						}
					}
				}
			case frameBuffer:
				ch, backlog, envs, err := parseBuffer(fr.payload, nil)
				if err != nil {
					continue
				}
				var b []byte
				for i := range envs {
					b = appendEnvelope(b, &envs[i])
				}
				ch2, backlog2, again, err := parseBuffer(append(rawBuffer(ch, b...)[headerSize:headerSize:headerSize], rawBuffer(ch, b...)[headerSize:]...), nil)
				if err != nil || ch2 != ch || backlog2 != 0 && backlog != backlog2 || !reflect.DeepEqual(envs, again) {
					t.Fatalf("buffer %v came back as %v, %v", envs, again, err)
				}
			case frameEvent:
				if ch, e, err := parseEvent(fr.payload); err == nil {
					ch2, again, err := parseEvent(appendEvent(nil, ch, e.Seq, &e)[headerSize:])
					if err != nil || ch2 != ch || !reflect.DeepEqual(e, again) {
						t.Fatalf("event %+v came back as %+v, %v", e, again, err)
					}
				}
			case frameCredit, frameBacklog:
				parseChanInt(fr)
			case frameClose, frameError:
				parseChanString(fr)
			}
		}
	})
}
