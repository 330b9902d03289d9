// Package parquetfile is the Parquet bulk format of the file sink and
// the Parquet decoding of the file source (connector/file), on
// github.com/parquet-go/parquet-go. It is a package of its own so that
// jobs without Parquet do not link it.
//
// As a bulk format, a Parquet part file is finished at every checkpoint,
// which the file sink does for every format; its footer is written when
// the part closes. The file sink's MaxPartSize counts the bytes written out
// so far, which lag the rows buffered in the current row group.
package parquetfile

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"

	"github.com/freshet-io/freshet/connector/file"
)

// Format writes records of type T, a struct whose fields (and `parquet`
// tags) give the schema, as Parquet files with options such as
// parquet.Compression(&parquet.Zstd) or parquet.PageBufferSize.
func Format[T any](opts ...parquet.WriterOption) file.Format[T] { return format[T]{opts: opts} }

type format[T any] struct{ opts []parquet.WriterOption }

func (f format[T]) NewEncoder(w io.Writer) (enc file.Encoder[T], err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parquet schema of %T: %v", *new(T), r)
		}
	}()
	return &encoder[T]{w: parquet.NewGenericWriter[T](w, f.opts...), rows: make([]T, 0, batch)}, nil
}

func (format[T]) Extension() string { return ".parquet" }

// batch is how many rows an encoder hands the writer at once.
const batch = 1024

type encoder[T any] struct {
	w    *parquet.GenericWriter[T]
	rows []T
}

func (e *encoder[T]) Encode(v T) error {
	e.rows = append(e.rows, v)
	if len(e.rows) == batch {
		return e.flush()
	}
	return nil
}

func (e *encoder[T]) flush() error {
	_, err := e.w.Write(e.rows)
	clear(e.rows)
	e.rows = e.rows[:0]
	return err
}

func (e *encoder[T]) Close() error {
	if err := e.flush(); err != nil {
		return err
	}
	return e.w.Close()
}
