//! Throwaway databases: created on the server of the given URL, migrated, dropped after use.

use std::time::Duration;

use onboarding_store::postgres::MIGRATOR;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::error::BenchError;
use crate::options::BenchOptions;
use crate::sql;

/// Runs `measure` on a fresh throwaway database for `section`, then drops the database, whether
/// `measure` succeeded, failed, or was stopped by [`BenchOptions::stop`] (which ends it at its
/// next await: every open session is ended by the drop).
pub(crate) async fn on_scratch<T>(
    options: &BenchOptions,
    section: &str,
    measure: impl AsyncFnOnce(&ScratchDatabase) -> Result<T, BenchError>,
) -> Result<T, BenchError> {
    if options.stop.is_cancelled() {
        return Err(BenchError::Interrupted);
    }
    let db = ScratchDatabase::create(&options.database_url, section).await?;
    options.say(&format!("{section}: working in database {}", db.name));
    let measured = tokio::select! {
        measured = measure(&db) => measured,
        () = options.stop.cancelled() => Err(BenchError::Interrupted),
    };
    db.drop().await;
    measured
}

/// A database that exists only for one benchmark section.
pub(crate) struct ScratchDatabase {
    server: PgConnectOptions,
    name: String,
}

impl ScratchDatabase {
    /// Creates and migrates `onboarding_bench_<random>_<section>` on the server of `url`.
    pub(crate) async fn create(url: &str, section: &str) -> Result<Self, BenchError> {
        let server: PgConnectOptions = url.parse()?;
        let random = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("onboarding_bench_{}_{section}", &random[..12]);
        let mut admin = PgConnection::connect_with(&server).await?;
        sqlx::query(&sql::create_database(&name))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let db = Self { server, name };
        let pool = db.pool(1).await?;
        let migrated = MIGRATOR.run(&pool).await;
        pool.close().await;
        if let Err(e) = migrated {
            db.drop().await;
            return Err(BenchError::Store(onboarding_store::StoreError::Migration(
                e.to_string(),
            )));
        }
        Ok(db)
    }

    /// A pool of up to `size` connections on the database, every session committing
    /// synchronously (whatever the server's default).
    pub(crate) async fn pool(&self, size: u32) -> Result<PgPool, BenchError> {
        self.pool_committing(size, true).await
    }

    /// A pool whose sessions commit synchronously or not.
    pub(crate) async fn pool_committing(
        &self,
        size: u32,
        synchronous: bool,
    ) -> Result<PgPool, BenchError> {
        let options = self
            .server
            .clone()
            .database(&self.name)
            .options([("synchronous_commit", if synchronous { "on" } else { "off" })]);
        Ok(PgPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?)
    }

    /// Drops the database (best effort: a failure is logged, the figures stand).
    pub(crate) async fn drop(self) {
        let dropped = async {
            let mut admin = PgConnection::connect_with(&self.server).await?;
            sqlx::query(&sql::drop_database(&self.name))
                .execute(&mut admin)
                .await?;
            admin.close().await
        }
        .await;
        if let Err(e) = dropped {
            tracing::warn!(database = %self.name, error = %e, "could not drop the throwaway database");
        }
    }
}
