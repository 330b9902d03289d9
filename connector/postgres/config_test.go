package postgres_test

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/postgres"
)

// TestInvalidConfig: configurations Validate rejects, without a server.
func TestInvalidConfig(t *testing.T) {
	const d = "postgres://u@127.0.0.1:1/db"
	row := func(kv) ([]any, error) { return nil, nil }
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"no DSN", (&postgres.Sink[kv]{Table: "t", Columns: []string{"k"}, KeyColumns: []string{"k"}, Row: row}).Validate(), "no DSN"},
		{"bad DSN", (&postgres.Sink[kv]{DSN: "postgres://u@h:notaport/db", Table: "t", Columns: []string{"k"}, KeyColumns: []string{"k"}, Row: row}).Validate(), "parsing the DSN"},
		{"no table", (&postgres.Sink[kv]{DSN: d, Columns: []string{"k"}, KeyColumns: []string{"k"}, Row: row}).Validate(), "no table"},
		{"no row", (&postgres.Sink[kv]{DSN: d, Table: "t", Columns: []string{"k"}, KeyColumns: []string{"k"}}).Validate(), "no row function"},
		{"no keys", (&postgres.Sink[kv]{DSN: d, Table: "t", Columns: []string{"k"}, Row: row}).Validate(), "need key columns"},
		{"stray key", (&postgres.Sink[kv]{DSN: d, Table: "t", Columns: []string{"k"}, KeyColumns: []string{"x"}, Row: row}).Validate(), `key column "x"`},
		{"repeated column", (&postgres.Sink[kv]{DSN: d, Table: "t", Columns: []string{"k", "k"}, KeyColumns: []string{"k"}, Row: row}).Validate(), "repeated"},
		{"no prefix", (&postgres.Sink[kv]{DSN: d, Table: "t", Columns: []string{"k"}, Row: row, DeliveryGuarantee: postgres.ExactlyOnce}).Validate(), "transaction prefix"},
		{"bad guarantee", (&postgres.Sink[kv]{DSN: d, Table: "t", Columns: []string{"k"}, KeyColumns: []string{"k"}, Row: row, DeliveryGuarantee: 7}).Validate(), "unknown delivery guarantee"},
		{"source no query", (&postgres.Source[item]{DSN: d, Column: "id", Row: pgx.RowToStructByName[item]}).Validate(), "no query"},
		{"source bounds", (&postgres.Source[item]{DSN: d, Query: "SELECT 1", Column: "id", Lower: 2, Upper: 1, Row: pgx.RowToStructByName[item]}).Validate(), "above upper bound"},
		{"source no row", (&postgres.Source[item]{DSN: d, Query: "SELECT 1", Column: "id"}).Validate(), "no row function"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, postgres.ErrInvalidConfig) || !strings.Contains(tc.err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig saying %q", tc.err, tc.want)
			}
		})
	}
	// A DSN's password stays out of the error.
	err := (&postgres.Sink[kv]{DSN: "postgres://u:secret@h:notaport/db"}).Validate()
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Validate() = %v, want an error without the password", err)
	}
}

// TestJobErrors: jobs whose sink or source cannot start fail with an
// error that says why.
func TestJobErrors(t *testing.T) {
	d := dsn(t, dsnVar)
	p := pool(t, d)
	tbl := newTable(t, p, "k bigint PRIMARY KEY, v bigint NOT NULL")
	fast := postgres.Retry{Attempts: 3, Backoff: 10 * time.Millisecond}
	cases := []struct {
		name string
		snk  *postgres.Sink[kv]
		src  *postgres.Source[item]
		want string
		is   error
	}{
		{"missing table", &postgres.Sink[kv]{DSN: d, Table: "no_such_table", Columns: []string{"k", "v"}, KeyColumns: []string{"k"}, Row: kvRow},
			nil, `table no_such_table: relation "no_such_table" does not exist`, postgres.ErrInvalidConfig},
		{"missing column", &postgres.Sink[kv]{DSN: d, Table: tbl, Columns: []string{"k", "w"}, KeyColumns: []string{"k"}, Row: kvRow},
			nil, `column "w" does not exist`, postgres.ErrInvalidConfig},
		{"unreachable sink", &postgres.Sink[kv]{DSN: "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2", Table: tbl, Columns: []string{"k", "v"}, KeyColumns: []string{"k"}, Row: kvRow, Retry: fast},
			nil, "connecting to postgres at 127.0.0.1:1: giving up after 3 attempts", nil},
		{"unreachable source", nil, &postgres.Source[item]{DSN: "postgres://postgres@127.0.0.1:1/postgres", Query: "SELECT 1 AS id", Column: "id", Upper: 1, Row: pgx.RowToStructByName[item], Retry: fast},
			"connecting to postgres at 127.0.0.1:1: giving up after 3 attempts", nil},
		{"source without the column", nil, &postgres.Source[item]{DSN: d, Query: "SELECT 1 AS x", Column: "id", Upper: 1, Row: pgx.RowToStructByName[item]},
			`column "id" does not exist`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := quietEnv()
			if tc.snk != nil {
				freshet.SinkTo(freshet.FromElements(env, kv{1, 2}), tc.snk, "postgres")
			} else {
				freshet.Collect(freshet.FromSource(env, tc.src, "postgres"))
			}
			err := execute(t, env, "invalid").Wait()
			if err == nil || !strings.Contains(err.Error(), tc.want) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("job ended with %v, want an error saying %q", err, tc.want)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
}

// TestNoPreparedTransactions: an exactly-once sink on a server with
// max_prepared_transactions = 0 fails when its writer is created, naming
// the setting.
func TestNoPreparedTransactions(t *testing.T) {
	d := dsn(t, no2pcDSNVar)
	p := pool(t, d)
	tbl := newTable(t, p, "k bigint NOT NULL, v bigint NOT NULL")
	env := quietEnv()
	freshet.SinkTo(freshet.FromElements(env, kv{1, 2}), &postgres.Sink[kv]{
		DSN: d, Table: tbl, Columns: []string{"k", "v"}, Row: kvRow,
		DeliveryGuarantee: postgres.ExactlyOnce, TransactionPrefix: "no2pc",
	}, "postgres")
	err := execute(t, env, "no-2pc").Wait()
	if !errors.Is(err, postgres.ErrNoPreparedTransactions) || !strings.Contains(err.Error(), "max_prepared_transactions = 0") {
		t.Fatalf("job ended with %v, want ErrNoPreparedTransactions", err)
	}
}

// TestExample runs Example against the test server.
func TestExample(t *testing.T) {
	dsn(t, dsnVar)
	p := pool(t, dsn(t, dsnVar))
	t.Cleanup(func() { exec(t, p, "DROP TABLE IF EXISTS products, doubled") })
	out := captureStdout(t, Example)
	if want := "1000 products, prices summing to 100100000\n"; out != want {
		t.Fatalf("Example printed %q, want %q", out, want)
	}
}

// captureStdout returns what f prints to standard output.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() { os.Stdout = old }()
	f()
	w.Close()
	return <-done
}
