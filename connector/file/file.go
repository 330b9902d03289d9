// Package file reads and writes files.
//
// Source (NewSource, Flink's FileSource) reads local files, one split per
// file, decoded by a Decoding: DecodeLines, DecodeLinesFunc, DecodeJSON
// (JSON Lines), DecodeCSV and DecodeCSVFunc here, Parquet in the
// parquetfile package.
// Files whose names end in ".gz" or ".zst" are decompressed as they are
// read. Each file's position (bytes and records consumed) is kept in
// checkpoints, so a restored job reads every record once into its state.
// The source is bounded (the files there when the job starts) unless
// Monitor makes it list its directories every interval and read each new
// file once: publish a file by writing it under a hidden name (starting
// with '.' or '_', which the source skips) and renaming it into place, or
// let it rest for the interval, as the source takes only files whose
// modification time is at least an interval old. A malformed record fails
// the job with its file and line or row, unless SkipMalformed. See
// docs/connectors/file.md.
//
// Sink writes a stream to part files in a local directory or a
// gocloud.dev/blob bucket, exactly once when the job checkpoints (Flink's
// FileSink, built on sink.TwoPhaseCommit).
//
// Records go into buckets (sub-directories, such as one per date and hour,
// named by Sink.Bucket) and, in each bucket, into part files named
// "part-<writer>-<subtask>-<counter><ext>", where writer is random per
// writer, so that the names of a restarted job never meet those of an
// earlier run. A part file goes through three stages:
//
//   - in progress: being written, staged under StagingPrefix
//     (".inprogress/", which readers skip, as every name that starts with
//     a dot);
//   - pending: closed, when it rolls (Rolling) or at a checkpoint's
//     snapshot, which closes every part file (Flink's
//     OnCheckpointRollingPolicy, what its bulk formats always do);
//   - finished: renamed or copied to its visible name once the checkpoint
//     whose snapshot made it pending completes.
//
// After a failure, the job restarts from its latest completed checkpoint:
// the parts pending at that checkpoint are committed again (which is
// idempotent) and those written since are never committed, so every record
// is in the visible files exactly once. The parts a subtask staged after
// that checkpoint are deleted on the restore; those of an attempt that
// failed before any of its checkpoints completed are left behind, hidden.
// Without checkpointing, the parts are committed at the end of a bounded
// job's input.
//
// Row formats: Lines, StringLines, CSV, JSON (JSON Lines); Parquet in
// the parquetfile package.
package file

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/freshet-io/freshet/codec"
	"github.com/freshet-io/freshet/sink"
)

// RollingPolicy says when a part file is closed and a new one started,
// besides at every checkpoint. Zero fields are off.
type RollingPolicy struct {
	// MaxPartSize rolls a part once it holds at least this many bytes.
	MaxPartSize int64
	// RolloverInterval rolls a part once it has been open this long.
	RolloverInterval time.Duration
	// InactivityInterval rolls a part that has had no record for this
	// long; it is checked when the writer gets a record.
	InactivityInterval time.Duration
}

// Sink writes records to part files; see the package comment. Set Dest and
// Format; it implements sink.Checkpointed.
type Sink[T any] struct {
	Dest   Destination
	Format Format[T]
	// Bucket names the bucket (a slash-separated sub-directory, "" for
	// the root) of a record; nil puts every record in the root.
	Bucket  func(v T, c sink.Context) string
	Rolling RollingPolicy
	// PartPrefix replaces "part" in part file names.
	PartPrefix string
	// Now is the clock of time-based rolling; nil means time.Now.
	Now func() time.Time
}

// DateTimeBucket returns a Bucket function that names a record's bucket
// by its event time (processing time for a record without one) in layout
// and UTC, as Flink's DateTimeBucketAssigner does with "yyyy-MM-dd--HH".
func DateTimeBucket[T any](layout string) func(T, sink.Context) string {
	return func(_ T, c sink.Context) string {
		t := time.Now()
		if c.HasTimestamp {
			t = time.UnixMilli(c.Timestamp)
		}
		return t.UTC().Format(layout)
	}
}

func (s *Sink[T]) twoPhase() *sink.TwoPhaseCommit[T, *txn] {
	return &sink.TwoPhaseCommit[T, *txn]{Codec: txnCodec{}, NewWriter: s.newWriter}
}

// CreateWriter implements sink.Sink.
func (s *Sink[T]) CreateWriter(ctx sink.InitContext) (sink.Writer[T], error) {
	return s.twoPhase().CreateWriter(ctx)
}

// CreateCheckpointedWriter implements sink.Checkpointed.
func (s *Sink[T]) CreateCheckpointedWriter(ctx sink.InitContext, restored [][]byte) (sink.Writer[T], sink.CheckpointHooks, error) {
	return s.twoPhase().CreateCheckpointedWriter(ctx, restored)
}

// txn is a file sink's transaction: the part files written between two
// checkpoints. Only the keys of its closed parts, the prefix of its
// writer's part names and the writer's counter when it began are kept in
// checkpoints.
type txn struct {
	// parts are the keys of the parts closed, staged and ready to commit.
	parts []string
	// writer is the name prefix of the writer's parts, first the number
	// of its first part: later parts of that writer have higher numbers.
	writer string
	first  int
	open   map[string]any // by bucket, *part[T]
}

type txnCodec struct{}

func (txnCodec) Append(dst []byte, t *txn) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(t.parts)))
	for _, p := range t.parts {
		dst = binary.AppendUvarint(dst, uint64(len(p)))
		dst = append(dst, p...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(t.writer)))
	dst = append(dst, t.writer...)
	return binary.AppendUvarint(dst, uint64(t.first))
}

func (txnCodec) Decode(src []byte) (*txn, int, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || n > uint64(len(src)) {
		return nil, 0, fmt.Errorf("file sink transaction: %w", codec.ErrCorrupt)
	}
	t := &txn{parts: make([]string, 0, n)}
	str := func() (string, bool) {
		l, m := binary.Uvarint(src[k:])
		if m <= 0 || uint64(len(src)-k-m) < l {
			return "", false
		}
		k += m
		s := string(src[k : k+int(l)])
		k += int(l)
		return s, true
	}
	for range n {
		p, ok := str()
		if !ok {
			return nil, 0, fmt.Errorf("file sink transaction: %w", codec.ErrCorrupt)
		}
		t.parts = append(t.parts, p)
	}
	w, ok := str()
	first, m := binary.Uvarint(src[k:])
	if !ok || m <= 0 || first > math.MaxInt32 {
		return nil, 0, fmt.Errorf("file sink transaction: %w", codec.ErrCorrupt)
	}
	t.writer, t.first = w, int(first)
	return t, k + m, nil
}

// part is an open part file.
type part[T any] struct {
	key     string
	f       io.WriteCloser
	buf     *bufio.Writer
	cw      countingWriter
	enc     Encoder[T]
	created time.Time
	last    time.Time
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type writer[T any] struct {
	s         *Sink[T]
	ctx       context.Context
	prefix    string // "<prefix>-<writer>-<subtask>-"
	counter   int
	timed     bool
	now       func() time.Time
	lastCheck time.Time
	// last is the part of the last record written, in lastTxn's bucket
	// lastBucket: runs of records of one bucket skip the map.
	last       *part[T]
	lastTxn    *txn
	lastBucket string
}

func (s *Sink[T]) newWriter(ctx sink.InitContext) (sink.TransactionalWriter[T, *txn], error) {
	if s.Dest == nil || s.Format == nil {
		return nil, fmt.Errorf("%w: file sink needs a Dest and a Format", sink.ErrInvalidSink)
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	pfx := s.PartPrefix
	if pfx == "" {
		pfx = "part"
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	return &writer[T]{
		s:      s,
		ctx:    ctx.Context(),
		prefix: pfx + "-" + hex.EncodeToString(id[:]) + "-" + strconv.Itoa(ctx.SubtaskIndex()) + "-",
		timed:  s.Rolling.RolloverInterval > 0 || s.Rolling.InactivityInterval > 0,
		now:    now,
	}, nil
}

func (w *writer[T]) BeginTransaction() (*txn, error) {
	return &txn{writer: w.prefix, first: w.counter, open: map[string]any{}}, nil
}

func (w *writer[T]) Write(t *txn, v T, c sink.Context) error {
	var b string
	if w.s.Bucket != nil {
		b = w.s.Bucket(v, c)
	}
	var now time.Time
	if w.timed {
		now = w.now()
		if err := w.rollInactive(t, now); err != nil {
			return err
		}
	}
	var p *part[T]
	if w.last != nil && w.lastTxn == t && w.lastBucket == b {
		p = w.last
	} else {
		p, _ = t.open[b].(*part[T])
	}
	if p != nil && w.shouldRoll(p, now) {
		if err := w.closePart(t, b, p); err != nil {
			return err
		}
		p = nil
	}
	if p == nil {
		var err error
		if p, err = w.openPart(b, now); err != nil {
			return err
		}
		t.open[b] = p
	}
	w.last, w.lastTxn, w.lastBucket = p, t, b
	p.last = now
	if err := p.enc.Encode(v); err != nil {
		return fmt.Errorf("writing part %s: %w", p.key, err)
	}
	return nil
}

func (w *writer[T]) shouldRoll(p *part[T], now time.Time) bool {
	r := w.s.Rolling
	return (r.MaxPartSize > 0 && p.cw.n >= r.MaxPartSize) ||
		(r.RolloverInterval > 0 && now.Sub(p.created) >= r.RolloverInterval)
}

// rollInactive closes the parts inactive for the InactivityInterval,
// looking at most every half interval.
func (w *writer[T]) rollInactive(t *txn, now time.Time) error {
	iv := w.s.Rolling.InactivityInterval
	if iv <= 0 || now.Sub(w.lastCheck) < iv/2 {
		return nil
	}
	w.lastCheck = now
	for b, o := range t.open {
		if p := o.(*part[T]); now.Sub(p.last) >= iv {
			if err := w.closePart(t, b, p); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *writer[T]) openPart(bucket string, now time.Time) (*part[T], error) {
	key := path.Join(bucket, w.prefix+strconv.Itoa(w.counter)+w.s.Format.Extension())
	w.counter++
	f, err := w.s.Dest.Create(w.ctx, key)
	if err != nil {
		return nil, err
	}
	p := &part[T]{key: key, f: f, buf: bufio.NewWriterSize(f, 64<<10), created: now, last: now}
	p.cw.w = p.buf
	enc, err := w.s.Format.NewEncoder(&p.cw)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("starting part %s: %w", key, err), f.Close())
	}
	p.enc = enc
	return p, nil
}

func (w *writer[T]) closePart(t *txn, bucket string, p *part[T]) error {
	delete(t.open, bucket)
	w.last = nil
	err := p.enc.Close()
	if err == nil {
		err = p.buf.Flush()
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("closing part %s: %w", p.key, err)
	}
	t.parts = append(t.parts, p.key)
	return nil
}

func (w *writer[T]) PreCommit(t *txn) error {
	for b, p := range t.open {
		if err := w.closePart(t, b, p.(*part[T])); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer[T]) Commit(t *txn) error {
	for _, k := range t.parts {
		if err := w.s.Dest.Commit(w.ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer[T]) Abort(t *txn) error {
	w.last = nil
	var errs []error
	for b, o := range t.open {
		p := o.(*part[T])
		delete(t.open, b)
		_ = p.f.Close()
		errs = append(errs, w.s.Dest.Discard(context.WithoutCancel(w.ctx), p.key))
	}
	for _, k := range t.parts {
		errs = append(errs, w.s.Dest.Discard(context.WithoutCancel(w.ctx), k))
	}
	if t.open == nil && t.writer != "" {
		// Restored: the parts its writer staged after the checkpoint
		// are not in the state; they are its parts numbered from first.
		errs = append(errs, w.discardFrom(t.writer, t.first))
	}
	return errors.Join(errs...)
}

// discardFrom discards the staged parts named prefix+<n>… with n ≥ first.
func (w *writer[T]) discardFrom(prefix string, first int) error {
	keys, err := w.s.Dest.Staged(w.ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(path.Base(k), prefix)
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(num); err == nil && n >= first {
			if err := w.s.Dest.Discard(w.ctx, k); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *writer[T]) Close() error { return nil }
