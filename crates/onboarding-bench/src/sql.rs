//! Every statement the harness sends itself (the ledger and the projector send their own).

/// Creates `bench_raw_events` and its triggers (several statements: run with `raw_sql`).
pub(crate) const RAW_BASELINE: &str = include_str!("../sql/raw_baseline.sql");

/// One raw event row, autocommitted: the baseline of a command.
pub(crate) const RAW_INSERT: &str = "INSERT INTO bench_raw_events
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// The least a submission must write, autocommitted in one statement: its event row (as
/// [`RAW_INSERT`]), the `cip_id` claim and the identity's data key (the rows the ledger writes
/// with the event, into the real tables). The floor of a submission's cost without any of the
/// ledger's own work (deciding, sealing, checking facts).
pub(crate) const FLOOR_INSERT: &str = "WITH claim AS (
         INSERT INTO cip_claims (fingerprint, identity_id) VALUES ($8, $9)
     ),
     data_key AS (
         INSERT INTO identity_keys (identity_id, wrapped_key) VALUES ($9, $10)
     )
     INSERT INTO bench_raw_events
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// The size of the stored claim fingerprint and wrapped data key of the template's identity.
pub(crate) const CLAIM_AND_KEY_BYTES: &str =
    "SELECT octet_length(c.fingerprint), octet_length(k.wrapped_key)
       FROM cip_claims c JOIN identity_keys k USING (identity_id)
      LIMIT 1";

/// The columns `COPY` fills when generating events; the database fills the others.
pub(crate) const COPY_EVENTS: &str = "COPY events
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
     FROM STDIN";

/// The rows of one aggregate's template stream, in the order they were written.
pub(crate) const TEMPLATE_ROWS: &str = "SELECT aggregate_type, aggregate_id, sequence, event_type,
            event_version, payload::text AS payload, metadata::text AS metadata
       FROM events
      WHERE (aggregate_type, aggregate_id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
      ORDER BY event_id";

/// The raw baseline of catch-up: the projector's read of the log (as `PostgresLog::read_after`
/// and the projector's reader run it, less the hash column) without any sequencing call, in the
/// projector's catch-up batch size.
pub(crate) const RAW_READ_BATCH: &str = "SELECT l.position, e.recorded_at, e.aggregate_type,
            e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, e.metadata
       FROM event_log l
       JOIN events e ON e.event_id = l.event_id
      WHERE l.position > $1
      ORDER BY l.position
      LIMIT $2";

/// What autovacuum would do after a bulk load, so that the catch-up and its baseline both read
/// settled tables (hint bits set, statistics known).
pub(crate) const SETTLE_LOG: &str = "VACUUM (ANALYZE) events, event_log";

/// After a reset emptied the read models: clear the dead rows, as autovacuum would.
pub(crate) const SETTLE_READ_MODELS: &str = "VACUUM (ANALYZE)";

/// Whether the identity's row is in the `identity_status` read model.
pub(crate) const IDENTITY_VISIBLE: &str =
    "SELECT EXISTS (SELECT 1 FROM identity_status WHERE key = $1)";

/// The oldest open transaction of another session that has written (and so holds back every
/// log's sequencing horizon on this server).
pub(crate) const OLDEST_TRANSACTION: &str =
    "SELECT pid, coalesce(datname, ''), coalesce(state, ''),
            extract(epoch FROM now() - xact_start)::float8
       FROM pg_stat_activity
      WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
        AND (datname = current_database() OR datname IS NULL)
      ORDER BY age(backend_xid) DESC
      LIMIT 1";

/// The server's settings that shape the figures.
pub(crate) const SERVER_SETTINGS: &str = "SELECT current_setting('server_version'),
            current_setting('synchronous_commit'), current_setting('fsync'),
            current_setting('shared_buffers'), current_setting('wal_sync_method')";

/// Creates a throwaway database (the name is generated, never user input).
pub(crate) fn create_database(name: &str) -> String {
    format!("CREATE DATABASE \"{name}\"")
}

/// Drops a throwaway database, ending any session left on it.
pub(crate) fn drop_database(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
}
