module github.com/freshet-io/freshet

go 1.26.8
