package nexmark

import (
	"cmp"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The reference evaluations below compute each query over a bounded input
// with plain loops and maps, without Freshet: what the query must output
// once every event has been read (for windows and timers, once the final
// watermark has fired them). events must be in event-number order, as
// Generator.Event(0), Event(1), … gives them. They share no code with the
// queries, so that a test comparing the two checks both.

// RefBids returns the bids of events, in order.
func RefBids(events []Event) []Bid {
	var out []Bid
	for _, e := range events {
		if e.Kind == KindBid {
			out = append(out, *e.Bid)
		}
	}
	return out
}

// RefQ0 is Q0's output: every bid.
func RefQ0(events []Event) []Bid { return RefBids(events) }

// RefQ1 is Q1's output: every bid with its price ×0.908, rounded.
func RefQ1(events []Event) []Bid {
	out := RefBids(events)
	for i := range out {
		out[i].Price = int64(math.Round(float64(out[i].Price) * 0.908))
	}
	return out
}

// RefQ2 is Q2's output.
func RefQ2(events []Event) []AuctionPrice {
	var out []AuctionPrice
	for _, b := range RefBids(events) {
		if b.Auction%123 == 0 {
			out = append(out, AuctionPrice{b.Auction, b.Price})
		}
	}
	return out
}

// RefQ3 is Q3's output.
func RefQ3(events []Event) []LocalItem {
	sellers := map[int64]Person{}
	for _, e := range events {
		if p := e.Person; p != nil && (p.State == "OR" || p.State == "ID" || p.State == "CA") {
			sellers[p.ID] = *p
		}
	}
	var out []LocalItem
	for _, e := range events {
		if a := e.Auction; a != nil && a.Category == 10 {
			if p, ok := sellers[a.Seller]; ok {
				out = append(out, LocalItem{p.Name, p.City, p.State, a.ID})
			}
		}
	}
	return out
}

// RefWinningBids is every auction with a valid bid and its best bid, in
// order of expiry, then auction id.
func RefWinningBids(events []Event) []Winner {
	bids := map[int64][]Bid{}
	var auctions []Auction
	for _, e := range events {
		switch e.Kind {
		case KindBid:
			bids[e.Bid.Auction] = append(bids[e.Bid.Auction], *e.Bid)
		case KindAuction:
			auctions = append(auctions, *e.Auction)
		}
	}
	var out []Winner
	for _, a := range auctions {
		var best *Bid
		for i, b := range bids[a.ID] {
			if b.DateTime < a.DateTime || b.DateTime > a.Expires || b.Price < a.Reserve {
				continue
			}
			if best == nil || b.Price > best.Price ||
				b.Price == best.Price && (b.DateTime < best.DateTime || b.DateTime == best.DateTime && b.Bidder < best.Bidder) {
				best = &bids[a.ID][i]
			}
		}
		if best != nil {
			out = append(out, Winner{a, *best})
		}
	}
	slices.SortStableFunc(out, func(x, y Winner) int {
		return cmp.Or(cmp.Compare(x.Auction.Expires, y.Auction.Expires), cmp.Compare(x.Auction.ID, y.Auction.ID))
	})
	return out
}

// RefQ4 is Q4's output.
func RefQ4(events []Event) []CategoryAverage {
	sums := map[int64]*[2]int64{}
	var out []CategoryAverage
	for _, w := range RefWinningBids(events) {
		c := w.Auction.Category
		if sums[c] == nil {
			sums[c] = new([2]int64)
		}
		s := sums[c]
		s[0] += w.Bid.Price
		s[1]++
		out = append(out, CategoryAverage{c, w.Auction.ID, float64(s[0]) / float64(s[1]), s[1]})
	}
	return out
}

// RefQ5 is Q5's output.
func RefQ5(events []Event) []AuctionCount {
	size, slide := Q5WindowSize.Milliseconds(), Q5WindowSlide.Milliseconds()
	type key struct{ end, auction int64 }
	counts := map[key]int64{}
	for _, b := range RefBids(events) {
		last := b.DateTime - ((b.DateTime%slide)+slide)%slide
		for start := last; start > b.DateTime-size; start -= slide {
			counts[key{start + size, b.Auction}]++
		}
	}
	most := map[int64]int64{}
	for k, n := range counts {
		most[k.end] = max(most[k.end], n)
	}
	var out []AuctionCount
	for k, n := range counts {
		if n == most[k.end] {
			out = append(out, AuctionCount{k.auction, n, k.end})
		}
	}
	return out
}

// RefQ6 is Q6's output.
func RefQ6(events []Event) []SellerAverage {
	last := map[int64][]int64{}
	var out []SellerAverage
	for _, w := range RefWinningBids(events) {
		s := w.Auction.Seller
		ps := append(last[s], w.Bid.Price)
		if len(ps) > 10 {
			ps = ps[1:]
		}
		last[s] = ps
		var sum int64
		for _, p := range ps {
			sum += p
		}
		out = append(out, SellerAverage{s, w.Auction.ID, float64(sum) / float64(len(ps))})
	}
	return out
}

// RefQ7 is Q7's output.
func RefQ7(events []Event) []Bid {
	size := Q7WindowSize.Milliseconds()
	top := map[int64]int64{} // window start → highest price
	bids := RefBids(events)
	for _, b := range bids {
		w := b.DateTime - b.DateTime%size
		if p, ok := top[w]; !ok || b.Price > p {
			top[w] = b.Price
		}
	}
	var out []Bid
	for _, b := range bids {
		if b.Price == top[b.DateTime-b.DateTime%size] {
			out = append(out, b)
		}
	}
	return out
}

// RefQ8 is Q8's output.
func RefQ8(events []Event) []NewUser {
	size := Q8WindowSize.Milliseconds()
	type key struct{ person, start int64 }
	sold := map[key]bool{}
	for _, e := range events {
		if a := e.Auction; a != nil {
			sold[key{a.Seller, a.DateTime - a.DateTime%size}] = true
		}
	}
	var out []NewUser
	for _, e := range events {
		if p := e.Person; p != nil {
			if start := p.DateTime - p.DateTime%size; sold[key{p.ID, start}] {
				out = append(out, NewUser{p.ID, p.Name, start})
			}
		}
	}
	return out
}

// RefQ9 is Q9's output.
func RefQ9(events []Event) []Winner { return RefWinningBids(events) }

// RefQ11 is Q11's output.
func RefQ11(events []Event) []Session {
	gap := Q11SessionGap.Milliseconds()
	open := map[int64]*Session{}
	var out []Session
	for _, b := range RefBids(events) { // in time order
		s := open[b.Bidder]
		if s != nil && b.DateTime <= s.End {
			s.Bids++
			s.End = max(s.End, b.DateTime+gap)
			continue
		}
		if s != nil {
			out = append(out, *s)
		}
		open[b.Bidder] = &Session{b.Bidder, 1, b.DateTime, b.DateTime + gap}
	}
	for _, s := range open {
		out = append(out, *s)
	}
	return out
}

// RefQ12 is what Q12's output must add up to: every bidder's number of
// bids (WindowStart 0). Which processing-time window a bid falls in
// depends on when it is processed, so only the totals per bidder are
// fixed.
func RefQ12(events []Event) []BidderCount {
	n := map[int64]int64{}
	for _, b := range RefBids(events) {
		n[b.Bidder]++
	}
	out := make([]BidderCount, 0, len(n))
	for bidder, c := range n {
		out = append(out, BidderCount{Bidder: bidder, Bids: c})
	}
	return out
}

// TotalPerBidder adds up Q12's output per bidder (WindowStart 0), to
// compare with RefQ12.
func TotalPerBidder(counts []BidderCount) []BidderCount {
	n := map[int64]int64{}
	for _, c := range counts {
		n[c.Bidder] += c.Bids
	}
	out := make([]BidderCount, 0, len(n))
	for bidder, c := range n {
		out = append(out, BidderCount{Bidder: bidder, Bids: c})
	}
	return out
}

// RefQ13 is Q13's output over side.
func RefQ13(events []Event, side map[int64]string) []BidWithValue {
	var out []BidWithValue
	for _, b := range RefBids(events) {
		if v, ok := side[b.Auction%10_000]; ok {
			out = append(out, BidWithValue{b.Auction, b.Bidder, b.Price, b.DateTime, v})
		}
	}
	return out
}

// RefQ14 is Q14's output.
func RefQ14(events []Event) []BidTimeType {
	var out []BidTimeType
	for _, b := range RefBids(events) {
		eur := 0.908 * float64(b.Price)
		if !(eur > 1_000_000 && eur < 50_000_000) {
			continue
		}
		h := time.UnixMilli(b.DateTime).UTC().Hour()
		kind := "otherTime"
		if h >= 8 && h <= 18 {
			kind = "dayTime"
		} else if h <= 6 || h >= 20 {
			kind = "nightTime"
		}
		var cs int64
		for _, r := range b.Extra {
			if r == 'c' {
				cs++
			}
		}
		out = append(out, BidTimeType{b.Auction, b.Bidder, eur, kind, b.DateTime, cs})
	}
	return out
}

// RefQ20 is Q20's output.
func RefQ20(events []Event) []AuctionBid {
	auctions := map[int64]Auction{}
	for _, e := range events {
		if a := e.Auction; a != nil && a.Category == 10 {
			auctions[a.ID] = *a
		}
	}
	var out []AuctionBid
	for _, b := range RefBids(events) {
		if a, ok := auctions[b.Auction]; ok {
			out = append(out, AuctionBid{b, a})
		}
	}
	return out
}

var channelIDPattern = regexp.MustCompile(`(&|^)channel_id=([^&]*)`)

// RefQ21 is Q21's output.
func RefQ21(events []Event) []BidChannel {
	var out []BidChannel
	for _, b := range RefBids(events) {
		id := ""
		switch strings.ToLower(b.Channel) {
		case "apple":
			id = "0"
		case "google":
			id = "1"
		case "facebook":
			id = "2"
		case "baidu":
			id = "3"
		default:
			m := channelIDPattern.FindStringSubmatch(b.URL)
			if m == nil {
				continue
			}
			id = m[2]
		}
		out = append(out, BidChannel{b.Auction, b.Bidder, b.Price, b.Channel, id})
	}
	return out
}

// RefQ22 is Q22's output.
func RefQ22(events []Event) []BidURLDirs {
	var out []BidURLDirs
	for _, b := range RefBids(events) {
		parts := strings.Split(b.URL, "/")
		dir := func(i int) string {
			if i < len(parts) {
				return parts[i]
			}
			return ""
		}
		out = append(out, BidURLDirs{b.Auction, b.Bidder, b.Price, b.Channel, dir(3), dir(4), dir(5)})
	}
	return out
}

// priceRank is the price rank of Q15 to Q17.
func priceRank(cents int64) int {
	if cents < 10_000 {
		return 1
	}
	if cents < 1_000_000 {
		return 2
	}
	return 3
}

func refDaily(events []Event, byChannel bool) []DailyBids {
	type key struct{ channel, day string }
	type sets struct {
		bids              [4]int64
		bidders, auctions [4]map[int64]bool
	}
	all := map[key]*sets{}
	for _, b := range RefBids(events) {
		k := key{day: time.UnixMilli(b.DateTime).UTC().Format("2006-01-02")}
		if byChannel {
			k.channel = b.Channel
		}
		s := all[k]
		if s == nil {
			s = &sets{}
			for i := range 4 {
				s.bidders[i], s.auctions[i] = map[int64]bool{}, map[int64]bool{}
			}
			all[k] = s
		}
		for _, i := range []int{0, priceRank(b.Price)} {
			s.bids[i]++
			s.bidders[i][b.Bidder] = true
			s.auctions[i][b.Auction] = true
		}
	}
	var out []DailyBids
	for k, s := range all {
		d := DailyBids{Channel: k.channel, Day: k.day, Bids: s.bids}
		for i := range 4 {
			d.Bidders[i], d.Auctions[i] = int64(len(s.bidders[i])), int64(len(s.auctions[i]))
		}
		out = append(out, d)
	}
	return out
}

// RefQ15 is Q15's output.
func RefQ15(events []Event) []DailyBids { return refDaily(events, false) }

// RefQ16 is Q16's output.
func RefQ16(events []Event) []DailyBids { return refDaily(events, true) }

// RefQ17 is Q17's output.
func RefQ17(events []Event) []AuctionDay {
	type key struct {
		auction int64
		day     string
	}
	all := map[key]*AuctionDay{}
	for _, b := range RefBids(events) {
		k := key{b.Auction, time.UnixMilli(b.DateTime).UTC().Format("2006-01-02")}
		d := all[k]
		if d == nil {
			d = &AuctionDay{Auction: k.auction, Day: k.day, Min: b.Price, Max: b.Price}
			all[k] = d
		}
		d.Bids[0]++
		d.Bids[priceRank(b.Price)]++
		d.Min, d.Max, d.Sum = min(d.Min, b.Price), max(d.Max, b.Price), d.Sum+b.Price
	}
	var out []AuctionDay
	for _, d := range all {
		d.Avg = float64(d.Sum) / float64(d.Bids[0])
		out = append(out, *d)
	}
	return out
}
