package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/connector/connectortest"
	"github.com/freshet-io/freshet/connector/postgres"
)

// recordRow is the row (p, seq) of a record, refusing those bad says are
// bad.
func recordRow(bad func(connectortest.Record) bool) func(connectortest.Record) ([]any, error) {
	return func(r connectortest.Record) ([]any, error) {
		if bad(r) {
			return nil, connectortest.ErrBadRecord
		}
		return []any{r.Partition, r.Seq}, nil
	}
}

// TestSinkConformance runs the connectors' conformance suite on both
// sinks. The exactly-once table numbers its rows as they are inserted
// (bigserial), so reading back in that order shows each partition's
// order; the upsert table keys rows by (p, seq).
func TestSinkConformance(t *testing.T) {
	for _, g := range []postgres.DeliveryGuarantee{postgres.ExactlyOnce, postgres.AtLeastOnce} {
		t.Run(g.String(), func(t *testing.T) {
			d := dsn(t, dsnVar)
			p := pool(t, d)
			guarantee := connectortest.ExactlyOnce
			if g == postgres.AtLeastOnce {
				guarantee = connectortest.AtLeastOnce
			}
			connectortest.RunSink(t, connectortest.Sink{
				Guarantee: guarantee,
				Ordered:   g == postgres.ExactlyOnce,
				Setup: func(t *testing.T) connectortest.SinkScenario {
					cols := "n bigserial, p int NOT NULL, seq bigint NOT NULL"
					if g == postgres.AtLeastOnce {
						cols += ", PRIMARY KEY (p, seq)"
					}
					tbl := newTable(t, p, cols)
					return connectortest.SinkScenario{
						Restart: restarter(p),
						Attach: func(s *freshet.Stream[connectortest.Record], bad func(connectortest.Record) bool) {
							snk := &postgres.Sink[connectortest.Record]{
								DSN: d, Table: tbl, Columns: []string{"p", "seq"}, Row: recordRow(bad),
								DeliveryGuarantee: g, TransactionPrefix: "conformance-" + tbl, BatchSize: 50,
							}
							if g == postgres.AtLeastOnce {
								snk.KeyColumns = []string{"p", "seq"}
							}
							freshet.SinkTo(s, snk, "postgres").UID("postgres")
						},
						ReadBack: func(t *testing.T) []connectortest.Record {
							rows, err := p.Query(context.Background(), "SELECT p, seq FROM "+tbl+" ORDER BY p, n")
							if err != nil {
								t.Fatal(err)
							}
							out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[connectortest.Record])
							if err != nil {
								t.Fatal(err)
							}
							return out
						},
					}
				},
			})
		})
	}
}

// TestSourceConformance runs the connectors' conformance suite on the
// source, reading a table of (id, payload) rows in 3 ranges of id.
// Ranges are read in parallel, so a partition's records are not in
// order.
func TestSourceConformance(t *testing.T) {
	d := dsn(t, dsnVar)
	p := pool(t, d)
	connectortest.RunSource(t, connectortest.Source{
		Partitions: 3,
		Guarantee:  connectortest.ExactlyOnce,
		Setup: func(t *testing.T) connectortest.SourceScenario {
			tbl := newTable(t, p, "id bigserial PRIMARY KEY, p int NOT NULL, payload bytea NOT NULL")
			return connectortest.SourceScenario{
				Restart: restarter(p),
				Publish: func(t *testing.T, partition int, payloads [][]byte) {
					exec(t, p, "INSERT INTO "+tbl+" (p, payload) SELECT $1, unnest($2::bytea[])", partition, payloads)
				},
				Stream: func(env *freshet.Env) *freshet.Stream[connectortest.Record] {
					var upper int64
					if err := p.QueryRow(context.Background(), "SELECT coalesce(max(id), 0) FROM "+tbl).Scan(&upper); err != nil {
						t.Fatal(err)
					}
					return freshet.FromSource(env, &postgres.Source[connectortest.Record]{
						DSN: d, Query: "SELECT id, payload FROM " + tbl, Column: "id",
						Lower: 1, Upper: max(upper, 1), Splits: 3, FetchSize: 100,
						Row: func(row pgx.CollectableRow) (connectortest.Record, error) {
							var id int64
							var payload []byte
							if err := row.Scan(&id, &payload); err != nil {
								return connectortest.Record{}, err
							}
							return connectortest.Decode(payload)
						},
					}, "postgres").UID("postgres")
				},
			}
		},
	})
}
