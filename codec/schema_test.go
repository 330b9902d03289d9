package codec

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

type evV1 struct {
	Name  string
	Count int64
	Tags  []string
	Inner struct{ A, B int }
}

type evV2 struct {
	Count int64 // moved
	Name  string
	Inner struct{ B int } // A dropped
	Score float64         // added
}

type evBad struct {
	Name  int // was a string
	Count int64
}

func TestSchema(t *testing.T) {
	if got, want := Schema(reflect.TypeFor[evV1]()), "struct{Name string; Count int64; Tags []string; Inner struct{A int; B int}}"; got != want {
		t.Fatalf("schema %q, want %q", got, want)
	}
	if got := Schema(reflect.TypeFor[map[string][]*evV2]()); got != "map[string][]*struct{Count int64; Name string; Inner struct{B int}; Score float64}" {
		t.Fatalf("schema %q", got)
	}
}

// A value written as evV1 reads as evV2 by field name; as evBad it is
// incompatible, naming the field.
func TestMigration(t *testing.T) {
	old := evV1{Name: "a", Count: 7, Tags: []string{"x"}, Inner: struct{ A, B int }{1, 2}}
	b := Must[evV1]().Append(nil, old)
	dec, err := Migration[evV2](Schema(reflect.TypeFor[evV1]()))
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := dec(b)
	if err != nil || n != len(b) {
		t.Fatalf("decode: %v (%d of %d bytes)", err, n, len(b))
	}
	if want := (evV2{Count: 7, Name: "a", Inner: struct{ B int }{2}}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	_, err = Migration[evBad](Schema(reflect.TypeFor[evV1]()))
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "codec.evBad.Name was string and is int") {
		t.Fatalf("migration to evBad: %v", err)
	}
	// The same layout decodes as is.
	if _, err := Migration[evV1](Schema(reflect.TypeFor[evV1]())); err != nil {
		t.Fatal(err)
	}
}

func contains(s, sub string) bool {
	return len(s) >= len(sub) && (s == sub || len(sub) == 0 || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
