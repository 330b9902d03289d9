package nexmark

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/state"
	"github.com/freshet-io/freshet/window"
)

// DollarToEuro is Q1's exchange rate.
const DollarToEuro = 0.908

// Window sizes of the windowed queries.
const (
	Q5WindowSize  = 10 * time.Second
	Q5WindowSlide = 2 * time.Second
	Q7WindowSize  = 10 * time.Second
	Q8WindowSize  = 10 * time.Second
	Q11SessionGap = 10 * time.Second
	Q12WindowSize = 10 * time.Second
	// Q6Auctions is how many of a seller's latest closed auctions Q6
	// averages.
	Q6Auctions = 10
)

// Q3States are the states Q3 looks for sellers in, and Q3Category the
// category of their auctions.
var Q3States = []string{"OR", "ID", "CA"}

// Q3Category is the category of the auctions Q3 reports.
const Q3Category = 10

// Persons, Auctions and Bids split the event stream by kind.
func Persons(events *freshet.Stream[Event]) *freshet.Stream[Person] {
	return freshet.FlatMap(events, func(e Event, out freshet.Collector[Person]) {
		if e.Person != nil {
			out.Collect(*e.Person)
		}
	}).Name("Persons")
}

// Auctions is the stream of auctions of events.
func Auctions(events *freshet.Stream[Event]) *freshet.Stream[Auction] {
	return freshet.FlatMap(events, func(e Event, out freshet.Collector[Auction]) {
		if e.Auction != nil {
			out.Collect(*e.Auction)
		}
	}).Name("Auctions")
}

// Bids is the stream of bids of events.
func Bids(events *freshet.Stream[Event]) *freshet.Stream[Bid] {
	return freshet.FlatMap(events, func(e Event, out freshet.Collector[Bid]) {
		if e.Bid != nil {
			out.Collect(*e.Bid)
		}
	}).Name("Bids")
}

// Q0 passes every bid through: the cost of reading events and moving them.
func Q0(events *freshet.Stream[Event]) *freshet.Stream[Bid] {
	return freshet.Map(Bids(events), func(b Bid) Bid { return b }).Name("Q0 PassThrough")
}

// Q1 converts every bid's price from dollars to euros (cents, rounded to the
// nearest).
func Q1(events *freshet.Stream[Event]) *freshet.Stream[Bid] {
	return freshet.Map(Bids(events), func(b Bid) Bid {
		b.Price = ToEuro(b.Price)
		return b
	}).Name("Q1 CurrencyConversion")
}

// ToEuro converts a price in dollar cents to euro cents at DollarToEuro.
func ToEuro(cents int64) int64 { return int64(math.Round(float64(cents) * DollarToEuro)) }

// AuctionPrice is Q2's output: a bid's auction and price.
type AuctionPrice struct {
	Auction, Price int64
}

// Q2 selects the bids of the auctions whose id is a multiple of 123.
func Q2(events *freshet.Stream[Event]) *freshet.Stream[AuctionPrice] {
	return freshet.FlatMap(Bids(events), func(b Bid, out freshet.Collector[AuctionPrice]) {
		if b.Auction%123 == 0 {
			out.Collect(AuctionPrice{Auction: b.Auction, Price: b.Price})
		}
	}).Name("Q2 Selection")
}

// LocalItem is Q3's output: an auction of a seller who lives in one of
// Q3States.
type LocalItem struct {
	Name, City, State string
	Auction           int64
}

// Q3 joins the sellers of Q3States with their auctions of Q3Category,
// incrementally: whichever arrives second emits the pair.
func Q3(events *freshet.Stream[Event]) *freshet.Stream[LocalItem] {
	persons := Persons(events).Filter(func(p Person) bool { return slices.Contains(Q3States, p.State) })
	auctions := Auctions(events).Filter(func(a Auction) bool { return a.Category == Q3Category })
	joined := freshet.ConnectKeyed(
		freshet.KeyBy(persons, func(p Person) int64 { return p.ID }),
		freshet.KeyBy(auctions, func(a Auction) int64 { return a.Seller }))
	return freshet.KeyedCoProcess(joined, &localItems{}).Name("Q3 LocalItemSuggestion").UID("q3-join")
}

// seller is what Q3 keeps of a person.
type seller struct{ Name, City, State string }

var (
	q3Seller  = state.NewValue[seller]("seller")
	q3Waiting = state.NewList[int64]("auctions-waiting")
)

// localItems keeps each seller and the auctions that arrived before their
// seller.
type localItems struct {
	freshet.NoTimers[int64, LocalItem]
}

func (*localItems) ProcessElement1(ctx *freshet.KeyedContext[int64], p Person, out freshet.Collector[LocalItem]) error {
	s := seller{Name: p.Name, City: p.City, State: p.State}
	state.Value(ctx.State(), q3Seller).Update(s)
	waiting := state.List(ctx.State(), q3Waiting)
	for _, a := range waiting.Get() {
		out.Collect(LocalItem{Name: s.Name, City: s.City, State: s.State, Auction: a})
	}
	waiting.Clear()
	return nil
}

func (*localItems) ProcessElement2(ctx *freshet.KeyedContext[int64], a Auction, out freshet.Collector[LocalItem]) error {
	if s, ok := state.Value(ctx.State(), q3Seller).Value(); ok {
		out.Collect(LocalItem{Name: s.Name, City: s.City, State: s.State, Auction: a.ID})
		return nil
	}
	state.List(ctx.State(), q3Waiting).Add(a.ID)
	return nil
}

// Winner is an auction and its winning bid.
type Winner struct {
	Auction Auction
	Bid     Bid
}

// Beats reports whether bid a wins over bid b: a higher price, then the
// earlier, then the lower bidder id.
func Beats(a, b Bid) bool {
	if a.Price != b.Price {
		return a.Price > b.Price
	}
	if a.DateTime != b.DateTime {
		return a.DateTime < b.DateTime
	}
	return a.Bidder < b.Bidder
}

// ValidBid reports whether b counts for auction a: placed while the
// auction was open (both ends included) at a price of at least the reserve.
func ValidBid(a Auction, b Bid) bool {
	return b.DateTime >= a.DateTime && b.DateTime <= a.Expires && b.Price >= a.Reserve
}

// WinningBids emits every auction that closes with a valid bid (ValidBid),
// with the bid that Beats all others, when the watermark passes the
// auction's expiry; the output is stamped with the expiry.
func WinningBids(events *freshet.Stream[Event]) *freshet.Stream[Winner] {
	joined := freshet.ConnectKeyed(
		freshet.KeyBy(Auctions(events), func(a Auction) int64 { return a.ID }),
		freshet.KeyBy(Bids(events), func(b Bid) int64 { return b.Auction }))
	return freshet.KeyedCoProcess(joined, &winningBids{}).Name("WinningBids").UID("winning-bids")
}

var (
	wbAuction = state.NewValue[Auction]("auction")
	wbBest    = state.NewValue[Bid]("best")
	// wbEarly holds the bids that arrived before their auction.
	wbEarly = state.NewList[Bid]("early-bids")
	// wbClosed is the expiry of an auction that has closed, kept for
	// ClosedRetention.
	wbClosed = state.NewValue[int64]("closed-at")
)

// ClosedRetention is how long (in event time) WinningBids remembers that an
// auction has closed, to drop its late bids at once. A bid that comes later
// still is dropped too, only after waiting for the watermark as a bid
// without an auction: the retention changes the cost, not the result.
const ClosedRetention = 10 * time.Second

// winningBids keeps each open auction and its best valid bid, and the bids
// whose auction has not arrived. An auction closes at a timer at its
// expiry; any bid that comes after that is later than the expiry, so it is
// dropped. A bid without its auction waits until the watermark passes its
// time: by then an auction it could be valid for (opened no later than the
// bid) has arrived, so the bid is dropped.
type winningBids struct{ freshet.BaseFunction }

func (*winningBids) ProcessElement1(ctx *freshet.KeyedContext[int64], a Auction, _ freshet.Collector[Winner]) error {
	state.Value(ctx.State(), wbAuction).Update(a)
	early := state.List(ctx.State(), wbEarly)
	if bids := early.Get(); len(bids) > 0 {
		best := state.Value(ctx.State(), wbBest)
		for _, b := range bids {
			offer(best, a, b)
		}
		early.Clear()
	}
	ctx.TimerService().RegisterEventTimeTimer(a.Expires)
	return nil
}

func (*winningBids) ProcessElement2(ctx *freshet.KeyedContext[int64], b Bid, _ freshet.Collector[Winner]) error {
	if a, ok := state.Value(ctx.State(), wbAuction).Value(); ok {
		offer(state.Value(ctx.State(), wbBest), a, b)
		return nil
	}
	if _, closed := state.Value(ctx.State(), wbClosed).Value(); closed {
		return nil
	}
	state.List(ctx.State(), wbEarly).Add(b)
	ctx.TimerService().RegisterEventTimeTimer(b.DateTime)
	return nil
}

// offer makes b the best bid of a if it is valid and beats the best so far.
func offer(best state.ValueState[Bid], a Auction, b Bid) {
	if !ValidBid(a, b) {
		return
	}
	if cur, ok := best.Value(); !ok || Beats(b, cur) {
		best.Update(b)
	}
}

func (*winningBids) OnTimer(ctx *freshet.KeyedContext[int64], ts int64, out freshet.Collector[Winner]) error {
	auction := state.Value(ctx.State(), wbAuction)
	a, ok := auction.Value()
	if !ok {
		closed := state.Value(ctx.State(), wbClosed)
		if at, ok := closed.Value(); ok && ts >= at+ClosedRetention.Milliseconds() {
			closed.Clear()
		}
		// Drop the early bids whose auction did not come in time.
		early := state.List(ctx.State(), wbEarly)
		bids := early.Get()
		keep := slices.DeleteFunc(bids, func(b Bid) bool { return b.DateTime <= ts })
		if len(keep) == 0 {
			early.Clear()
		} else {
			early.Update(keep)
		}
		return nil
	}
	if ts < a.Expires {
		return nil
	}
	best := state.Value(ctx.State(), wbBest)
	if b, ok := best.Value(); ok {
		out.Collect(Winner{Auction: a, Bid: b})
	}
	auction.Clear()
	best.Clear()
	state.List(ctx.State(), wbEarly).Clear()
	state.Value(ctx.State(), wbClosed).Update(a.Expires)
	ctx.TimerService().RegisterEventTimeTimer(a.Expires + ClosedRetention.Milliseconds())
	return nil
}

// CategoryAverage is Q4's output: after auction Auction closed, the
// average winning price of the Count closed auctions of its category.
type CategoryAverage struct {
	Category, Auction int64
	Average           float64
	Count             int64
}

// Q4 is the running average winning price per category: an update for
// every auction that closes with a winner (WinningBids), in order of
// closing time, then auction id.
func Q4(events *freshet.Stream[Event]) *freshet.Stream[CategoryAverage] {
	byCategory := freshet.KeyBy(WinningBids(events), func(w Winner) int64 { return w.Auction.Category })
	return freshet.KeyedProcess(byCategory, inEventTimeOrder(byClosing, &categoryAverage{})).Name("Q4 AverageByCategory").UID("q4-average")
}

// byClosing orders winners closing at the same time by auction id.
func byClosing(a, b Winner) int { return cmp.Compare(a.Auction.ID, b.Auction.ID) }

type sumCount struct{ Sum, Count int64 }

var q4Sum = state.NewValue[sumCount]("sum-count")

type categoryAverage struct{}

func (categoryAverage) apply(ctx *freshet.KeyedContext[int64], w Winner, out freshet.Collector[CategoryAverage]) {
	s := state.Value(ctx.State(), q4Sum)
	sc, _ := s.Value()
	sc.Sum += w.Bid.Price
	sc.Count++
	s.Update(sc)
	out.Collect(CategoryAverage{Category: ctx.CurrentKey(), Auction: w.Auction.ID,
		Average: float64(sc.Sum) / float64(sc.Count), Count: sc.Count})
}

// SellerAverage is Q6's output: after auction Auction closed, the average
// winning price of its seller's latest Q6Auctions closed auctions.
type SellerAverage struct {
	Seller, Auction int64
	Average         float64
}

// Q6 is the average selling price by seller: for every auction that closes
// with a winner, in order of closing time then auction id, the average of
// the seller's last Q6Auctions winning prices.
func Q6(events *freshet.Stream[Event]) *freshet.Stream[SellerAverage] {
	bySeller := freshet.KeyBy(WinningBids(events), func(w Winner) int64 { return w.Auction.Seller })
	return freshet.KeyedProcess(bySeller, inEventTimeOrder(byClosing, &sellerAverage{})).Name("Q6 AverageBySeller").UID("q6-average")
}

var q6Prices = state.NewList[int64]("last-prices")

type sellerAverage struct{}

func (sellerAverage) apply(ctx *freshet.KeyedContext[int64], w Winner, out freshet.Collector[SellerAverage]) {
	s := state.List(ctx.State(), q6Prices)
	prices := append(s.Get(), w.Bid.Price)
	if len(prices) > Q6Auctions {
		prices = prices[len(prices)-Q6Auctions:]
	}
	s.Update(prices)
	var sum int64
	for _, p := range prices {
		sum += p
	}
	out.Collect(SellerAverage{Seller: ctx.CurrentKey(), Auction: w.Auction.ID,
		Average: float64(sum) / float64(len(prices))})
}

// applier handles one element of a key, in order.
type applier[T any, K comparable, OUT any] interface {
	apply(ctx *freshet.KeyedContext[K], v T, out freshet.Collector[OUT])
}

// inEventTimeOrder is a keyed process function that hands each key's
// elements to a in event-time order, ties in the order cmp gives, once the
// watermark has passed them: by then every element of that time has
// arrived, whichever subtask upstream sent it, so the order does not
// depend on how the inputs interleave.
func inEventTimeOrder[T any, K comparable, OUT any](cmp func(a, b T) int, a applier[T, K, OUT]) freshet.KeyedProcessFunction[T, K, OUT] {
	pending := state.NewMap[int64, []T]("pending")
	return freshet.KeyedProcessFuncWithTimers(
		func(ctx *freshet.KeyedContext[K], v T, _ freshet.Collector[OUT]) error {
			ts, _ := ctx.Timestamp()
			m := state.Map(ctx.State(), pending)
			vs, _ := m.Get(ts)
			m.Put(ts, append(vs, v))
			ctx.TimerService().RegisterEventTimeTimer(ts)
			return nil
		},
		func(ctx *freshet.KeyedContext[K], ts int64, out freshet.Collector[OUT]) error {
			m := state.Map(ctx.State(), pending)
			vs, _ := m.Get(ts)
			m.Remove(ts)
			slices.SortFunc(vs, cmp)
			for _, v := range vs {
				a.apply(ctx, v, out)
			}
			return nil
		})
}

// count is an AggregateFunction that counts elements.
type count[T any] struct{}

func (count[T]) CreateAccumulator() int64  { return 0 }
func (count[T]) Add(_ T, acc int64) int64  { return acc + 1 }
func (count[T]) GetResult(acc int64) int64 { return acc }
func (count[T]) Merge(a, b int64) int64    { return a + b }

// AuctionCount is how many bids an auction got in the window ending at
// WindowEnd.
type AuctionCount struct {
	Auction, Bids, WindowEnd int64
}

// Q5 is hot items: for every sliding window of Q5WindowSize every
// Q5WindowSlide, the auctions with the most bids in it (all of them on a
// tie).
func Q5(events *freshet.Stream[Event]) *freshet.Stream[AuctionCount] {
	byAuction := freshet.KeyBy(Bids(events), func(b Bid) int64 { return b.Auction })
	counts := freshet.WindowAggregateProcess(
		freshet.Window(byAuction, window.SlidingEventTime[Bid](Q5WindowSize, Q5WindowSlide, 0)),
		count[Bid]{},
		freshet.ProcessWindowFunc(func(ctx *freshet.WindowContext[int64, window.TimeWindow], n []int64, out freshet.Collector[AuctionCount]) error {
			out.Collect(AuctionCount{Auction: ctx.Key(), Bids: n[0], WindowEnd: ctx.Window().End})
			return nil
		})).Name("Q5 BidsPerAuction").UID("q5-counts")
	// Each count is stamped with its window's last ms, so the tumbling
	// window of one slide holds the counts of exactly one sliding window.
	byWindow := freshet.KeyBy(counts, func(c AuctionCount) int64 { return c.WindowEnd })
	return freshet.WindowProcess(
		freshet.Window(byWindow, window.TumblingEventTime[AuctionCount](Q5WindowSlide, 0)),
		freshet.ProcessWindowFunc(func(_ *freshet.WindowContext[int64, window.TimeWindow], counts []AuctionCount, out freshet.Collector[AuctionCount]) error {
			var most int64
			for _, c := range counts {
				most = max(most, c.Bids)
			}
			for _, c := range counts {
				if c.Bids == most {
					out.Collect(c)
				}
			}
			return nil
		})).Name("Q5 HotItems").UID("q5-hot")
}

// maxBids holds the highest price seen and the bids that offered it.
type maxBids struct {
	Price int64
	Bids  []Bid
}

func (m maxBids) add(b Bid) maxBids {
	switch {
	case len(m.Bids) == 0 || b.Price > m.Price:
		return maxBids{Price: b.Price, Bids: []Bid{b}}
	case b.Price == m.Price:
		m.Bids = append(m.Bids, b)
	}
	return m
}

type highest struct{}

func (highest) CreateAccumulator() maxBids   { return maxBids{} }
func (highest) Add(b Bid, m maxBids) maxBids { return m.add(b) }
func (highest) GetResult(m maxBids) maxBids  { return m }
func (highest) Merge(a, b maxBids) maxBids {
	for _, x := range b.Bids {
		a = a.add(x)
	}
	return a
}

// q7Shards is how many keys Q7 pre-aggregates each window under.
const q7Shards = 64

// Q7 is the highest bid: for every tumbling window of Q7WindowSize, the
// bids with the highest price in it. The maximum is found per shard of
// auctions first, then over the shards.
func Q7(events *freshet.Stream[Event]) *freshet.Stream[Bid] {
	type shardMax struct {
		WindowEnd int64
		Max       maxBids
	}
	byShard := freshet.KeyBy(Bids(events), func(b Bid) int64 { return b.Auction % q7Shards })
	shards := freshet.WindowAggregateProcess(
		freshet.Window(byShard, window.TumblingEventTime[Bid](Q7WindowSize, 0)),
		highest{},
		freshet.ProcessWindowFunc(func(ctx *freshet.WindowContext[int64, window.TimeWindow], m []maxBids, out freshet.Collector[shardMax]) error {
			out.Collect(shardMax{WindowEnd: ctx.Window().End, Max: m[0]})
			return nil
		})).Name("Q7 HighestPerShard").UID("q7-shard-max")
	byWindow := freshet.KeyBy(shards, func(s shardMax) int64 { return s.WindowEnd })
	return freshet.WindowProcess(
		freshet.Window(byWindow, window.TumblingEventTime[shardMax](Q7WindowSize, 0)),
		freshet.ProcessWindowFunc(func(_ *freshet.WindowContext[int64, window.TimeWindow], ms []shardMax, out freshet.Collector[Bid]) error {
			var all maxBids
			for _, m := range ms {
				all = highest{}.Merge(all, m.Max)
			}
			for _, b := range all.Bids {
				out.Collect(b)
			}
			return nil
		})).Name("Q7 HighestBid").UID("q7-max")
}

// NewUser is Q8's output: a person who opened an auction in the same
// window of Q8WindowSize (starting at WindowStart) as they registered.
type NewUser struct {
	ID          int64
	Name        string
	WindowStart int64
}

// Q8 monitors new users: a tumbling-window join of persons with the
// sellers of auctions, by person id.
func Q8(events *freshet.Stream[Event]) *freshet.Stream[NewUser] {
	persons := freshet.KeyBy(Persons(events), func(p Person) int64 { return p.ID })
	sellers := freshet.KeyBy(Auctions(events), func(a Auction) int64 { return a.Seller })
	size := Q8WindowSize.Milliseconds()
	w := freshet.CoWindow(persons, sellers, window.TumblingEventTime[freshet.Either[Person, Auction]](Q8WindowSize, 0))
	return freshet.WindowCoGroup(w, func(ps []Person, as []Auction, out freshet.Collector[NewUser]) error {
		if len(as) == 0 {
			return nil
		}
		for _, p := range ps {
			out.Collect(NewUser{ID: p.ID, Name: p.Name, WindowStart: p.DateTime - p.DateTime%size})
		}
		return nil
	}).Name("Q8 NewUsers").UID("q8-join")
}

// Q9 is the winning bid of every auction that closes with one
// (WinningBids).
func Q9(events *freshet.Stream[Event]) *freshet.Stream[Winner] { return WinningBids(events) }

// Session is Q11's output: a bidder's session [Start, End) of Bids bids.
type Session struct {
	Bidder, Bids, Start, End int64
}

// Q11 is user sessions: the bids of every bidder in event-time sessions
// that end after Q11SessionGap without a bid.
func Q11(events *freshet.Stream[Event]) *freshet.Stream[Session] {
	byBidder := freshet.KeyBy(Bids(events), func(b Bid) int64 { return b.Bidder })
	return freshet.WindowAggregateProcess(
		freshet.Window(byBidder, window.EventTimeSession[Bid](Q11SessionGap)),
		count[Bid]{},
		freshet.ProcessWindowFunc(func(ctx *freshet.WindowContext[int64, window.TimeWindow], n []int64, out freshet.Collector[Session]) error {
			w := ctx.Window()
			out.Collect(Session{Bidder: ctx.Key(), Bids: n[0], Start: w.Start, End: w.End})
			return nil
		})).Name("Q11 UserSessions").UID("q11-sessions")
}

// BidderCount is Q12's output: how many bids a bidder made in a window of
// processing time starting at WindowStart.
type BidderCount struct {
	Bidder, Bids, WindowStart int64
}

// Q12 counts every bidder's bids in tumbling windows of Q12WindowSize of
// processing time. When a bounded input ends, the windows still open fire
// too, so every bid is counted once.
func Q12(events *freshet.Stream[Event]) *freshet.Stream[BidderCount] {
	byBidder := freshet.KeyBy(Bids(events), func(b Bid) int64 { return b.Bidder })
	return freshet.WindowAggregateProcess(
		freshet.Window(byBidder, window.TumblingProcessingTime[Bid](Q12WindowSize, 0)).
			Trigger(processingTimeOrEnd[Bid]{}),
		count[Bid]{},
		freshet.ProcessWindowFunc(func(ctx *freshet.WindowContext[int64, window.TimeWindow], n []int64, out freshet.Collector[BidderCount]) error {
			out.Collect(BidderCount{Bidder: ctx.Key(), Bids: n[0], WindowStart: ctx.Window().Start})
			return nil
		})).Name("Q12 ProcessingTimeWindows").UID("q12-windows")
}

// processingTimeOrEnd is the processing-time trigger, which fires when the
// clock passes the window's end, and which also fires and purges the
// window at the end of the input (the final watermark), where the clock's
// timers would be dropped.
type processingTimeOrEnd[T any] struct{}

func (processingTimeOrEnd[T]) OnElement(_ T, _ int64, w window.TimeWindow, ctx window.TriggerContext) window.TriggerResult {
	ctx.RegisterProcessingTimeTimer(w.MaxTimestamp())
	ctx.RegisterEventTimeTimer(math.MaxInt64)
	return window.Continue
}

func (processingTimeOrEnd[T]) OnEventTime(t int64, _ window.TimeWindow, _ window.TriggerContext) window.TriggerResult {
	if t == math.MaxInt64 {
		return window.FireAndPurge
	}
	return window.Continue
}

func (processingTimeOrEnd[T]) OnProcessingTime(int64, window.TimeWindow, window.TriggerContext) window.TriggerResult {
	return window.Fire
}

func (processingTimeOrEnd[T]) CanMerge() bool                                 { return false }
func (processingTimeOrEnd[T]) OnMerge(window.TimeWindow, window.MergeContext) {}

func (processingTimeOrEnd[T]) Clear(w window.TimeWindow, ctx window.TriggerContext) {
	ctx.DeleteProcessingTimeTimer(w.MaxTimestamp())
	ctx.DeleteEventTimeTimer(math.MaxInt64)
}
