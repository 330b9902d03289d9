package nats_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/connectortest"
	natsconn "github.com/freshet-io/freshet/connector/nats"
)

// TestInvalidConfig runs jobs with sources and sinks configured wrongly:
// each fails with an error that wraps ErrInvalidConfig.
func TestInvalidConfig(t *testing.T) {
	deser := func(m jetstream.Msg) (int64, error) { return 0, nil }
	cases := []struct {
		name  string
		build func(env *freshet.Env)
	}{
		{"sink without url", func(env *freshet.Env) {
			freshet.SinkTo(freshet.FromElements(env, int64(1)), natsconn.NewSink("", "p", itoaSerializer), "s")
		}},
		{"sink without id prefix", func(env *freshet.Env) {
			freshet.SinkTo(freshet.FromElements(env, int64(1)), natsconn.NewSink("nats://127.0.0.1:1", "", itoaSerializer), "s")
		}},
		{"sink without serializer", func(env *freshet.Env) {
			freshet.SinkTo(freshet.FromElements(env, int64(1)), natsconn.NewSink[int64]("nats://127.0.0.1:1", "p", nil), "s")
		}},
		{"sink with max pending 0", func(env *freshet.Env) {
			freshet.SinkTo(freshet.FromElements(env, int64(1)), natsconn.NewSink("nats://127.0.0.1:1", "p", itoaSerializer, natsconn.SinkMaxPending(0)), "s")
		}},
		{"source without durable", func(env *freshet.Env) {
			freshet.SinkTo(freshet.FromSource(env, natsconn.NewSource("nats://127.0.0.1:1", "S", "", deser), "n"), connectortest.NewCollector[int64]().Sink(), "s")
		}},
		{"source with ack wait 0", func(env *freshet.Env) {
			freshet.SinkTo(freshet.FromSource(env, natsconn.NewSource("nats://127.0.0.1:1", "S", "d", deser, natsconn.SourceAckWait(0)), "n"), connectortest.NewCollector[int64]().Sink(), "s")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := quietEnv(freshet.WithParallelism(1))
			tc.build(env)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := env.Execute(ctx, tc.name)
			if !errors.Is(err, natsconn.ErrInvalidConfig) {
				t.Fatalf("got %v, want an error wrapping ErrInvalidConfig", err)
			}
		})
	}
}
