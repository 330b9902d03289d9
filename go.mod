module github.com/freshet-io/freshet

go 1.26.8

require (
	github.com/google/btree v1.1.3
	go.uber.org/goleak v1.3.0
	golang.org/x/time v0.16.0
)
