package main

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestStopAndResumeAtAnotherParallelism(t *testing.T) {
	res, err := run(context.Background(), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.sofar <= 0 || res.sofar >= views {
		t.Fatalf("the savepoint holds %d views, want some but not all %d", res.sofar, views)
	}
	if len(res.final) != pages {
		t.Fatalf("final counts %v, want %d pages", res.final, pages)
	}
	for i, pc := range res.final {
		if want := (pageCount{fmt.Sprintf("page-%d", i), views / pages}); pc != want {
			t.Fatalf("got %+v, want %+v", pc, want)
		}
	}
}
