package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrInvalidConfig is wrapped by the errors of a source or sink configured
// wrongly: a missing field, a DSN that does not parse, a table or column
// the database does not have.
var ErrInvalidConfig = errors.New("freshet: invalid postgres configuration")

// ErrNoPreparedTransactions is wrapped by the error of an ExactlyOnce sink
// whose server has max_prepared_transactions set to 0, which disables
// PREPARE TRANSACTION.
var ErrNoPreparedTransactions = errors.New("freshet: postgres server has max_prepared_transactions = 0; exactly-once needs it above 0 (set it in postgresql.conf and restart the server)")

// Retry is how a sink or source retries an operation that failed with a
// transient error: a lost or refused connection, a serialization failure
// or deadlock (SQLSTATE 40001, 40P01), a server shutting down or starting
// (57P01–57P03), too many connections (53300). Other errors are not
// retried. The zero value means DefaultRetry.
type Retry struct {
	// Attempts is how many times an operation is tried in all; 1 never
	// retries.
	Attempts int
	// Backoff is the wait before the first retry; it doubles after every
	// retry, up to MaxBackoff (DefaultRetry's when 0).
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// DefaultRetry tries 6 times over about 3 seconds.
var DefaultRetry = Retry{Attempts: 6, Backoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}

func (r Retry) orDefault() Retry {
	if r == (Retry{}) {
		return DefaultRetry
	}
	if r.Attempts < 1 {
		r.Attempts = 1
	}
	if r.Backoff <= 0 {
		r.Backoff = DefaultRetry.Backoff
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = DefaultRetry.MaxBackoff
	}
	r.MaxBackoff = max(r.MaxBackoff, r.Backoff)
	return r
}

// do runs f until it succeeds, fails with an error that is not transient,
// or has been tried r.Attempts times; the last error then says how many.
func (r Retry) do(ctx context.Context, f func(context.Context) error) error {
	r = r.orDefault()
	wait := r.Backoff
	for i := 1; ; i++ {
		err := f(ctx)
		if err == nil || !Transient(err) || ctx.Err() != nil {
			return err
		}
		if i >= r.Attempts {
			return fmt.Errorf("giving up after %d attempts: %w", i, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, r.MaxBackoff)
	}
}

// Transient reports whether err is worth retrying: a connection that
// failed or was lost, or a server error whose SQLSTATE says that the same
// statement may succeed later (serialization failure, deadlock, server
// shutdown or start-up, too many connections, any connection exception).
// Cancellations are not transient.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "57P01", "57P02", "57P03", "53300":
			return true
		}
		return strings.HasPrefix(pe.Code, "08")
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "conn closed")
}

// parseDSN parses a connection string into a pool configuration of at
// most maxConns connections.
func parseDSN(dsn string, maxConns int32) (*pgxpool.Config, error) {
	if dsn == "" {
		return nil, errors.New("no DSN")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may quote the DSN, password included.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("parsing the DSN: %w", pe.Unwrap())
		}
		return nil, errors.New("parsing the DSN")
	}
	cfg.MaxConns = maxConns
	cfg.MinConns = 0
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "freshet"
	}
	return cfg, nil
}

// address is the host:port a pool configuration connects to.
func address(cfg *pgxpool.Config) string {
	h := cfg.ConnConfig.Host
	if strings.HasPrefix(h, "/") {
		return h
	}
	return net.JoinHostPort(h, strconv.Itoa(int(cfg.ConnConfig.Port)))
}

// connect opens a pool and checks, with retries, that the server answers.
func connect(ctx context.Context, cfg *pgxpool.Config, r Retry) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to postgres at %s: %w", address(cfg), err)
	}
	if err := r.do(ctx, pool.Ping); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to postgres at %s: %w", address(cfg), err)
	}
	return pool, nil
}

// table quotes a table name, "name" or "schema.name".
func table(name string) string { return pgx.Identifier(strings.Split(name, ".")).Sanitize() }

// ident quotes a column name.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// checkColumns checks that table has columns, with a query that reads no
// row.
func checkColumns(ctx context.Context, pool *pgxpool.Pool, tbl string, cols []string, r Retry) error {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = ident(c)
	}
	sql := "SELECT " + strings.Join(q, ", ") + " FROM " + table(tbl) + " LIMIT 0"
	err := r.do(ctx, func(ctx context.Context) error {
		rows, err := pool.Query(ctx, sql)
		if err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "42703" || pe.Code == "3F000") {
		return fmt.Errorf("%w: table %s: %s", ErrInvalidConfig, tbl, pe.Message)
	}
	if err != nil {
		return fmt.Errorf("checking table %s: %w", tbl, err)
	}
	return nil
}
