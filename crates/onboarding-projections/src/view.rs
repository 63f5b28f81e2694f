//! Views: read models made of one JSON row per key, the easy way to build a read model.
//!
//! A [`View`] says which rows an event touches ([`View::keys`]) and how it changes each
//! ([`View::apply`]), as pure code. The runtime does the rest, the same way for every view:
//! it loads the touched rows of a whole batch at once, applies the batch in log order, and writes
//! the changed rows back together with the checkpoint, in one transaction. On PostgreSQL a view
//! lives in a table named like the view (`key text PRIMARY KEY, row jsonb, position bigint`,
//! created if missing); on the embedded store, in memory.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::PgConnection;

use crate::error::ProjectionError;
use crate::event::ProjectedEvent;
use crate::projection::Projection;

/// A read model of JSON rows keyed by text.
pub trait View: Send + Sync + 'static {
    /// One row.
    type Row: Serialize + DeserializeOwned + Clone + Send + Sync;

    /// The view's name: its checkpoint name and its table name (lower case letters, digits and
    /// `_`, starting with a letter). A stored name: never rename a view casually.
    fn name(&self) -> &'static str;

    /// The keys of the rows `event` changes (none for events the view ignores).
    fn keys(&self, event: &ProjectedEvent) -> Vec<String>;

    /// Changes the row at `key` (absent: `None`; set it to `None` to delete the row).
    fn apply(
        &self,
        key: &str,
        row: &mut Option<Self::Row>,
        event: &ProjectedEvent,
    ) -> Result<(), String>;
}

/// Checks that a view name is a safe SQL identifier.
pub(crate) fn check_name(name: &str) -> Result<(), ProjectionError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63;
    if ok {
        Ok(())
    } else {
        Err(ProjectionError::Apply {
            position: 0,
            message: format!("view name {name:?} is not a lower-case SQL identifier"),
        })
    }
}

/// Applies a batch to rows in memory: the logic shared by both backends. `rows` must hold every
/// existing row for the batch's keys; on return it holds their new values, and the returned keys
/// are the rows that changed.
pub(crate) fn apply_batch<V: View>(
    view: &V,
    rows: &mut HashMap<String, Option<V::Row>>,
    batch: &[ProjectedEvent],
) -> Result<Vec<(String, i64)>, ProjectionError> {
    let mut changed: HashMap<String, i64> = HashMap::new();
    for event in batch {
        for key in view.keys(event) {
            let row = rows.entry(key.clone()).or_insert(None);
            view.apply(&key, row, event)
                .map_err(|message| ProjectionError::Apply {
                    position: event.position(),
                    message,
                })?;
            changed.insert(key, event.position());
        }
    }
    Ok(changed.into_iter().collect())
}

/// A [`View`] stored in PostgreSQL.
pub struct ViewProjection<V: View> {
    view: V,
}

impl<V: View> ViewProjection<V> {
    /// Wraps a view.
    pub fn new(view: V) -> Self {
        Self { view }
    }
}

#[async_trait]
impl<V: View> Projection for ViewProjection<V> {
    fn name(&self) -> &str {
        self.view.name()
    }

    async fn setup(&self, conn: &mut PgConnection) -> Result<(), ProjectionError> {
        check_name(self.view.name())?;
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, row jsonb NOT NULL, position bigint NOT NULL)",
            self.view.name()
        );
        sqlx::query(&ddl).execute(conn).await?;
        Ok(())
    }

    async fn apply(
        &self,
        batch: &[ProjectedEvent],
        tx: &mut PgConnection,
    ) -> Result<(), ProjectionError> {
        let table = self.view.name();
        let mut keys: Vec<String> = batch.iter().flat_map(|e| self.view.keys(e)).collect();
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() {
            return Ok(());
        }
        let mut rows: HashMap<String, Option<V::Row>> = HashMap::with_capacity(keys.len());
        // Rows travel as JSON text, parsed straight into `V::Row` (no `serde_json::Value` in
        // between).
        let existing: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT key, row::text FROM {table} WHERE key = ANY($1)"
        ))
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await?;
        for (key, text) in existing {
            let row = serde_json::from_str(&text).map_err(|e| ProjectionError::Apply {
                position: 0,
                message: format!(
                    "stored row {key} of {table} is unreadable: {}",
                    unreadable(&e)
                ),
            })?;
            rows.insert(key, Some(row));
        }
        let changed = apply_batch(&self.view, &mut rows, batch)?;
        let (mut upsert_keys, mut upsert_rows, mut upsert_positions, mut deleted) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (key, position) in changed {
            match rows.remove(&key).flatten() {
                Some(row) => {
                    let text = serde_json::to_string(&row).map_err(|e| ProjectionError::Apply {
                        position,
                        message: format!("row {key} cannot be serialized: {e}"),
                    })?;
                    upsert_keys.push(key);
                    upsert_rows.push(text);
                    upsert_positions.push(position);
                }
                None => deleted.push(key),
            }
        }
        if !upsert_keys.is_empty() {
            sqlx::query(&format!(
                "INSERT INTO {table} (key, row, position)
                 SELECT k, r::jsonb, p FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS u(k, r, p)
                 ON CONFLICT (key) DO UPDATE SET row = EXCLUDED.row, position = EXCLUDED.position"
            ))
            .bind(&upsert_keys)
            .bind(&upsert_rows)
            .bind(&upsert_positions)
            .execute(&mut *tx)
            .await?;
        }
        if !deleted.is_empty() {
            sqlx::query(&format!("DELETE FROM {table} WHERE key = ANY($1)"))
                .bind(&deleted)
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }

    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query(&format!("DELETE FROM {}", self.view.name()))
            .execute(tx)
            .await?;
        Ok(())
    }
}

/// Reads one row of a view stored in PostgreSQL.
pub async fn load_row<R: DeserializeOwned>(
    pool: &sqlx::PgPool,
    view: &str,
    key: &str,
) -> Result<Option<R>, ProjectionError> {
    check_name(view)?;
    let value: Option<serde_json::Value> =
        sqlx::query_scalar(&format!("SELECT row FROM {view} WHERE key = $1"))
            .bind(key)
            .fetch_optional(pool)
            .await?;
    value
        .map(|v| {
            serde_json::from_value(v).map_err(|e| ProjectionError::Apply {
                position: 0,
                message: format!(
                    "stored row {key} of {view} is unreadable: {}",
                    unreadable(&e)
                ),
            })
        })
        .transpose()
}

/// What kind of failure `e` is, without serde's message (which can quote the row's text).
fn unreadable(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Data => "it does not match the row type",
        _ => "it is not valid JSON",
    }
}
