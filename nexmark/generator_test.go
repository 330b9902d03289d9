package nexmark_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/metric"
	"github.com/freshet-io/freshet/nexmark"
	"github.com/freshet-io/freshet/source"
)

func newGen(t testing.TB, cfg nexmark.GeneratorConfig) *nexmark.Generator {
	t.Helper()
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestProportions(t *testing.T) {
	g := newGen(t, nexmark.GeneratorConfig{})
	wantPerson, wantAuction := int64(nexmark.FirstPersonID), int64(nexmark.FirstAuctionID)
	for block := int64(0); block < 400; block++ {
		var kinds [3]int
		for off := range int64(50) {
			n := block*50 + off
			e := g.Event(n)
			kinds[e.Kind]++
			if nexmark.KindOf(n) != e.Kind {
				t.Fatalf("event %d: KindOf says %v, event is %v", n, nexmark.KindOf(n), e.Kind)
			}
			set := 0
			for _, p := range []bool{e.Person != nil, e.Auction != nil, e.Bid != nil} {
				if p {
					set++
				}
			}
			if set != 1 {
				t.Fatalf("event %d holds %d of person, auction, bid", n, set)
			}
			switch {
			case off < 1 && e.Kind != nexmark.KindPerson,
				off >= 1 && off < 4 && e.Kind != nexmark.KindAuction,
				off >= 4 && e.Kind != nexmark.KindBid:
				t.Fatalf("event %d (offset %d) is a %v", n, off, e.Kind)
			}
			switch e.Kind {
			case nexmark.KindPerson:
				if e.Person.ID != wantPerson {
					t.Fatalf("event %d: person id %d, want %d", n, e.Person.ID, wantPerson)
				}
				wantPerson++
			case nexmark.KindAuction:
				if e.Auction.ID != wantAuction {
					t.Fatalf("event %d: auction id %d, want %d", n, e.Auction.ID, wantAuction)
				}
				wantAuction++
			}
		}
		if kinds != [3]int{1, 3, 46} {
			t.Fatalf("block %d: persons, auctions, bids = %v, want [1 3 46]", block, kinds)
		}
	}
}

func TestFieldRules(t *testing.T) {
	g := newGen(t, nexmark.GeneratorConfig{})
	cfg := g.Config()
	states := map[string]bool{"AZ": true, "CA": true, "ID": true, "OR": true, "WA": true, "WY": true}
	var hotBids, bids int
	for n := range int64(50_000) {
		e := g.Event(n)
		if want := cfg.FirstEventTime + n*cfg.InterEventDelay.Nanoseconds()/1e6; e.Time != want {
			t.Fatalf("event %d at %d, want %d", n, e.Time, want)
		}
		switch e.Kind {
		case nexmark.KindPerson:
			p := e.Person
			if !states[p.State] || p.City == "" || p.Name == "" || p.DateTime != e.Time || len(p.CreditCard) != 19 {
				t.Fatalf("event %d: bad person %+v", n, p)
			}
		case nexmark.KindAuction:
			a := e.Auction
			if a.Category < 10 || a.Category > 14 || a.Expires <= a.DateTime || a.Reserve < a.InitialBid ||
				a.InitialBid < 100 || a.Seller < nexmark.FirstPersonID || a.DateTime != e.Time {
				t.Fatalf("event %d: bad auction %+v", n, a)
			}
		case nexmark.KindBid:
			b := e.Bid
			bids++
			if b.Auction%100 == 0 { // hot auctions are multiples of 100 (+1000)
				hotBids++
			}
			if b.Price < 100 || b.Price > 100_000_000 || b.Channel == "" || b.URL == "" || b.DateTime != e.Time {
				t.Fatalf("event %d: bad bid %+v", n, b)
			}
		}
	}
	// Half the bids go to hot auctions, plus the random ones that hit one.
	if f := float64(hotBids) / float64(bids); f < 0.48 || f > 0.56 {
		t.Errorf("%.3f of the bids are for hot auctions, want about 0.5", f)
	}
}

func TestDeterministic(t *testing.T) {
	a := newGen(t, nexmark.GeneratorConfig{Seed: 7})
	b := newGen(t, nexmark.GeneratorConfig{Seed: 7, Events: 100})
	c := newGen(t, nexmark.GeneratorConfig{Seed: 8})
	differ := 0
	for _, n := range []int64{0, 1, 2, 3, 4, 49, 50, 99, 12345, 999_999} {
		if !reflect.DeepEqual(a.Event(n), b.Event(n)) {
			t.Errorf("event %d differs between two generators of seed 7", n)
		}
		if !reflect.DeepEqual(a.Event(n), c.Event(n)) {
			differ++
		}
	}
	if differ == 0 {
		t.Error("seeds 7 and 8 generate the same events")
	}
}

func TestValidate(t *testing.T) {
	for _, cfg := range []nexmark.GeneratorConfig{
		{Events: -1}, {Rate: -1}, {InterEventDelay: -1}, {SplitRun: -5}, {HotAuctionRatio: -2}, {AvgBidByteSize: -1},
	} {
		if _, err := nexmark.NewGenerator(cfg); !errors.Is(err, nexmark.ErrInvalidConfig) {
			t.Errorf("%+v: got %v, want ErrInvalidConfig", cfg, err)
		}
	}
	if err := (nexmark.GeneratorConfig{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
}

// sliceOutput collects what a reader emits.
type sliceOutput struct {
	events []nexmark.Event
}

func (o *sliceOutput) Collect(e nexmark.Event) { o.events = append(o.events, e) }
func (o *sliceOutput) CollectWithTimestamp(e nexmark.Event, ts int64) {
	if ts != e.Time {
		panic(fmt.Sprintf("event at %d emitted with timestamp %d", e.Time, ts))
	}
	o.events = append(o.events, e)
}

type readerCtx struct{ p int }

func (readerCtx) SubtaskIndex() int      { return 0 }
func (c readerCtx) Parallelism() int     { return c.p }
func (readerCtx) SendSplitRequest()      {}
func (readerCtx) Metrics() *metric.Group { return nil }

// readAll reads splits with a fresh reader, at most limit events (all when
// limit < 0), and returns the events and the reader's snapshot.
func readAll(t *testing.T, g *nexmark.Generator, splits []nexmark.Split, limit int) ([]nexmark.Event, []nexmark.Split) {
	t.Helper()
	r, err := g.CreateReader(readerCtx{p: 1})
	if err != nil {
		t.Fatal(err)
	}
	r.AddSplits(splits)
	r.NotifyNoMoreSplits()
	out := &sliceOutput{}
	for limit < 0 || len(out.events) < limit {
		st, err := r.PollNext(out)
		if err != nil {
			t.Fatal(err)
		}
		if st == source.EndOfInput {
			break
		}
	}
	snap, err := r.SnapshotState(1)
	if err != nil {
		t.Fatal(err)
	}
	return out.events, snap
}

func TestSplits(t *testing.T) {
	const events = 5_003
	for _, p := range []int{1, 2, 3, 7} {
		for _, run := range []int64{1, 50, 1000, (events + int64(p) - 1) / int64(p)} {
			t.Run(fmt.Sprintf("p=%d/run=%d", p, run), func(t *testing.T) {
				g := newGen(t, nexmark.GeneratorConfig{Events: events, SplitRun: run})
				seen := make([]bool, events)
				var concat []nexmark.Event
				for _, sp := range g.Splits(p) {
					got, _ := readAll(t, g, []nexmark.Split{sp}, -1)
					// The numbers split i owns, walked independently.
					var want []nexmark.Event
					for n := int64(0); n < events; n++ {
						if (n/run)%int64(p) == int64(sp.ID) {
							if seen[n] {
								t.Fatalf("event %d in two splits", n)
							}
							seen[n] = true
							want = append(want, g.Event(n))
						}
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("split %d: %d events, want %d (or they differ)", sp.ID, len(got), len(want))
					}
					concat = append(concat, got...)
				}
				for n, ok := range seen {
					if !ok {
						t.Fatalf("event %d in no split", n)
					}
				}
				if run*int64(p) >= events { // one contiguous range per split
					for n, e := range concat {
						if !reflect.DeepEqual(e, g.Event(int64(n))) {
							t.Fatalf("concatenated splits differ at event %d", n)
						}
					}
				}
			})
		}
	}
}

func TestSnapshotResumes(t *testing.T) {
	g := newGen(t, nexmark.GeneratorConfig{Events: 5000, SplitRun: 300})
	splits := g.Splits(3)
	whole, _ := readAll(t, g, splits, -1)
	for _, stop := range []int{0, 1, 255, 256, 1000, 4000} {
		first, snap := readAll(t, g, splits, stop)
		rest, left := readAll(t, g, snap, -1)
		if len(left) != 0 {
			t.Errorf("stop %d: %d splits left at the end", stop, len(left))
		}
		got := append(first, rest...)
		// A reader interleaves its splits a poll at a time, so compare as
		// multisets of the events' positions.
		if len(got) != len(whole) || !sameEvents(got, whole) {
			t.Errorf("stop %d: resumed reading gives %d events, want %d", stop, len(got), len(whole))
		}
	}
}

// sameEvents reports whether a and b hold the same events, in any order.
func sameEvents(a, b []nexmark.Event) bool {
	count := map[string]int{}
	for _, e := range a {
		count[fmt.Sprint(e.Kind, e.Time, e.Person, e.Auction, e.Bid)]++
	}
	for _, e := range b {
		count[fmt.Sprint(e.Kind, e.Time, e.Person, e.Auction, e.Bid)]--
	}
	for _, c := range count {
		if c != 0 {
			return false
		}
	}
	return true
}

func TestRate(t *testing.T) {
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(quiet))
	events, err := nexmark.Events(env, nexmark.GeneratorConfig{Events: 6_000, Rate: 20_000})
	if err != nil {
		t.Fatal(err)
	}
	got := freshet.Collect(events)
	start := time.Now()
	if err := env.Execute(context.Background(), "nexmark rate"); err != nil {
		t.Fatal(err)
	}
	// 6,000 events at 20,000/s take 0.3 s, less the first bursts.
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("6,000 events at 20,000/s took %v", d)
	}
	if got.Len() != 6_000 {
		t.Errorf("%d events, want 6000", got.Len())
	}
}
