//! The custom read model of `examples/custom_read_model.rs`, exercised: this module compiles the
//! example's code and checks what its view makes of a real flow.

#[allow(dead_code)] // Its `main` runs only as the example program.
#[path = "../examples/custom_read_model.rs"]
mod custom_read_model;

use onboarding_domain::vocab::{IdentityKind, IdentityStatus};
use sqlx::PgPool;

use crate::support::commands::{ctx, customer_flow, ledger, submit_person};
use crate::support::eventually;
use custom_read_model::{refresh, Customer};

#[sqlx::test(migrator = "onboarding_store::postgres::MIGRATOR")]
async fn the_example_read_model_shows_each_customers_status_and_accounts(pool: PgPool) {
    let ledger = ledger(&pool);
    let flow = customer_flow(&ledger, &ctx()).await;
    let pending = submit_person(&ledger, &ctx()).await;

    eventually("the example to see every customer", || {
        let pool = pool.clone();
        async move { refresh(&pool).await.unwrap().len() == 4 }
    })
    .await;
    let customers = refresh(&pool).await.unwrap();
    let customer = |id| -> &Customer {
        customers
            .iter()
            .find(|c| c.identity_id == id)
            .expect("a row per customer")
    };
    let summary = |c: &Customer| (c.kind, c.status, c.accounts_owned, c.accounts_joined);
    use IdentityKind::{Institution, Person};
    use IdentityStatus::{Approved, Pending};
    assert_eq!(summary(customer(flow.owner)), (Person, Approved, 1, 0));
    assert_eq!(summary(customer(flow.member)), (Person, Approved, 0, 1));
    assert_eq!(
        summary(customer(flow.institution)),
        (Institution, Approved, 1, 0)
    );
    assert_eq!(summary(customer(pending)), (Person, Pending, 0, 0));
}
