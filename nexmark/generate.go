package nexmark

import (
	"math"
	"math/bits"
	"strconv"
	"strings"
	"sync"
)

// The value sets of Nexmark's generator.
var (
	usStates   = []string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = []string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = []string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = []string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	// HotChannels are the channels half of the bids come from; the others
	// come from "channel-0" to "channel-9999".
	HotChannels = []string{"Google", "Facebook", "Baidu", "Apple"}
)

// eventGen computes events from their numbers: a pure function of the
// (defaulted) config and the number, safe for concurrent use.
type eventGen struct {
	cfg     GeneratorConfig
	delayNs int64
	// auctionHorizon is how many events it takes to generate
	// NumInFlightAuctions auctions: the average auction length.
	auctionHorizon int64
}

func newEventGen(cfg GeneratorConfig) *eventGen {
	cfg = cfg.withDefaults()
	return &eventGen{
		cfg:            cfg,
		delayNs:        cfg.InterEventDelay.Nanoseconds(),
		auctionHorizon: cfg.NumInFlightAuctions * ProportionDenominator / AuctionProportion,
	}
}

// timeOf is event n's event time in ms.
func (g *eventGen) timeOf(n int64) int64 {
	return g.cfg.FirstEventTime + n*g.delayNs/1_000_000
}

// KindOf returns the kind of event number n: the position of n in its block
// of ProportionDenominator events decides.
func KindOf(n int64) Kind {
	switch off := n % ProportionDenominator; {
	case off < PersonProportion:
		return KindPerson
	case off < PersonProportion+AuctionProportion:
		return KindAuction
	}
	return KindBid
}

// lastPerson is the base-0 id of the last person generated at or before
// event n.
func lastPerson(n int64) int64 {
	epoch, off := n/ProportionDenominator, n%ProportionDenominator
	if off >= PersonProportion {
		off = PersonProportion - 1
	}
	return epoch*PersonProportion + off
}

// lastAuction is the base-0 id of the last auction generated at or before
// event n (-1 before the first).
func lastAuction(n int64) int64 {
	epoch, off := n/ProportionDenominator, n%ProportionDenominator
	switch {
	case off < PersonProportion:
		epoch--
		off = AuctionProportion - 1
	case off >= PersonProportion+AuctionProportion:
		off = AuctionProportion - 1
	default:
		off -= PersonProportion
	}
	return epoch*AuctionProportion + off
}

// randomPerson is the base-0 id of a random recent person, possibly one a
// little ahead of the last generated.
func (g *eventGen) randomPerson(n int64, r *rng) int64 {
	people := lastPerson(n) + 1
	active := min(people, g.cfg.NumActivePeople)
	return people - active + r.intn(active+personIDLead)
}

// randomAuction is the base-0 id of a random auction likely still open,
// possibly one a little ahead of the last generated.
func (g *eventGen) randomAuction(n int64, r *rng) int64 {
	last := max(lastAuction(n), 0)
	first := max(last-g.cfg.NumInFlightAuctions, 0)
	return first + r.intn(last-first+1+auctionIDLead)
}

// Event returns event number n.
func (g *eventGen) Event(n int64) Event {
	r := newRNG(g.cfg.Seed, n)
	t := g.timeOf(n)
	switch KindOf(n) {
	case KindPerson:
		return Event{Kind: KindPerson, Time: t, Person: g.person(n, t, &r)}
	case KindAuction:
		return Event{Kind: KindAuction, Time: t, Auction: g.auction(n, t, &r)}
	}
	return Event{Kind: KindBid, Time: t, Bid: g.bid(n, t, &r)}
}

func (g *eventGen) person(n, t int64, r *rng) *Person {
	p := &Person{
		ID:           lastPerson(n) + FirstPersonID,
		Name:         firstNames[r.intn(int64(len(firstNames)))] + " " + lastNames[r.intn(int64(len(lastNames)))],
		EmailAddress: r.str(7) + "@" + r.str(5) + ".com",
		CreditCard:   r.creditCard(),
		City:         usCities[r.intn(int64(len(usCities)))],
		State:        usStates[r.intn(int64(len(usStates)))],
		DateTime:     t,
	}
	size := 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State)
	p.Extra = r.extra(size, g.cfg.AvgPersonByteSize)
	return p
}

func (g *eventGen) auction(n, t int64, r *rng) *Auction {
	a := &Auction{ID: lastAuction(n) + FirstAuctionID, DateTime: t}
	if r.intn(int64(g.cfg.HotSellersRatio)) > 0 {
		// The first person of the latest batch of hotSellerBatch.
		a.Seller = lastPerson(n) / hotSellerBatch * hotSellerBatch
	} else {
		a.Seller = g.randomPerson(n, r)
	}
	a.Seller += FirstPersonID
	a.Category = FirstCategoryID + r.intn(NumCategories)
	a.InitialBid = r.price()
	// Auctions last 1 ms to twice the time it takes to open
	// NumInFlightAuctions more, so that about that many are open at once.
	horizon := g.timeOf(n+g.auctionHorizon) - t
	a.Expires = t + 1 + r.intn(max(2*horizon, 1))
	a.ItemName = r.str(20)
	a.Description = r.str(100)
	a.Reserve = a.InitialBid + r.price()
	a.Extra = r.extra(8+len(a.ItemName)+len(a.Description)+5*8, g.cfg.AvgAuctionByteSize)
	return a
}

func (g *eventGen) bid(n, t int64, r *rng) *Bid {
	b := &Bid{DateTime: t}
	if r.intn(int64(g.cfg.HotAuctionRatio)) > 0 {
		// The first auction of the latest batch of hotAuctionBatch.
		b.Auction = max(lastAuction(n), 0) / hotAuctionBatch * hotAuctionBatch
	} else {
		b.Auction = g.randomAuction(n, r)
	}
	b.Auction += FirstAuctionID
	if r.intn(int64(g.cfg.HotBiddersRatio)) > 0 {
		// The second person of the latest batch, so hot bidders are not
		// hot sellers.
		b.Bidder = lastPerson(n)/hotBidderBatch*hotBidderBatch + 1
	} else {
		b.Bidder = g.randomPerson(n, r)
	}
	b.Bidder += FirstPersonID
	b.Price = r.price()
	if r.intn(hotChannelsRatio) > 0 {
		i := r.intn(int64(len(HotChannels)))
		b.Channel, b.URL = HotChannels[i], hotURLs()[i]
	} else {
		c := &channelTable()[r.intn(numChannels)]
		b.Channel, b.URL = c.name, c.url
	}
	b.Extra = r.extra(4*8, g.cfg.AvgBidByteSize)
	return b
}

type channel struct{ name, url string }

// channelTable is the numbered channels and their URLs, the same for every
// seed: nine in ten URLs end in a channel_id parameter.
var channelTable = sync.OnceValue(func() []channel {
	cs := make([]channel, numChannels)
	for i := range cs {
		r := newRNG(0x6368616e6e656c, int64(i)) // "channel"
		cs[i].name = "channel-" + strconv.Itoa(i)
		cs[i].url = baseURL(&r)
		if r.intn(10) > 0 {
			cs[i].url += "&channel_id=" + strconv.FormatInt(int64(math.Abs(float64(int32(bits.Reverse32(uint32(i)))))), 10)
		}
	}
	return cs
})

var hotURLs = sync.OnceValue(func() []string {
	us := make([]string, len(HotChannels))
	for i := range us {
		r := newRNG(0x686f74, int64(i)) // "hot"
		us[i] = baseURL(&r)
	}
	return us
})

func baseURL(r *rng) string {
	return "https://www.nexmark.com/" + r.exact(5) + "/" + r.exact(5) + "/" + r.exact(5) + "/item.htm?query=1"
}

// rng is a splitmix64 generator. Every event has its own, seeded from the
// config's seed and the event's number, so any event can be generated
// without the ones before it.
type rng struct{ s uint64 }

func newRNG(seed uint64, n int64) rng {
	r := rng{s: seed ^ (uint64(n) * 0xd1342543de82ef95)}
	r.next()
	return r
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n), or 0 when n <= 0.
func (r *rng) intn(n int64) int64 {
	if n <= 0 {
		return 0
	}
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int64(hi)
}

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// price is Nexmark's price distribution: 10^(6u) dollars for a uniform u,
// in cents, so from $1 to $1,000,000 with every order of magnitude equally
// likely.
func (r *rng) price() int64 { return int64(math.Round(math.Pow(10, r.float()*6) * 100)) }

// str returns a random string of lowercase letters and some spaces, 3 to
// maxLen bytes long.
func (r *rng) str(maxLen int) string {
	n := 3 + int(r.intn(int64(maxLen-2)))
	return r.letters(n, true)
}

// exact returns a random string of n lowercase letters.
func (r *rng) exact(n int) string { return r.letters(n, false) }

func (r *rng) letters(n int, spaces bool) string {
	var b strings.Builder
	b.Grow(n)
	var x uint64
	for i := range n {
		if i%8 == 0 {
			x = r.next()
		}
		c := byte(x)
		x >>= 8
		if spaces && c%13 == 0 && i > 0 && i < n-1 {
			b.WriteByte(' ')
		} else {
			b.WriteByte('a' + c%26)
		}
	}
	return b.String()
}

// extra pads an event of size bytes to about avg bytes on average: a
// string of avg-size ± 20% letters, or "" for events already as large.
func (r *rng) extra(size, avg int) string {
	if size > avg {
		return ""
	}
	want := avg - size
	delta := int(math.Round(float64(want) * 0.2))
	n := want - delta
	if delta > 0 {
		n += int(r.intn(int64(2 * delta)))
	}
	return r.exact(n)
}

func (r *rng) creditCard() string {
	var b strings.Builder
	b.Grow(19)
	for i := range 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		d := r.intn(10000)
		s := strconv.FormatInt(d, 10)
		b.WriteString("0000"[len(s):])
		b.WriteString(s)
	}
	return b.String()
}
