package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
)

func TestJoin(t *testing.T) {
	for _, p := range []int{1, 2} {
		env := freshet.NewEnv(freshet.WithParallelism(p))
		orders, shipments := sample()
		o := freshet.FromSourceWithWatermarks(env, source.FromSlice(orders), orderTimes(), "Orders")
		s := freshet.FromSourceWithWatermarks(env, source.FromSlice(shipments), shipmentTimes(), "Shipments")
		got := freshet.Collect(Join(o, s))
		if err := env.Execute(context.Background(), "orders"); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, v := range got.Values() {
			lines = append(lines, v.String())
		}
		slices.Sort(lines)
		want := []string{
			"order o1 (20.00) shipped by UPS after 48h0m0s",
			"order o2 (35.50) shipped by DHL after 8h0m0s",
			"order o4 (99.00) shipped by UPS after 1h0m0s",
		}
		if !slices.Equal(lines, want) {
			t.Errorf("p=%d:\n%s\nwant\n%s", p, strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestRun(t *testing.T) {
	if err := run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
