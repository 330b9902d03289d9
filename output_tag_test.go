package freshet_test

import (
	"strings"
	"testing"

	"github.com/freshet-io/freshet"
)

func TestNewOutputTagPanicsOnAnEmptyID(t *testing.T) {
	defer func() {
		r := recover()
		msg, _ := r.(string)
		if !strings.Contains(msg, "NewOutputTag") || !strings.Contains(msg, "must not be empty") {
			t.Fatalf("recovered %v, want a panic naming NewOutputTag and the empty id", r)
		}
	}()
	freshet.NewOutputTag[int]("")
	t.Fatal("NewOutputTag did not panic")
}

func TestOutputTagID(t *testing.T) {
	if id := freshet.NewOutputTag[int]("odd").ID(); id != "odd" {
		t.Errorf("ID() = %q", id)
	}
	if id := (freshet.OutputTag[int]{}).ID(); id != "" {
		t.Errorf("zero tag ID() = %q", id)
	}
}
