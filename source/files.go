package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// MaxLineBytes is the longest line, without its line terminator, that the
// text sources read; a longer one fails the reader with ErrLineTooLong.
const MaxLineBytes = 64 << 20

// ErrLineTooLong is returned by text readers that meet a line longer than
// MaxLineBytes.
var ErrLineTooLong = errors.New("freshet: line too long")

// readBufferSize is the size of the bufio buffer of the text readers.
const readBufferSize = 256 << 10

// FileSplit is one file of a FileSource. Offset is the byte offset of the
// next line to read: 0 for a fresh split, and advanced by the reader as it
// emits lines, so that a split taken from a reader can be resumed.
type FileSplit struct {
	Path   string
	Offset int64
}

// SplitID implements Split.
func (s FileSplit) SplitID() string { return s.Path }

// FileSource is a bounded source of the lines of text files, like Flink's
// FileSource with a TextLineInputFormat. Each file is one split; readers
// pull files one at a time (see Pull), so a file's lines arrive in order
// but the files of a parallel source are read concurrently by different
// subtasks. When the Output implements SplitOutputs, each file's lines go
// through the file's own output, released at the end of the file.
//
// Lines end at '\n'; a '\r' before it is removed, and a last line without
// '\n' is emitted too. Records carry no timestamp of their own.
type FileSource struct {
	// Paths are the files and directories to read. A directory stands for
	// the regular files directly in it (not in its subdirectories), in name
	// order, except hidden ones: names starting with '.' or '_', as Flink
	// skips them. Files named directly are read whatever their name; a file
	// named twice (or named and in a named directory) is read once.
	Paths []string
}

var _ Source[string, FileSplit] = (*FileSource)(nil)

// TextFiles returns a source of the lines of the files at paths, each a
// file or a directory. The paths are listed when the job starts: a missing
// one fails CreateEnumerator.
func TextFiles(paths ...string) *FileSource {
	return &FileSource{Paths: append([]string(nil), paths...)}
}

// Boundedness implements Source.
func (s *FileSource) Boundedness() Boundedness { return Bounded }

// CreateEnumerator implements Source: it lists the files and returns a Pull
// enumerator with one split per file.
func (s *FileSource) CreateEnumerator(ctx EnumeratorContext[FileSplit]) (Enumerator[FileSplit], error) {
	files, err := s.listFiles()
	if err != nil {
		return nil, err
	}
	splits := make([]FileSplit, len(files))
	for i, f := range files {
		splits[i] = FileSplit{Path: f}
	}
	return NewPull(ctx, splits), nil
}

// listFiles expands s.Paths into the files to read, in order, without
// duplicates.
func (s *FileSource) listFiles() ([]string, error) {
	if len(s.Paths) == 0 {
		return nil, errors.New("text file source: no paths given")
	}
	var files []string
	seen := map[string]bool{}
	add := func(path string) {
		if clean := filepath.Clean(path); !seen[clean] {
			seen[clean] = true
			files = append(files, path)
		}
	}
	for _, path := range s.Paths {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("looking up %s: %w", path, err)
		}
		switch {
		case fi.Mode().IsRegular():
			add(path)
		case fi.IsDir():
			entries, err := os.ReadDir(path) // sorted by name
			if err != nil {
				return nil, fmt.Errorf("listing %s: %w", path, err)
			}
			for _, e := range entries {
				if name := e.Name(); name[0] == '.' || name[0] == '_' {
					continue
				}
				p := filepath.Join(path, e.Name())
				if !e.Type().IsRegular() {
					if e.Type()&os.ModeSymlink == 0 {
						continue
					}
					// Follow symbolic links to regular files.
					if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
						continue
					}
				}
				add(p)
			}
		default:
			return nil, fmt.Errorf("text file source: %s is neither a regular file nor a directory", path)
		}
	}
	return files, nil
}

// RestoreEnumerator implements Source: the files not handed out yet are
// handed out on request, as before.
func (s *FileSource) RestoreEnumerator(ctx EnumeratorContext[FileSplit], unassigned []FileSplit) (Enumerator[FileSplit], error) {
	return NewPull(ctx, unassigned), nil
}

// CreateReader implements Source.
func (s *FileSource) CreateReader(ctx ReaderContext) (Reader[string, FileSplit], error) {
	return &fileReader{ctx: ctx}, nil
}

type fileReader struct {
	ctx       ReaderContext
	pending   []FileSplit
	cur       FileSplit // the split being read, when f != nil
	f         *os.File
	outs      SplitOutputs[string] // the Output's per-split outputs, if any
	curOut    Output[string]       // cur's own output, with outs
	br        *bufio.Reader
	scratch   []byte
	lines     []string // lines read but not yet handed over
	requested bool     // a split request is outstanding
	noMore    bool
	closed    bool
}

func (r *fileReader) Start(context.Context) error {
	if len(r.pending) == 0 {
		r.request()
	}
	return nil
}

func (r *fileReader) request() {
	if !r.requested && !r.noMore {
		r.requested = true
		r.ctx.SendSplitRequest()
	}
}

func (r *fileReader) PollNext(out Output[string]) (InputStatus, error) {
	if r.closed {
		return EndOfInput, ErrReaderClosed
	}
	// The poll's lines of the current file are gathered in r.lines and
	// handed over as one run: when the file ends and when the poll does.
	defer r.emitLines(out)
	for emitted := 0; emitted < pollBatch; {
		if r.f == nil {
			if len(r.pending) == 0 {
				switch {
				case emitted > 0:
					return MoreAvailable, nil
				case r.noMore:
					return EndOfInput, nil
				}
				r.request()
				return NothingAvailable, nil
			}
			if err := r.open(r.pending[0], out); err != nil {
				return EndOfInput, err
			}
			r.pending = r.pending[1:]
			if len(r.pending) == 0 {
				// Ask for the next file while reading this one.
				r.request()
			}
		}
		line, n, err := readLine(r.br, &r.scratch, MaxLineBytes)
		switch {
		case err == io.EOF:
			r.emitLines(out)
			if err := r.closeFile(); err != nil {
				return EndOfInput, err
			}
			continue
		case errors.Is(err, ErrLineTooLong):
			return EndOfInput, fmt.Errorf("reading %s: line at offset %d: %w", r.cur.Path, r.cur.Offset, err)
		case err != nil:
			return EndOfInput, fmt.Errorf("reading %s: %w", r.cur.Path, err)
		}
		r.cur.Offset += int64(n)
		r.lines = append(r.lines, line)
		emitted++
	}
	return MoreAvailable, nil
}

// emitLines hands the gathered lines to the current file's output (out
// without per-split outputs).
func (r *fileReader) emitLines(out Output[string]) {
	if len(r.lines) == 0 {
		return
	}
	if r.curOut != nil {
		out = r.curOut
	}
	emit(out, r.lines)
	clear(r.lines)
	r.lines = r.lines[:0]
}

func (r *fileReader) open(sp FileSplit, out Output[string]) error {
	f, err := os.Open(sp.Path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", sp.Path, err)
	}
	if sp.Offset > 0 {
		if _, err := f.Seek(sp.Offset, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("seeking %s to offset %d: %w", sp.Path, sp.Offset, err)
		}
	}
	if r.br == nil {
		r.br = bufio.NewReaderSize(f, readBufferSize)
	} else {
		r.br.Reset(f)
	}
	r.f, r.cur = f, sp
	if outs, ok := out.(SplitOutputs[string]); ok {
		r.outs, r.curOut = outs, outs.ForSplit(sp.SplitID())
	}
	return nil
}

func (r *fileReader) closeFile() error {
	f := r.f
	r.f, r.curOut = nil, nil
	r.br.Reset(nil)
	if r.outs != nil {
		r.outs.ReleaseSplit(r.cur.SplitID())
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", r.cur.Path, err)
	}
	return nil
}

func (r *fileReader) Available() <-chan struct{} { return never }

func (r *fileReader) AddSplits(splits []FileSplit) {
	r.pending = append(r.pending, splits...)
	r.requested = false
}

func (r *fileReader) NotifyNoMoreSplits() { r.noMore = true }

// SnapshotState implements Reader: the file being read, at the byte offset
// of its first line not yet emitted, then the files not opened yet.
func (r *fileReader) SnapshotState(int64) ([]FileSplit, error) {
	var out []FileSplit
	if r.f != nil {
		out = append(out, r.cur)
	}
	return append(out, r.pending...), nil
}

func (r *fileReader) Close() error {
	r.closed = true
	if r.f != nil {
		return r.closeFile()
	}
	return nil
}

// readLine reads one line from br, without its '\n' and a '\r' before it.
// n is how many bytes it consumed. A line longer than maxLen bytes is
// ErrLineTooLong. A last line without '\n' is returned with
// a nil error; after it, or at the end of input, readLine returns io.EOF.
// scratch is reused between calls to assemble lines longer than br's
// buffer.
func readLine(br *bufio.Reader, scratch *[]byte, maxLen int) (line string, n int, err error) {
	frag, err := br.ReadSlice('\n')
	n = len(frag)
	if err == nil {
		// The common case: the whole line is in the buffer.
		if b := trimEOL(frag); len(b) <= maxLen {
			return string(b), n, nil
		}
		return "", n, ErrLineTooLong
	}
	buf := append((*scratch)[:0], frag...)
	defer func() {
		// Keep a moderate scratch buffer, not one left by a huge line.
		if cap(buf) <= 4*readBufferSize {
			*scratch = buf[:0]
		} else {
			*scratch = nil
		}
	}()
	for err == bufio.ErrBufferFull {
		// Allow for the '\r' that may end the line.
		if len(buf) > maxLen+1 {
			return "", n, ErrLineTooLong
		}
		frag, err = br.ReadSlice('\n')
		n += len(frag)
		buf = append(buf, frag...)
	}
	switch {
	case err == io.EOF && n == 0:
		return "", 0, io.EOF
	case err != nil && err != io.EOF:
		return "", n, err
	}
	b := trimEOL(buf)
	if len(b) > maxLen {
		return "", n, ErrLineTooLong
	}
	return string(b), n, nil
}

// trimEOL removes a trailing "\n", "\r\n" or "\r".
func trimEOL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}
