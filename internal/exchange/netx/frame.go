package netx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/freshet-io/freshet/internal/exchange"
)

// A frame is a 5-byte header, the payload's length (uint32, big endian,
// the type byte excluded) and the frame's type, followed by the payload.
const headerSize = 5

// Frame types.
const (
	frameHello    byte = 1 // magic, version, process id; each side sends one first
	frameOpen     byte = 2 // sender: channel number, ChannelID
	frameBuffer   byte = 3 // sender: channel number, backlog, envelopes; takes one credit
	frameEvent    byte = 4 // sender: channel number, seq, one priority envelope; takes no credit
	frameCredit   byte = 5 // receiver: channel number, credits added
	frameBacklog  byte = 6 // sender: channel number, backlog (buffers queued without credit)
	frameClose    byte = 7 // either side: channel number, reason (empty: finished)
	frameError    byte = 8 // either side: the connection failed, message
	maxFrameTypes byte = 9
)

// bufferHeader is the fixed size of a buffer frame's header: frame header,
// channel number and backlog (uint32 each), so a pooled buffer can reserve
// room for it in front of its envelopes.
const bufferHeader = headerSize + 8

// magic opens the hello frame; version is the protocol's.
var magic = [4]byte{'F', 'R', 'S', 'H'}

const version = 1

// ErrProtocol is wrapped by the errors of a peer that broke the protocol:
// a malformed, truncated or unexpected frame.
var ErrProtocol = errors.New("freshet: network protocol error")

// ErrConnection is wrapped by the errors a failed connection gives its
// channels.
var ErrConnection = errors.New("freshet: network connection failed")

func frameName(t byte) string {
	switch t {
	case frameHello:
		return "hello"
	case frameOpen:
		return "open"
	case frameBuffer:
		return "buffer"
	case frameEvent:
		return "event"
	case frameCredit:
		return "credit"
	case frameBacklog:
		return "backlog"
	case frameClose:
		return "close"
	case frameError:
		return "error"
	}
	return fmt.Sprintf("unknown(%d)", t)
}

// frame is a decoded frame. Its payload points into the slab it was read
// into, which the reader reuses once it has moved on to another slab and
// every envelope holding on to it (the encoded batches of buffer frames,
// see slab) has been released: only those may keep the payload's bytes
// past the handling of the frame.
type frame struct {
	typ     byte
	payload []byte
	slab    *slab
}

// slabSize is the size of the slabs frames are read into.
const slabSize = 1 << 20

// freeSlabs is how many released slabs a reader keeps for reuse; more are
// left to the garbage collector.
const freeSlabs = 4

// slab is a block of memory a frameReader reads frames into. refs counts
// its users: the reader while it reads into it, and every encoded envelope
// whose Bytes point into it (it is their exchange.BytesOwner). The last
// release puts it back on its reader's free list, so that a busy
// connection reads into the same few slabs rather than allocating (and
// zeroing, and collecting) a new one per megabyte.
type slab struct {
	buf    []byte
	refs   atomic.Int32
	free   chan *slab // the reader's free list
	pooled bool       // of the reader's slab size, so reused
}

// hold adds a user of s: an envelope pointing into it.
func (s *slab) hold() { s.refs.Add(1) }

// Release implements exchange.BytesOwner.
func (s *slab) Release() {
	if s.refs.Add(-1) == 0 && s.pooled {
		select {
		case s.free <- s:
		default:
		}
	}
}

// frameReader reads frames straight into large slabs: each read fills as
// much of the current slab as the connection has ready, and the frames are
// cut from the slab where they lie, so a buffer's bytes are not copied
// between reading and decoding. Only the partial frame left at a slab's
// end is copied into the next slab.
type frameReader struct {
	r          io.Reader
	cur        *slab  // the slab being read into; nil before the first read
	buf        []byte // cur's bytes
	size       int    // the size of a new slab
	start, end int    // the bytes read and not yet returned
	err        error  // the reading error after buf[start:end]
	free       chan *slab
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: r, size: slabSize, free: make(chan *slab, freeSlabs)}
}

// newSlab returns a slab of at least k bytes with the reader as its one
// user: a released one when k fits the usual size, else a new one (one
// larger than usual, for a frame that does not fit, is not reused).
func (fr *frameReader) newSlab(k int) *slab {
	if k <= fr.size {
		select {
		case s := <-fr.free:
			s.refs.Store(1)
			return s
		default:
		}
	}
	s := &slab{buf: make([]byte, max(k, fr.size)), free: fr.free, pooled: k <= fr.size}
	s.refs.Store(1)
	return s
}

// fill reads until k bytes are buffered. It returns the reading error (io.EOF
// included) when they cannot be.
func (fr *frameReader) fill(k int) error {
	if fr.end-fr.start >= k {
		return nil
	}
	if fr.start+k > len(fr.buf) {
		// The frame runs past the slab: continue it in another one. The
		// reader is done with the old one; the envelopes pointing into it
		// may not be.
		ns := fr.newSlab(k)
		fr.end = copy(ns.buf, fr.buf[fr.start:fr.end])
		if fr.cur != nil {
			fr.cur.Release()
		}
		fr.cur, fr.buf, fr.start = ns, ns.buf, 0
	}
	for fr.end-fr.start < k {
		if fr.err != nil {
			return fr.err
		}
		n, err := fr.r.Read(fr.buf[fr.end:])
		fr.end += n
		fr.err = err
	}
	return nil
}

// next reads one frame. A frame longer than maxLen, or cut short by the end
// of the stream, is an error wrapping ErrProtocol (io.EOF when the stream
// ends cleanly between frames).
func (fr *frameReader) next(maxLen int) (frame, error) {
	if err := fr.fill(headerSize); err != nil {
		if err == io.EOF && fr.end > fr.start {
			return frame{}, fmt.Errorf("%w: truncated frame header", ErrProtocol)
		}
		return frame{}, err
	}
	h := fr.buf[fr.start:]
	n := binary.BigEndian.Uint32(h[:4])
	t := h[4]
	if t == 0 || t >= maxFrameTypes {
		return frame{}, fmt.Errorf("%w: unknown frame type %d", ErrProtocol, t)
	}
	if uint64(n) > uint64(maxLen) {
		return frame{}, fmt.Errorf("%w: %s frame of %d bytes exceeds the maximum of %d", ErrProtocol, frameName(t), n, maxLen)
	}
	size := headerSize + int(n)
	if err := fr.fill(size); err != nil {
		if err == io.EOF {
			return frame{}, fmt.Errorf("%w: truncated %s frame (%d bytes announced)", ErrProtocol, frameName(t), n)
		}
		return frame{}, err
	}
	at := fr.start + headerSize
	fr.start += size
	return frame{typ: t, payload: fr.buf[at : at+int(n) : at+int(n)], slab: fr.cur}, nil
}

// Read reads the bytes after the last frame returned, for a peer that
// drains a connection.
func (fr *frameReader) Read(p []byte) (int, error) {
	if fr.start < fr.end {
		n := copy(p, fr.buf[fr.start:fr.end])
		fr.start += n
		return n, nil
	}
	if fr.err != nil {
		return 0, fr.err
	}
	return fr.r.Read(p)
}

// appendHeader appends a frame header for a payload of n bytes.
func appendHeader(dst []byte, t byte, n int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	return append(dst, t)
}

// appendFrame appends a whole frame whose payload is made by body, which
// appends to its argument.
func appendFrame(dst []byte, t byte, body func([]byte) []byte) []byte {
	start := len(dst)
	dst = appendHeader(dst, t, 0)
	dst = body(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-headerSize))
	return dst
}

// decoder reads the fields of one payload, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: malformed %s", ErrProtocol, what)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32(what string) uint32 {
	if len(d.b) < 4 {
		d.fail(what)
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) byte(what string) byte {
	if len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// bytes returns the next n bytes, not copied.
func (d *decoder) bytes(n uint64, what string) []byte {
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str(what string) string {
	return string(d.bytes(d.uvarint(what), what))
}

// int returns the next uvarint as a non-negative int.
func (d *decoder) int(what string) int {
	v := d.uvarint(what)
	if v > 1<<31-1 {
		d.fail(what)
		return 0
	}
	return int(v)
}

// end fails unless the payload was read completely.
func (d *decoder) end(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes in %s", ErrProtocol, len(d.b), what)
	}
	return d.err
}

// hello is the handshake of a connection.
type hello struct {
	version uint16
	process string
}

func appendHello(dst []byte, process string) []byte {
	return appendFrame(dst, frameHello, func(b []byte) []byte {
		b = append(b, magic[:]...)
		b = binary.BigEndian.AppendUint16(b, version)
		b = binary.AppendUvarint(b, uint64(len(process)))
		return append(b, process...)
	})
}

func parseHello(f frame) (hello, error) {
	if f.typ != frameHello {
		return hello{}, fmt.Errorf("%w: expected a hello frame, got %s", ErrProtocol, frameName(f.typ))
	}
	d := decoder{b: f.payload}
	m := d.bytes(4, "hello magic")
	if d.err == nil && [4]byte(m) != magic {
		return hello{}, fmt.Errorf("%w: bad magic %q in hello (not a Freshet data connection)", ErrProtocol, m)
	}
	hi, lo := d.byte("hello version"), d.byte("hello version")
	h := hello{version: uint16(hi)<<8 | uint16(lo), process: d.str("hello process id")}
	if err := d.end("hello"); err != nil {
		return hello{}, err
	}
	if h.version != version {
		return hello{}, fmt.Errorf("%w: peer speaks protocol version %d, this process %d", ErrProtocol, h.version, version)
	}
	return h, nil
}

// Envelope flags on the wire.
const (
	flagPriority  = 1 << 0
	flagSavepoint = 1 << 1
)

// appendEnvelope appends the wire form of an event or of an encoded batch:
// kind, flags, then the kind's fields. A KindEncoded envelope's bytes are
// preceded by its record count and their length as a uint32.
func appendEnvelope(dst []byte, e *exchange.Envelope) []byte {
	var flags byte
	if e.Priority {
		flags |= flagPriority
	}
	if e.Savepoint {
		flags |= flagSavepoint
	}
	dst = append(dst, byte(e.Kind), flags)
	switch e.Kind {
	case exchange.KindEncoded:
		dst = binary.AppendUvarint(dst, uint64(e.Count))
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.Bytes)))
		dst = append(dst, e.Bytes...)
	case exchange.KindWatermark:
		dst = binary.AppendVarint(dst, e.Watermark)
	case exchange.KindBarrier, exchange.KindCancelBarrier:
		dst = binary.AppendVarint(dst, e.Checkpoint)
	}
	return dst
}

// readEnvelope decodes one envelope appended by appendEnvelope. The bytes
// of a KindEncoded envelope point into d's payload.
func (d *decoder) envelope() exchange.Envelope {
	k := exchange.Kind(d.byte("envelope kind"))
	flags := d.byte("envelope flags")
	e := exchange.Envelope{Kind: k, Priority: flags&flagPriority != 0, Savepoint: flags&flagSavepoint != 0}
	if flags&^(flagPriority|flagSavepoint) != 0 {
		d.fail("envelope flags")
	}
	switch k {
	case exchange.KindEncoded:
		e.Count = d.int("record count")
		e.Bytes = d.bytes(uint64(d.u32("batch length")), "encoded batch")
	case exchange.KindWatermark:
		e.Watermark = d.varint("watermark")
	case exchange.KindBarrier, exchange.KindCancelBarrier:
		e.Checkpoint = d.varint("checkpoint id")
	case exchange.KindIdle, exchange.KindActive, exchange.KindEndOfInput, exchange.KindEndOfData:
	default:
		d.fail(fmt.Sprintf("envelope (kind %d)", k))
	}
	return e
}

// parseBuffer decodes the payload of a buffer frame: channel number,
// backlog and envelopes, appended to envs.
func parseBuffer(p []byte, envs []exchange.Envelope) (ch uint32, backlog int, _ []exchange.Envelope, _ error) {
	d := decoder{b: p}
	ch = d.u32("buffer channel")
	backlog = int(d.u32("buffer backlog"))
	for d.err == nil && len(d.b) > 0 {
		e := d.envelope()
		if e.Priority {
			d.fail("buffer (priority event inside)")
		}
		envs = append(envs, e)
	}
	if d.err == nil && len(envs) == 0 {
		d.fail("buffer (no envelopes)")
	}
	return ch, backlog, envs, d.err
}

// parseEvent decodes the payload of an event frame.
func parseEvent(p []byte) (ch uint32, _ exchange.Envelope, _ error) {
	d := decoder{b: p}
	ch = uint32(d.uvarint("event channel"))
	seq := d.varint("event seq")
	e := d.envelope()
	e.Seq = seq
	if d.err == nil && (!e.Priority || e.Kind == exchange.KindEncoded) {
		d.fail("event (not a priority event)")
	}
	return ch, e, d.end("event")
}

func appendEvent(dst []byte, ch uint32, seq int64, e *exchange.Envelope) []byte {
	return appendFrame(dst, frameEvent, func(b []byte) []byte {
		b = binary.AppendUvarint(b, uint64(ch))
		b = binary.AppendVarint(b, seq)
		return appendEnvelope(b, e)
	})
}

// appendChanInt appends a frame of a channel number and one number: credit
// and backlog frames.
func appendChanInt(dst []byte, t byte, ch uint32, n int) []byte {
	return appendFrame(dst, t, func(b []byte) []byte {
		b = binary.AppendUvarint(b, uint64(ch))
		return binary.AppendUvarint(b, uint64(n))
	})
}

func parseChanInt(f frame) (uint32, int, error) {
	d := decoder{b: f.payload}
	ch := uint32(d.uvarint(frameName(f.typ) + " channel"))
	n := d.int(frameName(f.typ))
	return ch, n, d.end(frameName(f.typ))
}

// appendChanString appends a frame of a channel number and a string: open
// (the ChannelID's encoding), close and error frames.
func appendChanString(dst []byte, t byte, ch uint32, s string) []byte {
	return appendFrame(dst, t, func(b []byte) []byte {
		b = binary.AppendUvarint(b, uint64(ch))
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	})
}

func parseChanString(f frame) (uint32, string, error) {
	d := decoder{b: f.payload}
	ch := uint32(d.uvarint(frameName(f.typ) + " channel"))
	s := d.str(frameName(f.typ))
	return ch, s, d.end(frameName(f.typ))
}
