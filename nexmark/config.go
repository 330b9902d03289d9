package nexmark

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// The fixed parameters of Nexmark's generator.
const (
	// FirstPersonID is the id of the first person; ids count up from it.
	FirstPersonID = 1000
	// FirstAuctionID is the id of the first auction; ids count up from it.
	FirstAuctionID = 1000
	// FirstCategoryID is the first of the NumCategories auction categories.
	FirstCategoryID = 10
	// NumCategories is how many categories auctions fall into.
	NumCategories = 5

	// PersonProportion, AuctionProportion and BidProportion are how many
	// persons, auctions and bids every ProportionDenominator consecutive
	// events hold, in that order: event 50k is a person, events 50k+1 to
	// 50k+3 are auctions, and events 50k+4 to 50k+49 are bids.
	PersonProportion      = 1
	AuctionProportion     = 3
	BidProportion         = 46
	ProportionDenominator = PersonProportion + AuctionProportion + BidProportion

	// hotAuctionBatch, hotSellerBatch and hotBidderBatch: a hot auction
	// (seller, bidder) is the first (first, second) of the latest batch of
	// this many auctions (persons).
	hotAuctionBatch = 100
	hotSellerBatch  = 100
	hotBidderBatch  = 100
	// personIDLead and auctionIDLead let a random person or auction id
	// point a little beyond the last one generated.
	personIDLead  = 10
	auctionIDLead = 10
	// hotChannelsRatio: one bid in this many comes from a numbered channel,
	// the others from the four hot channels.
	hotChannelsRatio = 2
	numChannels      = 10_000
)

// Defaults of GeneratorConfig, Nexmark's own.
const (
	// DefaultFirstEventTime is the event time of event 0:
	// 2015-07-15T00:00:00Z, in ms since the epoch.
	DefaultFirstEventTime = 1_436_918_400_000
	// DefaultInterEventDelay is Nexmark's default first event rate of
	// 10,000 events per second of event time.
	DefaultInterEventDelay     = 100 * time.Microsecond
	DefaultSplitRun            = 1000
	DefaultNumActivePeople     = 1000
	DefaultNumInFlightAuctions = 100
	DefaultHotAuctionRatio     = 2
	DefaultHotSellersRatio     = 4
	DefaultHotBiddersRatio     = 4
	DefaultAvgPersonByteSize   = 200
	DefaultAvgAuctionByteSize  = 500
	DefaultAvgBidByteSize      = 100
)

// ErrInvalidConfig is wrapped by the errors of Validate.
var ErrInvalidConfig = errors.New("nexmark: invalid generator config")

// GeneratorConfig configures the event generator. A zero field takes its
// default, so GeneratorConfig{Events: 1e6} is a valid config.
type GeneratorConfig struct {
	// Seed selects one of many equally valid event sequences; event n of
	// a seed is always the same. Default 0.
	Seed uint64
	// Events is how many events the source emits, numbered 0 to Events-1;
	// 0 means unbounded.
	Events int64
	// Rate limits the whole source to this many events per second of
	// wall-clock time, shared equally by its readers; 0 means as fast as
	// possible.
	Rate float64
	// FirstEventTime is the event time of event 0, in ms since the epoch.
	// Default DefaultFirstEventTime.
	FirstEventTime int64
	// InterEventDelay is how far event time advances from one event to
	// the next: event n happens at FirstEventTime + n·InterEventDelay
	// (truncated to whole ms). Default DefaultInterEventDelay (100 µs).
	InterEventDelay time.Duration
	// SplitRun is how many consecutive event numbers a split reads before
	// it skips the runs of the other splits: split i of p reads runs i,
	// i+p, i+2p, …, so all readers advance through event time together.
	// Default DefaultSplitRun; a run as long as Events/p gives every split
	// one contiguous range.
	SplitRun int64
	// NumActivePeople is how many of the latest persons a random bidder
	// or seller is drawn from. Default 1000.
	NumActivePeople int64
	// NumInFlightAuctions is how many of the latest auctions a random bid
	// is for; it also sets the average auction length. Default 100.
	NumInFlightAuctions int64
	// HotAuctionRatio: all bids but one in HotAuctionRatio go to a hot
	// auction. Default 2.
	HotAuctionRatio int
	// HotSellersRatio: all auctions but one in HotSellersRatio are by a
	// hot seller. Default 4.
	HotSellersRatio int
	// HotBiddersRatio: all bids but one in HotBiddersRatio are by a hot
	// bidder. Default 4.
	HotBiddersRatio int
	// AvgPersonByteSize, AvgAuctionByteSize and AvgBidByteSize set the
	// average size of the events, padded with their Extra field.
	// Defaults 200, 500 and 100.
	AvgPersonByteSize, AvgAuctionByteSize, AvgBidByteSize int
	// Observe, when set, is called with the number and event time of every
	// ObserveEvery-th event (numbers that are multiples of it) just before
	// the event is emitted, from the readers' goroutines: a cheap hook for
	// latency probes. It must be safe for concurrent use.
	Observe func(eventNumber, eventTime int64)
	// ObserveEvery is how often Observe is called. Default 1000.
	ObserveEvery int64
}

// withDefaults returns c with its zero fields set to their defaults.
func (c GeneratorConfig) withDefaults() GeneratorConfig {
	set := func(p *int64, d int64) {
		if *p == 0 {
			*p = d
		}
	}
	seti := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	set(&c.FirstEventTime, DefaultFirstEventTime)
	if c.InterEventDelay == 0 {
		c.InterEventDelay = DefaultInterEventDelay
	}
	set(&c.SplitRun, DefaultSplitRun)
	set(&c.NumActivePeople, DefaultNumActivePeople)
	set(&c.NumInFlightAuctions, DefaultNumInFlightAuctions)
	set(&c.ObserveEvery, 1000)
	seti(&c.HotAuctionRatio, DefaultHotAuctionRatio)
	seti(&c.HotSellersRatio, DefaultHotSellersRatio)
	seti(&c.HotBiddersRatio, DefaultHotBiddersRatio)
	seti(&c.AvgPersonByteSize, DefaultAvgPersonByteSize)
	seti(&c.AvgAuctionByteSize, DefaultAvgAuctionByteSize)
	seti(&c.AvgBidByteSize, DefaultAvgBidByteSize)
	return c
}

// Validate reports the first invalid field of c, wrapping ErrInvalidConfig.
// Zero fields are valid: they take their defaults.
func (c GeneratorConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case c.Events < 0:
		return bad("Events must be >= 0 (0 for unbounded), got %d", c.Events)
	case math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate < 0:
		return bad("Rate must be a finite number >= 0 (0 for unlimited), got %v", c.Rate)
	case c.FirstEventTime < 0:
		return bad("FirstEventTime must be >= 0, got %d", c.FirstEventTime)
	case c.InterEventDelay < 0:
		return bad("InterEventDelay must be >= 0, got %v", c.InterEventDelay)
	case c.SplitRun < 0:
		return bad("SplitRun must be >= 0, got %d", c.SplitRun)
	case c.NumActivePeople < 0:
		return bad("NumActivePeople must be >= 0, got %d", c.NumActivePeople)
	case c.NumInFlightAuctions < 0:
		return bad("NumInFlightAuctions must be >= 0, got %d", c.NumInFlightAuctions)
	case c.HotAuctionRatio < 0 || c.HotSellersRatio < 0 || c.HotBiddersRatio < 0:
		return bad("hot ratios must be >= 0, got auctions %d, sellers %d, bidders %d",
			c.HotAuctionRatio, c.HotSellersRatio, c.HotBiddersRatio)
	case c.AvgPersonByteSize < 0 || c.AvgAuctionByteSize < 0 || c.AvgBidByteSize < 0:
		return bad("average byte sizes must be >= 0, got person %d, auction %d, bid %d",
			c.AvgPersonByteSize, c.AvgAuctionByteSize, c.AvgBidByteSize)
	case c.ObserveEvery < 0:
		return bad("ObserveEvery must be >= 0, got %d", c.ObserveEvery)
	}
	return nil
}
