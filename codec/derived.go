package codec

import (
	"encoding"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"sync"
	"unsafe"
)

// An encoder appends the value at p; a decoder decodes into the value at p
// (which holds the zero value) and returns the bytes used.
type (
	encoder func(dst []byte, p unsafe.Pointer) []byte
	decoder func(src []byte, p unsafe.Pointer) (int, error)
)

// A typePlan is the compiled codec for one type.
type typePlan struct {
	t   reflect.Type
	enc encoder
	dec decoder
}

type derived[T any] struct{ p *typePlan }

// derivedCodec marks the codecs Of derives (and caches in the registry),
// to tell them from registered ones.
type derivedCodec interface{ isDerived() }

func (d *derived[T]) isDerived() {}

func (d *derived[T]) Append(dst []byte, v T) []byte {
	return d.p.enc(dst, unsafe.Pointer(&v))
}

func (d *derived[T]) Decode(src []byte) (T, int, error) {
	var v T
	n, err := d.p.dec(src, unsafe.Pointer(&v))
	return v, n, err
}

var plans sync.Map // reflect.Type -> *typePlan

var (
	marshalerType   = reflect.TypeFor[encoding.BinaryMarshaler]()
	unmarshalerType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
)

// plan returns the compiled plan for t, building it once. Recursive types
// are handled by publishing the plan before its parts are built.
func plan(t reflect.Type) (*typePlan, error) {
	if p, ok := plans.Load(t); ok {
		return p.(*typePlan), nil
	}
	b := &builder{building: map[reflect.Type]*typePlan{}}
	p, err := b.build(t, t.String())
	if err != nil {
		return nil, err
	}
	for bt, bp := range b.building {
		plans.LoadOrStore(bt, bp)
	}
	return p, nil
}

type builder struct {
	building map[reflect.Type]*typePlan
}

func (b *builder) build(t reflect.Type, path string) (*typePlan, error) {
	if p, ok := plans.Load(t); ok {
		return p.(*typePlan), nil
	}
	if p, ok := b.building[t]; ok {
		return p, nil
	}
	p := &typePlan{t: t}
	b.building[t] = p
	if err := b.fill(p, path); err != nil {
		delete(b.building, t)
		return nil, err
	}
	return p, nil
}

func (b *builder) fill(p *typePlan, path string) error {
	t := p.t
	if reg, ok := registry.Load(t); ok {
		p.enc, p.dec = viaRegistered(t, reg)
		return nil
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(marshalerType) && reflect.PointerTo(t).Implements(unmarshalerType) {
		p.enc, p.dec = viaBinaryMarshaler(t)
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		p.enc = func(dst []byte, ptr unsafe.Pointer) []byte {
			if *(*bool)(ptr) {
				return append(dst, 1)
			}
			return append(dst, 0)
		}
		p.dec = func(src []byte, ptr unsafe.Pointer) (int, error) {
			if len(src) < 1 || src[0] > 1 {
				return 0, corrupt(t.String(), src)
			}
			*(*bool)(ptr) = src[0] == 1
			return 1, nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.enc, p.dec = signedPlan(t)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.enc, p.dec = unsignedPlan(t)
	case reflect.Float32:
		p.enc = func(dst []byte, ptr unsafe.Pointer) []byte {
			return binary.LittleEndian.AppendUint32(dst, math.Float32bits(*(*float32)(ptr)))
		}
		p.dec = func(src []byte, ptr unsafe.Pointer) (int, error) {
			if len(src) < 4 {
				return 0, corrupt(t.String(), src)
			}
			*(*float32)(ptr) = math.Float32frombits(binary.LittleEndian.Uint32(src))
			return 4, nil
		}
	case reflect.Float64:
		p.enc = func(dst []byte, ptr unsafe.Pointer) []byte {
			return binary.LittleEndian.AppendUint64(dst, math.Float64bits(*(*float64)(ptr)))
		}
		p.dec = func(src []byte, ptr unsafe.Pointer) (int, error) {
			if len(src) < 8 {
				return 0, corrupt(t.String(), src)
			}
			*(*float64)(ptr) = math.Float64frombits(binary.LittleEndian.Uint64(src))
			return 8, nil
		}
	case reflect.Complex64, reflect.Complex128:
		return b.viaParts(p, path)
	case reflect.String:
		p.enc = func(dst []byte, ptr unsafe.Pointer) []byte {
			return stringCodec{}.Append(dst, *(*string)(ptr))
		}
		p.dec = func(src []byte, ptr unsafe.Pointer) (int, error) {
			s, n, err := stringCodec{}.Decode(src)
			*(*string)(ptr) = s
			return n, err
		}
	case reflect.Slice:
		return b.slicePlan(p, path)
	case reflect.Array:
		return b.arrayPlan(p, path)
	case reflect.Map:
		return b.mapPlan(p, path)
	case reflect.Pointer:
		return b.pointerPlan(p, path)
	case reflect.Struct:
		return b.structPlan(p, path)
	default:
		return fmt.Errorf("%w: %s has kind %s, which has no codec; register one with codec.Register", ErrUnsupported, path, t.Kind())
	}
	return nil
}

func signedPlan(t reflect.Type) (encoder, decoder) {
	bits := t.Bits()
	enc := func(dst []byte, ptr unsafe.Pointer) []byte {
		var v int64
		switch bits {
		case 8:
			v = int64(*(*int8)(ptr))
		case 16:
			v = int64(*(*int16)(ptr))
		case 32:
			v = int64(*(*int32)(ptr))
		default:
			v = *(*int64)(ptr)
		}
		return binary.AppendVarint(dst, v)
	}
	dec := func(src []byte, ptr unsafe.Pointer) (int, error) {
		v, k := binary.Varint(src)
		if k <= 0 {
			return 0, corrupt(t.String(), src)
		}
		switch bits {
		case 8:
			if int64(int8(v)) != v {
				return 0, corrupt(t.String(), src)
			}
			*(*int8)(ptr) = int8(v)
		case 16:
			if int64(int16(v)) != v {
				return 0, corrupt(t.String(), src)
			}
			*(*int16)(ptr) = int16(v)
		case 32:
			if int64(int32(v)) != v {
				return 0, corrupt(t.String(), src)
			}
			*(*int32)(ptr) = int32(v)
		default:
			*(*int64)(ptr) = v
		}
		return k, nil
	}
	return enc, dec
}

func unsignedPlan(t reflect.Type) (encoder, decoder) {
	bits := t.Bits()
	enc := func(dst []byte, ptr unsafe.Pointer) []byte {
		var v uint64
		switch bits {
		case 8:
			return append(dst, *(*uint8)(ptr))
		case 16:
			v = uint64(*(*uint16)(ptr))
		case 32:
			v = uint64(*(*uint32)(ptr))
		default:
			v = *(*uint64)(ptr)
		}
		return binary.AppendUvarint(dst, v)
	}
	dec := func(src []byte, ptr unsafe.Pointer) (int, error) {
		if bits == 8 {
			if len(src) < 1 {
				return 0, corrupt(t.String(), src)
			}
			*(*uint8)(ptr) = src[0]
			return 1, nil
		}
		v, k := binary.Uvarint(src)
		if k <= 0 {
			return 0, corrupt(t.String(), src)
		}
		switch bits {
		case 16:
			if uint64(uint16(v)) != v {
				return 0, corrupt(t.String(), src)
			}
			*(*uint16)(ptr) = uint16(v)
		case 32:
			if uint64(uint32(v)) != v {
				return 0, corrupt(t.String(), src)
			}
			*(*uint32)(ptr) = uint32(v)
		default:
			*(*uint64)(ptr) = v
		}
		return k, nil
	}
	return enc, dec
}

// viaParts encodes complex numbers as their two float parts.
func (b *builder) viaParts(p *typePlan, path string) error {
	ft := reflect.TypeFor[float32]()
	if p.t.Kind() == reflect.Complex128 {
		ft = reflect.TypeFor[float64]()
	}
	fp, err := b.build(ft, path)
	if err != nil {
		return err
	}
	size := ft.Size()
	p.enc = func(dst []byte, ptr unsafe.Pointer) []byte {
		dst = fp.enc(dst, ptr)
		return fp.enc(dst, unsafe.Add(ptr, size))
	}
	p.dec = func(src []byte, ptr unsafe.Pointer) (int, error) {
		n, err := fp.dec(src, ptr)
		if err != nil {
			return 0, err
		}
		m, err := fp.dec(src[n:], unsafe.Add(ptr, size))
		return n + m, err
	}
	return nil
}

// Slices encode as uvarint(len+1) (0 for nil) and their elements.
func (b *builder) slicePlan(p *typePlan, path string) error {
	t := p.t
	et := t.Elem()
	if et.Kind() == reflect.Uint8 {
		p.enc = func(dst []byte, ptr unsafe.Pointer) []byte {
			return bytesCodec{}.Append(dst, *(*[]byte)(ptr))
		}
		p.dec = func(src []byte, ptr unsafe.Pointer) (int, error) {
			v, n, err := bytesCodec{}.Decode(src)
			*(*[]byte)(ptr) = v
			return n, err
		}
		return nil
	}
	ep, err := b.build(et, path+"[]")
	if err != nil {
		return err
	}
	size := et.Size()
	p.enc = func(dst []byte, ptr unsafe.Pointer) []byte {
		h := (*sliceHeader)(ptr)
		if h.data == nil {
			return append(dst, 0)
		}
		dst = binary.AppendUvarint(dst, uint64(h.len)+1)
		for i := 0; i < h.len; i++ {
			dst = ep.enc(dst, unsafe.Add(h.data, uintptr(i)*size))
		}
		return dst
	}
	p.dec = func(src []byte, ptr unsafe.Pointer) (int, error) {
		n, k := binary.Uvarint(src)
		if k <= 0 || !plausibleLen(n, len(src)-k, size) {
			return 0, corrupt(t.String(), src)
		}
		if n == 0 {
			return k, nil
		}
		n--
		s := reflect.MakeSlice(t, int(n), int(n))
		data := s.UnsafePointer()
		off := k
		for i := 0; i < int(n); i++ {
			m, err := ep.dec(src[off:], unsafe.Add(data, uintptr(i)*size))
			if err != nil {
				return 0, err
			}
			off += m
		}
		h := (*sliceHeader)(ptr)
		h.data, h.len, h.cap = data, int(n), int(n)
		return off, nil
	}
	return nil
}

type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// plausibleLen rejects a length prefix (stored plus one) that cannot fit in
// the rest bytes left, so corrupt input cannot ask for a huge allocation.
// Every element of a non-empty type takes at least one byte.
func plausibleLen(n uint64, rest int, size uintptr) bool {
	if n == 0 {
		return true
	}
	if size == 0 {
		return n-1 <= 1<<20
	}
	return n-1 <= uint64(rest)
}

func (b *builder) arrayPlan(p *typePlan, path string) error {
	t := p.t
	ep, err := b.build(t.Elem(), fmt.Sprintf("%s[%d]", path, t.Len()))
	if err != nil {
		return err
	}
	size, n := t.Elem().Size(), t.Len()
	p.enc = func(dst []byte, ptr unsafe.Pointer) []byte {
		for i := 0; i < n; i++ {
			dst = ep.enc(dst, unsafe.Add(ptr, uintptr(i)*size))
		}
		return dst
	}
	p.dec = func(src []byte, ptr unsafe.Pointer) (int, error) {
		off := 0
		for i := 0; i < n; i++ {
			m, err := ep.dec(src[off:], unsafe.Add(ptr, uintptr(i)*size))
			if err != nil {
				return 0, err
			}
			off += m
		}
		return off, nil
	}
	return nil
}

// Maps encode as uvarint(len+1) (0 for nil) and their key/value pairs, in
// the map's iteration order.
func (b *builder) mapPlan(p *typePlan, path string) error {
	t := p.t
	kp, err := b.build(t.Key(), path+" key")
	if err != nil {
		return err
	}
	vp, err := b.build(t.Elem(), path+" value")
	if err != nil {
		return err
	}
	p.enc = func(dst []byte, ptr unsafe.Pointer) []byte {
		m := reflect.NewAt(t, ptr).Elem()
		if m.IsNil() {
			return append(dst, 0)
		}
		dst = binary.AppendUvarint(dst, uint64(m.Len())+1)
		k := reflect.New(t.Key()).Elem()
		v := reflect.New(t.Elem()).Elem()
		it := m.MapRange()
		for it.Next() {
			k.SetIterKey(it)
			v.SetIterValue(it)
			dst = kp.enc(dst, k.Addr().UnsafePointer())
			dst = vp.enc(dst, v.Addr().UnsafePointer())
		}
		return dst
	}
	p.dec = func(src []byte, ptr unsafe.Pointer) (int, error) {
		n, k := binary.Uvarint(src)
		if k <= 0 || !plausibleLen(n, len(src)-k, 1) {
			return 0, corrupt(t.String(), src)
		}
		if n == 0 {
			return k, nil
		}
		n--
		m := reflect.MakeMapWithSize(t, int(n))
		off := k
		for i := 0; i < int(n); i++ {
			kv := reflect.New(t.Key())
			c, err := kp.dec(src[off:], kv.UnsafePointer())
			if err != nil {
				return 0, err
			}
			off += c
			vv := reflect.New(t.Elem())
			c, err = vp.dec(src[off:], vv.UnsafePointer())
			if err != nil {
				return 0, err
			}
			off += c
			m.SetMapIndex(kv.Elem(), vv.Elem())
		}
		reflect.NewAt(t, ptr).Elem().Set(m)
		return off, nil
	}
	return nil
}

// Pointers encode as 0 for nil or 1 and the value pointed to. Shared and
// cyclic pointers are not preserved: each is encoded as its own value.
func (b *builder) pointerPlan(p *typePlan, path string) error {
	t := p.t
	ep, err := b.build(t.Elem(), "*"+path)
	if err != nil {
		return err
	}
	p.enc = func(dst []byte, ptr unsafe.Pointer) []byte {
		q := *(*unsafe.Pointer)(ptr)
		if q == nil {
			return append(dst, 0)
		}
		return ep.enc(append(dst, 1), q)
	}
	p.dec = func(src []byte, ptr unsafe.Pointer) (int, error) {
		if len(src) < 1 || src[0] > 1 {
			return 0, corrupt(t.String(), src)
		}
		if src[0] == 0 {
			return 1, nil
		}
		v := reflect.New(t.Elem())
		n, err := ep.dec(src[1:], v.UnsafePointer())
		if err != nil {
			return 0, err
		}
		*(*unsafe.Pointer)(ptr) = v.UnsafePointer()
		return n + 1, nil
	}
	return nil
}

type fieldPlan struct {
	off uintptr
	p   *typePlan
}

// Structs encode their exported fields in order; a struct with unexported
// fields has no derived codec (their values would be lost).
func (b *builder) structPlan(p *typePlan, path string) error {
	t := p.t
	var fields []fieldPlan
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Name == "_" {
			continue
		}
		if !f.IsExported() {
			return fmt.Errorf("%w: %s has unexported field %s; export it or register a codec for %s with codec.Register", ErrUnsupported, path, f.Name, t)
		}
		fp, err := b.build(f.Type, path+"."+f.Name)
		if err != nil {
			return err
		}
		fields = append(fields, fieldPlan{off: f.Offset, p: fp})
	}
	p.enc = func(dst []byte, ptr unsafe.Pointer) []byte {
		for i := range fields {
			dst = fields[i].p.enc(dst, unsafe.Add(ptr, fields[i].off))
		}
		return dst
	}
	p.dec = func(src []byte, ptr unsafe.Pointer) (int, error) {
		off := 0
		for i := range fields {
			n, err := fields[i].p.dec(src[off:], unsafe.Add(ptr, fields[i].off))
			if err != nil {
				return 0, err
			}
			off += n
		}
		return off, nil
	}
	return nil
}

func viaBinaryMarshaler(t reflect.Type) (encoder, decoder) {
	enc := func(dst []byte, ptr unsafe.Pointer) []byte {
		b, err := reflect.NewAt(t, ptr).Interface().(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			panic(&EncodeError{Type: t, Err: err})
		}
		return bytesCodec{}.Append(dst, b)
	}
	dec := func(src []byte, ptr unsafe.Pointer) (int, error) {
		b, n, err := bytesCodec{}.Decode(src)
		if err != nil {
			return 0, err
		}
		if err := reflect.NewAt(t, ptr).Interface().(encoding.BinaryUnmarshaler).UnmarshalBinary(b); err != nil {
			return 0, fmt.Errorf("%w: decoding %s: %w", ErrCorrupt, t, err)
		}
		return n, nil
	}
	return enc, dec
}

// viaRegistered adapts a registered Codec[T] (held as any) to the
// pointer-based plan through reflection on its methods, so registered codecs
// work inside derived ones.
func viaRegistered(t reflect.Type, c any) (encoder, decoder) {
	cv := reflect.ValueOf(c)
	appendM, decodeM := cv.MethodByName("Append"), cv.MethodByName("Decode")
	enc := func(dst []byte, ptr unsafe.Pointer) []byte {
		out := appendM.Call([]reflect.Value{reflect.ValueOf(dst), reflect.NewAt(t, ptr).Elem()})
		return out[0].Bytes()
	}
	dec := func(src []byte, ptr unsafe.Pointer) (int, error) {
		out := decodeM.Call([]reflect.Value{reflect.ValueOf(src)})
		if err, _ := out[2].Interface().(error); err != nil {
			return 0, err
		}
		reflect.NewAt(t, ptr).Elem().Set(out[0])
		return int(out[1].Int()), nil
	}
	return enc, dec
}

func corrupt(what string, src []byte) error {
	return fmt.Errorf("%w: bad %s at %d remaining bytes", ErrCorrupt, what, len(src))
}
