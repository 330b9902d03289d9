package nats_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/freshet-io/freshet"
)

// startServer runs a JetStream server on a random loopback port for the
// test and returns its client URL.
func startServer(t *testing.T) string {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("creating nats server: %v", err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready within 10s")
	}
	return ns.ClientURL()
}

// connect returns a JetStream handle on url, closed when the test ends.
func connect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func createStream(t *testing.T, js jetstream.JetStream, name string, subjects ...string) jetstream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: subjects, Duplicates: 5 * time.Minute,
	})
	if err != nil {
		t.Fatalf("creating stream %s: %v", name, err)
	}
	return s
}

// readAll returns the data of every message stored in stream.
func readAll(t *testing.T, s jetstream.Stream) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("getting message %d: %v", seq, err)
		}
		out = append(out, m.Data)
	}
	return out
}

func quietEnv(opts ...freshet.Option) *freshet.Env {
	return freshet.NewEnv(append([]freshet.Option{freshet.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
}

var errInjected = errors.New("injected failure")

// failer fails the job once in each of its first attempts, at the
// record numbered at (counted per attempt over all subtasks), after
// waiting for a checkpoint to have completed in that attempt if
// afterCheckpoint says one has.
type failer struct {
	attempts int
	at       int64
	mu       sync.Mutex
	seen     map[int]*atomic.Int64
	failed   atomic.Int32
}

// processed is how many records attempt has checked.
func (f *failer) processed(attempt int) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.seen[attempt]; ok {
		return c.Load()
	}
	return 0
}

func (f *failer) check(attempt int) error {
	f.mu.Lock()
	if f.seen == nil {
		f.seen = map[int]*atomic.Int64{}
	}
	c, ok := f.seen[attempt]
	if !ok {
		c = new(atomic.Int64)
		f.seen[attempt] = c
	}
	f.mu.Unlock()
	if c.Add(1) == f.at && attempt < f.attempts {
		f.failed.Add(1)
		return fmt.Errorf("attempt %d: %w", attempt, errInjected)
	}
	return nil
}

// runJob runs env's job to its end, within a minute.
func runJob(t *testing.T, env *freshet.Env) (*freshet.JobClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jc, err := env.ExecuteAsync(ctx, t.Name())
	if err != nil {
		return nil, err
	}
	return jc, jc.Wait()
}
