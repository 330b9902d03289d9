package file

import (
	"encoding"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// CSVOption configures DecodeCSV and DecodeCSVFunc.
type CSVOption func(*csvConfig)

type csvConfig struct {
	comma      rune
	timeLayout string
	noHeader   bool
}

// CSVComma sets the field delimiter (',' by default).
func CSVComma(r rune) CSVOption { return func(c *csvConfig) { c.comma = r } }

// CSVTimeLayout sets the layout of time.Time fields (time.RFC3339 by
// default), as time.Parse takes it.
func CSVTimeLayout(layout string) CSVOption { return func(c *csvConfig) { c.timeLayout = layout } }

// CSVNoHeader says the files have no header row: DecodeCSV maps columns to
// the struct's fields in their order (leaving out those tagged `csv:"-"`),
// a row with fewer columns being malformed; DecodeCSVFunc's header is nil.
func CSVNoHeader() CSVOption { return func(c *csvConfig) { c.noHeader = true } }

// DecodeCSV is the decoding of CSV files (encoding/csv, RFC 4180) into
// structs T. The header row names the columns; a column goes to the
// exported field tagged `csv:"name"` with its name, or, for a field
// without a tag, to the field of that name; names are matched without
// regard to case. Columns without a field
// are ignored, fields without a column keep their zero value, and a field
// tagged `csv:"-"` is never set. Fields may be strings, booleans
// (strconv.ParseBool), integers, floats, time.Time (see CSVTimeLayout) or
// types that implement encoding.TextUnmarshaler; an empty cell leaves the
// field's zero value. A row with another number of fields than the header,
// bad quoting or a cell that does not convert is malformed, and named by
// its row number (1 for the first row after the header). Position counts
// bytes and rows, the header included.
//
// DecodeCSV panics if T is not a struct or has a field of another type.
func DecodeCSV[T any](opts ...CSVOption) Decoding[T] {
	cfg := newCSVConfig(opts)
	p, err := csvPlanOf(reflect.TypeFor[T](), cfg)
	if err != nil {
		panic(fmt.Sprintf("freshet: file.DecodeCSV: %v", err))
	}
	return &csvDecoding[T]{cfg: cfg, plan: p}
}

// DecodeCSVFunc is the decoding of CSV files with a function of one's own:
// fn makes a record of a row, given the header row (nil with
// CSVNoHeader). The slices are only valid during the call. An error from
// fn makes the row malformed.
func DecodeCSVFunc[T any](fn func(header, row []string) (T, error), opts ...CSVOption) Decoding[T] {
	return &csvDecoding[T]{cfg: newCSVConfig(opts), fn: fn}
}

func newCSVConfig(opts []CSVOption) csvConfig {
	cfg := csvConfig{comma: ',', timeLayout: time.RFC3339}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

type csvDecoding[T any] struct {
	cfg  csvConfig
	plan *csvPlan
	fn   func(header, row []string) (T, error)
}

func (d *csvDecoding[T]) newReader(r io.Reader) *csv.Reader {
	cr := csv.NewReader(r)
	cr.Comma = d.cfg.comma
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	return cr
}

func (d *csvDecoding[T]) Open(path string, pos Position) (Decoder[T], error) {
	dec := &csvDecoder[T]{d: d, path: path, pos: pos}
	var header []string
	if !d.cfg.noHeader {
		// The header is the first row, also when resuming further on.
		rc, err := OpenStream(path, 0)
		if err != nil {
			return nil, err
		}
		cr := d.newReader(rc)
		h, err := cr.Read()
		if err == nil {
			header = append([]string(nil), h...)
		}
		switch {
		case err == io.EOF && pos.Offset == 0:
			// An empty file: Next says io.EOF.
		case err != nil:
			rc.Close()
			return nil, fmt.Errorf("reading the header of %s: %w", path, err)
		}
		dec.header = header
		if pos.Offset == 0 {
			dec.rc, dec.r = rc, cr
			dec.pos = Position{Offset: cr.InputOffset(), Record: 1}
			if err == io.EOF {
				dec.pos = Position{}
			}
		} else if err := rc.Close(); err != nil {
			return nil, fmt.Errorf("closing %s: %w", path, err)
		}
	}
	if dec.r == nil {
		rc, err := OpenStream(path, pos.Offset)
		if err != nil {
			return nil, err
		}
		dec.rc, dec.r = rc, d.newReader(rc)
	}
	dec.base = dec.pos.Offset - dec.r.InputOffset()
	if d.plan != nil {
		cols, err := d.plan.columns(header)
		if err != nil {
			dec.rc.Close()
			return nil, fmt.Errorf("mapping the header of %s: %w", path, err)
		}
		dec.cols = cols
	}
	return dec, nil
}

type csvDecoder[T any] struct {
	d      *csvDecoding[T]
	path   string
	rc     io.ReadCloser
	r      *csv.Reader
	header []string
	cols   []int // field of each column, -1 for none
	base   int64 // offset of the reader's input in the file
	pos    Position
	v      T             // the record being decoded by plan
	rv     reflect.Value // v, settable
}

func (c *csvDecoder[T]) Next() (T, error) {
	var v T
	start := c.pos.Offset
	row, err := c.r.Read()
	if err == io.EOF {
		return v, io.EOF
	}
	c.pos.Offset = c.base + c.r.InputOffset()
	c.pos.Record++
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return v, fmt.Errorf("reading %s at offset %d: %w", c.path, start, err)
		}
		return v, c.malformed(start, err)
	}
	if !c.d.cfg.noHeader && len(row) != len(c.header) {
		return v, c.malformed(start, fmt.Errorf("%d fields, the header has %d", len(row), len(c.header)))
	}
	if c.d.fn != nil {
		v, err = c.d.fn(c.header, row)
	} else {
		if c.d.cfg.noHeader && len(row) < len(c.cols) {
			return v, c.malformed(start, fmt.Errorf("%d fields, want %d", len(row), len(c.cols)))
		}
		var zero T
		c.v = zero
		if !c.rv.IsValid() {
			c.rv = reflect.ValueOf(&c.v).Elem()
		}
		err = c.d.plan.set(c.rv, c.cols, row)
		v = c.v
	}
	if err != nil {
		return v, c.malformed(start, err)
	}
	return v, nil
}

func (c *csvDecoder[T]) malformed(start int64, err error) *MalformedError {
	n := c.pos.Record
	if !c.d.cfg.noHeader {
		n--
	}
	return &MalformedError{Path: c.path, Unit: "row", Number: n, Offset: start, Err: err}
}

func (c *csvDecoder[T]) Position() Position { return c.pos }
func (c *csvDecoder[T]) Close() error       { return c.rc.Close() }

// csvPlan maps CSV columns to the fields of a struct type.
type csvPlan struct {
	fields []csvField
}

type csvField struct {
	name  string // tag name, or "" to match the field name
	gname string // the Go field name
	index []int
	set   func(f reflect.Value, s string) error
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	textUnmarshalType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func csvPlanOf(t reflect.Type, cfg csvConfig) (*csvPlan, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s is not a struct", t)
	}
	p := &csvPlan{}
	for _, sf := range reflect.VisibleFields(t) {
		if !sf.IsExported() || sf.Anonymous {
			continue
		}
		tag := sf.Tag.Get("csv")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		set, err := csvSetter(sf.Type, cfg)
		if err != nil {
			return nil, fmt.Errorf("field %s of %s: %w", sf.Name, t, err)
		}
		p.fields = append(p.fields, csvField{name: name, gname: sf.Name, index: sf.Index, set: set})
	}
	return p, nil
}

// columns returns the field of each column of header (nil: the fields in
// their order).
func (p *csvPlan) columns(header []string) ([]int, error) {
	if header == nil {
		cols := make([]int, len(p.fields))
		for i := range cols {
			cols[i] = i
		}
		return cols, nil
	}
	cols := make([]int, len(header))
	used := map[int]string{}
	for i, h := range header {
		cols[i] = -1
		for j, f := range p.fields {
			key := f.name
			if key == "" {
				key = f.gname
			}
			if strings.EqualFold(key, h) {
				if prev, dup := used[j]; dup {
					return nil, fmt.Errorf("columns %q and %q both go to field %s", prev, h, f.gname)
				}
				used[j] = h
				cols[i] = j
				break
			}
		}
	}
	return cols, nil
}

func (p *csvPlan) set(v reflect.Value, cols []int, row []string) error {
	for i, j := range cols {
		if j < 0 || i >= len(row) || row[i] == "" {
			continue
		}
		f := &p.fields[j]
		if err := f.set(v.FieldByIndex(f.index), row[i]); err != nil {
			name := f.name
			if name == "" {
				name = f.gname
			}
			return fmt.Errorf("column %d (%s): %w", i+1, name, err)
		}
	}
	return nil
}

func csvSetter(t reflect.Type, cfg csvConfig) (func(reflect.Value, string) error, error) {
	switch {
	case t == timeType:
		layout := cfg.timeLayout
		return func(f reflect.Value, s string) error {
			tm, err := time.Parse(layout, s)
			if err != nil {
				return err
			}
			f.Set(reflect.ValueOf(tm))
			return nil
		}, nil
	case reflect.PointerTo(t).Implements(textUnmarshalType):
		return func(f reflect.Value, s string) error {
			return f.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
		}, nil
	}
	switch t.Kind() {
	case reflect.String:
		return func(f reflect.Value, s string) error { f.SetString(s); return nil }, nil
	case reflect.Bool:
		return func(f reflect.Value, s string) error {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return err
			}
			f.SetBool(b)
			return nil
		}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		return func(f reflect.Value, s string) error {
			n, err := strconv.ParseInt(s, 10, bits)
			if err != nil {
				return err
			}
			f.SetInt(n)
			return nil
		}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		bits := t.Bits()
		return func(f reflect.Value, s string) error {
			n, err := strconv.ParseUint(s, 10, bits)
			if err != nil {
				return err
			}
			f.SetUint(n)
			return nil
		}, nil
	case reflect.Float32, reflect.Float64:
		bits := t.Bits()
		return func(f reflect.Value, s string) error {
			x, err := strconv.ParseFloat(s, bits)
			if err != nil {
				return err
			}
			f.SetFloat(x)
			return nil
		}, nil
	}
	return nil, fmt.Errorf("type %s cannot be read from CSV", t)
}
