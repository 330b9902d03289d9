package main

import (
	"bytes"
	"context"
	"testing"
)

// TestRun runs the example on an in-process cluster and checks what it
// prints: every user's views per one-minute window, read back from the
// output topic with read_committed isolation.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatal(err)
	}
	want := `12:00-12:01 alice 2
12:00-12:01 bob   2
12:00-12:01 carol 5
12:01-12:02 alice 2
12:01-12:02 bob   4
12:01-12:02 carol 3
12:02-12:03 alice 2
12:02-12:03 bob   4
12:02-12:03 carol 2
12:03-12:04 carol 4
`
	if out.String() != want {
		t.Fatalf("printed\n%s\nwant\n%s", out.String(), want)
	}
}
