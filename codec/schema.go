package codec

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// ErrIncompatible is wrapped by the error of Migration when values of the
// old layout cannot become values of the new type.
var ErrIncompatible = errors.New("freshet: incompatible value layout")

// Schema describes the layout the derived codec of t writes, as a Go type
// expression with struct field names spelled out: `struct{Name string;
// Count int64}`. Types with a registered codec or a BinaryMarshaler, and
// recursive types, are written opaque(<type>): their layout is their own.
// Two types with the same schema encode alike; state stores it with its
// snapshots so a restore can tell whether a changed type still reads them
// (Flink's serializer snapshots).
func Schema(t reflect.Type) string {
	var b strings.Builder
	writeSchema(&b, t, map[reflect.Type]bool{})
	return b.String()
}

func writeSchema(b *strings.Builder, t reflect.Type, seen map[reflect.Type]bool) {
	c, registered := registry.Load(t)
	if _, derived := c.(derivedCodec); derived {
		registered = false
	}
	if registered || seen[t] ||
		(t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(marshalerType) && reflect.PointerTo(t).Implements(unmarshalerType)) {
		b.WriteString("opaque(" + t.String() + ")")
		return
	}
	switch t.Kind() {
	case reflect.Slice:
		b.WriteString("[]")
		writeSchema(b, t.Elem(), seen)
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "]")
		writeSchema(b, t.Elem(), seen)
	case reflect.Map:
		b.WriteString("map[")
		writeSchema(b, t.Key(), seen)
		b.WriteString("]")
		writeSchema(b, t.Elem(), seen)
	case reflect.Pointer:
		seen[t] = true
		b.WriteString("*")
		writeSchema(b, t.Elem(), seen)
		delete(seen, t)
	case reflect.Struct:
		seen[t] = true
		b.WriteString("struct{")
		first := true
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Name == "_" {
				continue
			}
			if !first {
				b.WriteString("; ")
			}
			first = false
			b.WriteString(f.Name + " ")
			writeSchema(b, f.Type, seen)
		}
		b.WriteString("}")
		delete(seen, t)
	default:
		b.WriteString(t.Kind().String())
	}
}

// basicKinds are the types a schema names by kind.
var basicKinds = map[string]reflect.Type{}

func init() {
	for _, v := range []any{false, int(0), int8(0), int16(0), int32(0), int64(0), uint(0), uint8(0), uint16(0), uint32(0), uint64(0), uintptr(0),
		float32(0), float64(0), complex64(0), complex128(0), ""} {
		t := reflect.TypeOf(v)
		basicKinds[t.Kind().String()] = t
	}
}

// schemaParser turns a schema back into a type of that layout.
type schemaParser struct {
	s string
}

func (p *schemaParser) eat(prefix string) bool {
	if strings.HasPrefix(p.s, prefix) {
		p.s = p.s[len(prefix):]
		return true
	}
	return false
}

func (p *schemaParser) typ() (reflect.Type, error) {
	switch {
	case p.eat("opaque("):
		return nil, fmt.Errorf("the layout of %s is its own codec's", strings.SplitN(p.s, ")", 2)[0])
	case p.eat("[]"):
		e, err := p.typ()
		if err != nil {
			return nil, err
		}
		return reflect.SliceOf(e), nil
	case p.eat("["):
		i := strings.IndexByte(p.s, ']')
		n, err := strconv.Atoi(p.s[:max(i, 0)])
		if i < 0 || err != nil {
			return nil, fmt.Errorf("bad array length in schema at %q", p.s)
		}
		p.s = p.s[i+1:]
		e, err := p.typ()
		if err != nil {
			return nil, err
		}
		return reflect.ArrayOf(n, e), nil
	case p.eat("map["):
		k, err := p.typ()
		if err != nil {
			return nil, err
		}
		if !p.eat("]") {
			return nil, fmt.Errorf("bad map in schema at %q", p.s)
		}
		v, err := p.typ()
		if err != nil {
			return nil, err
		}
		return reflect.MapOf(k, v), nil
	case p.eat("*"):
		e, err := p.typ()
		if err != nil {
			return nil, err
		}
		return reflect.PointerTo(e), nil
	case p.eat("struct{"):
		var fields []reflect.StructField
		for !p.eat("}") {
			if len(fields) > 0 && !p.eat("; ") {
				return nil, fmt.Errorf("bad struct in schema at %q", p.s)
			}
			i := strings.IndexByte(p.s, ' ')
			if i <= 0 {
				return nil, fmt.Errorf("bad struct field in schema at %q", p.s)
			}
			name := p.s[:i]
			p.s = p.s[i+1:]
			ft, err := p.typ()
			if err != nil {
				return nil, err
			}
			fields = append(fields, reflect.StructField{Name: name, Type: ft})
		}
		return reflect.StructOf(fields), nil
	}
	for name, t := range basicKinds {
		if strings.HasPrefix(p.s, name) && (len(p.s) == len(name) || strings.ContainsRune("]; }", rune(p.s[len(name)]))) {
			p.s = p.s[len(name):]
			return t, nil
		}
	}
	return nil, fmt.Errorf("unknown type in schema at %q", p.s)
}

// Migration returns a decoder of values that the derived codec of a type
// of schema old encoded, converting each into a T: struct fields are
// matched by name, fields T adds start at their zero value and fields it
// dropped are skipped, recursively through slices, arrays, maps and
// pointers; a field whose kind changed is an error wrapping
// ErrIncompatible naming it. When old is T's own schema the decoder is
// T's codec.
func Migration[T any](old string) (func(src []byte) (T, int, error), error) {
	newT := reflect.TypeFor[T]()
	if old == Schema(newT) {
		c, err := Of[T]()
		if err != nil {
			return nil, err
		}
		return c.Decode, nil
	}
	p := &schemaParser{s: old}
	oldT, err := p.typ()
	if err == nil && p.s != "" {
		err = fmt.Errorf("trailing %q in schema", p.s)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: stored as %s, now %s: %w", ErrIncompatible, old, Schema(newT), err)
	}
	if err := convertible(newT, oldT, newT.String()); err != nil {
		return nil, fmt.Errorf("%w: stored as %s, now %s: %w", ErrIncompatible, old, Schema(newT), err)
	}
	op, err := plan(oldT)
	if err != nil {
		return nil, err
	}
	return func(src []byte) (T, int, error) {
		var v T
		ov := reflect.New(oldT)
		n, err := op.dec(src, ov.UnsafePointer())
		if err != nil {
			return v, 0, err
		}
		convert(reflect.ValueOf(&v).Elem(), ov.Elem())
		return v, n, nil
	}, nil
}

// convertible checks that values of old can become values of to.
func convertible(to, old reflect.Type, path string) error {
	if Schema(to) == Schema(old) {
		return nil
	}
	if to.Kind() != old.Kind() {
		return fmt.Errorf("%s was %s and is %s", path, Schema(old), Schema(to))
	}
	switch to.Kind() {
	case reflect.Slice, reflect.Pointer:
		return convertible(to.Elem(), old.Elem(), path+"[]")
	case reflect.Array:
		if to.Len() != old.Len() {
			return fmt.Errorf("%s was %s and is %s", path, Schema(old), Schema(to))
		}
		return convertible(to.Elem(), old.Elem(), path+"[]")
	case reflect.Map:
		if err := convertible(to.Key(), old.Key(), path+" key"); err != nil {
			return err
		}
		return convertible(to.Elem(), old.Elem(), path+"[]")
	case reflect.Struct:
		for i := range to.NumField() {
			f := to.Field(i)
			if of, ok := old.FieldByName(f.Name); ok {
				if err := convertible(f.Type, of.Type, path+"."+f.Name); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if !old.ConvertibleTo(to) {
		return fmt.Errorf("%s was %s and is %s", path, Schema(old), Schema(to))
	}
	return nil
}

// convert sets to from old, whose types convertible accepted.
func convert(to, old reflect.Value) {
	switch to.Kind() {
	case reflect.Struct:
		for i := range to.NumField() {
			if of := old.FieldByName(to.Type().Field(i).Name); of.IsValid() {
				convert(to.Field(i), of)
			}
		}
	case reflect.Slice:
		if old.IsNil() {
			return
		}
		s := reflect.MakeSlice(to.Type(), old.Len(), old.Len())
		for i := range old.Len() {
			convert(s.Index(i), old.Index(i))
		}
		to.Set(s)
	case reflect.Array:
		for i := range old.Len() {
			convert(to.Index(i), old.Index(i))
		}
	case reflect.Map:
		if old.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(to.Type(), old.Len())
		for it := old.MapRange(); it.Next(); {
			k, v := reflect.New(to.Type().Key()).Elem(), reflect.New(to.Type().Elem()).Elem()
			convert(k, it.Key())
			convert(v, it.Value())
			m.SetMapIndex(k, v)
		}
		to.Set(m)
	case reflect.Pointer:
		if old.IsNil() {
			return
		}
		p := reflect.New(to.Type().Elem())
		convert(p.Elem(), old.Elem())
		to.Set(p)
	default:
		to.Set(old.Convert(to.Type()))
	}
}
