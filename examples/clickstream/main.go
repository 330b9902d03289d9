// Command clickstream sessionizes page views: each user's clicks are grouped
// into sessions that end after 30 minutes without a click (event-time
// session windows that merge as clicks arrive out of order), and every
// session is summarized with its length, page count and landing page.
//
//	go run ./examples/clickstream
package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
	"github.com/freshet-io/freshet/window"
)

// Click is one page view.
type Click struct {
	User string
	Page string
	Time int64 // milliseconds since the epoch
}

// Session summarizes one user session.
type Session struct {
	User        string
	Start, End  int64 // the session window: first click to last click + gap
	Clicks      int
	LandingPage string
}

func (s Session) String() string {
	return fmt.Sprintf("%s: %d clicks from %s to %s, landed on %s", s.User, s.Clicks,
		time.UnixMilli(s.Start).UTC().Format("15:04"), time.UnixMilli(s.End).UTC().Format("15:04"), s.LandingPage)
}

// Gap ends a session.
const Gap = 30 * time.Minute

// Sessions adds the sessionization dataflow.
func Sessions(clicks *freshet.Stream[Click]) *freshet.Stream[Session] {
	byUser := freshet.KeyBy(clicks, func(c Click) string { return c.User })
	sessions := freshet.Window(byUser, window.EventTimeSession[Click](Gap))
	return freshet.WindowProcess(sessions, freshet.ProcessWindowFunc(
		func(ctx *freshet.WindowContext[string, window.TimeWindow], clicks []Click, out freshet.Collector[Session]) error {
			first := slices.MinFunc(clicks, func(a, b Click) int { return int(a.Time - b.Time) })
			w := ctx.Window()
			out.Collect(Session{User: ctx.Key(), Start: w.Start, End: w.End, Clicks: len(clicks), LandingPage: first.Page})
			return nil
		})).Name("Sessionize")
}

// Watermarks allows clicks to arrive up to a minute out of order.
func Watermarks() watermark.Strategy[Click] {
	return watermark.ForBoundedOutOfOrderness[Click](time.Minute).
		WithTimestampAssigner(func(c Click, _ int64) int64 { return c.Time })
}

// sample is a morning of clicks of three users, slightly out of order.
func sample() []Click {
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC).UnixMilli()
	at := func(min int) int64 { return base + int64(min)*time.Minute.Milliseconds() }
	return []Click{
		{"ana", "/home", at(0)}, {"ana", "/shoes", at(5)}, {"bo", "/sale", at(7)},
		{"bo", "/sale/2", at(12)}, {"cy", "/blog", at(15)}, {"ana", "/cart", at(20)},
		{"bo", "/home", at(40)}, // 28 min after /sale/2: same session
		{"ana", "/thanks", at(56)},
		{"ana", "/checkout", at(55)}, // a minute out of order; 35 min after /cart: a new session
		{"cy", "/blog/2", at(80)},
	}
}

func run(ctx context.Context, clicks []Click) error {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	in := freshet.FromSourceWithWatermarks(env, source.FromSlice(clicks), Watermarks(), "Clicks")
	Sessions(in).Print()
	return env.Execute(ctx, "Clickstream sessions")
}

func main() {
	if err := run(context.Background(), sample()); err != nil {
		fmt.Fprintln(os.Stderr, "clickstream:", err)
		os.Exit(1)
	}
}
