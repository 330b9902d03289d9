package freshet_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/sink"
	"github.com/freshet-io/freshet/source"
)

// configuredSource is a slice source with a configuration to validate.
type configuredSource struct {
	*source.Slice[int]
	err error
}

func (s configuredSource) Validate() error { return s.err }

// mistypedValidateSource has a Validate the runtime would never call.
type mistypedValidateSource struct{ *source.Slice[int] }

func (mistypedValidateSource) Validate() bool { return false }

type configuredSink struct {
	sink.Sink[int]
	err error
}

func (s configuredSink) Validate() error { return s.err }

type discardSink struct{}

func (discardSink) CreateWriter(sink.InitContext) (sink.Writer[int], error) {
	return discardWriter{}, nil
}

type discardWriter struct{}

func (discardWriter) Write(int, sink.Context) error { return nil }
func (discardWriter) Flush(bool) error              { return nil }
func (discardWriter) Close() error                  { return nil }

// TestSourceAndSinkConfigValidatedAtBuild: a source or sink whose
// Validate fails makes the program invalid before it runs, naming the
// operator and the problem; a Validate of the wrong signature does too.
func TestSourceAndSinkConfigValidatedAtBuild(t *testing.T) {
	bad := errors.New("no topics given")
	cases := []struct {
		name  string
		build func(env *freshet.Env)
		want  []string
	}{
		{"source", func(env *freshet.Env) {
			freshet.SinkTo(freshet.FromSource(env, configuredSource{Slice: source.FromSlice([]int{1}), err: bad}, "orders"), discardSink{}, "out")
		}, []string{`"orders"`, "source configuration", "no topics given"}},
		{"sink", func(env *freshet.Env) {
			freshet.SinkTo(freshet.FromSlice(env, []int{1}), configuredSink{Sink: discardSink{}, err: bad}, "totals")
		}, []string{`"totals"`, "sink configuration", "no topics given"}},
		{"mistyped", func(env *freshet.Env) {
			freshet.SinkTo(freshet.FromSource(env, mistypedValidateSource{source.FromSlice([]int{1})}, "orders"), discardSink{}, "out")
		}, []string{`"orders"`, "Validate() bool", "source.Validator", "never be called"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := freshet.NewEnv()
			tc.build(env)
			err := env.Execute(context.Background(), t.Name())
			if !errors.Is(err, freshet.ErrInvalidProgram) {
				t.Fatalf("got %v, want ErrInvalidProgram", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	env := freshet.NewEnv()
	freshet.SinkTo(freshet.FromSource(env, configuredSource{Slice: source.FromSlice([]int{1, 2})}, "ok"), configuredSink{Sink: discardSink{}}, "out")
	if err := env.Execute(context.Background(), "valid"); err != nil {
		t.Fatalf("a valid configuration: %v", err)
	}
}

// mistypedSideTypesSource names its side outputs' types under another
// signature than source.SideOutputTypes.
type mistypedSideTypesSource struct{ *source.Slice[int] }

func (mistypedSideTypesSource) SideOutputTypes() map[string]any { return nil }

// TestMistypedSideOutputTypesFails: a source whose SideOutputTypes has the
// wrong signature makes the program invalid rather than being ignored.
func TestMistypedSideOutputTypesFails(t *testing.T) {
	env := freshet.NewEnv()
	freshet.SinkTo(freshet.FromSource(env, mistypedSideTypesSource{source.FromSlice([]int{1})}, "orders"), discardSink{}, "out")
	err := env.Execute(context.Background(), t.Name())
	if !errors.Is(err, freshet.ErrInvalidProgram) || !strings.Contains(err.Error(), "SideOutputTypes() map[string]interface {}") ||
		!strings.Contains(err.Error(), "source.SideOutputTypes") {
		t.Fatalf("got %v, want an invalid program naming SideOutputTypes", err)
	}
}
