package nats_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/freshet-io/freshet"
	natsconn "github.com/freshet-io/freshet/connector/nats"
)

// Numbers published to one stream are read by a job, doubled and
// published to another, each message with a de-duplication id. The
// source ends when its consumer is drained.
func Example() {
	dir, _ := os.MkdirTemp("", "nats-example")
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		fmt.Println("server not ready")
		return
	}
	url := ns.ClientURL()

	ctx := context.Background()
	nc, _ := nats.Connect(url)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	js.CreateStream(ctx, jetstream.StreamConfig{Name: "NUMBERS", Subjects: []string{"numbers"}})
	out, _ := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DOUBLED", Subjects: []string{"doubled"}, Duplicates: time.Hour})
	for i := 1; i <= 3; i++ {
		js.Publish(ctx, "numbers", []byte(strconv.Itoa(i)))
	}

	env := freshet.NewEnv(freshet.WithParallelism(1), freshet.WithLogger(slog.New(slog.DiscardHandler)))
	nums := freshet.FromSource(env, natsconn.NewSource(url, "NUMBERS", "doubler",
		func(m jetstream.Msg) (int, error) { return strconv.Atoi(string(m.Data())) },
		natsconn.SourceStopWhenDrained()), "numbers")
	doubled := freshet.Map(nums, func(v int) int { return 2 * v })
	freshet.SinkTo(doubled, natsconn.NewSink(url, "doubler", func(v int) (string, []byte, error) {
		return "doubled", []byte(strconv.Itoa(v)), nil
	}), "doubled")
	if err := env.Execute(ctx, "doubler"); err != nil {
		fmt.Println(err)
		return
	}
	for seq := uint64(1); seq <= 3; seq++ {
		m, err := out.GetMsg(ctx, seq)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(string(m.Data), m.Header.Get(jetstream.MsgIDHeader))
	}
	// Output:
	// 2 doubler-0-0
	// 4 doubler-0-1
	// 6 doubler-0-2
}
