package file

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Decoding is how a Source turns files into records of type T, the
// reading side of a Format: DecodeLines, DecodeLinesFunc, DecodeJSON,
// DecodeCSV, DecodeCSVFunc, and Parquet in the parquetfile package. A
// decoding may be used by several readers at once: Open must be safe for
// concurrent use.
type Decoding[T any] interface {
	// Open returns a decoder of the file at path that resumes at pos, a
	// position an earlier decoder of the same file returned (the zero
	// Position is the start of the file).
	Open(path string, pos Position) (Decoder[T], error)
}

// Decoder decodes the records of one file, in order. It is used by one
// goroutine.
type Decoder[T any] interface {
	// Next returns the next record, or io.EOF after the last one. A record
	// that cannot be decoded is a *MalformedError; the decoder is then
	// positioned after it, so that Next goes on with the next record.
	// Any other error is final.
	Next() (T, error)
	// Position is where the decoder stands: after the last record Next
	// returned or reported malformed. Opening the file at this position
	// goes on with the record after it.
	Position() Position
	// Close releases the file.
	Close() error
}

// Position is where a decoder stands in a file: what a Split records in
// checkpoints.
type Position struct {
	// Offset is the number of bytes of the file consumed, counted in the
	// decompressed data for a compressed file; formats that count records
	// only (Parquet) leave it 0.
	Offset int64
	// Record is the number of records consumed: lines for DecodeLines and
	// DecodeJSON, rows with the header row for CSV, rows for Parquet.
	Record int64
}

// ErrMalformed is matched (errors.Is) by every *MalformedError.
var ErrMalformed = errors.New("freshet: malformed record")

// MalformedError is a record that a decoder cannot decode.
type MalformedError struct {
	// Path is the file.
	Path string
	// Unit names what Number counts: "line" (text formats), "row" (CSV
	// data rows, 1 for the row after the header; Parquet rows from 1).
	Unit string
	// Number is the 1-based number of the line or row.
	Number int64
	// Offset is the byte offset at which the record starts (in the
	// decompressed data), -1 when not known.
	Offset int64
	Err    error
}

func (e *MalformedError) Error() string {
	s := fmt.Sprintf("freshet: malformed record at %s:%d (%s %d", e.Path, e.Number, e.Unit, e.Number)
	if e.Offset >= 0 {
		s += fmt.Sprintf(", offset %d", e.Offset)
	}
	return s + "): " + e.Err.Error()
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

// Unwrap returns the decoder's error.
func (e *MalformedError) Unwrap() error { return e.Err }

// OpenStream opens the file at path for reading from byte offset on,
// decompressing it when its name ends in ".gz" or ".zst". A plain file is
// positioned by seeking; a compressed one by decompressing offset bytes
// from its start and dropping them, so that resuming deep in a large
// compressed file costs reading it up to there again. Stream formats of
// one's own (a Decoding) build on it.
func OpenStream(path string, offset int64) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	var rc io.ReadCloser
	switch {
	case strings.HasSuffix(path, ".gz"):
		z, err := gzip.NewReader(bufio.NewReaderSize(f, readBufferSize))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("opening %s: gzip: %w", path, err)
		}
		rc = &stackedReader{Reader: z, closers: []io.Closer{z, f}}
	case strings.HasSuffix(path, ".zst"):
		z, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("opening %s: zstd: %w", path, err)
		}
		rc = &stackedReader{Reader: z, closers: []io.Closer{zstdCloser{z}, f}}
	default:
		if offset > 0 {
			if _, err := f.Seek(offset, io.SeekStart); err != nil {
				f.Close()
				return nil, fmt.Errorf("seeking %s to offset %d: %w", path, offset, err)
			}
		}
		return f, nil
	}
	if offset > 0 {
		n, err := io.CopyN(io.Discard, rc, offset)
		if err != nil {
			rc.Close()
			if err == io.EOF {
				err = fmt.Errorf("the file has only %d bytes decompressed", n)
			}
			return nil, fmt.Errorf("skipping %d decompressed bytes of %s: %w", offset, path, err)
		}
	}
	return rc, nil
}

// readBufferSize is the size of the buffers of the stream decoders.
const readBufferSize = 256 << 10

// MaxLineBytes is the longest line, without its line terminator, that the
// line-based decodings (DecodeLines, DecodeJSON) read; a longer one is a
// malformed record.
const MaxLineBytes = 64 << 20

type stackedReader struct {
	io.Reader
	closers []io.Closer
}

func (s *stackedReader) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

type zstdCloser struct{ d *zstd.Decoder }

func (z zstdCloser) Close() error { z.d.Close(); return nil }

// lineReader reads the lines of a stream, counting bytes and lines.
type lineReader struct {
	path    string
	rc      io.ReadCloser
	br      *bufio.Reader
	scratch []byte
	pos     Position
}

func openLines(path string, pos Position) (*lineReader, error) {
	rc, err := OpenStream(path, pos.Offset)
	if err != nil {
		return nil, err
	}
	return &lineReader{path: path, rc: rc, br: bufio.NewReaderSize(rc, readBufferSize), pos: pos}, nil
}

// next returns the next line without its "\n" or "\r\n" and where it
// starts; the line is valid until the next call. A line longer than
// MaxLineBytes is a *MalformedError.
func (l *lineReader) next() (line []byte, start int64, err error) {
	start = l.pos.Offset
	frag, err := l.br.ReadSlice('\n')
	n := len(frag)
	if err == bufio.ErrBufferFull {
		buf := append(l.scratch[:0], frag...)
		for err == bufio.ErrBufferFull {
			frag, err = l.br.ReadSlice('\n')
			n += len(frag)
			if len(buf) <= MaxLineBytes+1 {
				buf = append(buf, frag...)
			}
		}
		frag = buf
		if cap(buf) <= 4*readBufferSize {
			l.scratch = buf[:0]
		}
	}
	switch {
	case err == io.EOF && n == 0:
		return nil, start, io.EOF
	case err != nil && err != io.EOF:
		return nil, start, fmt.Errorf("reading %s at offset %d: %w", l.path, start+int64(n), err)
	}
	l.pos.Offset += int64(n)
	l.pos.Record++
	frag = bytes.TrimSuffix(frag, []byte{'\n'})
	frag = bytes.TrimSuffix(frag, []byte{'\r'})
	if len(frag) > MaxLineBytes {
		return nil, start, l.malformed(start, fmt.Errorf("line longer than %d bytes", MaxLineBytes))
	}
	return frag, start, nil
}

// malformed describes the line just read, which started at start.
func (l *lineReader) malformed(start int64, err error) *MalformedError {
	return &MalformedError{Path: l.path, Unit: "line", Number: l.pos.Record, Offset: start, Err: err}
}

func (l *lineReader) Position() Position { return l.pos }
func (l *lineReader) Close() error       { return l.rc.Close() }

// DecodeLines is the decoding of text files into their lines, without
// their "\n" or "\r\n"; a last line without "\n" counts too. Position
// counts bytes and lines.
func DecodeLines() Decoding[string] { return linesDecoding{} }

type linesDecoding struct{}

func (linesDecoding) Open(path string, pos Position) (Decoder[string], error) {
	l, err := openLines(path, pos)
	if err != nil {
		return nil, err
	}
	return linesDecoder{l}, nil
}

type linesDecoder struct{ *lineReader }

func (d linesDecoder) Next() (string, error) {
	line, _, err := d.next()
	return string(line), err
}

// DecodeLinesFunc is the decoding of text files a line at a time with a
// function of one's own: fn makes a record of a line (without its "\n" or
// "\r\n", and only valid during the call); its error makes the line
// malformed. Position counts bytes and lines.
func DecodeLinesFunc[T any](fn func(line []byte) (T, error)) Decoding[T] {
	return linesFuncDecoding[T]{fn}
}

type linesFuncDecoding[T any] struct{ fn func([]byte) (T, error) }

func (d linesFuncDecoding[T]) Open(path string, pos Position) (Decoder[T], error) {
	l, err := openLines(path, pos)
	if err != nil {
		return nil, err
	}
	return linesFuncDecoder[T]{l, d.fn}, nil
}

type linesFuncDecoder[T any] struct {
	*lineReader
	fn func([]byte) (T, error)
}

func (d linesFuncDecoder[T]) Next() (T, error) {
	line, start, err := d.next()
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := d.fn(line)
	if err != nil {
		return v, d.malformed(start, err)
	}
	return v, nil
}

// DecodeJSON is the decoding of JSON Lines files: one JSON document per
// line, decoded into T with encoding/json. Blank lines are skipped; a line
// that is not a JSON document of T's shape is malformed. Position counts
// bytes and lines.
func DecodeJSON[T any]() Decoding[T] { return jsonDecoding[T]{} }

type jsonDecoding[T any] struct{}

func (jsonDecoding[T]) Open(path string, pos Position) (Decoder[T], error) {
	l, err := openLines(path, pos)
	if err != nil {
		return nil, err
	}
	return jsonDecoder[T]{l}, nil
}

type jsonDecoder[T any] struct{ *lineReader }

func (d jsonDecoder[T]) Next() (T, error) {
	for {
		var v T
		line, start, err := d.next()
		if err != nil {
			return v, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := json.Unmarshal(line, &v); err != nil {
			return v, d.malformed(start, err)
		}
		return v, nil
	}
}
