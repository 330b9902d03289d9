package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strings"
	"time"
)

// The metadata file's layout (version 2; version 1 lacks the files' flags);
// docs/checkpoint-format.md is the reference and must change with it.
//
//	magic    8 bytes   "FRSHCKPT"
//	version  uint16    big-endian, FormatVersion
//	length   uint32    big-endian, n: the body's length
//	body     n bytes
//	crc      uint32    big-endian, CRC-32C of every byte before it
const (
	magic = "FRSHCKPT"

	// FormatVersion is the metadata format this package writes. It reads
	// this version and version 1; a newer one is reported as
	// ErrUnsupportedVersion.
	FormatVersion = 2

	// flagShared marks a file of the shared folder (File.Shared).
	flagShared = 1

	headerLen  = len(magic) + 2 + 4
	trailerLen = 4

	// maxMetadataLen bounds the body so that a corrupt length cannot make a
	// reader allocate without limit.
	maxMetadataLen = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the CRC-32C (Castagnoli) of p, the checksum of every state
// file and of the metadata.
func checksum(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }

// encodeMetadata returns c in the metadata format. Properties are written
// in key order, so equal checkpoints encode to equal bytes.
func encodeMetadata(c *Checkpoint) []byte {
	var b []byte
	b = binary.AppendUvarint(b, c.ID)
	b = appendString(b, c.JobID)
	b = binary.AppendVarint(b, c.Timestamp.UnixMilli())
	keys := make([]string, 0, len(c.Properties))
	for k := range c.Properties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, string(c.Properties[k]))
	}
	b = binary.AppendUvarint(b, uint64(len(c.Files)))
	for _, f := range c.Files {
		b = appendString(b, f.Name)
		b = appendString(b, f.Part.Operator)
		b = binary.AppendUvarint(b, uint64(f.Part.Subtask))
		b = binary.AppendVarint(b, int64(f.Part.KeyGroups.Start))
		b = binary.AppendVarint(b, int64(f.Part.KeyGroups.End))
		b = binary.AppendUvarint(b, uint64(f.Size))
		b = binary.BigEndian.AppendUint32(b, f.CRC32C)
		var flags byte
		if f.Shared {
			flags |= flagShared
		}
		b = append(b, flags)
	}

	out := make([]byte, 0, headerLen+len(b)+trailerLen)
	out = append(out, magic...)
	out = binary.BigEndian.AppendUint16(out, FormatVersion)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
	out = append(out, b...)
	return binary.BigEndian.AppendUint32(out, checksum(out))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// formatErr makes a decoding error; every one matches ErrCorrupt.
func formatErr(format string, args ...any) error {
	return fmt.Errorf("metadata: "+format+": %w", append(args, ErrCorrupt)...)
}

// decodeMetadata parses a metadata file. It never panics and never
// allocates more than a small multiple of len(p), whatever p holds.
func decodeMetadata(p []byte) (*Checkpoint, error) {
	if len(p) < headerLen+trailerLen {
		return nil, formatErr("%d bytes, shorter than the %d-byte header and trailer", len(p), headerLen+trailerLen)
	}
	if string(p[:len(magic)]) != magic {
		return nil, formatErr("bad magic %q", p[:len(magic)])
	}
	version := binary.BigEndian.Uint16(p[len(magic):])
	if version != 1 && version != FormatVersion {
		return nil, fmt.Errorf("metadata: format version %d, this build reads 1 to %d: %w", version, FormatVersion, ErrUnsupportedVersion)
	}
	n := binary.BigEndian.Uint32(p[len(magic)+2:])
	if n > maxMetadataLen || int(n) != len(p)-headerLen-trailerLen {
		return nil, formatErr("body length %d in a %d-byte file", n, len(p))
	}
	end := headerLen + int(n)
	if got, want := checksum(p[:end]), binary.BigEndian.Uint32(p[end:]); got != want {
		return nil, formatErr("checksum %#08x, recorded %#08x", got, want)
	}

	d := decoder{b: p[headerLen:end]}
	c := &Checkpoint{}
	c.ID = d.uvarint()
	c.JobID = d.string()
	ms := d.varint()
	c.Timestamp = time.UnixMilli(ms).UTC()
	np := d.count()
	if np > 0 {
		c.Properties = make(map[string][]byte, np)
	}
	prev := ""
	for i := 0; i < np && d.err == nil; i++ {
		k := d.string()
		v := d.string()
		if d.err == nil && i > 0 && k <= prev {
			d.fail("property %q out of order or repeated", k)
		}
		prev = k
		c.Properties[k] = []byte(v)
	}
	nf := d.count()
	c.Files = make([]File, 0, nf)
	seen := make(map[string]bool, nf)
	for i := 0; i < nf && d.err == nil; i++ {
		var f File
		f.Name = d.string()
		f.Part.Operator = d.string()
		f.Part.Subtask = d.int("subtask", 0, math.MaxInt32)
		f.Part.KeyGroups.Start = int(d.varintIn("key-group start", -1, math.MaxInt32))
		f.Part.KeyGroups.End = int(d.varintIn("key-group end", -1, math.MaxInt32))
		f.Size = int64(d.int("size", 0, math.MaxInt64))
		f.CRC32C = d.uint32()
		if version >= 2 {
			switch flags := d.byte(); flags {
			case 0:
			case flagShared:
				f.Shared = true
			default:
				d.fail("file %d: flags %#x", i, flags)
			}
		}
		if d.err != nil {
			break
		}
		if err := validName(f.Name); err != nil {
			d.fail("file %d: %v", i, err)
			break
		}
		if seen[f.Name] {
			d.fail("file %s listed twice", f.Name)
			break
		}
		seen[f.Name] = true
		c.Files = append(c.Files, f)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d unread bytes after the file list", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}

// validName reports whether name can be a state file's name: one path
// element of safe characters, so metadata cannot point outside its
// checkpoint.
func validName(name string) error {
	if name == "" || len(name) > 255 || name == "." || name == ".." || strings.HasPrefix(name, metadataName) {
		return fmt.Errorf("invalid file name %q", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("invalid file name %q", name)
		}
	}
	return nil
}

// decoder reads the body; the first error sticks and later reads return
// zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = formatErr(format, args...)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad unsigned varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int(what string, lo, hi uint64) int {
	v := d.uvarint()
	if d.err == nil && (v < lo || v > hi) {
		d.fail("%s %d out of range", what, v)
		return 0
	}
	return int(v)
}

func (d *decoder) varintIn(what string, lo, hi int64) int64 {
	v := d.varint()
	if d.err == nil && (v < lo || v > hi) {
		d.fail("%s %d out of range", what, v)
		return 0
	}
	return v
}

// count reads a number of entries, each at least one byte long, so it can
// be no more than the bytes left.
func (d *decoder) count() int {
	v := d.uvarint()
	if d.err == nil && v > uint64(len(d.b)) {
		d.fail("count %d with %d bytes left", v, len(d.b))
		return 0
	}
	return int(v)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("string of %d bytes with %d left", n, len(d.b))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) uint32() uint32 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 4 {
		d.fail("truncated checksum")
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("truncated file flags")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}
