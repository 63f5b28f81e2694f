//! The read models as data: every table's rows for comparing two builds, the log decoded, and
//! the audit entries the log calls for, worked out independently of the audit projection.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use onboarding_domain::{AccountEvent, IdentityEvent, IdentityId, ProfileEvent};
use onboarding_projections::{DomainEvent, ProjectedEvent};
use onboarding_store::postgres::PostgresLog;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// The built-in views' tables.
pub const VIEW_TABLES: [&str; 4] = ["identity_status", "accounts", "profiles", "orders"];

/// Every row of every built-in read model (views, audit trail, the audit's subject mapping), as
/// JSON, in key order.
pub async fn snapshot(pool: &PgPool) -> BTreeMap<&'static str, Vec<Value>> {
    let mut tables = BTreeMap::new();
    for table in VIEW_TABLES {
        let rows = sqlx::query_scalar(&format!(
            "SELECT jsonb_build_object('key', key, 'row', row, 'position', position)
               FROM {table} ORDER BY key"
        ))
        .fetch_all(pool)
        .await
        .expect("read a view");
        tables.insert(table, rows);
    }
    for (table, order) in [
        ("audit_trail", "position, identity_id"),
        ("audit_subjects", "aggregate_type, aggregate_id"),
    ] {
        let rows = sqlx::query_scalar(&format!(
            "SELECT to_jsonb(t) FROM {table} t ORDER BY {order}"
        ))
        .fetch_all(pool)
        .await
        .expect("read an audit table");
        tables.insert(table, rows);
    }
    tables
}

/// The whole sequenced log, decoded.
pub async fn log(pool: &PgPool) -> Vec<ProjectedEvent> {
    PostgresLog::new(pool.clone())
        .read_after(0, 1_000_000)
        .await
        .expect("read the log")
        .into_iter()
        .map(|r| ProjectedEvent::decode(r).expect("every event decodes"))
        .collect()
}

/// The `(position, identity)` pairs the audit trail must hold for `events`: an identity event
/// concerns the identity and the members an institution's submission names; an account event
/// concerns the owner and members the account was opened with; a profile event, those of its
/// account.
pub fn expected_audit(events: &[ProjectedEvent]) -> BTreeSet<(i64, Uuid)> {
    let mut accounts: HashMap<String, Vec<IdentityId>> = HashMap::new();
    let mut profiles: HashMap<String, Vec<IdentityId>> = HashMap::new();
    let mut entries = BTreeSet::new();
    for e in events {
        let id = e.aggregate_id().to_owned();
        let subjects = match &e.event {
            DomainEvent::Identity(event) => {
                let mut ids = vec![id.parse::<IdentityId>().expect("an identity id")];
                if let IdentityEvent::IdentitySubmitted { submission, .. } = event {
                    ids.extend(submission.members().iter().map(|m| m.identity_id));
                }
                ids
            }
            DomainEvent::Account(AccountEvent::AccountOpened(opening)) => {
                let mut ids = vec![opening.owner];
                ids.extend(opening.members.iter().map(|m| m.identity_id));
                accounts.insert(id, ids.clone());
                ids
            }
            DomainEvent::Account(_) => accounts[&id].clone(),
            DomainEvent::Profile(ProfileEvent::ProfileOpened { account_id, .. }) => {
                let ids = accounts[&account_id.to_string()].clone();
                profiles.insert(id, ids.clone());
                ids
            }
            DomainEvent::Profile(_) => profiles[&id].clone(),
            DomainEvent::Other => Vec::new(),
        };
        entries.extend(subjects.into_iter().map(|s| (e.position(), s.as_uuid())));
    }
    entries
}

/// The `(position, identity)` pairs the audit trail holds.
pub async fn audit_pairs(pool: &PgPool) -> BTreeSet<(i64, Uuid)> {
    sqlx::query_as::<_, (i64, Uuid)>("SELECT position, identity_id FROM audit_trail")
        .fetch_all(pool)
        .await
        .expect("read the audit trail")
        .into_iter()
        .collect()
}
