package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/source"
)

// Split is one file of a Source, at the position reading resumes from.
// The enumerator's checkpoint state also holds one Split with Done set for
// every file a continuous source has already assigned.
type Split struct {
	Path string
	Pos  Position
	// Done marks a file already assigned, in the enumerator's state only.
	Done bool
}

// SplitID implements source.Split: the file's path.
func (s Split) SplitID() string { return s.Path }

// SourceOption configures a Source.
type SourceOption func(*sourceConfig)

type sourceConfig struct {
	recursive bool
	glob      string
	interval  time.Duration // > 0: continuous
	skipBad   bool
	log       *slog.Logger
	now       func() time.Time // the enumerator's clock; nil: time.Now
}

// Recursive makes the source read the files in the sub-directories of the
// directories it is given too (hidden sub-directories excepted).
func Recursive() SourceOption { return func(c *sourceConfig) { c.recursive = true } }

// Glob keeps, of the files found in directories, only those whose name
// matches pattern (filepath.Match, on the base name), such as "*.csv.gz".
// Files named in the paths themselves are read whatever their name.
func Glob(pattern string) SourceOption { return func(c *sourceConfig) { c.glob = pattern } }

// Monitor makes the source unbounded: it lists the paths again, at most
// once per interval, whenever a reader wants a file and none is pending
// (idle readers ask every interval), and reads each new file once
// (Flink's FileSource.monitorContinuously). The files already assigned
// are kept in the enumerator's checkpoints. A file is taken once its
// modification time is at least interval old, so that a file still being
// written is not read half-way; see the package documentation for how to
// publish files. A listing that fails after the first is logged and tried
// again.
func Monitor(interval time.Duration) SourceOption {
	return func(c *sourceConfig) { c.interval = interval }
}

// SkipMalformed makes the readers skip records their decoder cannot
// decode (a *MalformedError) instead of failing the job: each is logged
// at WARN with its file and line or row, and counted.
func SkipMalformed() SourceOption { return func(c *sourceConfig) { c.skipBad = true } }

// SourceLogger sets the logger of the source's readers (slog.Default()
// without it).
func SourceLogger(l *slog.Logger) SourceOption { return func(c *sourceConfig) { c.log = l } }

// Source reads files into records of type T with a Decoding (Flink's
// FileSource): each file is one split, read by one reader from its start
// to its end, at a Position kept in checkpoints. It is bounded (the files
// present when the job starts) unless Monitor makes it watch for new
// files. See the package documentation.
type Source[T any] struct {
	paths []string
	dec   Decoding[T]
	cfg   sourceConfig
}

var _ source.Source[int, Split] = (*Source[int])(nil)

// NewSource returns a source of the files at paths, each a file or a
// directory, decoded by dec. A directory stands for the files in it (and,
// with Recursive, in its sub-directories), in name order, except hidden
// ones: names that start with '.' or '_' or contain "_COPYING_", as
// Flink skips them (the file sink stages its part files under such
// names). Files named directly are read whatever their name; a file met
// twice is read once.
func NewSource[T any](dec Decoding[T], paths []string, opts ...SourceOption) *Source[T] {
	s := &Source[T]{paths: slices.Clone(paths), dec: dec}
	for _, o := range opts {
		o(&s.cfg)
	}
	return s
}

// Validate reports a source that cannot run.
func (s *Source[T]) Validate() error {
	switch {
	case len(s.paths) == 0:
		return errors.New("freshet: file source: no paths given")
	case s.dec == nil:
		return errors.New("freshet: file source: no decoding given")
	case s.cfg.interval < 0:
		return fmt.Errorf("freshet: file source: monitoring interval %v is negative", s.cfg.interval)
	}
	if s.cfg.glob != "" {
		if _, err := filepath.Match(s.cfg.glob, ""); err != nil {
			return fmt.Errorf("freshet: file source: glob %q: %w", s.cfg.glob, err)
		}
	}
	return nil
}

// Boundedness implements source.Source.
func (s *Source[T]) Boundedness() source.Boundedness {
	if s.cfg.interval > 0 {
		return source.Unbounded
	}
	return source.Bounded
}

// CreateEnumerator implements source.Source. A bounded source lists its
// paths here: a missing one fails the job.
func (s *Source[T]) CreateEnumerator(ctx source.EnumeratorContext[Split]) (source.Enumerator[Split], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	e := s.newEnumerator(ctx)
	if err := e.list(); err != nil {
		return nil, err
	}
	return e, nil
}

// RestoreEnumerator implements source.Source: the files not assigned yet
// are assigned on request, and a continuous source skips the files it had
// already assigned.
func (s *Source[T]) RestoreEnumerator(ctx source.EnumeratorContext[Split], unassigned []Split) (source.Enumerator[Split], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	e := s.newEnumerator(ctx)
	e.listed = e.now()
	for _, sp := range unassigned {
		e.seen[sp.Path] = true
		if !sp.Done {
			e.pending = append(e.pending, sp)
		}
	}
	return e, nil
}

func (s *Source[T]) newEnumerator(ctx source.EnumeratorContext[Split]) *enumerator {
	e := &enumerator{cfg: s.cfg, paths: s.paths, ctx: ctx, seen: map[string]bool{}, now: s.cfg.now}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

// enumerator hands out files on request, like source.Pull. A continuous
// one lists the paths again, at most once per interval, when a reader asks
// and no file is pending; idle readers ask again every interval. All of
// its work thus runs on the coordinator's goroutine, in order with its
// snapshots, so a file is either pending in a checkpoint or held by a
// reader, never both.
type enumerator struct {
	cfg     sourceConfig
	paths   []string
	ctx     source.EnumeratorContext[Split]
	pending []Split
	seen    map[string]bool // every file assigned or pending
	listed  time.Time       // the last listing
	now     func() time.Time
}

func (e *enumerator) Start(context.Context) error { return nil }

func (e *enumerator) log() *slog.Logger {
	if e.cfg.log != nil {
		return e.cfg.log
	}
	return slog.Default()
}

func (e *enumerator) HandleSplitRequest(subtask int) {
	if len(e.pending) == 0 && e.cfg.interval > 0 && e.now().Sub(e.listed) >= e.cfg.interval {
		if err := e.list(); err != nil {
			// A listing that fails (a directory removed) is tried again
			// at the next request.
			e.log().Warn("file source: listing files", slog.Any("error", err))
		}
	}
	if len(e.pending) > 0 {
		sp := e.pending[0]
		e.pending = e.pending[1:]
		e.ctx.AssignSplits(subtask, sp)
		return
	}
	if e.cfg.interval == 0 {
		e.ctx.SignalNoMoreSplits(subtask)
	}
}

// list adds the files not seen yet to the pending ones; those found
// before an error are added too.
func (e *enumerator) list() error {
	now := e.now()
	e.listed = now
	add := func(path string) {
		if clean := filepath.Clean(path); !e.seen[clean] {
			e.seen[clean] = true
			e.pending = append(e.pending, Split{Path: clean})
		}
	}
	settled := func(fi os.FileInfo) bool {
		return e.cfg.interval == 0 || now.Sub(fi.ModTime()) >= e.cfg.interval
	}
	for _, path := range e.paths {
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("looking up %s: %w", path, err)
		}
		switch {
		case fi.Mode().IsRegular():
			if settled(fi) {
				add(path)
			}
		case fi.IsDir():
			if err := e.walk(path, settled, add); err != nil {
				return err
			}
		default:
			return fmt.Errorf("freshet: file source: %s is neither a regular file nor a directory", path)
		}
	}
	return nil
}

// walk adds the visible files under dir, in name order.
func (e *enumerator) walk(dir string, settled func(os.FileInfo) bool, add func(string)) error {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, d := range entries {
		name := d.Name()
		if hidden(name) {
			continue
		}
		p := filepath.Join(dir, name)
		var fi os.FileInfo
		var err error
		if d.Type()&os.ModeSymlink != 0 {
			fi, err = os.Stat(p) // follows the link
		} else {
			fi, err = d.Info()
		}
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed since, or a dangling link
			}
			return fmt.Errorf("looking up %s: %w", p, err)
		}
		switch {
		case fi.IsDir():
			if e.cfg.recursive {
				if err := e.walk(p, settled, add); err != nil {
					return err
				}
			}
		case fi.Mode().IsRegular():
			if e.cfg.glob != "" {
				if ok, _ := filepath.Match(e.cfg.glob, name); !ok {
					continue
				}
			}
			if settled(fi) {
				add(p)
			}
		}
	}
	return nil
}

// hidden reports names the source skips in directories, as Flink's
// default file filter does: those starting with '.' or '_', and the
// temporary files of Hadoop's "fs -put" (containing "_COPYING_").
func hidden(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || strings.Contains(name, "_COPYING_")
}

func (e *enumerator) AddReader(int) {}

func (e *enumerator) AddSplitsBack(splits []Split, _ int) {
	e.pending = append(slices.Clone(splits), e.pending...)
}

// SnapshotState implements source.Enumerator: the files pending, then,
// for a continuous source, every other file seen, marked Done.
func (e *enumerator) SnapshotState(int64) ([]Split, error) {
	out := slices.Clone(e.pending)
	if e.cfg.interval == 0 {
		return out, nil
	}
	inPending := make(map[string]bool, len(e.pending))
	for _, sp := range e.pending {
		inPending[sp.Path] = true
	}
	var done []string
	for p := range e.seen {
		if !inPending[p] {
			done = append(done, p)
		}
	}
	slices.Sort(done)
	for _, p := range done {
		out = append(out, Split{Path: p, Done: true})
	}
	return out, nil
}

func (e *enumerator) Close() error { return nil }

// CreateReader implements source.Source.
func (s *Source[T]) CreateReader(ctx source.ReaderContext) (source.Reader[T, Split], error) {
	log := s.cfg.log
	if log == nil {
		log = slog.Default()
	}
	m := ctx.Metrics()
	r := &reader[T]{ctx: ctx, dec: s.dec, cfg: s.cfg, log: log, wake: make(chan struct{}, 1),
		bytesRead: m.Counter("bytesRead"), filesRemaining: m.Gauge("filesRemaining")}
	return r, nil
}

// pollBatch is how many records a reader emits per PollNext.
const pollBatch = 256

type reader[T any] struct {
	ctx       source.ReaderContext
	dec       Decoding[T]
	cfg       sourceConfig
	log       *slog.Logger
	pending   []Split
	cur       Split      // the file being read, when d != nil
	d         Decoder[T] // cur's decoder
	outs      source.SplitOutputs[T]
	curOut    source.Output[T]
	recs      []T
	requested bool      // a split request is outstanding
	askedAt   time.Time // when it was sent
	noMore    bool
	closed    bool
	skipped   int64
	// counted is the offset in cur up to which bytesRead counted.
	counted int64
	// bytesRead counts the bytes of the files read (decompressed; 0 for
	// Parquet, whose positions count rows); filesRemaining is the files
	// the reader was given and has not read to the end.
	bytesRead      *metric.Counter
	filesRemaining *metric.Gauge
	// A continuous source's reader with nothing to read asks the
	// enumerator again every interval: timer signals wake.
	wake    chan struct{}
	timerMu sync.Mutex
	timer   *time.Timer
}

func (r *reader[T]) Start(context.Context) error {
	if len(r.pending) == 0 {
		r.request()
	}
	return nil
}

func (r *reader[T]) request() {
	if !r.requested && !r.noMore {
		r.requested = true
		r.askedAt = time.Now()
		r.ctx.SendSplitRequest()
	}
}

// waitForSplits is PollNext with nothing to read and a request
// outstanding: a continuous source's reader asks again once the interval
// has passed since the last request, and sets the timer that wakes it.
func (r *reader[T]) waitForSplits() {
	if r.cfg.interval == 0 {
		return
	}
	if since := time.Since(r.askedAt); since >= r.cfg.interval {
		r.requested = false
		r.request()
	}
	r.armTimer(r.cfg.interval - time.Since(r.askedAt))
}

func (r *reader[T]) armTimer(d time.Duration) {
	r.timerMu.Lock()
	defer r.timerMu.Unlock()
	if r.closed {
		return
	}
	if r.timer == nil {
		r.timer = time.AfterFunc(d, func() {
			select {
			case r.wake <- struct{}{}:
			default:
			}
		})
		return
	}
	r.timer.Reset(d)
}

func (r *reader[T]) PollNext(out source.Output[T]) (source.InputStatus, error) {
	if r.closed {
		return source.EndOfInput, source.ErrReaderClosed
	}
	defer r.emit(out)
	defer r.count()
	for n := 0; n < pollBatch; {
		if r.d == nil {
			if len(r.pending) == 0 {
				switch {
				case n > 0:
					return source.MoreAvailable, nil
				case r.noMore:
					return source.EndOfInput, nil
				}
				if r.requested {
					r.waitForSplits()
				} else {
					r.request()
				}
				return source.NothingAvailable, nil
			}
			if err := r.open(r.pending[0], out); err != nil {
				return source.EndOfInput, err
			}
			r.pending = r.pending[1:]
			if len(r.pending) == 0 {
				// Ask for the next file while reading this one.
				r.request()
			}
		}
		v, err := r.d.Next()
		switch {
		case err == io.EOF:
			r.emit(out)
			if err := r.closeFile(); err != nil {
				return source.EndOfInput, err
			}
			continue
		case err != nil:
			var bad *MalformedError
			if r.cfg.skipBad && errors.As(err, &bad) {
				r.skipped++
				r.log.Warn("file source: skipping a malformed record", slog.String("at", fmt.Sprintf("%s:%d", bad.Path, bad.Number)),
					slog.String("unit", bad.Unit), slog.Int64("offset", bad.Offset), slog.Any("error", bad.Err), slog.Int64("skipped", r.skipped))
				continue
			}
			return source.EndOfInput, fmt.Errorf("reading %s: %w", r.cur.Path, err)
		}
		r.recs = append(r.recs, v)
		n++
	}
	return source.MoreAvailable, nil
}

// count adds what the decoder read since the last count to bytesRead and
// sets filesRemaining.
func (r *reader[T]) count() {
	held := len(r.pending)
	if r.d != nil {
		held++
		if off := r.d.Position().Offset; off > r.counted {
			r.bytesRead.Add(off - r.counted)
			r.counted = off
		}
	}
	r.filesRemaining.Set(float64(held))
}

// emit hands the records read to the current file's output.
func (r *reader[T]) emit(out source.Output[T]) {
	if len(r.recs) == 0 {
		return
	}
	if r.curOut != nil {
		out = r.curOut
	}
	if b, ok := out.(source.BatchOutput[T]); ok {
		b.CollectAll(r.recs)
	} else {
		for _, v := range r.recs {
			out.Collect(v)
		}
	}
	clear(r.recs)
	r.recs = r.recs[:0]
}

func (r *reader[T]) open(sp Split, out source.Output[T]) error {
	d, err := r.dec.Open(sp.Path, sp.Pos)
	if err != nil {
		return fmt.Errorf("opening %s at %+v: %w", sp.Path, sp.Pos, err)
	}
	r.d, r.cur, r.counted = d, sp, sp.Pos.Offset
	if outs, ok := out.(source.SplitOutputs[T]); ok {
		r.outs, r.curOut = outs, outs.ForSplit(sp.SplitID())
	}
	return nil
}

func (r *reader[T]) closeFile() error {
	r.count()
	d := r.d
	r.d, r.curOut = nil, nil
	if r.outs != nil {
		r.outs.ReleaseSplit(r.cur.SplitID())
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", r.cur.Path, err)
	}
	return nil
}

func (r *reader[T]) Available() <-chan struct{} { return r.wake }

func (r *reader[T]) AddSplits(splits []Split) {
	r.pending = append(r.pending, splits...)
	r.requested = false
	r.count()
}

func (r *reader[T]) NotifyNoMoreSplits() { r.noMore = true }

// SnapshotState implements source.Reader: the file being read, at its
// decoder's position, then the files not opened yet.
func (r *reader[T]) SnapshotState(int64) ([]Split, error) {
	var out []Split
	if r.d != nil {
		cur := r.cur
		cur.Pos = r.d.Position()
		out = append(out, cur)
	}
	return append(out, r.pending...), nil
}

func (r *reader[T]) Close() error {
	r.timerMu.Lock()
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
	}
	r.timerMu.Unlock()
	if r.d != nil {
		return r.closeFile()
	}
	return nil
}
