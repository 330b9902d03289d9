package file

import (
	"encoding/csv"
	"encoding/json"
	"io"
)

// Format encodes records into part files.
type Format[T any] interface {
	// NewEncoder starts encoding a part into w.
	NewEncoder(w io.Writer) (Encoder[T], error)
	// Extension is the part files' suffix, such as ".csv".
	Extension() string
}

// Encoder encodes the records of one part file.
type Encoder[T any] interface {
	Encode(v T) error
	// Close writes what the encoder buffers (a footer); it does not close
	// the writer.
	Close() error
}

// Lines is a row format of one text line per record: appendLine appends
// v's line, without the newline, to dst.
func Lines[T any](appendLine func(dst []byte, v T) []byte) Format[T] {
	return linesFormat[T]{fn: appendLine}
}

// StringLines is Lines for strings.
func StringLines() Format[string] {
	return Lines(func(dst []byte, s string) []byte { return append(dst, s...) })
}

type linesFormat[T any] struct{ fn func([]byte, T) []byte }

func (f linesFormat[T]) NewEncoder(w io.Writer) (Encoder[T], error) {
	return &linesEncoder[T]{w: w, fn: f.fn}, nil
}
func (linesFormat[T]) Extension() string { return ".txt" }

type linesEncoder[T any] struct {
	w   io.Writer
	fn  func([]byte, T) []byte
	buf []byte
}

func (e *linesEncoder[T]) Encode(v T) error {
	e.buf = append(e.fn(e.buf[:0], v), '\n')
	_, err := e.w.Write(e.buf)
	return err
}

func (e *linesEncoder[T]) Close() error { return nil }

// CSV is a row format of one CSV record per record (encoding/csv, RFC
// 4180): fields gives v's fields.
func CSV[T any](fields func(v T) []string) Format[T] { return csvFormat[T]{fn: fields} }

type csvFormat[T any] struct{ fn func(T) []string }

func (f csvFormat[T]) NewEncoder(w io.Writer) (Encoder[T], error) {
	return &csvEncoder[T]{w: csv.NewWriter(w), fn: f.fn}, nil
}
func (csvFormat[T]) Extension() string { return ".csv" }

type csvEncoder[T any] struct {
	w  *csv.Writer
	fn func(T) []string
}

func (e *csvEncoder[T]) Encode(v T) error { return e.w.Write(e.fn(v)) }

func (e *csvEncoder[T]) Close() error {
	e.w.Flush()
	return e.w.Error()
}

// JSON is a row format of one JSON document per line (JSON Lines,
// encoding/json).
func JSON[T any]() Format[T] { return jsonFormat[T]{} }

type jsonFormat[T any] struct{}

func (jsonFormat[T]) NewEncoder(w io.Writer) (Encoder[T], error) {
	return jsonEncoder[T]{json.NewEncoder(w)}, nil
}
func (jsonFormat[T]) Extension() string { return ".jsonl" }

type jsonEncoder[T any] struct{ e *json.Encoder }

func (e jsonEncoder[T]) Encode(v T) error { return e.e.Encode(v) }
func (jsonEncoder[T]) Close() error       { return nil }
