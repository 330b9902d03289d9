// Package postgres connects Freshet jobs to PostgreSQL with the pgx driver
// (github.com/jackc/pgx/v5).
//
// Sink writes one row per record, with the values a Row function makes
// for the sink's columns, under one of two guarantees:
//
//   - AtLeastOnce (the default): multi-row upserts, INSERT … ON CONFLICT
//     (KeyColumns) DO UPDATE, sent when a batch is full, on the first
//     write after FlushInterval, at every checkpoint and at the end of
//     input. A failure replays the records after the last checkpoint,
//     whose upserts leave the table as one pass would: the table is
//     effectively exactly once for a deterministic replay.
//   - ExactlyOnce: the rows between two checkpoints are written in one
//     transaction per subtask, prepared with PREPARE TRANSACTION at the
//     checkpoint and committed with COMMIT PREPARED when the checkpoint
//     completes (sink.TwoPhaseCommit). Readers see every record once.
//     The server needs max_prepared_transactions > 0. After a restore,
//     at any parallelism, what the restored checkpoint holds is
//     committed and every other prepared transaction of the sink is
//     rolled back (see Sink).
//
// Source is a bounded scan of a query, partitioned like Flink's JDBC
// source on an integer column into ranges read in parallel, each in pages
// ordered by the column; a range's position in checkpoints is the next
// value to read, so a restored job reads every row once into its state.
//
// Transient errors (a lost or refused connection, a serialization failure
// or deadlock, a server restarting; see Transient) are retried with an
// exponential back-off (Retry): the upsert of a batch, the commit and
// rollback of prepared transactions, a source's page, and connecting.
// Writing into an open transaction is not: its failure fails the job,
// which restarts from its last checkpoint.
//
// Limits: the sinks' configurations are checked when a writer is created
// (the sink API has no hook when the job is built; call Validate to check
// earlier). An idle upsert sink sends its partial batch at the next
// checkpoint, not on a timer. Source's partition column must be unique,
// and rows outside its bounds are not read.
//
// A job that fails for good leaves its prepared transactions for a restore
// to commit, holding their locks until a job with the same prefix starts,
// at any parallelism (resumed from a checkpoint it commits what that holds
// and rolls back the rest; started afresh it rolls back all), or someone
// ends them.
//
// The tests need a server: scripts/postgres.sh installs PostgreSQL from
// Debian's packages, starts it and prints FRESHET_POSTGRES_DSN; tests skip
// without it. They include the connectors' conformance suite.
package postgres
