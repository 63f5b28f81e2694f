//! `profiles`: one row per profile holding its balances per asset (`available`, `held`), built
//! by the Profile aggregate's own `apply`, so the read model can never disagree with the write
//! side on money. The SQL view `profile_balances` lists one line per (profile, asset).

use cqrs_es::Aggregate;
use onboarding_domain::Profile;

use crate::event::{DomainEvent, ProjectedEvent};
use crate::view::View;

/// The `profiles` view; its rows are [`Profile`] states.
#[derive(Debug, Clone, Copy, Default)]
pub struct Profiles;

impl View for Profiles {
    type Row = Profile;

    fn name(&self) -> &'static str {
        "profiles"
    }

    fn keys(&self, event: &ProjectedEvent) -> Vec<String> {
        match event.event {
            DomainEvent::Profile(_) => vec![event.aggregate_id().to_owned()],
            _ => Vec::new(),
        }
    }

    fn apply(
        &self,
        _key: &str,
        row: &mut Option<Profile>,
        event: &ProjectedEvent,
    ) -> Result<(), String> {
        if let DomainEvent::Profile(e) = &event.event {
            row.get_or_insert_with(Profile::default).apply(e.clone());
        }
        Ok(())
    }
}
