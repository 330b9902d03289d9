package nexmark

import (
	"strconv"
	"strings"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/state"
	"github.com/freshet-io/freshet/window"
)

// The queries below are those Flink's Nexmark adds to the original ones
// that the DataStream API expresses directly.

// SideInputKeys is how many keys Q13's side input has.
const SideInputKeys = 10_000

// SideInput is Q13's default side input: the value of every key from 0 to
// SideInputKeys-1.
func SideInput() map[int64]string {
	m := make(map[int64]string, SideInputKeys)
	for k := range int64(SideInputKeys) {
		m[k] = "side-" + strconv.FormatInt(k*7919%SideInputKeys, 10)
	}
	return m
}

// BidWithValue is Q13's output: a bid and the side input's value for it.
type BidWithValue struct {
	Auction, Bidder, Price, DateTime int64
	Value                            string
}

// Q13 is a bounded side input join: every bid gets the value side holds
// for its auction id modulo SideInputKeys (bids without one are dropped).
// side is read, never changed, by all subtasks.
func Q13(events *freshet.Stream[Event], side map[int64]string) *freshet.Stream[BidWithValue] {
	return freshet.FlatMap(Bids(events), func(b Bid, out freshet.Collector[BidWithValue]) {
		if v, ok := side[b.Auction%SideInputKeys]; ok {
			out.Collect(BidWithValue{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, DateTime: b.DateTime, Value: v})
		}
	}).Name("Q13 SideInputJoin")
}

// BidTimeType is Q14's output: a bid of a middling euro price, when in
// the day it came (UTC), and how many 'c's its Extra holds.
type BidTimeType struct {
	Auction, Bidder int64
	PriceEUR        float64 // euro cents, ×DollarToEuro unrounded
	TimeType        string  // "dayTime" 8:00–18:59, "nightTime" up to 6:59 and from 20:00, else "otherTime"
	DateTime        int64
	CCount          int64
}

// Q14 keeps the bids whose euro price is strictly between 1,000,000 and
// 50,000,000 cents and labels them with the time of day and a count of a
// character, as a user function would.
func Q14(events *freshet.Stream[Event]) *freshet.Stream[BidTimeType] {
	return freshet.FlatMap(Bids(events), func(b Bid, out freshet.Collector[BidTimeType]) {
		eur := DollarToEuro * float64(b.Price)
		if eur <= 1_000_000 || eur >= 50_000_000 {
			return
		}
		out.Collect(BidTimeType{Auction: b.Auction, Bidder: b.Bidder, PriceEUR: eur, TimeType: timeType(b.DateTime),
			DateTime: b.DateTime, CCount: int64(strings.Count(b.Extra, "c"))})
	}).Name("Q14 Calc")
}

func timeType(ms int64) string {
	switch h := time.UnixMilli(ms).UTC().Hour(); {
	case h >= 8 && h <= 18:
		return "dayTime"
	case h <= 6 || h >= 20:
		return "nightTime"
	}
	return "otherTime"
}

// AuctionBid is Q20's output: a bid with its auction.
type AuctionBid struct {
	Bid     Bid
	Auction Auction
}

// Q20 expands the bids on auctions of Q3Category with their auction: an
// incremental join by auction id, which keeps the auctions and the bids
// that come before their auction.
func Q20(events *freshet.Stream[Event]) *freshet.Stream[AuctionBid] {
	joined := freshet.ConnectKeyed(
		freshet.KeyBy(Auctions(events), func(a Auction) int64 { return a.ID }),
		freshet.KeyBy(Bids(events), func(b Bid) int64 { return b.Auction }))
	return freshet.KeyedCoProcess(joined, &expandBids{}).Name("Q20 ExpandBids").UID("q20-join")
}

var (
	// q20Auction holds an auction of Q3Category, or one with only its
	// category for the others, whose bids are dropped.
	q20Auction = state.NewValue[Auction]("auction")
	q20Early   = state.NewList[Bid]("early-bids")
)

type expandBids struct {
	freshet.NoTimers[int64, AuctionBid]
}

func (*expandBids) ProcessElement1(ctx *freshet.KeyedContext[int64], a Auction, out freshet.Collector[AuctionBid]) error {
	if a.Category != Q3Category {
		a = Auction{ID: a.ID, Category: a.Category}
	}
	state.Value(ctx.State(), q20Auction).Update(a)
	early := state.List(ctx.State(), q20Early)
	if a.Category == Q3Category {
		for _, b := range early.Get() {
			out.Collect(AuctionBid{Bid: b, Auction: a})
		}
	}
	early.Clear()
	return nil
}

func (*expandBids) ProcessElement2(ctx *freshet.KeyedContext[int64], b Bid, out freshet.Collector[AuctionBid]) error {
	a, ok := state.Value(ctx.State(), q20Auction).Value()
	switch {
	case !ok:
		state.List(ctx.State(), q20Early).Add(b)
	case a.Category == Q3Category:
		out.Collect(AuctionBid{Bid: b, Auction: a})
	}
	return nil
}

// BidChannel is Q21's output: a bid and the id of its channel.
type BidChannel struct {
	Auction, Bidder, Price int64
	Channel, ChannelID     string
}

// hotChannelIDs are the ids Q21 gives the hot channels.
var hotChannelIDs = map[string]string{"apple": "0", "google": "1", "facebook": "2", "baidu": "3"}

// Q21 adds a channel id to the bids that have one: 0 to 3 for the hot
// channels (Apple, Google, Facebook, Baidu), else the channel_id parameter
// of the URL; bids with neither are dropped.
func Q21(events *freshet.Stream[Event]) *freshet.Stream[BidChannel] {
	return freshet.FlatMap(Bids(events), func(b Bid, out freshet.Collector[BidChannel]) {
		id, ok := hotChannelIDs[strings.ToLower(b.Channel)]
		if !ok {
			id, ok = urlParam(b.URL, "channel_id")
		}
		if ok {
			out.Collect(BidChannel{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, Channel: b.Channel, ChannelID: id})
		}
	}).Name("Q21 ChannelID")
}

// urlParam finds name=value at the start of s or after an '&' and returns
// value, up to the next '&'.
func urlParam(s, name string) (string, bool) {
	for i := 0; ; {
		j := strings.Index(s[i:], name+"=")
		if j < 0 {
			return "", false
		}
		j += i
		if j == 0 || s[j-1] == '&' {
			v := s[j+len(name)+1:]
			if k := strings.IndexByte(v, '&'); k >= 0 {
				v = v[:k]
			}
			return v, true
		}
		i = j + 1
	}
}

// BidURLDirs is Q22's output: a bid and the first three directories of
// its URL's path ("" where there are fewer).
type BidURLDirs struct {
	Auction, Bidder, Price int64
	Channel                string
	Dir1, Dir2, Dir3       string
}

// Q22 splits every bid's URL on '/' and keeps parts 3, 4 and 5 (from 0:
// "https:", "", the host, then the path's directories).
func Q22(events *freshet.Stream[Event]) *freshet.Stream[BidURLDirs] {
	return freshet.Map(Bids(events), func(b Bid) BidURLDirs {
		d := BidURLDirs{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, Channel: b.Channel}
		parts := strings.SplitN(b.URL, "/", 7)
		for i, p := range []*string{&d.Dir1, &d.Dir2, &d.Dir3} {
			if 3+i < len(parts) {
				*p = parts[3+i]
			}
		}
		return d
	}).Name("Q22 SplitURL")
}

// Price ranks of Q15 to Q17: rank 1 below $100, rank 2 below $10,000,
// rank 3 the rest.
const (
	rank1Below = 10_000
	rank2Below = 1_000_000
)

func rank(price int64) int {
	switch {
	case price < rank1Below:
		return 1
	case price < rank2Below:
		return 2
	}
	return 3
}

// DailyBids is Q15's and Q16's output: one day's (UTC) bids, of one
// channel for Q16, counted in all and per price rank (rank 1 below $100,
// rank 2 below $10,000, rank 3 the rest), with the distinct bidders and
// auctions among them.
type DailyBids struct {
	Channel  string // "" for Q15
	Day      string // 2006-01-02
	Bids     [4]int64
	Bidders  [4]int64
	Auctions [4]int64
}

// dayOf is the UTC day of a time in ms.
func dayOf(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.DateOnly) }

// dayEnd is the last ms of the UTC day of ms.
func dayEnd(ms int64) int64 {
	const day = 24 * 60 * 60 * 1000
	return ms - ms%day + day - 1
}

// Q15 counts the bids, bidders and auctions of every day, in all and per
// price rank (index 0 all, 1 to 3 the ranks), emitted when the day ends.
func Q15(events *freshet.Stream[Event]) *freshet.Stream[DailyBids] {
	byDay := freshet.KeyBy(Bids(events), func(b Bid) channelDay { return channelDay{Day: dayOf(b.DateTime)} })
	return freshet.KeyedProcess(byDay, dailyBids()).Name("Q15 DailyBids").UID("q15-daily")
}

// Q16 is Q15 per channel.
func Q16(events *freshet.Stream[Event]) *freshet.Stream[DailyBids] {
	byChannelDay := freshet.KeyBy(Bids(events), func(b Bid) channelDay {
		return channelDay{Channel: b.Channel, Day: dayOf(b.DateTime)}
	})
	return freshet.KeyedProcess(byChannelDay, dailyBids()).Name("Q16 ChannelDailyBids").UID("q16-daily")
}

type channelDay struct{ Channel, Day string }

// dailyBids counts a day's bids in value state and its distinct bidders
// and auctions in map state (the ranks each was seen in, as bits), and
// emits the counts at a timer at the end of the day.
func dailyBids() freshet.KeyedProcessFunction[Bid, channelDay, DailyBids] {
	bids := state.NewValue[[4]int64]("bids")
	bidders := state.NewMap[int64, uint8]("bidder-ranks")
	auctions := state.NewMap[int64, uint8]("auction-ranks")
	return freshet.KeyedProcessFuncWithTimers(
		func(ctx *freshet.KeyedContext[channelDay], b Bid, _ freshet.Collector[DailyBids]) error {
			r := rank(b.Price)
			n := state.Value(ctx.State(), bids)
			c, ok := n.Value()
			if !ok {
				ctx.TimerService().RegisterEventTimeTimer(dayEnd(b.DateTime))
			}
			c[0]++
			c[r]++
			n.Update(c)
			bm := state.Map(ctx.State(), bidders)
			if seen, _ := bm.Get(b.Bidder); seen&(1<<r) == 0 {
				bm.Put(b.Bidder, seen|1<<r)
			}
			am := state.Map(ctx.State(), auctions)
			if seen, _ := am.Get(b.Auction); seen&(1<<r) == 0 {
				am.Put(b.Auction, seen|1<<r)
			}
			return nil
		},
		func(ctx *freshet.KeyedContext[channelDay], _ int64, out freshet.Collector[DailyBids]) error {
			k := ctx.CurrentKey()
			d := DailyBids{Channel: k.Channel, Day: k.Day}
			d.Bids, _ = state.Value(ctx.State(), bids).Value()
			distinct := func(m state.MapState[int64, uint8], into *[4]int64) {
				for _, ranks := range m.All() {
					into[0]++
					for r := 1; r <= 3; r++ {
						if ranks&(1<<r) != 0 {
							into[r]++
						}
					}
				}
				m.Clear()
			}
			distinct(state.Map(ctx.State(), bidders), &d.Bidders)
			distinct(state.Map(ctx.State(), auctions), &d.Auctions)
			state.Value(ctx.State(), bids).Clear()
			out.Collect(d)
			return nil
		})
}

// AuctionDay is Q17's output: an auction's bids of one UTC day.
type AuctionDay struct {
	Auction       int64
	Day           string
	Bids          [4]int64 // in all, then per price rank as in Q15
	Min, Max, Sum int64
	Avg           float64
}

// auctionDay accumulates Q17's figures.
type auctionDayAcc struct {
	Bids          [4]int64
	Min, Max, Sum int64
}

type auctionDayAgg struct{}

func (auctionDayAgg) CreateAccumulator() auctionDayAcc { return auctionDayAcc{} }
func (auctionDayAgg) Add(b Bid, a auctionDayAcc) auctionDayAcc {
	if a.Bids[0] == 0 || b.Price < a.Min {
		a.Min = b.Price
	}
	a.Max = max(a.Max, b.Price)
	a.Sum += b.Price
	a.Bids[0]++
	a.Bids[rank(b.Price)]++
	return a
}
func (auctionDayAgg) GetResult(a auctionDayAcc) auctionDayAcc { return a }
func (auctionDayAgg) Merge(a, b auctionDayAcc) auctionDayAcc {
	if b.Bids[0] == 0 {
		return a
	}
	if a.Bids[0] == 0 || b.Min < a.Min {
		a.Min = b.Min
	}
	a.Max = max(a.Max, b.Max)
	a.Sum += b.Sum
	for i := range a.Bids {
		a.Bids[i] += b.Bids[i]
	}
	return a
}

// Q17 summarizes every auction's bids per UTC day: how many (in all and
// per price rank), and their minimum, maximum, sum and average price.
func Q17(events *freshet.Stream[Event]) *freshet.Stream[AuctionDay] {
	byAuction := freshet.KeyBy(Bids(events), func(b Bid) int64 { return b.Auction })
	return freshet.WindowAggregateProcess(
		freshet.Window(byAuction, window.TumblingEventTime[Bid](24*time.Hour, 0)),
		auctionDayAgg{},
		freshet.ProcessWindowFunc(func(ctx *freshet.WindowContext[int64, window.TimeWindow], accs []auctionDayAcc, out freshet.Collector[AuctionDay]) error {
			a := accs[0]
			out.Collect(AuctionDay{Auction: ctx.Key(), Day: dayOf(ctx.Window().Start), Bids: a.Bids,
				Min: a.Min, Max: a.Max, Sum: a.Sum, Avg: float64(a.Sum) / float64(a.Bids[0])})
			return nil
		})).Name("Q17 AuctionDailyBids").UID("q17-daily")
}
