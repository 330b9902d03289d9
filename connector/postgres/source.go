package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshet-io/freshet/source"
)

// DefaultFetchSize is how many rows a source reader fetches per query
// when Source.FetchSize is not set.
const DefaultFetchSize = 1000

// Split is a range of a Source's partition column, the unit a reader
// reads. Its state in a checkpoint is the value reading resumes from.
type Split struct {
	// Index is the split's place among the source's splits.
	Index int
	// Lower and Upper bound the range, both included.
	Lower, Upper int64
	// Next is the lowest column value not read yet.
	Next int64
	// Done is set when the range has been read.
	Done bool
}

// SplitID implements source.Split: "range-Index".
func (s Split) SplitID() string { return "range-" + strconv.Itoa(s.Index) }

// Source is a bounded source that reads the rows of a query in parallel,
// like Flink's JDBC source with a numeric partition column: the range
// [Lower, Upper] of Column is cut into Splits ranges of equal size, one
// split each, which the readers take one at a time as they finish the
// last. A reader reads its range in pages of FetchSize rows ordered by
// Column (keyset pagination, each page one short query):
//
//	SELECT * FROM (Query) AS freshet_scan
//	WHERE Column >= next AND Column <= upper ORDER BY Column LIMIT FetchSize
//
// Column must be an integer column of the query's result whose values are
// unique (a primary key): a split's position in checkpoints is the next
// value to read, so a restored job reads every row once into its state.
// Rows outside [Lower, Upper] are not read. A page failing with a
// transient error is queried again, as Retry says.
type Source[T any] struct {
	// DSN is a PostgreSQL connection string, URL or key=value. Required.
	DSN string
	// Query selects the rows, without ORDER BY or LIMIT; it becomes a
	// subquery. Required.
	Query string
	// Column is the partition column: a unique integer column of Query's
	// result. Required.
	Column string
	// Lower and Upper bound the values read, both included.
	Lower, Upper int64
	// Splits is the number of ranges; 0 means one per reader.
	Splits int
	// FetchSize is how many rows a query fetches; 0 means
	// DefaultFetchSize.
	FetchSize int
	// Row makes a value of a row, such as pgx.RowToStructByName[T].
	// Required.
	Row pgx.RowToFunc[T]
	// Retry says how transient errors are retried; the zero value means
	// DefaultRetry.
	Retry Retry
}

var _ source.Source[string, Split] = (*Source[string])(nil)

// Validate reports what is wrong with the source's configuration, without
// connecting.
func (s *Source[T]) Validate() error {
	_, err := s.poolConfig()
	return err
}

func (s *Source[T]) poolConfig() (*pgxpool.Config, error) {
	var errs []error
	if s.Query == "" {
		errs = append(errs, errors.New("no query"))
	}
	if s.Column == "" {
		errs = append(errs, errors.New("no partition column"))
	}
	if s.Row == nil {
		errs = append(errs, errors.New("no row function"))
	}
	if s.Lower > s.Upper {
		errs = append(errs, fmt.Errorf("lower bound %d is above upper bound %d", s.Lower, s.Upper))
	}
	if s.Splits < 0 || s.FetchSize < 0 {
		errs = append(errs, fmt.Errorf("splits %d or fetch size %d is negative", s.Splits, s.FetchSize))
	}
	cfg, err := parseDSN(s.DSN, 1)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: source: %w", ErrInvalidConfig, err)
	}
	return cfg, nil
}

// Boundedness implements source.Source: the source is bounded.
func (s *Source[T]) Boundedness() source.Boundedness { return source.Bounded }

// splits cuts [Lower, Upper] into n ranges whose sizes differ by one at
// most.
func (s *Source[T]) splits(n int) []Split {
	// The span may pass int64: count in uint64.
	span := uint64(s.Upper-s.Lower) + 1 // 0 when the range is all of int64
	if span != 0 && uint64(n) > span {
		n = int(span)
	}
	size, rest := span/uint64(n), span%uint64(n)
	if span == 0 {
		size, rest = math.MaxUint64/uint64(n), 0
	}
	out := make([]Split, 0, n)
	lo := s.Lower
	for i := range n {
		sz := size
		if uint64(i) < rest {
			sz++
		}
		hi := lo + int64(sz-1)
		if i == n-1 {
			hi = s.Upper
		}
		out = append(out, Split{Index: i, Lower: lo, Upper: hi, Next: lo})
		lo = hi + 1
	}
	return out
}

// CreateEnumerator implements source.Source: the splits are handed out on
// request (source.Pull).
func (s *Source[T]) CreateEnumerator(ctx source.EnumeratorContext[Split]) (source.Enumerator[Split], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	n := s.Splits
	if n == 0 {
		n = ctx.Parallelism()
	}
	return source.NewPull(ctx, s.splits(n)), nil
}

// RestoreEnumerator implements source.Source.
func (s *Source[T]) RestoreEnumerator(ctx source.EnumeratorContext[Split], unassigned []Split) (source.Enumerator[Split], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return source.NewPull(ctx, unassigned), nil
}

// CreateReader implements source.Source.
func (s *Source[T]) CreateReader(ctx source.ReaderContext) (source.Reader[T, Split], error) {
	cfg, err := s.poolConfig()
	if err != nil {
		return nil, err
	}
	fetch := s.FetchSize
	if fetch == 0 {
		fetch = DefaultFetchSize
	}
	sql := "SELECT * FROM (" + s.Query + ") AS freshet_scan WHERE " + ident(s.Column) + " >= $1 AND " +
		ident(s.Column) + " <= $2 ORDER BY " + ident(s.Column) + " LIMIT " + strconv.Itoa(fetch)
	return &reader[T]{s: s, rctx: ctx, cfg: cfg, sql: sql, fetch: fetch}, nil
}

var never = make(chan struct{})

type reader[T any] struct {
	s         *Source[T]
	rctx      source.ReaderContext
	cfg       *pgxpool.Config
	sql       string
	fetch     int
	ctx       context.Context
	pool      *pgxpool.Pool
	splits    []Split // splits[0] is being read
	vals      []T
	requested bool
	noMore    bool
}

func (r *reader[T]) Start(ctx context.Context) error {
	r.ctx = ctx
	pool, err := connect(ctx, r.cfg, r.s.Retry)
	if err != nil {
		return fmt.Errorf("postgres source: %w", err)
	}
	r.pool = pool
	r.request()
	return nil
}

func (r *reader[T]) request() {
	if !r.requested && !r.noMore && len(r.splits) == 0 {
		r.requested = true
		r.rctx.SendSplitRequest()
	}
}

// PollNext reads one page of the current split and emits its rows.
func (r *reader[T]) PollNext(out source.Output[T]) (source.InputStatus, error) {
	for len(r.splits) > 0 && r.splits[0].Done {
		r.splits = r.splits[1:]
	}
	if len(r.splits) == 0 {
		if r.noMore {
			return source.EndOfInput, nil
		}
		r.request()
		return source.NothingAvailable, nil
	}
	sp := &r.splits[0]
	last, err := r.page(sp.Next, sp.Upper)
	if err != nil {
		return source.EndOfInput, fmt.Errorf("postgres source: reading split %s from %s = %d: %w", sp.SplitID(), r.s.Column, sp.Next, err)
	}
	if b, ok := out.(source.BatchOutput[T]); ok {
		b.CollectAll(r.vals)
	} else {
		for _, v := range r.vals {
			out.Collect(v)
		}
	}
	if len(r.vals) < r.fetch || last >= sp.Upper {
		sp.Done = true
	} else {
		sp.Next = last + 1
	}
	clear(r.vals)
	r.vals = r.vals[:0]
	return source.MoreAvailable, nil
}

// page reads the rows with column values in [from, to] into r.vals, up to
// a fetch, and returns the last row's column value.
func (r *reader[T]) page(from, to int64) (int64, error) {
	var last int64
	err := r.s.Retry.do(r.ctx, func(ctx context.Context) error {
		clear(r.vals)
		r.vals = r.vals[:0]
		rows, err := r.pool.Query(ctx, r.sql, from, to)
		if err != nil {
			return err
		}
		defer rows.Close()
		col := -1
		for i, f := range rows.FieldDescriptions() {
			if f.Name == r.s.Column {
				col = i
			}
		}
		if col < 0 {
			return fmt.Errorf("%w: source: the query has no column %q", ErrInvalidConfig, r.s.Column)
		}
		fd := rows.FieldDescriptions()[col]
		tm := rows.Conn().TypeMap()
		for rows.Next() {
			if err := tm.Scan(fd.DataTypeOID, fd.Format, rows.RawValues()[col], &last); err != nil {
				return fmt.Errorf("%w: source: partition column %q: %w", ErrInvalidConfig, r.s.Column, err)
			}
			v, err := r.s.Row(rows)
			if err != nil {
				return fmt.Errorf("mapping the row of %s = %d: %w", r.s.Column, last, err)
			}
			r.vals = append(r.vals, v)
		}
		return rows.Err()
	})
	return last, err
}

func (r *reader[T]) Available() <-chan struct{} { return never }

func (r *reader[T]) AddSplits(splits []Split) {
	r.splits = append(r.splits, splits...)
	r.requested = false
}

func (r *reader[T]) NotifyNoMoreSplits() { r.noMore = true }

// SnapshotState implements source.Reader: the splits not finished, each at
// the value reading resumes from.
func (r *reader[T]) SnapshotState(int64) ([]Split, error) {
	var out []Split
	for _, s := range r.splits {
		if !s.Done {
			out = append(out, s)
		}
	}
	return out, nil
}

func (r *reader[T]) Close() error {
	if r.pool != nil {
		r.pool.Close()
		r.pool = nil
	}
	return nil
}
