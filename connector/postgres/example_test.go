package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/postgres"
)

type product struct {
	ID    int64
	Name  string
	Price int64
}

// One job reads a products table in 4 ranges of its id and upserts the
// products with their prices doubled into another table, exactly once,
// in prepared transactions committed at each checkpoint. It needs a
// server (run `sh scripts/postgres.sh`), so the example is compiled but
// not run by go test; TestExample runs it.
func Example() {
	dsn := os.Getenv("FRESHET_POSTGRES_DSN") // postgres://postgres@127.0.0.1:54329/postgres?sslmode=disable
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
		DROP TABLE IF EXISTS products, doubled;
		CREATE TABLE products (id bigint PRIMARY KEY, name text NOT NULL, price bigint NOT NULL);
		CREATE TABLE doubled (id bigint PRIMARY KEY, name text NOT NULL, price bigint NOT NULL);
		INSERT INTO products SELECT i, 'product-' || i, i * 100 FROM generate_series(1, 1000) AS i`)
	if err != nil {
		fmt.Println(err)
		return
	}

	checkpoints, _ := os.MkdirTemp("", "checkpoints")
	defer os.RemoveAll(checkpoints)
	env := freshet.NewEnv(freshet.WithParallelism(2), freshet.WithLogger(slog.New(slog.DiscardHandler)),
		freshet.WithCheckpointing(100*time.Millisecond, freshet.CheckpointStorage(checkpoints)))
	products := freshet.FromSource(env, &postgres.Source[product]{
		DSN: dsn, Query: "SELECT id, name, price FROM products", Column: "id",
		Lower: 1, Upper: 1000, Splits: 4, Row: pgx.RowToStructByName[product],
	}, "products").UID("products")
	doubled := freshet.Map(products, func(p product) product { p.Price *= 2; return p })
	freshet.SinkTo(freshet.KeyBy(doubled, func(p product) int64 { return p.ID }).Stream(), &postgres.Sink[product]{
		DSN: dsn, Table: "doubled", Columns: []string{"id", "name", "price"}, KeyColumns: []string{"id"},
		Row:               func(p product) ([]any, error) { return []any{p.ID, p.Name, p.Price}, nil },
		DeliveryGuarantee: postgres.ExactlyOnce, TransactionPrefix: "example",
	}, "doubled").UID("doubled")
	if err := env.Execute(ctx, "double-prices"); err != nil {
		fmt.Println(err)
		return
	}

	var n, sum int64
	if err := conn.QueryRow(ctx, "SELECT count(*), sum(price) FROM doubled").Scan(&n, &sum); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n, "products, prices summing to", sum)
	// Prints: 1000 products, prices summing to 100100000
}
