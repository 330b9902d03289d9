// Command orders joins orders with their shipments: a shipment matches an
// order of the same id when it happens between the order and two days
// after it (an event-time interval join). Orders that ship late or never
// simply find no match.
//
//	go run ./examples/orders
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
	"github.com/freshet-io/freshet/watermark"
)

// Order is a placed order.
type Order struct {
	ID     string
	Amount float64
	Time   int64 // ms since the epoch
}

// Shipment is an order leaving the warehouse.
type Shipment struct {
	OrderID string
	Carrier string
	Time    int64
}

// Shipped is an order with its shipment.
type Shipped struct {
	OrderID  string
	Amount   float64
	Carrier  string
	WaitedMs int64
}

func (s Shipped) String() string {
	return fmt.Sprintf("order %s (%.2f) shipped by %s after %s", s.OrderID, s.Amount, s.Carrier, time.Duration(s.WaitedMs)*time.Millisecond)
}

// ShipWithin is how long after an order its shipment may come.
const ShipWithin = 48 * time.Hour

// Join adds the order/shipment join.
func Join(orders *freshet.Stream[Order], shipments *freshet.Stream[Shipment]) *freshet.Stream[Shipped] {
	byOrder := freshet.KeyBy(orders, func(o Order) string { return o.ID })
	byShipment := freshet.KeyBy(shipments, func(s Shipment) string { return s.OrderID })
	j := freshet.IntervalJoin(byOrder, byShipment).Between(0, ShipWithin)
	return freshet.IntervalJoinApply(j, func(o Order, s Shipment) Shipped {
		return Shipped{OrderID: o.ID, Amount: o.Amount, Carrier: s.Carrier, WaitedMs: s.Time - o.Time}
	}).Name("Orders with shipments")
}

// Strategies give both streams event time, tolerating an hour of disorder.
func orderTimes() watermark.Strategy[Order] {
	return watermark.ForBoundedOutOfOrderness[Order](time.Hour).WithTimestampAssigner(func(o Order, _ int64) int64 { return o.Time })
}

func shipmentTimes() watermark.Strategy[Shipment] {
	return watermark.ForBoundedOutOfOrderness[Shipment](time.Hour).WithTimestampAssigner(func(s Shipment, _ int64) int64 { return s.Time })
}

func sample() ([]Order, []Shipment) {
	day := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) int64 { return day.Add(time.Duration(h) * time.Hour).UnixMilli() }
	orders := []Order{{"o1", 20, at(1)}, {"o2", 35.5, at(2)}, {"o3", 12, at(5)}, {"o4", 99, at(30)}}
	shipments := []Shipment{
		{"o2", "DHL", at(10)},
		{"o1", "UPS", at(49)}, // exactly 48 h after o1: inside the inclusive bound
		{"o3", "GLS", at(54)}, // 49 h after o3: too late
		{"o4", "UPS", at(31)},
	}
	return orders, shipments
}

func run(ctx context.Context) error {
	env := freshet.NewEnv(freshet.WithParallelism(2))
	orders, shipments := sample()
	o := freshet.FromSourceWithWatermarks(env, source.FromSlice(orders), orderTimes(), "Orders")
	s := freshet.FromSourceWithWatermarks(env, source.FromSlice(shipments), shipmentTimes(), "Shipments")
	Join(o, s).Print()
	return env.Execute(ctx, "Orders and shipments")
}

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}
