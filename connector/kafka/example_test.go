package kafka_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/kafka"
)

// One job writes words to a topic in Kafka transactions; a second reads
// the committed ones back, up to the end of the topic when it starts. The
// cluster is franz-go's in-process kfake; give real brokers instead.
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "words"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	quiet := freshet.WithLogger(slog.New(slog.DiscardHandler))

	env := freshet.NewEnv(freshet.WithParallelism(2), quiet)
	words := freshet.FromElements(env, "to", "be", "or", "not", "to", "be")
	freshet.SinkTo(words, &kafka.Sink[string]{
		Brokers: brokers,
		Serializer: func(w string) (*kgo.Record, error) {
			return &kgo.Record{Topic: "words", Key: []byte(w), Value: []byte(w)}, nil
		},
		DeliveryGuarantee:     kafka.ExactlyOnce,
		TransactionalIDPrefix: "example-words",
	}, "to kafka")
	if err := env.Execute(context.Background(), "write"); err != nil {
		fmt.Println(err)
		return
	}

	env = freshet.NewEnv(freshet.WithParallelism(2), quiet)
	read := freshet.FromSource(env, &kafka.Source[string]{
		Brokers:         brokers,
		Topics:          []string{"words"},
		Deserializer:    kafka.Strings,
		StartingOffsets: kafka.Earliest(),
		Bounded:         true,
		ClientOptions:   []kgo.Opt{kgo.FetchIsolationLevel(kgo.ReadCommitted())},
	}, "from kafka")
	got := freshet.Collect(freshet.Map(read, strings.ToUpper))
	if err := env.Execute(context.Background(), "read"); err != nil {
		fmt.Println(err)
		return
	}
	vals := got.Values()
	slices.Sort(vals)
	fmt.Println(vals)
	// Output:
	// [BE BE NOT OR TO TO]
}
