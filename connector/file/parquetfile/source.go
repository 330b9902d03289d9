package parquetfile

import (
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"

	"github.com/freshet-io/freshet/connector/file"
)

// Decode is the decoding of Parquet files into records of type T, a
// struct whose fields (and `parquet` tags) name the columns to read, for a
// file.Source. A file's position is its row index (file.Position.Record):
// a restored reader seeks to that row (parquet.GenericReader.SeekToRow),
// reading only the pages from there on. Parquet does its own compression,
// inside the file: names ending in ".gz" or ".zst" are not decompressed.
// A file that is not valid Parquet, or whose schema does not fit T, fails
// the job; there is no malformed row to skip.
func Decode[T any](opts ...parquet.ReaderOption) file.Decoding[T] { return decoding[T]{opts: opts} }

type decoding[T any] struct{ opts []parquet.ReaderOption }

func (d decoding[T]) Open(path string, pos file.Position) (dec file.Decoder[T], err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading %s as Parquet of %T: %v", path, *new(T), r)
		}
		if err != nil {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("opening %s as Parquet: %w", path, err)
	}
	r := parquet.NewGenericReader[T](pf, d.opts...)
	if pos.Record > 0 {
		if err := r.SeekToRow(pos.Record); err != nil {
			r.Close()
			return nil, fmt.Errorf("seeking %s to row %d: %w", path, pos.Record, err)
		}
	}
	return &decoder[T]{path: path, f: f, r: r, pos: pos}, nil
}

type decoder[T any] struct {
	path string
	f    *os.File
	r    *parquet.GenericReader[T]
	rows []T // read, not returned yet: rows[next:]
	next int
	pos  file.Position
	eof  bool
}

func (d *decoder[T]) Next() (T, error) {
	var zero T
	if d.next == len(d.rows) {
		if d.eof {
			return zero, io.EOF
		}
		if d.rows == nil {
			d.rows = make([]T, batch)
		}
		clear(d.rows)
		n, err := d.r.Read(d.rows[:cap(d.rows)])
		d.rows, d.next = d.rows[:n], 0
		switch {
		case err == io.EOF:
			d.eof = true
		case err != nil:
			return zero, fmt.Errorf("reading %s at row %d: %w", d.path, d.pos.Record, err)
		}
		if n == 0 {
			d.eof = true
			return zero, io.EOF
		}
	}
	v := d.rows[d.next]
	d.rows[d.next] = zero
	d.next++
	d.pos.Record++
	return v, nil
}

func (d *decoder[T]) Position() file.Position { return d.pos }

func (d *decoder[T]) Close() error {
	err := d.r.Close()
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	return err
}
