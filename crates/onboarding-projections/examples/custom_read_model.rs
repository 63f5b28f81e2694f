//! A custom read model, end to end: `customer_overview`, one row per customer with their status
//! and how many accounts they own or are a member of, the feed a CRM would read.
//!
//! An application builds a read model by implementing [`View`]: it names the view (which is its
//! table and its checkpoint), says which rows each event touches ([`View::keys`]) and how each
//! row changes ([`View::apply`]), as plain code without IO. It registers the view with a
//! [`Projector`], and the projector does the rest with the same guarantees as the built-in read
//! models: every event exactly once, in log order, the rows and the checkpoint committed
//! together, resumable after a crash, rebuildable from position zero with
//! [`Projector::reset`].
//!
//! Run it against a migrated database that has seen some activity (`onboarding demo`, say):
//!
//! ```text
//! DATABASE_URL=postgres://... cargo run -p onboarding-projections --example custom_read_model
//! ```
//!
//! It catches every projection up once, as `onboarding projector run --once` does, and prints
//! the rows. A long-running application would call [`Projector::run`] instead.

use std::error::Error;

use onboarding_domain::vocab::{IdentityKind, IdentityStatus};
use onboarding_domain::{AccountEvent, IdentityEvent, IdentityId};
use onboarding_projections::{CatchUp, DomainEvent, ProjectedEvent, Projector, View};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// One customer, as the CRM sees them. Rows are stored as JSON, so adding a field with
/// `#[serde(default)]` needs no migration (rebuild the view to fill it for old rows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// The ledger's identity id.
    pub identity_id: IdentityId,
    /// Person or institution.
    pub kind: IdentityKind,
    /// The onboarding status.
    pub status: IdentityStatus,
    /// Accounts the customer owns.
    pub accounts_owned: u32,
    /// Accounts the customer is a member of (joint owner, authorized user, advisor).
    pub accounts_joined: u32,
}

/// The `customer_overview` view: rows keyed by identity id.
#[derive(Debug, Clone, Copy, Default)]
pub struct CustomerOverview;

impl View for CustomerOverview {
    type Row = Customer;

    /// A stored name: the table and the checkpoint. Renaming it starts a new, empty view.
    fn name(&self) -> &'static str {
        "customer_overview"
    }

    /// Identity events touch their identity's row; an account's opening touches the rows of
    /// its owner and members. Everything else is none of this view's business.
    fn keys(&self, event: &ProjectedEvent) -> Vec<String> {
        match &event.event {
            DomainEvent::Identity(_) => vec![event.aggregate_id().to_owned()],
            DomainEvent::Account(AccountEvent::AccountOpened(opening)) => {
                std::iter::once(opening.owner)
                    .chain(opening.members.iter().map(|m| m.identity_id))
                    .map(|id| id.to_string())
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Pure: no IO, no clock. An `Err` stops this view at the event (visible in
    /// `onboarding projector status`) rather than skipping it.
    fn apply(
        &self,
        key: &str,
        row: &mut Option<Customer>,
        event: &ProjectedEvent,
    ) -> Result<(), String> {
        match &event.event {
            DomainEvent::Identity(IdentityEvent::IdentitySubmitted { id, submission }) => {
                *row = Some(Customer {
                    identity_id: *id,
                    kind: submission.kind(),
                    status: IdentityStatus::Pending,
                    accounts_owned: 0,
                    accounts_joined: 0,
                });
            }
            DomainEvent::Identity(e) => {
                let customer = row.as_mut().ok_or_else(|| {
                    format!("{key}: {} before its submission", event.record.event_type)
                })?;
                match e {
                    IdentityEvent::DecisionRecorded { to, .. } => customer.status = *to,
                    IdentityEvent::IdentityDisabled { .. } => {
                        customer.status = IdentityStatus::Disabled;
                    }
                    _ => {}
                }
            }
            DomainEvent::Account(AccountEvent::AccountOpened(opening)) => {
                let customer = row.as_mut().ok_or_else(|| {
                    format!(
                        "account {} names unknown customer {key}",
                        opening.account_id
                    )
                })?;
                if opening.owner.to_string() == key {
                    customer.accounts_owned += 1;
                } else {
                    customer.accounts_joined += 1;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Every customer row, by identity id.
pub async fn customers(pool: &PgPool) -> Result<Vec<Customer>, Box<dyn Error>> {
    let rows: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT row FROM customer_overview ORDER BY key")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()?)
}

/// Catches the built-in read models and `customer_overview` up with the log, then reads the
/// customers.
pub async fn refresh(pool: &PgPool) -> Result<Vec<Customer>, Box<dyn Error>> {
    let projector = Projector::new(pool.clone()).with_view(CustomerOverview);
    for (name, done) in projector.catch_up().await? {
        if done == CatchUp::HeldElsewhere {
            eprintln!("{name}: another projector holds its lease and keeps it current");
        }
    }
    customers(pool).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL to a migrated database (onboarding migrate)")?;
    let pool = onboarding_store::postgres::connect(&url, 8).await?;
    onboarding_store::postgres::check_schema(&pool).await?;
    let customers = refresh(&pool).await?;
    println!(
        "{:<36}  {:<11}  {:<8}  {:>5}  {:>6}",
        "IDENTITY", "KIND", "STATUS", "OWNS", "MEMBER"
    );
    for c in &customers {
        println!(
            "{:<36}  {:<11}  {:<8}  {:>5}  {:>6}",
            c.identity_id,
            c.kind.to_string(),
            c.status.to_string(),
            c.accounts_owned,
            c.accounts_joined
        );
    }
    println!("{} customer(s)", customers.len());
    pool.close().await;
    Ok(())
}
