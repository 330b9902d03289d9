package operator

import (
	"errors"
	"strings"
	"testing"
)

type recorder[T any] struct{ rs []Record[T] }

func (r *recorder[T]) Collect(rec Record[T]) { r.rs = append(r.rs, rec) }
func (r *recorder[T]) EmitWatermark(int64)   {}

type point struct{ X, Y int }

func TestSideOutputOf(t *testing.T) {
	ints, points := &recorder[int]{}, &recorder[point]{}
	side := map[string]any{"ints": ints, "points": points}

	if o, err := SideOutputOf[int](side, "ints"); err != nil || o != Output[int](ints) {
		t.Errorf("SideOutputOf[int](ints) = %v, %v; want the int output", o, err)
	}
	if o, err := SideOutputOf[int](side, "nobody"); err != nil || o != nil {
		t.Errorf("SideOutputOf of an id no one reads = %v, %v; want nil, nil", o, err)
	}
	for _, c := range []struct {
		id   string
		err  func() error
		want string
	}{
		{"ints", func() error { _, err := SideOutputOf[string](side, "ints"); return err },
			`emitting string to side output "ints", which carries int`},
		{"points", func() error { _, err := SideOutputOf[*point](side, "points"); return err },
			`emitting *operator.point to side output "points", which carries operator.point`},
	} {
		err := c.err()
		if !errors.Is(err, ErrSideOutputType) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want ErrSideOutputType saying %q", c.id, err, c.want)
		}
	}
	if o := SideOutput[string](side, "ints"); o != nil {
		t.Errorf("SideOutput of another type = %v, want nil", o)
	}
	if o := SideOutput[point](side, "points"); o != Output[point](points) {
		t.Errorf("SideOutput[point] = %v, want the point output", o)
	}
}

// An output without a Collect(Record[T]) method cannot be in a side map,
// but naming its type must not fail.
func TestElementTypeOfAnythingElse(t *testing.T) {
	if got := elementType(42); got != "int" {
		t.Errorf("elementType(42) = %q", got)
	}
	if got := elementType(nil); got != "nothing" {
		t.Errorf("elementType(nil) = %q", got)
	}
}
