package nexmark

import "fmt"

// Person is a user of the auction site: a seller or a bidder.
type Person struct {
	ID           int64
	Name         string
	EmailAddress string
	CreditCard   string
	City         string
	State        string
	DateTime     int64 // event time, ms since the epoch
	Extra        string
}

// Auction is an item put up for sale by a seller.
type Auction struct {
	ID          int64
	ItemName    string
	Description string
	InitialBid  int64 // cents
	Reserve     int64 // cents; a winning bid must reach it
	DateTime    int64 // event time the auction opened, ms since the epoch
	Expires     int64 // event time the auction closes, ms since the epoch
	Seller      int64 // a Person.ID
	Category    int64
	Extra       string
}

// Bid is an offer for an auction.
type Bid struct {
	Auction  int64 // an Auction.ID
	Bidder   int64 // a Person.ID
	Price    int64 // cents
	Channel  string
	URL      string
	DateTime int64 // event time, ms since the epoch
	Extra    string
}

// Kind tells which of its three fields an Event holds.
type Kind uint8

// The kinds of events.
const (
	KindPerson Kind = iota
	KindAuction
	KindBid
)

func (k Kind) String() string {
	switch k {
	case KindPerson:
		return "person"
	case KindAuction:
		return "auction"
	case KindBid:
		return "bid"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Event is one generated event: exactly one of Person, Auction and Bid is
// set, the one Kind names. Time is its event time in ms since the epoch
// (the DateTime of what it holds). Events are shared between operators:
// queries read them and never change them.
type Event struct {
	Kind    Kind
	Time    int64
	Person  *Person
	Auction *Auction
	Bid     *Bid
}
