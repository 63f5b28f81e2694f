//! Where a run happens: CPUs, load, and the server settings the figures depend on.

use sqlx::{PgPool, Row};

use crate::error::BenchError;
use crate::report::Machine;
use crate::sql;

/// The machine and server as they are at the start of a run.
pub(crate) async fn describe(pool: &PgPool) -> Result<Machine, BenchError> {
    let row = sqlx::query(sql::SERVER_SETTINGS).fetch_one(pool).await?;
    Ok(Machine {
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        load_average: [load_average(), 0.0],
        server_version: row.try_get(0)?,
        synchronous_commit: row.try_get(1)?,
        fsync: row.try_get(2)?,
        shared_buffers: row.try_get(3)?,
        wal_sync_method: row.try_get(4)?,
    })
}

/// The 1-minute load average (0 where `/proc/loadavg` is missing).
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}
